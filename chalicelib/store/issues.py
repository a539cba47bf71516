"""Issues (`BUG-###`) on IssuesTable: the model, its indexes, and the repository functions.

Records leave this module as IssueRecord (`as_dict()`: the API's camelCase view). The lifecycle and
priority rules are chalicelib.issues.lifecycle's; this module applies them on the writes it makes
itself (set_issue_status) and makes every write conditional, so concurrent writers never overwrite
each other: an update is conditioned on the `version` read (VersionAttribute), a new issue on its id
being free, a feedback link on the feedback item having no issueId yet.

Indexes (infra/template.json IssuesTable):
- openBySeverity [openSeverity, createdAt], sparse, ALL: openSeverity = severity while the status is
  open (open, triaged, assigned, in_progress), absent otherwise; "open critical issues" is one Query
  on a partition that holds only open items (the health rules read it).
- byStatus [status, createdAt], ALL: the list filtered by status, newest first.
- byCreated [kind, createdAt], ALL: every issue newest first (kind is always "issue"); the list
  without a status filter. Issues are few (hundreds to thousands), well inside one partition.

Ids come from a counter item (id "#counter#BUG") incremented atomically; the issue itself is written
with attribute_not_exists(id), so two writers can never take the same id.

Items written by the first, minimal model (before the bug-fix release lifecycle) read as they are,
with `resolved` read as `fixed`; they carry no `kind`, so only the status list and the health rules
see them until their next write adds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import (
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import PutError, PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from chalicelib.config import Settings
from chalicelib.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
)
from chalicelib.issues import lifecycle
from chalicelib.issues.lifecycle import LEGACY_STATUSES, OPEN_STATUSES, PRIORITIES, SEVERITIES, STATUSES
from chalicelib.store.base import BoundModel, Capped, bind_models, table_error

__all__ = [
    "OPEN_STATUSES",
    "PRIORITIES",
    "SEVERITIES",
    "STATUSES",
    "IssueItem",
    "IssueRecord",
    "create_issue",
    "drop_release_hold",
    "get_issue",
    "link_feedback",
    "open_issues",
    "release_hold_action",
    "set_issue_status",
    "update_issue",
]

COUNTER_ID = "#counter#BUG"
KIND = "issue"


def _now_iso(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class OpenBySeverity(GlobalSecondaryIndex):
    class Meta:
        index_name = "openBySeverity"
        projection = AllProjection()

    openSeverity = UnicodeAttribute(hash_key=True)
    createdAt = UnicodeAttribute(range_key=True)


class ByStatus(GlobalSecondaryIndex):
    class Meta:
        index_name = "byStatus"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    createdAt = UnicodeAttribute(range_key=True)


class ByCreated(GlobalSecondaryIndex):
    class Meta:
        index_name = "byCreated"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    createdAt = UnicodeAttribute(range_key=True)


class IssueItem(BoundModel):
    table_setting = "issues_table"

    class Meta:
        table_name = "plm-local-issues"

    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(null=True)
    title = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    severity = UnicodeAttribute()
    priority = UnicodeAttribute(null=True)
    prioritySource = UnicodeAttribute(null=True)
    featureAreas = ListAttribute(of=UnicodeAttribute, null=True)
    assignee = UnicodeAttribute(null=True)
    estimateHours = NumberAttribute(null=True)
    status = UnicodeAttribute()
    feedbackIds = ListAttribute(of=UnicodeAttribute, default=list)
    # Distinct workspaces of the linked feedback: with len(feedbackIds), the issue's reach.
    feedbackWorkspaces = ListAttribute(of=UnicodeAttribute, null=True)
    # Set by the releases capability: the version of the non-terminal release holding this issue.
    activeRelease = UnicodeAttribute(null=True)
    history = ListAttribute(null=True)  # maps: {at, by, action, from?, to?, reason?, changes?}
    historyDropped = NumberAttribute(null=True)
    redactions = ListAttribute(of=UnicodeAttribute, null=True)
    createdAt = UnicodeAttribute()
    createdBy = UnicodeAttribute(null=True)
    updatedAt = UnicodeAttribute()
    openSeverity = UnicodeAttribute(null=True)
    version = VersionAttribute()

    open_by_severity = OpenBySeverity()
    by_status = ByStatus()
    by_created = ByCreated()


class _IssueCounter(BoundModel):
    """The id counter lives in the same table under a key no issue can have."""

    table_setting = "issues_table"

    class Meta:
        table_name = "plm-local-issues"

    id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(default=0)


# Wire name -> attribute, for updates.
ATTRIBUTES: dict[str, Any] = {attr.attr_name: attr for attr in IssueItem.get_attributes().values()}


def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class IssueRecord:
    id: str
    title: str
    severity: str
    status: str
    feedback_ids: list[str] = field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""
    description: str = ""
    priority: str | None = None
    priority_source: str = "derived"
    feature_areas: list[str] = field(default_factory=list)
    assignee: str | None = None
    estimate: float | None = None
    feedback_workspaces: list[str] = field(default_factory=list)
    active_release: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    history_dropped: int = 0
    redactions: list[str] = field(default_factory=list)
    created_by: str | None = None
    version: int = 1

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def reach(self) -> dict[str, int]:
        return {"feedback": len(self.feedback_ids), "workspaces": len(self.feedback_workspaces)}

    def brief(self) -> dict[str, object]:
        """The few fields the health report lists for an open issue."""
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "priority": self.priority,
            "status": self.status,
            "feedbackIds": list(self.feedback_ids),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "severity": self.severity,
            "priority": self.priority,
            "prioritySource": self.priority_source,
            "featureAreas": list(self.feature_areas),
            "assignee": self.assignee,
            "estimateHours": self.estimate,
            "status": self.status,
            "feedbackIds": list(self.feedback_ids),
            "reach": self.reach,
            "activeRelease": self.active_release,
            "history": [dict(entry) for entry in self.history],
            "historyDropped": self.history_dropped,
            "redactions": list(self.redactions),
            "createdAt": self.created_at,
            "createdBy": self.created_by,
            "updatedAt": self.updated_at,
            "version": self.version,
        }


def _record(item: IssueItem) -> IssueRecord:
    feedback_ids = list(item.feedbackIds or [])
    workspaces = list(item.feedbackWorkspaces or [])
    return IssueRecord(
        id=item.id,
        title=item.title,
        severity=item.severity,
        status=LEGACY_STATUSES.get(item.status, item.status),
        feedback_ids=feedback_ids,
        created_at=item.createdAt,
        updated_at=item.updatedAt,
        description=item.description or "",
        priority=item.priority
        or lifecycle.derived_priority(item.severity, len(feedback_ids), len(workspaces)),
        priority_source=item.prioritySource or "derived",
        feature_areas=list(item.featureAreas or []),
        assignee=item.assignee,
        estimate=_number(item.estimateHours),
        feedback_workspaces=workspaces,
        active_release=item.activeRelease,
        history=[{k: _number(v) for k, v in dict(entry).items()} for entry in (item.history or [])],
        history_dropped=int(item.historyDropped or 0),
        redactions=list(item.redactions or []),
        created_by=item.createdBy,
        version=int(item.version or 1),
    )


def _check(severity: str | None = None, status: str | None = None, priority: str | None = None) -> None:
    fields = []
    if severity is not None and severity not in SEVERITIES:
        fields.append(FieldError("severity", f"Must be one of {', '.join(SEVERITIES)}."))
    if status is not None and status not in STATUSES:
        fields.append(FieldError("status", f"Must be one of {', '.join(STATUSES)}."))
    if priority is not None and priority not in PRIORITIES:
        fields.append(FieldError("priority", f"Must be one of {', '.join(PRIORITIES)}."))
    if fields:
        raise ValidationFailed(fields)


def bind(settings: Settings | None = None) -> Settings:
    return bind_models(settings)


def next_issue_id(settings: Settings | None = None) -> str:
    bind_models(settings)
    counter = _IssueCounter(COUNTER_ID)
    try:
        counter.update(actions=[_IssueCounter.seq.add(1)])
    except PynamoDBException as exc:
        raise table_error(exc, "allocate an issue id") from exc
    return f"BUG-{int(counter.seq):03d}"


def _feedback_model():
    # Imported here: the feedback store is only needed for links, and importing it binds nothing.
    from chalicelib.store.feedback import FeedbackModel

    return FeedbackModel


def _link_action(tx: TransactWrite, feedback_id: str, feedback_version: int, issue_id: str) -> None:
    """Set the feedback item's issueId, only if it is unlinked and still at the version read. The
    version moves too (PynamoDB adds it): issueId is part of the item's view, so its ETag changes."""
    model = _feedback_model()
    target = model(id=feedback_id)
    target.version = feedback_version
    tx.update(
        target,
        actions=[model.issue_id.set(issue_id)],
        condition=model.id.exists() & model.issue_id.does_not_exist(),
    )


