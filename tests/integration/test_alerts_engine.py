"""The alert lifecycle on the moto stack's AlertsTable: dedup, auto-resolve, new occurrences,
concurrency, overdue escalation, acknowledge/resolve.

Each test uses a rule name of its own, so tests sharing the session's table do not see each other."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.alerts import engine
from chalicelib.alerts.model import Condition, fingerprint
from chalicelib.errors import InvalidTransition, NotFound, ValidationFailed
from chalicelib.store import alerts as store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def rule() -> str:
    return f"TestRule{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(stack):
    return stack.settings()


def condition(rule: str, severity: str = "critical", value: float = 12.0, **labels: str) -> Condition:
    return Condition(rule, severity, f"{rule} at {value}", labels or {"api": "pe"}, value, 10.0)


def test_the_same_condition_across_evaluations_is_one_alert_counted(settings, rule):
    # Given a condition seen by three evaluations a minute apart
    results = [
        engine.apply_evaluation(
            [condition(rule, value=11.0 + i)], {rule}, T0 + timedelta(minutes=i), settings
        )
        for i in range(3)
    ]
    # Then one alert holds them: count 3, first and last seen, the latest value
    ids = {r["alerts"][0]["id"] for r in results}
    assert len(ids) == 1
    assert [r["new"] for r in results] == [1, 0, 0]
    alert = store.get(ids.pop())
    assert alert["count"] == 3
    assert alert["firstSeen"] == "2026-03-02T09:00:00.000000Z"
    assert alert["lastSeen"] == "2026-03-02T09:02:00.000000Z"
    assert alert["value"] == 13.0 and alert["threshold"] == 10.0
    assert alert["fingerprint"] == fingerprint(rule, {"api": "pe"})
    assert alert["deadline"] == "2026-03-02T09:15:00.000000Z"  # critical: 15 minutes
    assert alert["state"] == "firing" and alert["notifyPending"] == "firing"


def test_labels_make_distinct_alerts_of_one_rule(settings, rule):
    result = engine.apply_evaluation(
        [condition(rule, table="a"), condition(rule, table="b")], {rule}, T0, settings
    )
    assert result["new"] == 2
    assert len({a["fingerprint"] for a in result["alerts"]}) == 2


def test_an_alert_resolves_by_itself_when_its_condition_clears(settings, rule):
    # Given a firing alert
    first = engine.apply_evaluation([condition(rule)], {rule}, T0, settings)["alerts"][0]
    # When the rule is evaluated and no longer fires
    result = engine.apply_evaluation([], {rule}, T0 + timedelta(minutes=1), settings)
    # Then the alert is resolved as "condition cleared", with a resolved notice owed
    assert result["resolved"] == 1
    alert = store.get(first["id"])
    assert alert["state"] == "resolved"
    assert alert["resolution"] == "condition cleared" and alert["resolvedBy"] == "evaluator"
    assert alert["resolvedAt"] == "2026-03-02T09:01:00.000000Z"
    assert alert["notifyPending"] == "resolved"
    assert alert["activeFingerprint"] is None
    assert store.get_active(first["fingerprint"]) is None


def test_a_rule_not_evaluated_keeps_its_alerts(settings, rule):
    # Given a firing alert, when an evaluation could not judge its rule (no data)
    first = engine.apply_evaluation([condition(rule)], {rule}, T0, settings)["alerts"][0]
    result = engine.apply_evaluation([], set(), T0 + timedelta(minutes=1), settings)
    # Then it stays firing
    assert store.get(first["id"])["state"] == "firing"
    assert all(a["rule"] != rule for a in result["alerts"])


def test_a_resolved_alert_that_fires_again_is_a_new_occurrence(settings, rule):
    first = engine.apply_evaluation([condition(rule)], {rule}, T0, settings)["alerts"][0]
    engine.apply_evaluation([], {rule}, T0 + timedelta(minutes=1), settings)
    # When the same condition fires again
    again, outcome = engine.fire(condition(rule), T0 + timedelta(minutes=2), settings)
    # Then it is a new alert of the same fingerprint, and the old one stays resolved
    assert outcome == "new"
    assert again["id"] != first["id"] and again["fingerprint"] == first["fingerprint"]
    assert again["count"] == 1 and again["firstSeen"] == "2026-03-02T09:02:00.000000Z"
    assert store.get(first["id"])["state"] == "resolved"
    assert store.get_active(first["fingerprint"])["id"] == again["id"]


def test_concurrent_fires_of_one_fingerprint_make_one_alert(settings, rule):
    # Given eight evaluations firing the same condition at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: engine.fire(condition(rule), T0, settings), range(8)))
    # Then exactly one is new, all name the same alert, and it counted every sighting
    assert [outcome for _, outcome in results].count("new") == 1
    assert len({alert["id"] for alert, _ in results}) == 1
    assert store.get(results[0][0]["id"])["count"] == 8
    listed = store.list_alerts(state="all", rule=rule, limit=50)["items"]
    assert len(listed) == 1


def test_an_unacknowledged_alert_past_its_deadline_is_escalated_once(settings, rule):
    # Given an error alert (2 h to respond) firing since T0
    alert, _ = engine.fire(condition(rule, "error"), T0, settings)
    assert alert["deadline"] == "2026-03-02T11:00:00.000000Z"
    # When the overdue check runs before and after the deadline
    assert all(a["id"] != alert["id"] for a in engine.mark_overdue(T0 + timedelta(minutes=119), settings))
    late = T0 + timedelta(hours=2, minutes=1)
    escalated = [a for a in engine.mark_overdue(late, settings) if a["id"] == alert["id"]]
    # Then it is overdue, escalated at that run, with an escalation notice owed; later runs do not repeat it
    assert len(escalated) == 1
    stored = store.get(alert["id"])
    assert stored["overdue"] is True
    assert stored["escalatedAt"] == "2026-03-02T11:01:00.000000Z"
    assert stored["notifyPending"] == "escalated"
    assert all(a["id"] != alert["id"] for a in engine.mark_overdue(late + timedelta(minutes=5), settings))


def test_an_acknowledged_alert_is_not_escalated(settings, rule):
    alert, _ = engine.fire(condition(rule, "warning"), T0, settings)
    engine.acknowledge(alert["id"], "eng-1", T0 + timedelta(minutes=5), settings)
    changed = engine.mark_overdue(T0 + timedelta(hours=9), settings)
    assert all(a["id"] != alert["id"] for a in changed)
    assert store.get(alert["id"])["overdue"] is False


def test_acknowledge_then_resolve_and_invalid_transitions(settings, rule):
    alert, _ = engine.fire(condition(rule), T0, settings)
    # When an engineer acknowledges it
    acked = engine.acknowledge(alert["id"], "eng-1", T0 + timedelta(minutes=3), settings)
    assert acked["state"] == "acknowledged"
    assert acked["acknowledgedBy"] == "eng-1" and acked["acknowledgedAt"] == "2026-03-02T09:03:00.000000Z"
    # Then it cannot be acknowledged twice
    with pytest.raises(InvalidTransition):
        engine.acknowledge(alert["id"], "eng-2", settings=settings)
    # A firing sighting while acknowledged counts on it without changing its state
    seen, outcome = engine.fire(condition(rule), T0 + timedelta(minutes=4), settings)
    assert outcome == "repeat" and seen["state"] == "acknowledged" and seen["count"] == 2
    # Resolving needs a reason
    with pytest.raises(ValidationFailed) as missing:
        engine.resolve(alert["id"], "eng-1", "  ", settings=settings)
    assert missing.value.fields[0].field == "reason"
    done = engine.resolve(
        alert["id"], "eng-1", "Rolled back release 1.4.2", T0 + timedelta(minutes=9), settings
    )
    assert done["state"] == "resolved" and done["resolvedBy"] == "eng-1"
    assert done["resolution"] == "Rolled back release 1.4.2" and done["notifyPending"] == "resolved"
    # And a resolved alert can be neither acknowledged nor resolved again
    with pytest.raises(InvalidTransition):
        engine.acknowledge(alert["id"], "eng-1", settings=settings)
    with pytest.raises(InvalidTransition):
        engine.resolve(alert["id"], "eng-1", "again", settings=settings)
    with pytest.raises(NotFound):
        engine.acknowledge(str(uuid.uuid4()), "eng-1", settings=settings)


def test_info_notices_go_to_the_digest_and_expire_instead_of_escalating(settings, rule):
    notice = engine.notify_info(
        rule, "Release 1.5.0 deployed", {"release": "1.5.0"}, now=T0, settings=settings
    )
    assert notice["severity"] == "info" and notice["source"] == "event"
    assert notice["deadline"] == "2026-03-03T09:00:00.000000Z"
    engine.mark_overdue(T0 + timedelta(hours=25), settings)
    stored = store.get(notice["id"])
    assert stored["state"] == "resolved" and stored["overdue"] is False
    assert stored["resolution"] == "info notice expired"


def test_deliveries_are_appended_bounded_without_a_version_bump(settings, rule):
    alert, _ = engine.fire(condition(rule), T0, settings)
    cap = settings.alert_deliveries_max
    for attempt in range(cap + 3):
        store.record_delivery(
            alert["id"],
            {
                "receiver": "slack",
                "at": "2026-03-02T09:00:01Z",
                "attempt": attempt + 1,
                "outcome": "failed",
                "error": "HTTP 500",
            },
            settings,
        )
    stored = store.get(alert["id"])
    assert len(stored["deliveries"]) == cap
    assert stored["deliveries"][-1]["attempt"] == cap + 3 and stored["deliveries"][0]["attempt"] == 4
    assert stored["deliveriesDropped"] == 3
    assert stored["version"] == alert["version"]


def test_pending_notifications_and_clearing_them(settings, rule):
    alert, _ = engine.fire(condition(rule), T0, settings)
    due = store.pending_notifications(due_before="2026-03-02T09:00:01Z", limit=1000)
    assert alert["id"] in {a["id"] for a in due}
    # A stale event does not clear a newer one; the owed one clears once
    assert store.clear_notify_pending(alert["id"], "resolved") is False
    assert store.clear_notify_pending(alert["id"], "firing") is True
    assert store.clear_notify_pending(alert["id"], "firing") is False
    assert store.get(alert["id"])["notifyPending"] is None


def test_listing_pages_through_states_with_a_cursor(settings, rule):
    for i in range(3):
        engine.fire(condition(rule, table=str(i)), T0 + timedelta(seconds=i), settings)
    first = store.list_alerts(state="firing", rule=rule, limit=2)
    # Filters may leave a page short: keep reading until the cursor runs out
    items, cursor = list(first["items"]), first["nextCursor"]
    while cursor:
        page = store.list_alerts(state="firing", rule=rule, limit=2, cursor=cursor)
        items += page["items"]
        cursor = page["nextCursor"]
    assert [a["labels"]["table"] for a in items] == ["2", "1", "0"]
    with pytest.raises(ValidationFailed):
        store.list_alerts(cursor="not-a-cursor")
