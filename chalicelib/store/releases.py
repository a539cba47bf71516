"""ReleasesTable: bug-fix releases, the per-function rollout locks and the highest version issued.

Records cross this edge as plain dicts with the stored (camelCase) attribute names, as the alerts
store's do (the record's shape: docs/releases.md, "The release record").

Items (hash key `pk`):
- a release, pk = "release#<version>", kind = "release" (the byCreated index: newest first);
- a rollout lock, pk = "lock#<function>", holder fields release/environment/executionArn/since:
  present exactly while an execution rolls that function out (acquire_lock, release_lock);
- the meta item, pk = "meta", maxVersion = the highest version ever created. Versions are ordered by
  semver precedence, which DynamoDB cannot compare, so create_release compares in Python and writes
  maxVersion conditioned on the value it read: two concurrent creates cannot both pass.

Every write of a release is conditioned on its `revision` (an optimistic lock; the release's
semantic version is `version`, so the counter has another name). `update_release` takes a dict of
changes: a key ending in "+" appends to that list (`{"gates+": [gate]}`: list_append), a key
"environments.<env>" replaces one environment's map, any other key sets the attribute; None removes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import (
    DeleteError,
    PutError,
    PynamoDBException,
    TransactWriteError,
    UpdateError,
)
from pynamodb.expressions.operand import Path
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from chalicelib.config import Settings
from chalicelib.cursors import bad_cursor, decode_token, encode_token
from chalicelib.errors import Conflict, NotFound, RolloutLocked
from chalicelib.releases import model
from chalicelib.store import issues as issue_store
from chalicelib.store.base import BoundModel, bind_models, table_error

RELEASE_PREFIX = "release#"
LOCK_PREFIX = "lock#"
META_PK = "meta"
KIND = "release"


def _now_iso(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ByCreatedIndex(GlobalSecondaryIndex["ReleaseItem"]):
    class Meta:
        index_name = "byCreated"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    createdAt = UnicodeAttribute(range_key=True)


class ReleaseItem(BoundModel):
    table_setting = "releases_table"

    class Meta:
        table_name = "plm-local-releases"

    pk = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    version = UnicodeAttribute()
    issues = ListAttribute(of=UnicodeAttribute, default=list)
    featureAreas = ListAttribute(of=UnicodeAttribute, default=list)
    # Untyped: lists of maps and maps whose keys the rollout may extend (docs/releases.md).
    targets = ListAttribute(default=list)
    status = UnicodeAttribute()
    environments = MapAttribute(default=dict)
    trafficPercent = NumberAttribute(default=0)
    executions = ListAttribute(default=list)
    backups = ListAttribute(default=list)
    gates = ListAttribute(default=list)
    history = ListAttribute(default=list)
    abortRequested = MapAttribute(null=True)
    promoteRequested = MapAttribute(null=True)
    pendingToken = UnicodeAttribute(null=True)
    statusReason = UnicodeAttribute(null=True)
    createdAt = UnicodeAttribute()
    createdBy = UnicodeAttribute()
    updatedAt = UnicodeAttribute()
    revision = NumberAttribute()

    by_created = ByCreatedIndex()


class LockItem(BoundModel):
    table_setting = "releases_table"

    class Meta:
        table_name = "plm-local-releases"

    pk = UnicodeAttribute(hash_key=True)
    function = UnicodeAttribute()
    release = UnicodeAttribute()
    environment = UnicodeAttribute()
    executionArn = UnicodeAttribute()
    since = UnicodeAttribute()


class MetaItem(BoundModel):
    table_setting = "releases_table"

    class Meta:
        table_name = "plm-local-releases"

    pk = UnicodeAttribute(hash_key=True)
    maxVersion = UnicodeAttribute(null=True)


ATTRIBUTES: dict[str, Any] = ReleaseItem.get_attributes()
FIELDS = tuple(name for name in ATTRIBUTES if name not in ("pk", "kind"))
_NOT_UPDATABLE = frozenset({"pk", "kind", "version", "revision", "createdAt", "createdBy"})


def bind(settings: Settings | None = None) -> Settings:
    return bind_models(settings)


def _pk(version: str) -> str:
    return RELEASE_PREFIX + version


def _plain(value: Any) -> Any:
    if isinstance(value, MapAttribute):
        return {k: _plain(v) for k, v in value.as_dict().items()}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_record(item: ReleaseItem) -> dict[str, Any]:
    record = {name: _plain(getattr(item, name)) for name in FIELDS}
    for name in ("abortRequested", "promoteRequested", "pendingToken", "statusReason"):
        if record.get(name) is None:
            record.pop(name, None)
    record["revision"] = int(record["revision"])
    record["trafficPercent"] = _plain(record["trafficPercent"])
    return record


def _model(record: Mapping[str, Any]) -> ReleaseItem:
    values = {k: v for k, v in record.items() if k in ATTRIBUTES and v is not None}
    return ReleaseItem(_pk(record["version"]), kind=KIND, **{k: v for k, v in values.items() if k != "pk"})


# ---------------------------------------------------------------- reads


def get_release(version: str, settings: Settings | None = None) -> dict[str, Any] | None:
    bind_models(settings)
    try:
        return to_record(ReleaseItem.get(_pk(version), consistent_read=True))
    except ReleaseItem.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise table_error(exc, "read the release") from exc


def require_release(version: str, settings: Settings | None = None) -> dict[str, Any]:
    record = get_release(version, settings)
    if record is None:
        raise NotFound(f"Release {version} does not exist.")
    return record


def max_version(settings: Settings | None = None) -> str | None:
    """The highest version ever created (the meta item), or None before the first release."""
    bind_models(settings)
    try:
        return MetaItem.get(META_PK, consistent_read=True).maxVersion
    except MetaItem.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise table_error(exc, "read the highest release version") from exc


def list_releases(
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
    settings: Settings | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Releases newest first (byCreated), `limit` a page, optionally of one status. The cursor is the
    last key returned; with a status filter a page may hold fewer items than `limit`."""
    bind_models(settings)
    last_key = None
    if cursor:
        body = decode_token(cursor)
        if (
            set(body) != {"v", "c"}
            or not isinstance(body["v"], str)
            or not isinstance(body["c"], str)
            or not body["v"]
        ):
            raise bad_cursor("unknown format")
        last_key = {"pk": {"S": _pk(body["v"])}, "kind": {"S": KIND}, "createdAt": {"S": body["c"]}}
    condition = ReleaseItem.status == status if status else None
    try:
        query = ReleaseItem.by_created.query(
            KIND,
            scan_index_forward=False,
            filter_condition=condition,
            limit=limit,
            page_size=limit,
            last_evaluated_key=last_key,
        )
        items = [to_record(item) for item in query]
    except PynamoDBException as exc:
        if exc.cause_response_code == "ValidationException" and cursor:
            raise bad_cursor("does not fit this list") from exc
        raise table_error(exc, "list releases") from exc
    next_key = query.last_evaluated_key
    next_cursor = None
    if next_key:
        version = next_key["pk"]["S"].removeprefix(RELEASE_PREFIX)
        next_cursor = encode_token({"v": version, "c": next_key["createdAt"]["S"]})
    return items, next_cursor


