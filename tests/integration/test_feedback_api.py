"""Feedback over HTTP (chalice local + moto): submit, read, list, summary; validation, 401 and 403."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from tests.payloads import SEED_FEEDBACK

FEEDBACK = "/api/monitoring/feedback"

PAYLOAD = dict(SEED_FEEDBACK)


def submit(api, **changes) -> dict:
    response = api.post(FEEDBACK, json={**PAYLOAD, **changes})
    assert response.status_code == 201, response.text
    return response.json()


# ------------------------------------------------------------------------------------------ submit


def test_staff_submits_the_seeds_payload(stack, workspace):
    api = stack.client("staff", workspace, sub="pharmacist-1")
    response = api.post(FEEDBACK, json=PAYLOAD)

    assert response.status_code == 201
    body = response.json()
    assert body["id"] and body["workspaceId"] == workspace
    assert body["userId"] == "pharmacist-1" and body["userRole"] == "staff"
    assert body["status"] == "new" and body["version"] == 1
    assert body["redactions"] == [] and body["history"] == []
    assert body["createdAt"].endswith("Z") and len(body["createdAt"]) == len("2025-10-27T09:15:02.123456Z")
    for field in PAYLOAD:
        assert body[field] == PAYLOAD[field]
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"{FEEDBACK}/{body['id']}"

    again = api.get(f"{FEEDBACK}/{body['id']}")
    assert again.status_code == 200 and again.json() == body
    assert again.headers["ETag"] == '"1"'


def test_redaction_is_visible_in_the_response_and_in_the_stored_item(stack, workspace):
    from chalicelib.store import feedback as store

    api = stack.client("staff", workspace)
    body = submit(
        api,
        title="Reminder for jane.doe@example.com failed",
        description="Patient MRN 00123456, DOB: 03/04/1956, phone (555) 123-4567 got no reminder",
        steps=["Open patient SSN 123-45-6789", "Click send"],
        browserInfo="Chrome 118.0.0.0",
    )
    assert body["redactions"] == ["dob", "email", "mrn", "phone", "ssn"]
    assert body["title"] == "Reminder for [REDACTED:email] failed"
    assert "00123456" not in body["description"] and "[REDACTED:mrn]" in body["description"]
    assert body["steps"][0] == "Open patient SSN [REDACTED:ssn]"
    assert body["browserInfo"] == "Chrome 118.0.0.0"

    store.bind()
    stored = store.get(body["id"])
    assert stored["title"] == body["title"] and stored["description"] == body["description"]
    assert stored["redactions"] == body["redactions"]
    assert "jane.doe" not in str(stored) and "1956" not in str(stored)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"category": "complaint"}, "category"),
        ({"severity": "urgent"}, "severity"),
        ({"title": "  abc  "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"description": "too short"}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"featureArea": "billing"}, "featureArea"),
        ({"satisfactionRating": 3.5}, "satisfactionRating"),
        ({"usabilityRating": "3"}, "usabilityRating"),
        ({"performanceRating": True}, "performanceRating"),
        ({"satisfactionRating": 6}, "satisfactionRating"),
        ({"steps": ["s"] * 21}, "steps"),
        ({"steps": ["x" * 501]}, "steps.0"),
        ({"browserInfo": "x" * 201}, "browserInfo"),
        ({"deviceInfo": "x" * 201}, "deviceInfo"),
        ({"expectedBehavior": "x" * 1001}, "expectedBehavior"),
        ({"actualBehavior": "x" * 1001}, "actualBehavior"),
        ({"workspaceId": "ws-someone-else"}, "workspaceId"),
        ({"userId": "someone"}, "userId"),
        ({"userRole": "admin"}, "userRole"),
        ({"priority": "p1"}, "priority"),
    ],
)
def test_each_validation_rule_names_its_field(stack, workspace, change, field):
    response = stack.client("staff", workspace).post(FEEDBACK, json={**PAYLOAD, **change})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert [f["field"] for f in error["fields"]] == [field]


def test_several_bad_fields_are_named_together_and_nothing_is_stored(stack, workspace):
    api = stack.client("staff", workspace)
    response = api.post(FEEDBACK, json={**PAYLOAD, "category": "x", "title": "abc", "satisfactionRating": 0})
    assert response.status_code == 400
    assert {f["field"] for f in response.json()["error"]["fields"]} == {
        "category",
        "title",
        "satisfactionRating",
    }
    assert api.get(FEEDBACK).json()["items"] == []


@pytest.mark.parametrize("body", ["not json", "[1, 2]", ""])
def test_a_body_that_is_not_an_object_is_refused(stack, workspace, body):
    response = stack.client("staff", workspace).post(
        FEEDBACK, data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["field"] == "body"


# ------------------------------------------------------------------------------------- 401 / 403


def _forged(stack, workspace) -> str:
    claims = jwt.decode(stack.token("staff", workspace), options={"verify_signature": False})
    return jwt.encode(claims, "another-secret-that-is-long-enough-32b!", algorithm="HS256")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", FEEDBACK),
        ("GET", FEEDBACK),
        ("GET", FEEDBACK + "/summary"),
        ("GET", FEEDBACK + "/some-id"),
        ("PATCH", FEEDBACK + "/some-id"),
    ],
)
@pytest.mark.parametrize("token", ["missing", "malformed", "expired", "wrongly-signed"])
def test_every_route_needs_a_valid_token(stack, workspace, method, path, token):
    headers = {}
    if token == "malformed":
        headers["Authorization"] = "Bearer not.a.jwt"
    elif token == "expired":
        expired = stack.token("engineer", workspace, now=time.time() - 7200, ttl_seconds=60)
        headers["Authorization"] = f"Bearer {expired}"
    elif token == "wrongly-signed":
        headers["Authorization"] = f"Bearer {_forged(stack, workspace)}"
    response = requests.request(
        method, stack.api_url + path, json={"status": "acknowledged"}, headers=headers, timeout=30
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_staff_cannot_patch(stack, workspace):
    api = stack.client("staff", workspace)
    item = submit(api)
    response = api.patch(f"{FEEDBACK}/{item['id']}", json={"status": "acknowledged"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_staff_cannot_read_another_workspaces_item_or_list(stack, workspace):
    theirs = submit(stack.client("staff", workspace + "-other"))
    mine = stack.client("staff", workspace)
    assert mine.get(f"{FEEDBACK}/{theirs['id']}").status_code == 403
    assert mine.get(FEEDBACK, params={"workspaceId": workspace + "-other"}).status_code == 403
    assert mine.get(FEEDBACK + "/summary", params={"workspaceId": workspace + "-other"}).status_code == 403
    # Engineers read across workspaces.
    assert stack.client("engineer").get(f"{FEEDBACK}/{theirs['id']}").status_code == 200


def test_a_token_without_a_workspace_cannot_submit(stack):
    response = stack.client("staff", None).post(FEEDBACK, json=PAYLOAD)
    assert response.status_code == 403
    assert "workspace" in response.json()["error"]["message"]


def test_unknown_id_is_404(stack, workspace):
    response = stack.client("engineer").get(f"{FEEDBACK}/does-not-exist")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    long_id = "x" * 600  # longer than any id we issue: refused before it reaches DynamoDB
    assert (
        stack.client("engineer").patch(f"{FEEDBACK}/{long_id}", json={"status": "closed"}).status_code == 404
    )


# ------------------------------------------------------------------------------------ routing


def test_summary_is_routed_to_the_summary_view_not_to_an_item(stack, workspace):
    response = stack.client("staff", workspace).get(FEEDBACK + "/summary")
    assert response.status_code == 200
    body = response.json()
    assert "volumePerDay" in body and "id" not in body
    assert "summary" not in response.headers.get("ETag", "")


# ------------------------------------------------------------------------------ list and filters


def test_list_filters_and_walks_every_page_newest_first(stack, workspace):
    api = stack.client("staff", workspace)
    created = []
    for n in range(7):
        created.append(
            submit(
                api,
                title=f"Feedback number {n}",
                category="bug_report" if n % 2 == 0 else "feature_request",
                severity="low" if n < 5 else "medium",
            )
        )
    newest_first = [c["id"] for c in reversed(created)]

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get(FEEDBACK, params=params).json()
        pages += 1
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == newest_first and pages == 3
    assert len(set(seen)) == 7

    bugs = api.get(FEEDBACK, params={"category": "bug_report"}).json()
    assert [i["id"] for i in bugs["items"]] == [
        c["id"] for c in reversed(created) if c["category"] == "bug_report"
    ]
    both = api.get(FEEDBACK, params={"category": "bug_report", "severity": "medium"}).json()
    assert [i["title"] for i in both["items"]] == ["Feedback number 6"]
    resolved = api.get(FEEDBACK, params={"status": "resolved"}).json()
    assert (resolved["items"], resolved["nextCursor"]) == ([], None)
    assert resolved["scanned"] == {"itemsRead": 7, "queries": 1, "partitions": 1, "stoppedEarly": False}
    assert api.get(FEEDBACK, params={"featureArea": "reminders", "limit": 100}).json()["nextCursor"] is None

    # Filtered pages still hold `limit` items and continue where they stopped.
    first = api.get(FEEDBACK, params={"category": "bug_report", "limit": 2}).json()
    second = api.get(
        FEEDBACK, params={"category": "bug_report", "limit": 2, "cursor": first["nextCursor"]}
    ).json()
    assert [i["title"] for i in first["items"] + second["items"]] == [
        "Feedback number 6",
        "Feedback number 4",
        "Feedback number 2",
        "Feedback number 0",
    ]
    assert second["nextCursor"] is None


def test_engineer_lists_across_workspaces_and_narrows_to_one(stack, workspace):
    a = submit(stack.client("staff", workspace + "-a"), title="From workspace A")
    b = submit(stack.client("staff", workspace + "-b"), title="From workspace B")
    engineer = stack.client("engineer")
    everything = engineer.get(FEEDBACK, params={"limit": 100}).json()["items"]
    ids = [i["id"] for i in everything]
    assert b["id"] in ids and a["id"] in ids and ids.index(b["id"]) < ids.index(a["id"])
    only_a = engineer.get(FEEDBACK, params={"workspaceId": workspace + "-a"}).json()["items"]
    assert [i["id"] for i in only_a] == [a["id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "definitely-not-a-cursor"}, "cursor"),
        ({"startDate": "2025-11-01", "endDate": "2025-10-01"}, "startDate"),
        ({"startDate": "last week"}, "startDate"),
        ({"limit": "1000"}, "limit"),
        ({"severity": "urgent"}, "severity"),
    ],
)
def test_bad_list_parameters_are_named(stack, workspace, params, field):
    response = stack.client("staff", workspace).get(FEEDBACK, params=params)
    assert response.status_code == 400
    assert [f["field"] for f in response.json()["error"]["fields"]] == [field]


def test_a_cursor_from_another_workspace_is_refused(stack, workspace):
    other = stack.client("staff", workspace + "-x")
    for _ in range(2):
        submit(other)
    cursor = other.get(FEEDBACK, params={"limit": 1}).json()["nextCursor"]
    assert cursor
    response = stack.client("staff", workspace).get(FEEDBACK, params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["field"] == "cursor"


def test_dates_bound_the_list(stack, workspace):
    api = stack.client("staff", workspace)
    submit(api)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert len(api.get(FEEDBACK, params={"startDate": today, "endDate": today}).json()["items"]) == 1
    assert api.get(FEEDBACK, params={"endDate": "2020-01-01"}).json()["items"] == []


# -------------------------------------------------------------------------------------- summary


def test_summary_over_http_counts_this_workspace(stack, workspace):
    api = stack.client("staff", workspace)
    submit(api, satisfactionRating=2)
    submit(api, satisfactionRating=4, category="usability_issue", severity="low")
    submit(api, satisfactionRating=None, severity="critical", category="performance_issue")

    response = api.get(FEEDBACK + "/summary")
    assert response.status_code == 200
    summary = response.json()
    assert summary["total"] == 3 and summary["itemsRead"] == 3
    assert summary["window"]["days"] == 30 and len(summary["volumePerDay"]) == 30
    assert summary["volumePerDay"][-1]["count"] == 3
    assert summary["byCategory"]["bug_report"] == 1 and summary["byCategory"]["usability_issue"] == 1
    assert summary["bySeverity"] == {"low": 1, "medium": 0, "high": 1, "critical": 1}
    assert summary["ratings"]["satisfaction"] == {"average": 3.0, "count": 2}
    assert summary["openCritical"] == 1 and summary["openHigh"] == 1
    assert summary["resolutionTime"]["medianHours"] is None
    assert summary["scope"] == {"workspaceId": workspace}

    filtered = api.get(FEEDBACK + "/summary", params={"category": "bug_report"}).json()
    assert filtered["total"] == 1 and filtered["itemsRead"] == 3, "filters do not change what is read"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"startDate": "2024-01-01", "endDate": "2025-06-01"}, "startDate"),
        ({"startDate": "2025-06-02", "endDate": "2025-06-01"}, "startDate"),
        ({"endDate": "tomorrow"}, "endDate"),
        ({"limit": "5"}, "limit"),
    ],
)
def test_bad_summary_parameters_are_named(stack, workspace, params, field):
    response = stack.client("staff", workspace).get(FEEDBACK + "/summary", params=params)
    assert response.status_code == 400
    assert [f["field"] for f in response.json()["error"]["fields"]] == [field]
