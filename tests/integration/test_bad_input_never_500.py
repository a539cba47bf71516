"""Whatever a client sends, the answer is a 4xx with a reason, never a 500 (DESIGN: bad input)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

FEEDBACK = "/api/monitoring/feedback"
METRICS = "/api/monitoring/metrics"
HISTORY = "/api/monitoring/system-health/history"
PHASE2 = "/api/monitoring/phase2"
DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"

BODIES = [
    b"",
    b"null",
    b"[]",
    b'"a string"',
    b"{not json",
    b"\xff\xfe\x00garbage",
    b'{"category": {"nested": true}}',
    b'{"category": "bug_report", "severity": "high", "title": "' + b"x" * 100_000 + b'"}',
    b'{"metrics": "all of them"}',
    b'{"metrics": [{"name": "DailyActiveUsers", "value": "NaN"}]}',
    b'{"metrics": [{"name": "DailyActiveUsers", "value": 1e400}]}',
    b'{"status": 42, "version": "seven"}',
    # Nested past the JSON decoder's recursion limit (json.loads raises RecursionError).
    b"[" * 3000 + b"]" * 3000,
    b'{"metrics": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    b'{"a": ' * 3000 + b"1" + b"}" * 3000,
]

QUERIES = [
    "?limit=-1",
    "?limit=abc",
    "?limit=100000",
    "?cursor=%%%",
    "?cursor=eyJub3QiOiJhIGN1cnNvciJ9",
    "?startDate=yesterday",
    "?startDate=2026-02-30",
    "?endDate=2020-01-01&startDate=2026-01-01",
    "?unknown=1",
    "?start=not-a-time&end=",
    "?verbose=maybe&refresh=perhaps",
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", FEEDBACK), ("PATCH", FEEDBACK + "/does-not-exist"), ("POST", "/api/monitoring/metrics")],
)
def test_malformed_bodies_get_a_4xx(stack, workspace, method, path, body):
    api = stack.client("admin", workspace)
    response = api.request(method, path, data=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.json()["error"]["message"]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize(
    "path",
    [
        FEEDBACK,
        FEEDBACK + "/summary",
        "/api/monitoring/system-health",
        "/api/monitoring/system-health/history",
        "/api/monitoring/system-health/slo",
        PHASE2,
    ],
)
def test_malformed_queries_get_a_4xx(stack, workspace, path, query):
    response = stack.client("admin", workspace).get(path + query)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.json()["error"]["message"]


def test_a_repeated_filter_is_answered_not_crashed(stack, workspace):
    """Chalice hands a route the last value of a repeated parameter; the filter then applies to it."""
    api = stack.client("admin", workspace)
    response = api.get(f"{FEEDBACK}?workspaceId={workspace}&category=bug_report&category=feature_request")
    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.parametrize("feedback_id", ["%00", "x" * 2000, "..%2F..%2Fetc", "%F0%9F%92%A9", "'; DROP TABLE"])
def test_odd_ids_are_404_not_500(stack, workspace, feedback_id):
    response = stack.client("admin", workspace).get(f"{FEEDBACK}/{feedback_id}")
    assert response.status_code in (400, 404), (response.status_code, response.text[:300])


# ---------------------------------------------------------------- dates at the edges of the calendar

# Each is a date Python can parse but whose window arithmetic or conversion to UTC overflowed.
EDGE_DATES = [
    "0001-01-01",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31",
    "9999-12-31T23:59:59-01:00",
    "1969-12-31T23:59:59Z",
    "",
]
DATE_PARAMETERS = [
    (FEEDBACK, "startDate"),
    (FEEDBACK, "endDate"),
    (FEEDBACK + "/summary", "startDate"),
    (FEEDBACK + "/summary", "endDate"),
    (HISTORY, "start"),
    (HISTORY, "end"),
    (PHASE2, "start"),
    (PHASE2, "end"),
]


def field_names(response) -> list[str]:
    return [f["field"] for f in response.json()["error"].get("fields", [])]


@pytest.mark.parametrize("value", EDGE_DATES)
@pytest.mark.parametrize(("path", "name"), DATE_PARAMETERS)
def test_dates_out_of_range_are_a_400_naming_the_parameter(stack, workspace, path, name, value):
    # Given an engineer's token; When a date parameter is at the calendar's edge (or empty)
    response = stack.client("admin", workspace).get(f"{path}?{name}={quote(value)}")
    # Then the answer is a 400 that names that parameter
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert field_names(response) == [name]


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01"])
def test_metric_timestamps_out_of_range_are_a_400_naming_the_datum(stack, workspace, stamp):
    body = {
        "metrics": [
            {"name": "DailyActiveUsers", "value": 1},
            {"name": "NoShows", "value": 2, "timestamp": stamp},
        ]
    }
    response = stack.client("admin", workspace).post(METRICS, json=body)
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert field_names(response) == ["metrics.1.timestamp"]


def test_deeply_nested_json_is_a_400_naming_the_body(stack, workspace):
    response = stack.client("staff", workspace).post(
        FEEDBACK, data=b"[" * 3000 + b"]" * 3000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert field_names(response) == ["body"]


# ---------------------------------------------------------------- headers


@pytest.fixture
def item(stack, workspace) -> dict:
    response = stack.client("staff", workspace).post(FEEDBACK, json=DOCUMENTED_FEEDBACK)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    "if_match",
    ['"\u00b2"', "9" * 5000, '"' + "1" * 19 + '"', '"3', "3\t4", "W/"],
    ids=["superscript-two", "5000-digits", "19-digits", "unclosed-quote", "two-numbers", "weak-no-tag"],
)
def test_if_match_that_is_not_an_etag_is_a_400_naming_it(stack, item, if_match):
    # Given a stored item; When an engineer sends an If-Match that is not one of our ETags
    response = stack.client("engineer").patch(
        f"{FEEDBACK}/{item['id']}",
        json={"status": "acknowledged"},
        headers={"If-Match": if_match.encode("latin-1")},
    )
    # Then it is a 400 naming the header, and the item is unchanged
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert field_names(response) == ["If-Match"]
    assert stack.client("engineer").get(f"{FEEDBACK}/{item['id']}").json()["version"] == item["version"]


@pytest.mark.parametrize("key", ["k" * 256, "two words", "caf\u00e9"])
def test_idempotency_keys_outside_the_documented_form_are_a_400_naming_it(stack, workspace, key):
    for path, body in [
        (FEEDBACK, DOCUMENTED_FEEDBACK),
        (METRICS, {"metrics": [{"name": "NoShows", "value": 1}]}),
    ]:
        response = stack.client("admin", workspace).post(
            path, json=body, headers={"Idempotency-Key": key.encode("latin-1")}
        )
        assert response.status_code == 400, (path, response.status_code, response.text[:300])
        assert field_names(response) == ["Idempotency-Key"]


@pytest.mark.parametrize("given", ["has spaces in it", "x" * 200, "semi;colon"])
def test_an_odd_correlation_id_is_replaced_not_echoed(stack, workspace, given):
    response = stack.client("admin", workspace).get(
        "/api/monitoring/whoami", headers={"X-Correlation-Id": given}
    )
    assert response.status_code == 200
    assert response.headers["X-Correlation-Id"] not in ("", given)


def test_a_plain_correlation_id_is_echoed(stack, workspace):
    response = stack.client("admin", workspace).get(
        "/api/monitoring/whoami", headers={"X-Correlation-Id": "req-42.a"}
    )
    assert response.headers["X-Correlation-Id"] == "req-42.a"


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code"),
    [
        ("POST", FEEDBACK, {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        ("POST", METRICS, {"Content-Type": "application/xml"}, 415, "unsupported_media_type"),
        ("DELETE", FEEDBACK, {}, 405, "method_not_allowed"),
    ],
)
def test_what_chalice_refuses_itself_has_our_error_body(
    stack, workspace, method, path, headers, status, code
):
    # When a request is refused before any route runs (media type, method)
    response = stack.client("admin", workspace).request(method, path, data=b"{}", headers=headers)
    # Then the answer still has the one documented error body
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]


# ---------------------------------------------------------------- what the document calls valid is accepted


def _documented_example(path: str) -> dict:
    doc = yaml.safe_load(DOC.read_text())
    return doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["example"]


DOCUMENTED_FEEDBACK = _documented_example(FEEDBACK)


@pytest.mark.parametrize("path", [FEEDBACK, METRICS])
def test_the_documents_own_examples_are_accepted(stack, workspace, path):
    # Given the example body docs/openapi.yaml shows for a POST (read from the document itself)
    example = _documented_example(path)
    # When a caller whose token carries that example's workspace sends it
    workspace = next((m["workspaceId"] for m in example.get("metrics", []) if "workspaceId" in m), workspace)
    response = stack.client("admin", workspace).post(path, json=example)
    # Then it is accepted, today and on any later day
    assert 200 <= response.status_code < 300, (response.status_code, response.text[:300])


def test_an_integral_rating_written_as_4_point_0_is_the_rating_4(stack, workspace):
    """JSON Schema's `integer` (the document's type for ratings) includes 4.0; 4.5 is not one."""
    api = stack.client("staff", workspace)
    accepted = api.post(FEEDBACK, json={**DOCUMENTED_FEEDBACK, "usabilityRating": 4.0})
    assert accepted.status_code == 201 and accepted.json()["usabilityRating"] == 4
    refused = api.post(FEEDBACK, json={**DOCUMENTED_FEEDBACK, "usabilityRating": 4.5})
    assert refused.status_code == 400 and field_names(refused) == ["usabilityRating"]


def test_dates_with_offsets_inside_the_range_are_accepted(stack, workspace):
    api = stack.client("admin", workspace)
    window = f"startDate={quote('2026-01-01T00:00:00+05:00')}&endDate={quote('2026-01-31T23:59:59-08:00')}"
    assert api.get(f"{FEEDBACK}?{window}").status_code == 200
    assert api.get(f"{FEEDBACK}/summary?{window}").status_code == 200
    assert (
        api.get(f"{HISTORY}?start={quote('2026-01-01T00:00:00+05:00')}&end=2026-01-01T12:00:00").status_code
        == 200
    )
