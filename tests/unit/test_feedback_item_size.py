"""No sequence of valid requests can make a feedback item DynamoDB cannot store (400 KB).

The largest possible item is built from the limits themselves (the request schemas' text limits,
the token claims' limits, the history cap's upper bound, every enumerated value at its longest,
every character 4 bytes in UTF-8) and sized by DynamoDB's documented rules: attribute names plus
UTF-8 value bytes, lists and maps 3 bytes plus 1 per element, numbers 1 byte per two digits plus 1.
A new stored attribute without a bound here fails the test.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from itertools import product
from typing import Any

import pytest
from annotated_types import Le

from chalicelib.auth import MAX_SUB_LENGTH, MAX_WORKSPACE_LENGTH, Principal, Role
from chalicelib.config import Settings
from chalicelib.feedback import lifecycle, redaction
from chalicelib.feedback.service import new_record
from chalicelib.feedback.windows import iso
from chalicelib.schemas.feedback import (
    CATEGORIES,
    FEATURE_AREAS,
    MAX_STEPS,
    SEVERITIES,
    STATUSES,
    TEXT_LIMITS,
    FeedbackCreate,
    FeedbackUpdate,
    fit_text,
)
from chalicelib.store.feedback import FeedbackModel, to_model

DYNAMODB_ITEM_LIMIT = 400 * 1024
# The largest item must stay at most this share of the limit (room for approximations and growth).
MARGIN = 0.8
WIDE = "\U0001f600"  # 4 bytes in UTF-8, unchanged by NFKC: the worst case per character
LATEST = iso(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
HISTORY_CAP = next(m.le for m in Settings.model_fields["feedback_history_max"].metadata if isinstance(m, Le))


def attribute_value_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for one AttributeValue ({"S": ...}, {"N": ...}, {"L": [...]}, ...)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + attribute_value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_value_size(v) for k, v in inner.items())
    if kind == "SS":
        return sum(len(v.encode()) for v in inner)
    raise AssertionError(f"unexpected attribute type {kind}")


def item_size(item: dict[str, dict[str, Any]]) -> int:
    return sum(len(name.encode()) + attribute_value_size(value) for name, value in item.items())


def stored_size(record: dict[str, Any]) -> int:
    return item_size(to_model(record).serialize())


def wide(name: str) -> str:
    return WIDE * TEXT_LIMITS[name]


def longest(values) -> str:
    return max(values, key=len)


def largest_payload(category: str, severity: str) -> dict[str, Any]:
    return {
        "category": category,
        "severity": severity,
        "featureArea": longest(FEATURE_AREAS),
        "title": wide("title"),
        "description": wide("description"),
        "steps": [wide("steps")] * MAX_STEPS,
        "browserInfo": wide("browserInfo"),
        "deviceInfo": wide("deviceInfo"),
        "expectedBehavior": wide("expectedBehavior"),
        "actualBehavior": wide("actualBehavior"),
        "satisfactionRating": 5,
        "usabilityRating": 5,
        "performanceRating": 5,
    }


def test_the_limits_used_here_are_the_schemas_limits():
    """The worst-case payloads are valid, and one character (or step) more is refused."""
    payload = largest_payload("bug_report", "critical")
    FeedbackCreate.model_validate(payload)
    for name in ("title", "description", "browserInfo", "deviceInfo", "expectedBehavior", "actualBehavior"):
        with pytest.raises(ValueError):
            FeedbackCreate.model_validate({**payload, name: payload[name] + WIDE})
    with pytest.raises(ValueError):
        FeedbackCreate.model_validate({**payload, "steps": payload["steps"] + ["one more"]})
    with pytest.raises(ValueError):
        FeedbackCreate.model_validate({**payload, "steps": [wide("steps") + WIDE]})
    update = {
        "status": "resolved",
        "resolution": wide("resolution"),
        "reason": wide("reason"),
        "assignee": wide("assignee"),
    }
    FeedbackUpdate.model_validate(update)
    for name in ("resolution", "reason", "assignee"):
        with pytest.raises(ValueError):
            FeedbackUpdate.model_validate({**update, name: update[name] + WIDE})


def test_redaction_markers_cannot_push_stored_text_past_its_limit():
    """Markers can be longer than what they replace; the stored text is still held to the limit."""
    crowded = " ".join(["a@b.io"] * 400)[: TEXT_LIMITS["description"]]
    redacted, kinds = redaction.redact(crowded)
    assert "email" in kinds and len(redacted) > TEXT_LIMITS["description"]
    fitted = fit_text("description", redacted)
    assert len(fitted) == TEXT_LIMITS["description"] and fitted.endswith("\u2026")
    assert "a@b.io" not in fitted


def largest_possible_item() -> dict[str, Any]:
    """Every stored attribute at its largest: the bound the test asserts on."""
    entry_text = WIDE * max(TEXT_LIMITS["resolution"], TEXT_LIMITS["reason"])
    actor = WIDE * MAX_SUB_LENGTH
    entry = {
        "from": longest(STATUSES),
        "to": longest(STATUSES),
        "at": LATEST,
        "by": actor,
        "reason": entry_text,
    }
    kinds = sorted(redaction.KINDS)
    record = {
        "id": str(uuid.uuid4()),
        "workspaceId": WIDE * MAX_WORKSPACE_LENGTH,
        "userId": actor,
        "userRole": longest(r.value for r in Role),
        "createdAt": LATEST,
        "updatedAt": LATEST,
        "month": LATEST[:7],
        **largest_payload(longest(CATEGORIES), longest(SEVERITIES)),
        "status": longest(STATUSES),
        "assignee": wide("assignee"),
        "resolution": wide("resolution"),
        "resolvedAt": LATEST,
        "acknowledgedAt": LATEST,
        "history": [entry] * HISTORY_CAP,
        "historyDropped": 10**38 - 1,
        "redactions": kinds,
        "version": 10**38 - 1,
        "openSeverity": longest(SEVERITIES),
        "notifyPending": lifecycle.NOTIFY_PENDING,
        # No request writes issueId (issue linking is the releases capability's); bounded generously.
        "issueId": WIDE * 100,
    }
    stored = {attr.attr_name for attr in FeedbackModel.get_attributes().values()}
    assert set(record) == stored, "every stored attribute needs a bound here"
    return record


def test_the_largest_possible_item_fits_dynamodb_with_margin():
    size = stored_size(largest_possible_item())
    print(f"largest possible feedback item: {size} bytes = {size / DYNAMODB_ITEM_LIMIT:.1%} of 400 KB")
    assert size <= MARGIN * DYNAMODB_ITEM_LIMIT


def test_items_the_code_makes_stay_within_the_bound():
    """The real code path (validate, redact, fit, lifecycle with the cap), for every category and
    severity, driven through more resolve/reopen cycles than the cap with every text at its limit."""
    bound = stored_size(largest_possible_item())
    principal = Principal(
        sub=WIDE * MAX_SUB_LENGTH, workspace_id=WIDE * MAX_WORKSPACE_LENGTH, roles=frozenset({Role.ENGINEER})
    )
    for category, severity in product(CATEGORIES, SEVERITIES):
        record, _ = new_record(
            principal, largest_payload(category, severity), datetime(2026, 1, 1, tzinfo=UTC)
        )
        record["version"] = 1
        moves = ["acknowledged", "in_progress"] if record["status"] == "new" else ["in_progress"]
        moves += ["resolved", "acknowledged"] * HISTORY_CAP + ["resolved", "closed"]
        for target in moves:
            change = lifecycle.plan_update(
                record,
                actor=principal.sub,
                now=LATEST,
                status=target,
                resolution=wide("resolution") if target == "resolved" else None,
                reason=None if target == "resolved" else wide("reason"),
                assignee=wide("assignee"),
                assignee_given=True,
                history_max=HISTORY_CAP,
            )
            record = {k: v for k, v in {**record, **change.set}.items() if k not in change.remove}
            record["version"] += 1
            assert len(record["history"]) <= HISTORY_CAP
        assert record["status"] == "closed"
        automatic = int(lifecycle.alerts_on_submit(category, severity))  # the system's acknowledge
        assert len(record["history"]) + record["historyDropped"] == len(moves) + automatic
        assert stored_size(record) <= bound, (category, severity)


def test_a_cap_above_the_proven_bound_is_refused():
    with pytest.raises(ValueError):
        Settings(feedback_history_max=HISTORY_CAP + 1)
