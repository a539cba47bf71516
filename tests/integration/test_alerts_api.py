"""The alert routes over HTTP against the moto-backed stack; alerts are fired through the engine into
the same tables. Each test fires alerts of a rule name of its own and filters by it, so the
session's shared table does not make tests see each other's alerts."""

from __future__ import annotations

import uuid

import pytest

from chalicelib.alerts import engine
from chalicelib.alerts.model import Condition

ALERTS = "/api/monitoring/alerts"


@pytest.fixture
def rule() -> str:
    return f"TestRule{uuid.uuid4().hex[:10]}"


def fire(stack, rule: str, severity: str = "warning", **labels) -> dict:
    alert, _ = engine.fire(
        Condition(
            rule=rule,
            severity=severity,
            summary=f"{rule} over threshold",
            labels=labels,
            value=12.0,
            threshold=10.0,
        ),
        settings=stack.settings(),
    )
    return alert


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [a["id"] for a in response.json()["items"]]


def test_list_shows_active_alerts_by_default_and_every_state_on_request(stack, rule):
    api = stack.client("engineer")
    # Given a firing, an acknowledged and a resolved alert of one rule
    firing = fire(stack, rule, route="/a")
    acked = fire(stack, rule, route="/b")
    resolved = fire(stack, rule, route="/c")
    assert api.post(f"{ALERTS}/{acked['id']}/acknowledge").status_code == 200
    assert api.post(f"{ALERTS}/{resolved['id']}/resolve", json={"reason": "rolled back"}).status_code == 200

    # Then the default list holds the active two, state=all all three, and a state just its own
    assert set(ids(api.get(f"{ALERTS}?rule={rule}"))) == {firing["id"], acked["id"]}
    assert set(ids(api.get(f"{ALERTS}?rule={rule}&state=all"))) == {firing["id"], acked["id"], resolved["id"]}
    assert ids(api.get(f"{ALERTS}?rule={rule}&state=resolved")) == [resolved["id"]]
    assert ids(api.get(f"{ALERTS}?rule={rule}&state=acknowledged")) == [acked["id"]]
    assert ids(api.get(f"{ALERTS}?rule={rule}&state=firing")) == [firing["id"]]


def test_severity_filter(stack, rule):
    api = stack.client("admin")
    critical = fire(stack, rule, "critical", route="/a")
    fire(stack, rule, "info", route="/b")

    assert ids(api.get(f"{ALERTS}?rule={rule}&severity=critical")) == [critical["id"]]


def test_pages_follow_the_cursor_without_repeats(stack, rule):
    api = stack.client("engineer")
    fired = {fire(stack, rule, route=f"/r{n}")["id"] for n in range(5)}

    seen, cursor = [], None
    for _ in range(20):
        page = api.get(f"{ALERTS}?rule={rule}&limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert len(ids(page)) <= 2
        seen += ids(page)
        cursor = page.json()["nextCursor"]
        if not cursor:
            break

    assert len(seen) == len(set(seen)) and set(seen) == fired


def test_get_acknowledge_and_resolve(stack, rule):
    api = stack.client("engineer", sub="eng-jo")
    alert = fire(stack, rule, "error")

    got = api.get(f"{ALERTS}/{alert['id']}")
    assert got.status_code == 200 and got.json()["rule"] == rule and got.json()["state"] == "firing"

    acked = api.post(f"{ALERTS}/{alert['id']}/acknowledge")
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged" and acked.json()["acknowledgedBy"] == "eng-jo"

    resolved = api.post(f"{ALERTS}/{alert['id']}/resolve", json={"reason": "  Restarted the worker  "})
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["state"] == "resolved" and body["resolvedBy"] == "eng-jo"
    assert body["resolution"] == "Restarted the worker" and body["resolvedAt"]


def test_acknowledging_a_resolved_alert_is_an_invalid_transition(stack, rule):
    api = stack.client("engineer")
    alert = fire(stack, rule)
    assert api.post(f"{ALERTS}/{alert['id']}/resolve", json={"reason": "done"}).status_code == 200

    response = api.post(f"{ALERTS}/{alert['id']}/acknowledge")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"


def test_unknown_alert_is_404_everywhere(stack):
    api = stack.client("engineer")
    missing = str(uuid.uuid4())
    assert api.get(f"{ALERTS}/{missing}").status_code == 404
    assert api.post(f"{ALERTS}/{missing}/acknowledge").status_code == 404
    assert api.post(f"{ALERTS}/{missing}/resolve", json={"reason": "x"}).status_code == 404


def test_staff_get_403(stack, workspace, rule):
    staff = stack.client("staff", workspace)
    alert = fire(stack, rule)
    assert staff.get(ALERTS).status_code == 403
    assert staff.get(f"{ALERTS}/{alert['id']}").status_code == 403
    assert staff.post(f"{ALERTS}/{alert['id']}/acknowledge").status_code == 403
    assert staff.post(f"{ALERTS}/{alert['id']}/resolve", json={"reason": "x"}).status_code == 403
    # And nothing changed
    assert stack.client("engineer").get(f"{ALERTS}/{alert['id']}").json()["state"] == "firing"


@pytest.mark.parametrize(
    "query, field",
    [
        ("state=open", "state"),
        ("severity=high", "severity"),
        ("rule=not-a-rule", "rule"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=%21%21", "cursor"),
        ("colour=red", "colour"),
    ],
)
def test_bad_list_queries_are_400_naming_the_field(stack, query, field):
    response = stack.client("engineer").get(f"{ALERTS}?{query}")
    assert response.status_code == 400, response.text
    assert field in [f["field"] for f in response.json()["error"]["fields"]]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": "ok", "by": "me"}, "by"),
    ],
)
def test_resolve_needs_a_reason(stack, rule, body, field):
    alert = fire(stack, rule)
    response = stack.client("engineer").post(f"{ALERTS}/{alert['id']}/resolve", json=body)
    assert response.status_code == 400
    assert field in [f["field"] for f in response.json()["error"]["fields"]]
