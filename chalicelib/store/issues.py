"""Issues (`BUG-###`): a minimal model on IssuesTable, enough for health's stability rules.

Kept small on purpose: the bug-fix release issue adds routes, lifecycle and releases on top.

Item: id "BUG-001", title, severity (critical/high/medium/low), status (open, in_progress, resolved,
closed), feedbackIds (the feedback items this issue covers), createdAt, updatedAt, version, and
`openSeverity` = severity while the status is open or in_progress and absent otherwise. That sparse
attribute keys the openBySeverity index (ALL projection), so "open critical issues" is one Query on
a partition that holds only open items, whatever the table's size.

Ids come from a counter item (id "#counter#BUG") incremented atomically; the issue itself is written
with attribute_not_exists(id), so two writers can never take the same id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import PutError, PynamoDBException, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.config import Settings
from chalicelib.errors import (
    Conflict,
    FieldError,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from chalicelib.store.base import BoundModel, Capped, bind_models, table_error

SEVERITIES = ("critical", "high", "medium", "low")
STATUSES = ("open", "in_progress", "resolved", "closed")
OPEN_STATUSES = frozenset({"open", "in_progress"})
COUNTER_ID = "#counter#BUG"


def _now_iso(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class OpenBySeverity(GlobalSecondaryIndex):
    class Meta:
        index_name = "openBySeverity"
        projection = AllProjection()

    openSeverity = UnicodeAttribute(hash_key=True)
    createdAt = UnicodeAttribute(range_key=True)


class IssueItem(BoundModel):
    table_setting = "issues_table"

    class Meta:
        table_name = "plm-local-issues"

    id = UnicodeAttribute(hash_key=True)
    title = UnicodeAttribute()
    severity = UnicodeAttribute()
    status = UnicodeAttribute()
    feedbackIds = ListAttribute(of=UnicodeAttribute, default=list)
    createdAt = UnicodeAttribute()
    updatedAt = UnicodeAttribute()
    openSeverity = UnicodeAttribute(null=True)
    version = VersionAttribute()

    open_by_severity = OpenBySeverity()


class _IssueCounter(BoundModel):
    """The id counter lives in the same table under a key no issue can have."""

    table_setting = "issues_table"

    class Meta:
        table_name = "plm-local-issues"

    id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(default=0)


@dataclass(frozen=True)
class IssueRecord:
    id: str
    title: str
    severity: str
    status: str
    feedback_ids: list[str] = field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "feedbackIds": list(self.feedback_ids),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


def _record(item: IssueItem) -> IssueRecord:
    return IssueRecord(
        id=item.id,
        title=item.title,
        severity=item.severity,
        status=item.status,
        feedback_ids=list(item.feedbackIds or []),
        created_at=item.createdAt,
        updated_at=item.updatedAt,
    )


def _check(severity: str | None = None, status: str | None = None) -> None:
    fields = []
    if severity is not None and severity not in SEVERITIES:
        fields.append(FieldError("severity", f"Must be one of {', '.join(SEVERITIES)}."))
    if status is not None and status not in STATUSES:
        fields.append(FieldError("status", f"Must be one of {', '.join(STATUSES)}."))
    if fields:
        raise ValidationFailed(fields)


def next_issue_id(settings: Settings | None = None) -> str:
    bind_models(settings)
    counter = _IssueCounter(COUNTER_ID)
    try:
        counter.update(actions=[_IssueCounter.seq.add(1)])
    except PynamoDBException as exc:
        raise table_error(exc, "allocate an issue id") from exc
    return f"BUG-{int(counter.seq):03d}"


def create_issue(
    title: str,
    severity: str,
    *,
    feedback_ids: Iterable[str] = (),
    status: str = "open",
    now: datetime | None = None,
    settings: Settings | None = None,
) -> IssueRecord:
    _check(severity, status)
    bind_models(settings)
    stamp = _now_iso(now)
    item = IssueItem(
        next_issue_id(settings),
        title=title,
        severity=severity,
        status=status,
        feedbackIds=list(dict.fromkeys(feedback_ids)),
        createdAt=stamp,
        updatedAt=stamp,
        openSeverity=severity if status in OPEN_STATUSES else None,
    )
    try:
        item.save(condition=IssueItem.id.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict(f"Issue {item.id} already exists.") from exc
        raise table_error(exc, "store the issue") from exc
    return _record(item)


def get_issue(issue_id: str, settings: Settings | None = None) -> IssueRecord:
    bind_models(settings)
    try:
        return _record(IssueItem.get(issue_id))
    except IssueItem.DoesNotExist as exc:
        raise NotFound(f"Issue {issue_id} does not exist.") from exc


def set_issue_status(issue_id: str, status: str, settings: Settings | None = None) -> IssueRecord:
    """Move an issue to `status`, keeping openSeverity in step; conditional on the version read."""
    _check(status=status)
    bind_models(settings)
    try:
        item = IssueItem.get(issue_id)
    except IssueItem.DoesNotExist as exc:
        raise NotFound(f"Issue {issue_id} does not exist.") from exc
    if item.status == "closed" and status != "closed":
        raise InvalidTransition(f"Issue {issue_id} is closed.")
    actions = [IssueItem.status.set(status), IssueItem.updatedAt.set(_now_iso())]
    if status in OPEN_STATUSES:
        actions.append(IssueItem.openSeverity.set(item.severity))
    else:
        actions.append(IssueItem.openSeverity.remove())
    try:
        item.update(actions=actions)  # VersionAttribute adds the version condition
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict(f"Issue {issue_id} changed meanwhile; read it again.") from exc
        raise table_error(exc, "update the issue") from exc
    return _record(item)


def open_issues(severities: Iterable[str] = ("critical", "high"), settings: Settings | None = None) -> Capped:
    """Open issues of the given severities: one Query per severity on the sparse index, at most
    health_open_items_max per severity, the oldest (`truncated` when a severity held more)."""
    settings = bind_models(settings)
    cap = settings.health_open_items_max
    found = Capped()
    for severity in severities:
        _check(severity)
        try:
            # No filter: items read are items returned; one more than the cap tells if there are more.
            items = list(IssueItem.open_by_severity.query(severity, limit=cap + 1, page_size=cap + 1))
        except PynamoDBException as exc:
            raise table_error(exc, "read open issues") from exc
        found.truncated = found.truncated or len(items) > cap
        found.extend(_record(item) for item in items[:cap])
    return found
