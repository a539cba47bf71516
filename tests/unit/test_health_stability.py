"""Critical errors and high-priority issues: each open problem counted once."""

from __future__ import annotations

from chalicelib.health.stability import classify
from chalicelib.store.issues import IssueRecord


def issue(id_: str, severity: str, status: str = "open", feedback_ids=()) -> IssueRecord:
    return IssueRecord(id_, f"title {id_}", severity, status, list(feedback_ids))


def fb(id_: str, severity: str, category: str = "bug_report", issue_id: str | None = None) -> dict:
    return {"id": id_, "severity": severity, "category": category, "issueId": issue_id, "createdAt": "x"}


def ids(problems) -> list[str]:
    return [p.id for p in problems]


def test_open_issues_count_by_severity_and_closed_ones_do_not():
    counted = classify(
        [
            issue("BUG-001", "critical"),
            issue("BUG-002", "high", "in_progress"),
            issue("BUG-003", "critical", "resolved"),
        ],
        [],
    )
    assert ids(counted.critical_errors) == ["BUG-001"]
    assert ids(counted.high_priority_issues) == ["BUG-002"]


def test_feedback_linked_to_an_issue_is_not_counted_twice():
    counted = classify(
        [issue("BUG-001", "critical", feedback_ids=["f-listed"])],
        [
            fb("f-linked", "critical", issue_id="BUG-001"),
            fb("f-listed", "critical"),
            fb("f-alone", "critical"),
        ],
    )
    assert ids(counted.critical_errors) == ["BUG-001", "f-alone"]
    assert sorted(counted.linked_feedback_skipped) == ["f-linked", "f-listed"]


def test_feedback_categories_decide_error_or_issue():
    counted = classify(
        [],
        [
            fb("crit-bug", "critical", "bug_report"),
            fb("crit-perf", "critical", "performance_issue"),
            fb("crit-usability", "critical", "usability_issue"),
            fb("high-usability", "high", "usability_issue"),
            fb("high-bug", "high", "bug_report"),
            fb("crit-feature", "critical", "feature_request"),
            fb("high-general", "high", "general_feedback"),
        ],
    )
    assert ids(counted.critical_errors) == ["crit-bug", "crit-perf"]
    assert ids(counted.high_priority_issues) == ["crit-usability", "high-usability", "high-bug"]
    assert counted.other_feedback_skipped == ["crit-feature", "high-general"]
