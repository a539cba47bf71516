"""Issues on DynamoDB (moto) and the stability rules over real stored issues and feedback: an open
critical bug report counts once, through its issue while the issue is open, by itself after."""

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

        resolved = set_issue_status(issue.id, "resolved", settings=settings)
        assert resolved.status == "resolved" and not resolved.is_open
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


def test_a_closed_issue_cannot_be_reopened_here(stack):
    from chalicelib.errors import InvalidTransition

    settings = stack.settings()
    issue = create_issue("Typo on a button", "low", settings=settings)
    set_issue_status(issue.id, "closed", settings=settings)
    with pytest.raises(InvalidTransition):
        set_issue_status(issue.id, "open", settings=settings)


def test_a_concurrent_status_change_is_a_conflict_not_a_lost_update(stack, monkeypatch):
    from chalicelib.store.issues import IssueItem

    settings = stack.settings()
    issue = create_issue("Reminder times off by an hour", "high", settings=settings)
    stale = IssueItem.get(issue.id)  # read by a second writer, who then loses the race
    set_issue_status(issue.id, "in_progress", settings=settings)
    monkeypatch.setattr(IssueItem, "get", classmethod(lambda cls, *a, **k: stale))
    with pytest.raises(Conflict):
        set_issue_status(issue.id, "resolved", settings=settings)
    monkeypatch.undo()
    assert get_issue(issue.id, settings=settings).status == "in_progress"
    set_issue_status(issue.id, "closed", settings=settings)
