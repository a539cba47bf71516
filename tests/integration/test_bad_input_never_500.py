"""Whatever a client sends, the answer is a 4xx with a reason, never a 500 (DESIGN: bad input)."""

from __future__ import annotations

import pytest

FEEDBACK = "/api/monitoring/feedback"

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
