"""No sequence of valid requests can make an issue item DynamoDB cannot store (400 KB): the largest
possible item, built from the limits (schemas, token claims, settings' upper bounds, 4-byte
characters), sized by DynamoDB's rules (tests/unit/test_feedback_item_size.py)."""

from __future__ import annotations

import uuid

from annotated_types import Le

from chalicelib.auth import MAX_SUB_LENGTH, MAX_WORKSPACE_LENGTH
from chalicelib.config import Settings
from chalicelib.issues.lifecycle import PRIORITIES, STATUSES
from chalicelib.schemas.feedback import FEATURE_AREAS
from chalicelib.schemas.issues import MAX_ESTIMATE_HOURS, TEXT_LIMITS
from chalicelib.store.issues import IssueItem
from tests.unit.test_feedback_item_size import (
    DYNAMODB_ITEM_LIMIT,
    LATEST,
    MARGIN,
    WIDE,
    attribute_value_size,
)


def cap(name: str) -> int:
    return next(m.le for m in Settings.model_fields[name].metadata if isinstance(m, Le))


def text(name: str) -> str:
    return WIDE * TEXT_LIMITS[name]


def test_the_largest_possible_issue_fits_with_room_to_spare():
    longest_status = max(STATUSES, key=len)
    areas = sorted(FEATURE_AREAS, key=len, reverse=True)
    feedback_id = str(uuid.uuid4())  # only existing items link, and the feedback service makes UUIDs
    estimate = MAX_ESTIMATE_HOURS + 0.123456789012345  # every digit a float can carry
    by = WIDE * MAX_SUB_LENGTH
    changes = {
        "title": {},
        "description": {},
        "severity": {"from": "critical", "to": "critical"},
        "priority": {"from": PRIORITIES[0], "to": PRIORITIES[0]},
        "prioritySource": {"from": "explicit", "to": "explicit"},
        "featureAreas": {"from": areas, "to": areas},
        "assignee": {"from": text("assignee"), "to": text("assignee")},
        "estimateHours": {"from": estimate, "to": estimate},
    }
    # The largest entry of any kind: a status change with every field changed and a reason (and,
    # over-counting, a link's feedbackId).
    entry = {
        "at": LATEST,
        "by": by,
        "action": "created",
        "from": longest_status,
        "to": longest_status,
        "reason": text("reason"),
        "changes": changes,
        "feedbackId": feedback_id,
    }
    linked = cap("issue_feedback_max")
    item = IssueItem(
        "BUG-" + "9" * 9,
        kind="issue",
        title=text("title"),
        description=text("description"),
        severity="critical",
        priority="P1",
        prioritySource="explicit",
        featureAreas=areas,
        assignee=text("assignee"),
        estimateHours=estimate,
        status=longest_status,
        feedbackIds=[feedback_id] * linked,
        feedbackWorkspaces=[WIDE * MAX_WORKSPACE_LENGTH] * linked,
        activeRelease=WIDE * 128,
        history=[entry] * cap("issue_history_max"),
        historyDropped=10**18,
        redactions=["address", "email", "phone", "ssn", "dob", "mrn", "name"],
        createdAt=LATEST,
        createdBy=by,
        updatedAt=LATEST,
        openSeverity="critical",
        version=10**18,
    )
    stored = item.serialize()
    # Every stored attribute has a value here: a new attribute without a bound fails the test.
    assert set(stored) == {a.attr_name for a in IssueItem.get_attributes().values()}
    size = sum(len(name.encode()) + attribute_value_size(value) for name, value in stored.items())
    assert size <= DYNAMODB_ITEM_LIMIT * MARGIN, f"{size} bytes"