def created_between(
    start: str, end: str, limit: int, settings: Settings | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Releases created in [start, end] (stored instants), oldest first, at most `limit`: one Query
    on byCreated's createdAt range. True when there were more (the newest left unread)."""
    bind_models(settings)
    try:
        items = list(
            ReleaseItem.by_created.query(
                KIND,
                ReleaseItem.createdAt.between(start, end),
                limit=limit + 1,
                page_size=min(limit + 1, 1000),
            )
        )
    except PynamoDBException as exc:
        raise table_error(exc, "read the releases of the period") from exc
    return [to_record(item) for item in items[:limit]], len(items) > limit


def batch_put(records: Iterable[Mapping[str, Any]], settings: Settings | None = None) -> int:
    """Bulk load (benchmarks, demo data): the release items alone, BatchWriteItem, 25 a call, no
    conditions; the issue links and the highest-version meta item that create_release writes with
    them are the caller's to keep consistent (a loader, not a request path)."""
    bind_models(settings)
    count = 0
    try:
        with ReleaseItem.batch_write() as batch:
            for record in records:
                batch.save(_model(record))
                count += 1
    except PynamoDBException as exc:
        raise table_error(exc, "store the release batch") from exc
    return count


# ---------------------------------------------------------------- create (one transaction)


def _issue_refusal(issue_id: str, version: str) -> str:
    """Why an issue's condition failed, read again after the cancelled transaction."""
    try:
        issue = issue_store.get_issue(issue_id)
    except NotFound:
        return f"Issue {issue_id} does not exist."
    if issue.active_release and issue.active_release != version:
        return f"Issue {issue_id} is already in release {issue.active_release}, which is still active."
    if issue.status != "fixed":
        return f"Issue {issue_id} is {issue.status}; only fixed issues can be released."
    return f"Issue {issue_id} changed while the release was being created; try again."


def create_release(record: Mapping[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Store a new release in one transaction with its consequences: the release item (its version
    never used), maxVersion raised (conditioned on the value read, so a concurrent create of an equal
    or higher version fails), and each issue's activeRelease set, conditioned on the issue being
    fixed, held by no release, and unchanged since read. Conflict names what failed."""
    bind_models(settings)
    version = record["version"]
    current_max = max_version()
    if current_max is not None and not model.is_greater(version, current_max):
        raise Conflict(
            f"Release {version} is not greater than {current_max}, the highest version so far.",
            details={"maxVersion": current_max},
        )
    held = [issue_store.get_issue(issue_id) for issue_id in record["issues"]]  # NotFound names it
    item = _model(record)
    meta = MetaItem(META_PK)
    meta_condition = (
        MetaItem.maxVersion.does_not_exist() if current_max is None else MetaItem.maxVersion == current_max
    )
    try:
        with TransactWrite(connection=ReleaseItem._get_connection().connection) as tx:
            tx.save(item, condition=ReleaseItem.pk.does_not_exist())
            tx.update(meta, actions=[MetaItem.maxVersion.set(version)], condition=meta_condition)
            for issue in held:
                # Conditional on the issue's version as read, fixed, and held by no release.
                issue_store.release_hold_action(tx, issue, version, actor=record["createdBy"])
    except TransactWriteError as exc:
        raise _create_refused(exc, version, record["issues"]) from exc
    return to_record(item)


def _create_refused(exc: TransactWriteError, version: str, issue_ids: Sequence[str]) -> Exception:
    reasons = exc.cancellation_reasons if exc.cause_response_code == "TransactionCanceledException" else None
    if not reasons:
        return table_error(exc, "store the release")
    failed = [i for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"]
    if not failed:
        if any(r is not None and r.code == "TransactionConflict" for r in reasons):
            return Conflict(f"Release {version}: a concurrent write touched the same items; try again.")
        return table_error(exc, "store the release")
    first = failed[0]
    if first == 0:
        return Conflict(f"Release {version} already exists.", details={"field": "version"})
    if first == 1:
        now_max = max_version()
        return Conflict(
            f"Release {version} is not greater than {now_max}, created meanwhile.",
            details={"field": "version", "maxVersion": now_max},
        )
    issue_id = issue_ids[first - 2]
    return Conflict(_issue_refusal(issue_id, version), details={"field": "issues", "issue": issue_id})


# ---------------------------------------------------------------- updates


def _path(key: str) -> Any:
    name, _, sub = key.partition(".")
    if name not in ATTRIBUTES or name in _NOT_UPDATABLE:
        raise ValueError(f"not an updatable release field: {key!r}")
    if sub:
        if not isinstance(ATTRIBUTES[name], MapAttribute):
            raise ValueError(f"{name} is not a map: {key!r}")
        return Path([ATTRIBUTES[name].attr_name, sub])
    return ATTRIBUTES[name]


def _actions(changes: Mapping[str, Any], history: Sequence[Mapping[str, Any]], remove: Iterable[str]) -> list:
    actions = []
    for key, value in changes.items():
        if key.endswith("+"):
            attribute = _path(key[:-1])
            if not isinstance(attribute, ListAttribute):
                raise ValueError(f"not a list: {key!r}")
            actions.append(attribute.set((attribute | []).append(list(value))))
        elif value is None:
            actions.append(_path(key).remove())
        else:
            path = _path(key)
            if isinstance(path, Path):
                # A map inside a map: handed over serialized ({"M": ...}), as an untyped map.
                if isinstance(value, Mapping):
                    value = {"M": MapAttribute().serialize(dict(value))}
                actions.append(path.set(value))
            else:
                actions.append(path.set(value))
    if history:
        actions.append(ReleaseItem.history.set((ReleaseItem.history | []).append([dict(h) for h in history])))
    actions += [_path(name).remove() for name in remove]
    return actions


def update_release(
    version: str,
    revision: int,
    changes: Mapping[str, Any],
    *,
    history: Sequence[Mapping[str, Any]] = (),
    remove: Sequence[str] = (),
    settings: Settings | None = None,
) -> dict[str, Any]:
    """One UpdateItem conditioned on the revision the caller read (Conflict when it moved); appends
    `history`, bumps revision and updatedAt; returns the record as stored after the write."""
    bind_models(settings)
    actions = _actions(changes, history, remove)
    if "updatedAt" not in changes:
        actions.append(ReleaseItem.updatedAt.set(_now_iso()))
    actions.append(ReleaseItem.revision.add(1))
    item = ReleaseItem(_pk(version))
    try:
        item.update(actions=actions, condition=ReleaseItem.pk.exists() & (ReleaseItem.revision == revision))
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            if get_release(version) is None:
                raise NotFound(f"Release {version} does not exist.") from exc
            raise Conflict(
                f"Release {version} changed since it was read (revision {revision}); read it again.",
                details={"expectedRevision": revision},
            ) from exc
        raise table_error(exc, "update the release") from exc
    return to_record(item)


# ---------------------------------------------------------------- rollout locks


def _lock_record(item: LockItem) -> dict[str, Any]:
    return {
        "function": item.function,
        "release": item.release,
        "environment": item.environment,
        "executionArn": item.executionArn,
        "since": item.since,
    }


def read_lock(function: str, settings: Settings | None = None) -> dict[str, Any] | None:
    bind_models(settings)
    try:
        return _lock_record(LockItem.get(LOCK_PREFIX + function, consistent_read=True))
    except LockItem.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise table_error(exc, "read the rollout lock") from exc


def acquire_lock(function: str, holder: Mapping[str, Any], settings: Settings | None = None) -> None:
    """Take `function`'s rollout lock for holder {release, environment, executionArn, since}; a retry
    by the same execution succeeds again. Another holder: RolloutLocked naming it."""
    bind_models(settings)
    item = LockItem(
        LOCK_PREFIX + function,
        function=function,
        release=holder["release"],
        environment=holder["environment"],
        executionArn=holder["executionArn"],
        since=holder.get("since") or _now_iso(),
    )
    try:
        item.save(condition=LockItem.pk.does_not_exist() | (LockItem.executionArn == holder["executionArn"]))
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            existing = read_lock(function)
            if existing is None:  # released between the two calls: take it now
                return acquire_lock(function, holder)
            raise RolloutLocked(existing, function) from exc
        raise table_error(exc, "take the rollout lock") from exc
    return None


def release_lock(function: str, execution_arn: str, settings: Settings | None = None) -> None:
    """Drop the lock if `execution_arn` holds it; silent when it is gone or held by another."""
    bind_models(settings)
    try:
        LockItem(LOCK_PREFIX + function).delete(condition=LockItem.executionArn == execution_arn)
    except DeleteError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return
        raise table_error(exc, "release the rollout lock") from exc


def force_release_lock(function: str, expected_execution_arn: str, settings: Settings | None = None) -> None:
    """Take over a stale lock: delete it only if it is still the one the caller found (whose execution
    is no longer RUNNING, the caller's check); Conflict if another execution took it meanwhile."""
    bind_models(settings)
    try:
        LockItem(LOCK_PREFIX + function).delete(
            condition=LockItem.pk.does_not_exist() | (LockItem.executionArn == expected_execution_arn)
        )
    except DeleteError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            holder = read_lock(function)
            if holder is not None:
                raise RolloutLocked(holder, function) from exc
            return
        raise table_error(exc, "release the rollout lock") from exc


# ---------------------------------------------------------------- the release's issues


def set_issues_released(
    version: str, issue_ids: Iterable[str], *, actor: str = "system", settings: Settings | None = None
) -> list[dict[str, Any]]:
    """A release finished: its issues become `released` (activeRelease stays: which release shipped it)."""
    bind_models(settings)
    return [
        issue_store.set_issue_status(
            issue_id, "released", actor=actor, reason=f"release {version}", settings=settings
        ).as_dict()
        for issue_id in issue_ids
    ]


def detach_issues(
    version: str,
    issue_ids: Iterable[str],
    *,
    actor: str = "system",
    reason: str | None = None,
    settings: Settings | None = None,
) -> list[str]:
    """A release rolled back or failed: drop activeRelease where it is still this version, so the
    issues can go into another release. Returns the ids detached (others are left as they are)."""
    bind_models(settings)
    detached = []
    for issue_id in issue_ids:
        try:
            dropped = issue_store.drop_release_hold(
                issue_id, version, actor=actor, reason=reason, settings=settings
            )
        except NotFound:
            continue
        if dropped is not None:
            detached.append(issue_id)
    return detached
