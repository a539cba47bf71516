"""Issues on DynamoDB (moto) and the stability rules over real stored issues and feedback: an open
critical bug report counts once, through its issue while the issue is open, by itself after (when
only the issue lists it; an issue made from the item over HTTP links both ways: test_issues_api.py)."""

from __future__ import annotations

import re
import uuid

import pytest

from chalicelib.errors import Conflict
from chalicelib.health.evaluator import HealthSources, evaluate
from chalicelib.store.issues import create_issue, get_issue, open_issues, set_issue_status

FEEDBACK = "/api/monitoring/feedback"


def counted(settings) -> dict[str, str]:
    """id -> which stability input counted it, from an evaluation with the real issue/feedback sources."""
    sources = HealthSources(satisfaction=lambda start, end: {"average": None, "count": 0})
    report = evaluate(settings=settings, sources=sources).report
    return {p["id"]: p["counts"] for p in report.stability.problems}


def test_an_open_critical_bug_counts_once(stack, workspace):
    settings = stack.settings().model_copy(update={"health_api_name": f"api-{uuid.uuid4().hex[:8]}"})
    staff = stack.client("staff", workspace)
    created = staff.post(
        FEEDBACK,
        json={
            "category": "bug_report",
            "severity": "critical",
            "title": "Reminders stopped for every patient",
            "description": "No reminder has gone out since the morning release.",
            "featureArea": "reminders",
        },
    )
    assert created.status_code == 201, created.text
    feedback_id = created.json()["id"]
    assert counted(settings)[feedback_id] == "criticalErrors"  # alone, it is a critical error

    issue = create_issue("Reminders stopped", "critical", feedback_ids=[feedback_id], settings=settings)
    try:
        assert re.fullmatch(r"BUG-\d{3,}", issue.id) and issue.status == "open"
        assert issue.id in {i.id for i in open_issues(("critical",), settings=settings)}
        seen = counted(settings)
        assert seen[issue.id] == "criticalErrors" and feedback_id not in seen  # once, via the issue

        issue = set_issue_status(issue.id, "wont_fix", settings=settings)
        assert issue.status == "wont_fix" and not issue.is_open
        assert issue.id not in {i.id for i in open_issues(settings=settings)}
        seen = counted(settings)
        assert issue.id not in seen and seen[feedback_id] == "criticalErrors"  # the feedback is still open
    finally:
        set_issue_status(issue.id, "closed", settings=settings)
        engineer = stack.client("engineer")
        engineer.patch(f"{FEEDBACK}/{feedback_id}", json={"status": "resolved", "resolution": "Fixed."})
    assert feedback_id not in counted(settings)


def test_issue_ids_are_unique_and_sequential(stack):
    settings = stack.settings()
    first = create_issue("Slow portal", "low", settings=settings)
    second = create_issue("Slow portal again", "low", settings=settings)
    assert int(second.id[4:]) == int(first.id[4:]) + 1
    assert get_issue(first.id, settings=settings).title == "Slow portal"
    assert first.id not in {i.id for i in open_issues(("critical", "high"), settings=settings)}
    for issue in (first, second):
        set_issue_status(issue.id, "closed", settings=settings)


def test_a_closed_issue_reopens_only_to_open(stack):
    from chalicelib.errors import InvalidTransition

    settings = stack.settings()
    issue = create_issue("Typo on a button", "low", settings=settings)
    set_issue_status(issue.id, "closed", settings=settings)
    with pytest.raises(InvalidTransition):
        set_issue_status(issue.id, "triaged", settings=settings)
    assert set_issue_status(issue.id, "open", settings=settings).status == "open"
    set_issue_status(issue.id, "closed", settings=settings)


def test_a_legacy_resolved_issue_reads_as_fixed_and_leaves_the_open_index(stack):
    from chalicelib.store.issues import IssueItem

    # Given an item as the first, minimal model wrote it
    settings = stack.settings()
    issue = create_issue("Legacy resolved issue", "high", settings=settings)
    legacy = IssueItem(
        issue.id, title="Legacy resolved issue", severity="high", status="resolved",
        feedbackIds=[], createdAt=issue.created_at, updatedAt=issue.updated_at,
    )  # fmt: skip
    legacy.save(add_version_condition=False)
    # Then it reads as fixed, is not open, and moves on by the new lifecycle
    read = get_issue(issue.id, settings=settings)
    assert read.status == "fixed" and not read.is_open and read.priority == "P2"
    assert issue.id not in {i.id for i in open_issues(("high",), settings=settings)}
    assert set_issue_status(issue.id, "closed", settings=settings).status == "closed"


def test_a_concurrent_status_change_is_a_conflict_not_a_lost_update(stack, monkeypatch):
    from chalicelib.store.issues import IssueItem

    settings = stack.settings()
    issue = create_issue("Reminder times off by an hour", "high", settings=settings)
    stale = IssueItem.get(issue.id)  # read by a second writer, who then loses the race
    set_issue_status(issue.id, "triaged", settings=settings)
    monkeypatch.setattr(IssueItem, "get", classmethod(lambda cls, *a, **k: stale))
    with pytest.raises(Conflict):
        set_issue_status(issue.id, "wont_fix", settings=settings)
    monkeypatch.undo()
    assert get_issue(issue.id, settings=settings).status == "triaged"
    set_issue_status(issue.id, "closed", settings=settings)