def _cancelled(exc: TransactWriteError, names: Sequence[str], action: str) -> Exception:
    """The domain error for a cancelled transaction: Conflict naming the first item whose condition
    failed (names[i] describes the i-th action), or the table error."""
    reasons = exc.cancellation_reasons if exc.cause_response_code == "TransactionCanceledException" else []
    for name, reason in zip(names, reasons or [], strict=False):
        if reason is not None and reason.code == "ConditionalCheckFailed":
            return Conflict(f"{name}; read it again.", details={"failed": name})
    if reasons and any(r is not None and r.code == "TransactionConflict" for r in reasons):
        return Conflict(f"Could not {action}: a concurrent write touched the same items; retry.")
    return table_error(exc, action)


def create_issue(
    title: str,
    severity: str,
    *,
    description: str = "",
    feature_areas: Iterable[str] = (),
    priority: str | None = None,
    assignee: str | None = None,
    estimate: float | None = None,
    feedback_ids: Iterable[str] = (),
    status: str = "open",
    actor: str = "system",
    now: datetime | None = None,
    settings: Settings | None = None,
    feedback_workspaces: Iterable[str] = (),
    redactions: Iterable[str] = (),
    linked_versions: Mapping[str, int] | None = None,
) -> IssueRecord:
    """Store a new issue. Priority: the explicit one, else derived from severity and reach.

    With linked_versions ({feedback id: version read}), each of those items gets this issue's id as
    its issueId in the same transaction, conditional on the item being unlinked and at the version
    read: a Conflict naming the item otherwise, and nothing is written."""
    _check(severity, status, priority)
    bind_models(settings)
    stamp = _now_iso(now)
    fids = list(dict.fromkeys(feedback_ids))
    workspaces = sorted(set(feedback_workspaces))
    issue_id = next_issue_id(settings)
    item = IssueItem(
        issue_id,
        kind=KIND,
        title=title,
        description=description or None,
        severity=severity,
        priority=priority or lifecycle.derived_priority(severity, len(fids), len(workspaces)),
        prioritySource="explicit" if priority else "derived",
        featureAreas=list(dict.fromkeys(feature_areas)) or None,
        assignee=assignee,
        estimateHours=estimate,
        status=status,
        feedbackIds=fids,
        feedbackWorkspaces=workspaces or None,
        history=[lifecycle.history_entry(at=stamp, by=actor, action="created", to=status)],
        redactions=sorted(set(redactions)) or None,
        createdAt=stamp,
        createdBy=actor,
        updatedAt=stamp,
        openSeverity=severity if status in OPEN_STATUSES else None,
    )
    if not linked_versions:
        try:
            item.save(condition=IssueItem.id.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise Conflict(f"Issue {item.id} already exists.") from exc
            raise table_error(exc, "store the issue") from exc
        return _record(item)
    try:
        with TransactWrite(connection=IssueItem._get_connection().connection) as tx:
            tx.save(item, condition=IssueItem.id.does_not_exist())
            for fid, fversion in linked_versions.items():
                _link_action(tx, fid, fversion, issue_id)
    except TransactWriteError as exc:
        names = [f"Issue {issue_id} already exists"] + [
            f"Feedback {fid} changed meanwhile or is already linked to an issue" for fid in linked_versions
        ]
        raise _cancelled(exc, names, "store the issue") from exc
    return _record(item)


def _read(issue_id: str) -> IssueItem:
    try:
        return IssueItem.get(issue_id, consistent_read=True)
    except IssueItem.DoesNotExist as exc:
        raise NotFound(f"Issue {issue_id} does not exist.") from exc
    except PynamoDBException as exc:
        raise table_error(exc, "read the issue") from exc


def get_issue(issue_id: str, settings: Settings | None = None) -> IssueRecord:
    bind_models(settings)
    if issue_id == COUNTER_ID:
        raise NotFound(f"Issue {issue_id} does not exist.")
    return _record(_read(issue_id))


def update_issue(
    issue_id: str,
    expected_version: int,
    set_fields: dict[str, Any],
    remove_fields: Iterable[str] = (),
    settings: Settings | None = None,
) -> IssueRecord:
    """One UpdateItem conditioned on the version the caller read: a concurrent change makes it fail
    with Conflict instead of being overwritten. Every write also sets `kind` (old items gain it)."""
    bind_models(settings)
    item = IssueItem(id=issue_id)
    item.version = expected_version
    actions = [ATTRIBUTES[name].set(value) for name, value in set_fields.items()]
    actions.append(IssueItem.kind.set(KIND))
    actions += [ATTRIBUTES[name].remove() for name in remove_fields]
    try:
        item.update(actions=actions, condition=IssueItem.id.exists())
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict(
                f"Issue {issue_id} changed since it was read (version mismatch); read it again and retry.",
                details={"expectedVersion": expected_version},
            ) from exc
        raise table_error(exc, "update the issue") from exc
    return _record(item)


def link_feedback(
    issue_id: str,
    expected_version: int,
    feedback_id: str,
    feedback_version: int,
    set_fields: dict[str, Any],
    settings: Settings | None = None,
) -> IssueRecord:
    """Add one feedback item to an issue (set_fields carries the new feedbackIds, reach, priority,
    history) and set the item's issueId, in one transaction: the issue conditional on its version,
    the feedback item on having no issueId yet."""
    bind_models(settings)
    item = IssueItem(id=issue_id)
    item.version = expected_version  # PynamoDB adds the version condition and increment
    actions = [ATTRIBUTES[name].set(value) for name, value in set_fields.items()]
    actions.append(IssueItem.kind.set(KIND))
    try:
        with TransactWrite(connection=IssueItem._get_connection().connection) as tx:
            tx.update(item, actions=actions, condition=IssueItem.id.exists())
            _link_action(tx, feedback_id, feedback_version, issue_id)
    except TransactWriteError as exc:
        names = [
            f"Issue {issue_id} changed since it was read (version mismatch)",
            f"Feedback {feedback_id} changed meanwhile or is already linked to an issue",
        ]
        raise _cancelled(exc, names, "link the feedback") from exc
    return get_issue(issue_id, settings)


def set_issue_status(
    issue_id: str,
    status: str,
    *,
    actor: str = "system",
    reason: str | None = None,
    settings: Settings | None = None,
) -> IssueRecord:
    """Move an issue to `status` as the system (the releases capability: `released`, and back to
    `fixed` on a rollback), by the lifecycle's rules; conditional on the version read."""
    _check(status=status)
    settings = bind_models(settings)
    record = _record(_read(issue_id))
    plan = lifecycle.plan_update(
        record.as_dict(),
        {"status": status},
        actor=actor,
        now=_now_iso(),
        history_max=settings.issue_history_max,
        reason=reason,
        by_release=True,
    )
    if not plan:
        return record
    return update_issue(issue_id, record.version, plan.set, plan.remove, settings)


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


INDEXES: dict[str, tuple[str, GlobalSecondaryIndex]] = {
    "byStatus": ("status", IssueItem.by_status),
    "byCreated": ("kind", IssueItem.by_created),
}


class IndexQuery:
    """One partition of byStatus or byCreated, newest first, read one DynamoDB page at a time (as
    the feedback store's DateQuery): `read_page(n)` evaluates at most n items before the filters."""

    def __init__(
        self,
        index_name: str,
        partition: str,
        *,
        severity: str | None = None,
        feature_area: str | None = None,
        after: dict[str, str] | None = None,
    ):
        self.hash_attribute, index = INDEXES[index_name]
        condition: Condition | None = None
        if severity is not None:
            condition = IssueItem.severity == severity
        if feature_area is not None:
            area = IssueItem.featureAreas.contains(feature_area)
            condition = area if condition is None else condition & area
        last_key = None
        if after:
            last_key = {
                "id": {"S": after["id"]},
                "createdAt": {"S": after["createdAt"]},
                self.hash_attribute: {"S": partition},
            }
        self._pages = index.query(
            partition,
            filter_condition=condition,
            scan_index_forward=False,
            last_evaluated_key=last_key,
        ).page_iter
        self._started = False

    @property
    def done(self) -> bool:
        return self._started and self._pages.last_evaluated_key is None

    @property
    def last_key(self) -> dict[str, str] | None:
        raw = self._pages.last_evaluated_key
        if not raw:
            return None
        return {"id": raw["id"]["S"], "createdAt": raw["createdAt"]["S"]}

    def read_page(self, max_items: int) -> tuple[list[IssueRecord], int]:
        if self.done:
            return [], 0
        self._pages.page_size = max(1, max_items)
        try:
            page = next(self._pages)
        except StopIteration:
            self._started = True
            return [], 0
        except PynamoDBException as exc:
            raise table_error(exc, "query the issues") from exc
        self._started = True
        records = [_record(IssueItem.from_raw_data(raw)) for raw in page.get("Items", [])]
        return records, int(page.get("ScannedCount", 0))


# ------------------------------------------------------------------ for the releases capability
# PynamoDB always writes the VersionAttribute on an update (`version = 1` when the model instance
# carries none), so a release must not update IssueItem from a bare key: these helpers write
# activeRelease on the version read, which also moves the issue's ETag (activeRelease is shown).


def release_hold_action(
    tx: TransactWrite,
    issue: IssueRecord,
    release: str,
    *,
    actor: str = "system",
    now: datetime | None = None,
    settings: Settings | None = None,
) -> None:
    """Add to a release's transaction: activeRelease = release on `issue` (as read), conditional
    on it being at that version, fixed, and held by no release; a history entry says so."""
    settings = bind_models(settings)
    item = IssueItem(id=issue.id)
    item.version = issue.version
    record = issue.as_dict()
    change = lifecycle.Change()
    entry = lifecycle.history_entry(at=_now_iso(now), by=actor, action="held", release=release)
    lifecycle.with_history(record, entry, settings.issue_history_max, change)
    actions = [IssueItem.activeRelease.set(release), IssueItem.kind.set(KIND)]
    actions += [ATTRIBUTES[name].set(value) for name, value in change.set.items()]
    condition = (
        IssueItem.id.exists() & (IssueItem.status == "fixed") & IssueItem.activeRelease.does_not_exist()
    )
    tx.update(item, actions=actions, condition=condition)


def drop_release_hold(
    issue_id: str,
    release: str,
    *,
    actor: str = "system",
    reason: str | None = None,
    settings: Settings | None = None,
) -> IssueRecord | None:
    """Remove activeRelease where it is `release` (a rolled-back or failed release frees its issues);
    None when the issue is held by no release or another one. Conditional on the version read and
    on the hold, retried when a concurrent edit moved the version."""
    settings = bind_models(settings)
    for _ in range(3):
        issue = _record(_read(issue_id))
        if issue.active_release != release:
            return None
        change = lifecycle.Change()
        entry = lifecycle.history_entry(
            at=_now_iso(), by=actor, action="unheld", release=release, reason=reason
        )
        lifecycle.with_history(issue.as_dict(), entry, settings.issue_history_max, change)
        item = IssueItem(id=issue_id)
        item.version = issue.version
        actions = [IssueItem.activeRelease.remove(), IssueItem.kind.set(KIND)]
        actions += [ATTRIBUTES[name].set(value) for name, value in change.set.items()]
        try:
            item.update(actions=actions, condition=IssueItem.activeRelease == release)
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise table_error(exc, "update the issue") from exc
            continue
        return get_issue(issue_id, settings)
    raise Conflict(f"Issue {issue_id} kept changing; its release hold could not be dropped, retry.")
