"""Silences over HTTP against the moto-backed stack, and matching_silence on alerts fired through the
engine into the same tables. Each test uses a rule name of its own, so the session's shared tables
do not make tests see each other's silences."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.alerts import engine
from chalicelib.alerts.model import Condition
from chalicelib.alerts.silences import matching_silence

SILENCES = "/api/monitoring/silences"
ALERTS = "/api/monitoring/alerts"


@pytest.fixture
def rule() -> str:
    return f"TestRule{uuid.uuid4().hex[:10]}"


def later(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def fire(stack, rule: str, severity: str = "warning", **labels) -> dict:
    alert, _ = engine.fire(
        Condition(
            rule=rule,
            severity=severity,
            summary=f"{rule} is breaching",
            labels=labels,
            value=7.0,
            threshold=5.0,
        ),
        settings=stack.settings(),
    )
    return alert


def silence(api, rule: str, *extra: dict, **body) -> dict:
    payload = {
        "matchers": [{"name": "rule", "value": rule}, *extra],
        "comment": "Load test in progress",
        **({"endsAt": later(hours=1)} if "untilResolved" not in body else {}),
        **body,
    }
    response = api.post(SILENCES, json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_list_and_expire_a_silence(stack, rule):
    api = stack.client("engineer")
    # Given a silence created over HTTP
    created = silence(api, rule, comment="Deploying 1.4.2; questions to 555-201-7788")
    # Then it is in force, listed, its comment redacted and its author the token's subject
    assert created["state"] == "active" and created["createdBy"]
    assert "555-201-7788" not in created["comment"] and created["redactedKinds"] == ["phone"]
    listed = api.get(SILENCES).json()
    assert created["id"] in [s["id"] for s in listed["items"]] and listed["truncated"] is False

    # When it is expired
    expired = api.delete(f"{SILENCES}/{created['id']}")

    # Then it is no longer in force but still listed under state=all, with who and when
    assert expired.status_code == 200, expired.text
    assert expired.json()["state"] == "expired" and expired.json()["expiredAt"]
    assert created["id"] not in [s["id"] for s in api.get(SILENCES).json()["items"]]
    everything = api.get(f"{SILENCES}?state=all&limit=100").json()["items"]
    assert {"id": created["id"], "state": "expired"}.items() <= next(
        s for s in everything if s["id"] == created["id"]
    ).items()
    # And expiring it again changes nothing
    again = api.delete(f"{SILENCES}/{created['id']}")
    assert again.status_code == 200 and again.json()["expiredAt"] == expired.json()["expiredAt"]


def test_all_silences_are_paginated_newest_first(stack, rule):
    api = stack.client("admin")
    ids = [silence(api, rule, comment=f"window {n}")["id"] for n in range(3)]

    seen, cursor = [], None
    for _ in range(50):
        query = f"{SILENCES}?state=all&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(query).json()
        assert len(page["items"]) <= 2
        seen += [s["id"] for s in page["items"]]
        cursor = page["nextCursor"]
        if not cursor or set(ids) <= set(seen):
            break

    mine = [i for i in seen if i in ids]
    assert mine == ids[::-1]
    assert len(seen) == len(set(seen))


def test_staff_may_not_read_or_create_silences(stack, workspace, rule):
    staff = stack.client("staff", workspace)
    assert staff.get(SILENCES).status_code == 403
    body = {"matchers": [{"name": "rule", "value": rule}], "comment": "x", "endsAt": later(hours=1)}
    assert staff.post(SILENCES, json=body).status_code == 403
    assert staff.delete(f"{SILENCES}/{uuid.uuid4()}").status_code == 403


@pytest.mark.parametrize(
    "change, field",
    [
        ({"matchers": []}, "matchers"),
        ({"matchers": [{"name": "service", "value": "api"}]}, "matchers.0.name"),
        ({"matchers": [{"name": "severity", "value": "huge"}]}, "matchers.0"),
        ({"matchers": [{"name": "rule", "value": "A"}, {"name": "rule", "value": "B"}]}, "matchers"),
        ({"comment": "   "}, "comment"),
        ({"comment": None}, "comment"),
        ({"endsAt": "yesterday"}, "endsAt"),
        ({"endsAt": "2001-01-01T00:00:00Z"}, "endsAt"),
        ({"endsAt": None}, "endsAt"),
        ({"untilResolved": True}, "endsAt"),
        ({"endsAt": None, "untilResolved": True}, "alertId"),
        ({"alertId": "abc"}, "alertId"),
        ({"isRegex": True}, "isRegex"),
    ],
)
def test_bad_silences_are_400_naming_the_field(stack, rule, change, field):
    body = {"matchers": [{"name": "rule", "value": rule}], "comment": "maintenance", "endsAt": later(hours=1)}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}

    response = stack.client("engineer").post(SILENCES, json=body)

    assert response.status_code == 400, response.text
    assert field in [f["field"] for f in response.json()["error"]["fields"]]


def test_unknown_silence_is_404(stack):
    assert stack.client("engineer").delete(f"{SILENCES}/{uuid.uuid4()}").status_code == 404


def test_active_list_takes_no_cursor(stack):
    response = stack.client("engineer").get(f"{SILENCES}?cursor=abc")
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["field"] == "cursor"


def test_matching_by_rule_severity_and_labels(stack, rule):
    api = stack.client("engineer")
    # Given alerts of one rule on two routes and two severities
    target = fire(stack, rule, "warning", route="/api/a")
    other_route = fire(stack, rule, "warning", route="/api/b")
    # (severity is not part of the fingerprint: another label makes it another alert)
    other_severity = fire(stack, rule, "error", route="/api/a", tier="backend")
    unrelated = fire(stack, rule + "X", "warning", route="/api/a")
    # When a silence selects the rule, the severity and one route
    made = silence(
        api, rule, {"name": "severity", "value": "warning"}, {"name": "label:route", "value": "/api/a"}
    )

    # Then only the alert matching every matcher is silenced
    now = datetime.now(UTC)
    assert matching_silence(target, now)["id"] == made["id"]
    assert matching_silence(other_route, now) is None
    assert matching_silence(other_severity, now) is None
    assert matching_silence(unrelated, now) is None
    # And a label the alert lacks never matches
    assert matching_silence({**target, "labels": {}}, now) is None


def test_a_silence_stops_applying_at_its_end_and_when_expired(stack, rule):
    api = stack.client("engineer")
    alert = fire(stack, rule)
    made = silence(api, rule, endsAt=later(minutes=30))
    now = datetime.now(UTC)

    # Given it applies now, it no longer does past its end
    assert matching_silence(alert, now)["id"] == made["id"]
    assert matching_silence(alert, now + timedelta(minutes=31)) is None

    # When it is expired by hand, it stops applying at once
    assert api.delete(f"{SILENCES}/{made['id']}").status_code == 200
    assert matching_silence(alert, now) is None


def test_until_resolved_ends_when_its_alert_resolves(stack, rule):
    api = stack.client("engineer")
    # Given a firing alert and a silence until it resolves
    alert = fire(stack, rule, "critical", route="/api/a")
    made = silence(api, rule, untilResolved=True, alertId=alert["id"])
    assert made["untilResolved"] is True and made["endsAt"] is None
    assert made["fingerprint"] == alert["fingerprint"]
    assert matching_silence(alert, datetime.now(UTC))["id"] == made["id"]

    # When the alert is resolved
    resolved = api.post(f"{ALERTS}/{alert['id']}/resolve", json={"reason": "fixed"})
    assert resolved.status_code == 200, resolved.text

    # Then the silence no longer applies, to it or to the next occurrence of the condition
    again = fire(stack, rule, "critical", route="/api/a")
    assert again["id"] != alert["id"]
    assert matching_silence(again, datetime.now(UTC)) is None
    listed = api.get(f"{SILENCES}?state=all&limit=100").json()["items"]
    record = next(s for s in listed if s["id"] == made["id"])
    assert record["state"] == "expired" and record["expiredBy"] == "system"


def test_until_resolved_needs_an_unresolved_alert(stack, rule):
    api = stack.client("engineer")
    alert = fire(stack, rule)
    assert api.post(f"{ALERTS}/{alert['id']}/resolve", json={"reason": "done"}).status_code == 200
    body = {"matchers": [{"name": "rule", "value": rule}], "comment": "c", "untilResolved": True}

    resolved = api.post(SILENCES, json={**body, "alertId": alert["id"]})
    unknown = api.post(SILENCES, json={**body, "alertId": str(uuid.uuid4())})

    assert resolved.status_code == 409 and resolved.json()["error"]["code"] == "invalid_transition"
    assert unknown.status_code == 400 and unknown.json()["error"]["fields"][0]["field"] == "alertId"
