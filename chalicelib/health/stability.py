"""Which open problems the score's stability rules count, each exactly once.

Definitions (docs/health.md repeats them):
- A *critical error* is an open issue (status open, triaged, assigned, in_progress: not fixed,
  released, verified, wont_fix or closed; chalicelib.issues.lifecycle) of severity critical, or an open
  feedback item of severity critical in an error category (bug_report, performance_issue) that is not
  linked to an issue.
- A *high-priority issue* is an open issue of severity high, or an open feedback item not linked to an
  issue that is either of severity high in a problem category (bug_report, performance_issue,
  usability_issue) or of severity critical in usability_issue (a critical problem, but not an error).
- Feedback is "linked" when it carries an issueId, or when an open issue lists its id in feedbackIds:
  the issue already stands for it, so it is not counted a second time.
- feature_request and general_feedback never count: they are not faults of the running system.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.health.score import Problem
from chalicelib.store.issues import IssueRecord

ERROR_CATEGORIES = frozenset({"bug_report", "performance_issue"})
PROBLEM_CATEGORIES = ERROR_CATEGORIES | {"usability_issue"}


@dataclass(frozen=True)
class StabilityCount:
    critical_errors: list[Problem]
    high_priority_issues: list[Problem]
    linked_feedback_skipped: list[str]
    other_feedback_skipped: list[str]


def classify(issues: Iterable[IssueRecord], feedback: Iterable[Mapping[str, Any]]) -> StabilityCount:
    critical: list[Problem] = []
    high: list[Problem] = []
    linked_ids: set[str] = set()
    for issue in issues:
        if not issue.is_open:
            continue
        linked_ids.update(issue.feedback_ids)
        problem = Problem("issue", issue.id, issue.severity, title=issue.title)
        if issue.severity == "critical":
            critical.append(problem)
        elif issue.severity == "high":
            high.append(problem)

    skipped_linked: list[str] = []
    skipped_other: list[str] = []
    for item in feedback:
        fid = str(item.get("id"))
        severity = item.get("severity")
        category = item.get("category")
        if item.get("issueId") or fid in linked_ids:
            skipped_linked.append(fid)
            continue
        problem = Problem("feedback", fid, str(severity), category=category)
        if severity == "critical" and category in ERROR_CATEGORIES:
            critical.append(problem)
        elif (severity == "high" and category in PROBLEM_CATEGORIES) or (
            severity == "critical" and category == "usability_issue"
        ):
            high.append(problem)
        else:
            skipped_other.append(fid)
    return StabilityCount(critical, high, skipped_linked, skipped_other)
