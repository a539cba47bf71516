"""The issue lifecycle and priority rule (chalicelib.issues.lifecycle), as pure functions."""

from __future__ import annotations

import pytest

from chalicelib.errors import InvalidTransition, ValidationFailed
from chalicelib.issues import lifecycle
from chalicelib.issues.lifecycle import STATUSES, TRANSITIONS, derived_priority, plan_update

NOW = "2026-11-27T07:00:00.000000Z"


def record(**over) -> dict:
    base = {
        "id": "BUG-007",
        "title": "Reminders late",
        "severity": "high",
        "priority": "P2",
        "prioritySource": "derived",
        "status": "open",
        "assignee": None,
        "reach": {"feedback": 0, "workspaces": 0},
        "history": [],
        "historyDropped": 0,
        "activeRelease": None,
    }
    return base | over


def plan(rec: dict, history_max: int = 50, reason: str | None = None, **given):
    return plan_update(rec, given, actor="eng-x", now=NOW, history_max=history_max, reason=reason)


# ------------------------------------------------------------------------------------ transitions

HAPPY_PATH = ["open", "triaged", "assigned", "in_progress", "fixed", "released", "verified", "closed"]


def test_the_happy_path_is_a_chain_of_allowed_moves():
    for current, target in zip(HAPPY_PATH, HAPPY_PATH[1:], strict=False):
        assert target in TRANSITIONS[current], (current, target)
    assert set(TRANSITIONS) == set(STATUSES)


@pytest.mark.parametrize(
    "current, target",
    [
        ("open", "fixed"),
        ("open", "in_progress"),
        ("triaged", "fixed"),
        ("closed", "triaged"),
        ("verified", "fixed"),
    ],
)
def test_skipping_steps_is_refused_with_the_allowed_moves(current, target):
    with pytest.raises(InvalidTransition) as refused:
        plan(record(status=current, assignee="eng-y"), status=target)
    assert refused.value.details["from"] == current and refused.value.details["to"] == target
    assert f"cannot move from {current} to {target}" in refused.value.message
    assert target not in refused.value.details["allowed"]


@pytest.mark.parametrize("current, target", [("fixed", "released"), ("released", "fixed")])
def test_release_moves_are_refused_by_hand_and_allowed_to_releases(current, target):
    with pytest.raises(InvalidTransition, match="only through a release"):
        plan(record(status=current), status=target)
    change = plan_update(
        record(status=current), {"status": target}, actor="release", now=NOW, history_max=5, by_release=True
    )
    assert change.set["status"] == target


def test_an_issue_held_by_a_release_moves_only_through_it():
    held = record(status="fixed", activeRelease="1.0.2", assignee="eng-y")
    with pytest.raises(InvalidTransition, match="held by release 1.0.2"):
        plan(held, status="in_progress")
    # other fields may still change
    assert plan(held, title="Reminders late after DST").set["title"] == "Reminders late after DST"


def test_reopening_a_released_issue_frees_it_for_the_next_release():
    change = plan(record(status="released", activeRelease="1.0.2"), status="open", reason="Regression")
    assert change.set["status"] == "open" and "activeRelease" in change.remove
    assert change.set["openSeverity"] == "high"
    entry = change.set["history"][-1]
    assert entry["at"] == NOW and entry["by"] == "eng-x" and entry["action"] == "status"
    assert (entry["from"], entry["to"], entry["reason"]) == ("released", "open", "Regression")


def test_open_severity_follows_the_open_statuses():
    assert plan(record(status="in_progress", assignee="a"), status="fixed").remove == ["openSeverity"]
    assert (
        plan(record(status="assigned", assignee="a"), status="in_progress").set.get("openSeverity") == "high"
    )
    assert plan(record(status="open"), severity="critical").set["openSeverity"] == "critical"
    assert "openSeverity" not in plan(record(status="fixed"), severity="critical").set
    assert lifecycle.is_open("resolved") is False and lifecycle.current_status("resolved") == "fixed"


def test_assigned_work_needs_an_assignee():
    with pytest.raises(ValidationFailed) as refused:
        plan(record(status="triaged"), status="assigned")
    assert [f.field for f in refused.value.fields] == ["assignee"]
    assert plan(record(status="triaged"), status="assigned", assignee="eng-y").set["assignee"] == "eng-y"
    with pytest.raises(ValidationFailed):
        plan(record(status="in_progress", assignee="eng-y"), assignee=None)
    assert plan(record(status="fixed", assignee="eng-y"), assignee=None).remove == ["assignee"]


def test_a_reason_goes_with_a_status_change_and_a_repeat_changes_nothing():
    with pytest.raises(ValidationFailed) as refused:
        plan_update(record(), {"title": "New title"}, actor="a", now=NOW, history_max=5, reason="because")
    assert [f.field for f in refused.value.fields] == ["reason"]
    assert not plan(record(status="triaged"), status="triaged")
    assert not plan(record(), title="Reminders late")


def test_history_is_capped_and_counts_what_it_dropped():
    rec = record(history=[{"at": NOW, "by": "a", "action": "update"}] * 5, historyDropped=2)
    change = plan(rec, history_max=5, title="A new title")
    assert len(change.set["history"]) == 5 and change.set["historyDropped"] == 3
    assert change.set["history"][-1]["changes"] == {"title": {}}


# --------------------------------------------------------------------------------------- priority


@pytest.mark.parametrize(
    "severity, feedback, workspaces, expected",
    [
        ("critical", 0, 0, "P1"),
        ("high", 0, 0, "P2"),
        ("medium", 1, 1, "P3"),
        ("low", 4, 2, "P4"),
        ("low", 5, 1, "P3"),  # wide: 5 reports
        ("medium", 3, 3, "P2"),  # wide: 3 workspaces
        ("low", 20, 1, "P2"),  # very wide: 20 reports
        ("medium", 10, 10, "P1"),  # very wide: 10 workspaces
        ("critical", 50, 50, "P1"),  # never above P1
    ],
)
def test_priority_rises_with_reach(severity, feedback, workspaces, expected):
    assert derived_priority(severity, feedback, workspaces) == expected


def test_an_explicit_priority_stays_until_cleared():
    explicit = plan(record(), priority="P4")
    assert explicit.set["priority"] == "P4" and explicit.set["prioritySource"] == "explicit"
    pinned = record(priority="P4", prioritySource="explicit")
    assert "priority" not in plan(pinned, severity="critical").set
    cleared = plan(record(priority="P4", prioritySource="explicit", severity="critical"), priority=None)
    assert cleared.set["priority"] == "P1" and cleared.set["prioritySource"] == "derived"
    # Pinning the value it already has is still recorded
    same = plan(record(), priority="P2")
    assert same.set["prioritySource"] == "explicit" and "priority" not in same.set
