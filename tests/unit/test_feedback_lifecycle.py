"""The feedback lifecycle as a table: every (from, to) pair is either allowed or refused with a
reason, and each allowed move writes exactly what the docs say."""

from __future__ import annotations

import itertools

import pytest

from chalicelib.errors import InvalidTransition, ValidationFailed
from chalicelib.feedback.lifecycle import (
    NOTIFY_PENDING,
    TRANSITIONS,
    initial_state,
    plan_update,
)

STATUSES = ["new", "acknowledged", "in_progress", "resolved", "closed"]
NOW = "2025-10-27T12:00:00.000000Z"
ALLOWED = {
    ("new", "acknowledged"),
    ("acknowledged", "in_progress"),
    ("acknowledged", "resolved"),
    ("in_progress", "resolved"),
    ("resolved", "closed"),
    ("resolved", "acknowledged"),
    ("closed", "acknowledged"),
}


def item(status: str, **extra) -> dict:
    base = {"status": status, "severity": "high", "history": [], "acknowledgedAt": None}
    if status in ("resolved", "closed"):
        base |= {"resolution": "Fixed in 1.2.3", "resolvedAt": "2025-10-26T00:00:00.000000Z"}
    return base | extra


def plan(record: dict, **kw):
    return plan_update(record, actor="eng-1", now=NOW, history_max=20, **kw)


def test_the_table_is_the_documented_one():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED


@pytest.mark.parametrize(("current", "target"), [p for p in itertools.permutations(STATUSES, 2)])
def test_every_move_is_allowed_or_refused_with_a_reason(current, target):
    resolution = "Fixed in 1.2.4" if target == "resolved" else None
    if (current, target) in ALLOWED:
        change = plan(item(current), status=target, resolution=resolution)
        assert change.set["status"] == target
        assert change.set["history"][-1] == {
            "from": current,
            "to": target,
            "at": NOW,
            "by": "eng-1",
            "reason": resolution,
        }
    else:
        with pytest.raises(InvalidTransition) as caught:
            plan(item(current), status=target, resolution=resolution)
        assert caught.value.details["from"] == current and caught.value.details["to"] == target
        assert current in caught.value.message and target in caught.value.message


def test_resolving_needs_resolution_text_and_sets_resolved_at():
    with pytest.raises(ValidationFailed) as caught:
        plan(item("in_progress"), status="resolved")
    assert [f.field for f in caught.value.fields] == ["resolution"]
    change = plan(item("in_progress"), status="resolved", resolution="Patched the scheduler")
    assert change.set["resolvedAt"] == NOW and change.set["resolution"] == "Patched the scheduler"
    assert "openSeverity" in change.remove, "resolved items leave the open-by-severity index"


@pytest.mark.parametrize("current", ["resolved", "closed"])
def test_reopen_goes_back_to_acknowledged_and_clears_the_resolution(current):
    change = plan(item(current), status="acknowledged", reason="Still failing for Tuesday slots")
    assert change.set["status"] == "acknowledged"
    assert change.set["openSeverity"] == "high"
    assert {"resolvedAt", "resolution"} <= set(change.remove)
    assert change.set["history"][-1]["reason"] == "Still failing for Tuesday slots"


def test_first_acknowledgement_is_timestamped_once():
    assert plan(item("new"), status="acknowledged").set["acknowledgedAt"] == NOW
    reopened = plan(item("closed", acknowledgedAt="2025-10-01T00:00:00.000000Z"), status="acknowledged")
    assert "acknowledgedAt" not in reopened.set


def test_same_status_is_not_a_transition_and_changes_nothing():
    assert not plan(item("in_progress"), status="in_progress")


def test_assignee_set_and_cleared():
    assert plan(item("new"), assignee="dana", assignee_given=True).set["assignee"] == "dana"
    cleared = plan(item("new", assignee="dana"), assignee=None, assignee_given=True)
    assert cleared.remove == ["assignee"] and "updatedAt" in cleared.set
    assert not plan(item("new", assignee="dana"), assignee="dana", assignee_given=True)


def test_resolution_and_reason_only_where_they_belong():
    with pytest.raises(ValidationFailed) as caught:
        plan(item("in_progress"), resolution="Done")
    assert caught.value.fields[0].field == "resolution"
    with pytest.raises(ValidationFailed) as caught:
        plan(item("resolved"), status="closed", resolution="Done")
    assert caught.value.fields[0].field == "resolution"
    with pytest.raises(ValidationFailed) as caught:
        plan(item("new"), reason="because", assignee="x", assignee_given=True)
    assert caught.value.fields[0].field == "reason"
    edited = plan(item("resolved"), resolution="Fixed in 1.2.4 (not 1.2.3)")
    assert edited.set["resolution"] == "Fixed in 1.2.4 (not 1.2.3)"


def test_initial_state_of_ordinary_and_critical_bug_reports():
    ordinary = initial_state("bug_report", "high", NOW)
    assert ordinary == {"status": "new", "history": [], "openSeverity": "high"}
    critical = initial_state("bug_report", "critical", NOW)
    assert critical["status"] == "acknowledged" and critical["acknowledgedAt"] == NOW
    assert critical["history"][0]["by"] == "system"
    assert critical["notifyPending"] == NOTIFY_PENDING
    # Only bug reports page someone: a critical usability complaint waits for triage.
    assert initial_state("usability_issue", "critical", NOW)["status"] == "new"


def test_history_keeps_the_newest_entries_and_counts_the_ones_it_drops():
    old = [{"from": "a", "to": "b", "at": NOW, "by": f"eng-{i}", "reason": None} for i in range(3)]
    record = item("resolved", history=old, historyDropped=4)
    change = plan_update(record, actor="eng-9", now=NOW, status="acknowledged", history_max=3)
    assert [h["by"] for h in change.set["history"]] == ["eng-1", "eng-2", "eng-9"]
    assert change.set["historyDropped"] == 5
    # Below the cap nothing is dropped and the count is not written.
    roomy = plan_update(
        item("resolved", history=old), actor="eng-9", now=NOW, status="closed", history_max=10
    )
    assert len(roomy.set["history"]) == 4 and "historyDropped" not in roomy.set


def test_a_lowered_cap_drops_all_the_excess_at_the_next_change():
    old = [{"from": "a", "to": "b", "at": NOW, "by": f"eng-{i}", "reason": None} for i in range(10)]
    change = plan_update(
        item("resolved", history=old), actor="eng-new", now=NOW, status="closed", history_max=2
    )
    assert [h["by"] for h in change.set["history"]] == ["eng-9", "eng-new"]
    assert change.set["historyDropped"] == 9
