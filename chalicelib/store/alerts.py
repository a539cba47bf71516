"""The alerts table: PynamoDB model, its indexes, and the repository functions the engine, the
routes and the dispatcher call. Records cross this edge as plain dicts with the stored (camelCase)
attribute names; AWS error codes become domain errors here.

Items:
- an alert, id = uuid4 (docs/alerts.md, "Lifecycle" for its fields);
- an active pointer, id = "active#<fingerprint>", alertId = the alert's id, present exactly while
  that fingerprint has an alert that is not resolved. It is created with attribute_not_exists(id) in
  the same transaction as the alert and deleted in the same transaction that resolves it, so two
  concurrent evaluations can never make two active alerts of one fingerprint.

Indexes (infra/template.json):
- byState [state, firstSeen] ALL             the list API; "active" reads two partitions
- activeByFingerprint [activeFingerprint]    sparse KEYS_ONLY: the alerts not resolved, by fingerprint
- pendingNotification [notifyPending, notifyDueAt] sparse ALL: notifications owed, due first
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import partial
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import size
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.transactions import TransactWrite

from chalicelib.alerts.model import ACTIVE_STATES, STATES
from chalicelib.config import Settings
from chalicelib.cursors import bad_cursor, decode_token, encode_token
from chalicelib.errors import Conflict, FieldError, NotFound, RequestInProgress, ValidationFailed
from chalicelib.parallel import run_all
from chalicelib.store.base import BoundModel, Capped, bind_models, table_error

POINTER_PREFIX = "active#"
_CONFLICT_RETRIES = 4


class ActiveAlertExists(Exception):
    """Another writer created the active alert of this fingerprint first."""


class ByStateIndex(GlobalSecondaryIndex["AlertItem"]):
    class Meta:
        index_name = "byState"
        projection = AllProjection()

    state = UnicodeAttribute(hash_key=True)
    firstSeen = UnicodeAttribute(range_key=True)


class ActiveByFingerprintIndex(GlobalSecondaryIndex["AlertItem"]):
    class Meta:
        index_name = "activeByFingerprint"
        projection = KeysOnlyProjection()

    activeFingerprint = UnicodeAttribute(hash_key=True)


class PendingNotificationIndex(GlobalSecondaryIndex["AlertItem"]):
    class Meta:
        index_name = "pendingNotification"
        projection = AllProjection()

    notifyPending = UnicodeAttribute(hash_key=True)
    notifyDueAt = UnicodeAttribute(range_key=True)


class AlertItem(BoundModel):
    table_setting = "alerts_table"

    class Meta:
        table_name = "plm-local-alerts"

    id = UnicodeAttribute(hash_key=True)
    fingerprint = UnicodeAttribute()
    rule = UnicodeAttribute()
    severity = UnicodeAttribute()
    state = UnicodeAttribute()
    labels = MapAttribute(default=dict)
    summary = UnicodeAttribute()
    value = NumberAttribute(null=True)
    threshold = NumberAttribute(null=True)
    source = UnicodeAttribute()
    count = NumberAttribute(default=1)
    firstSeen = UnicodeAttribute()
    lastSeen = UnicodeAttribute()
    deadline = UnicodeAttribute()
    overdue = BooleanAttribute(default=False)
    escalatedAt = UnicodeAttribute(null=True)
    acknowledgedBy = UnicodeAttribute(null=True)
    acknowledgedAt = UnicodeAttribute(null=True)
    resolvedAt = UnicodeAttribute(null=True)
    resolvedBy = UnicodeAttribute(null=True)
    resolution = UnicodeAttribute(null=True)
    silenced = BooleanAttribute(default=False)
    silenceId = UnicodeAttribute(null=True)
    # Untyped: each entry is a map {receiver, at, attempt, outcome, error, ...}; the dispatcher may add keys.
    deliveries = ListAttribute(default=list)
    deliveriesDropped = NumberAttribute(null=True)
    version = VersionAttribute()

    activeFingerprint = UnicodeAttribute(null=True)
    notifyPending = UnicodeAttribute(null=True)
    notifyDueAt = UnicodeAttribute(null=True)

    by_state = ByStateIndex()
    active_by_fingerprint = ActiveByFingerprintIndex()
    pending_notification = PendingNotificationIndex()


class ActivePointer(BoundModel):
    """The one item per active fingerprint (same table, key "active#<fingerprint>")."""

    table_setting = "alerts_table"

    class Meta:
        table_name = "plm-local-alerts"

    id = UnicodeAttribute(hash_key=True)
    alertId = UnicodeAttribute()


ATTRIBUTES: dict[str, Any] = AlertItem.get_attributes()
FIELDS = tuple(ATTRIBUTES)


def bind(settings: Settings | None = None) -> Settings:
    return bind_models(settings)


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


def to_record(item: AlertItem) -> dict[str, Any]:
    record = {name: _plain(getattr(item, name)) for name in FIELDS}
    record["value"] = None if item.value is None else float(item.value)
    record["threshold"] = None if item.threshold is None else float(item.threshold)
    record["labels"] = {str(k): str(v) for k, v in (record["labels"] or {}).items()}
    record["deliveries"] = record["deliveries"] or []
    record["count"] = int(record["count"] or 0)
    return record


def _model(record: dict[str, Any]) -> AlertItem:
    values = {k: v for k, v in record.items() if k in ATTRIBUTES and v is not None and k != "version"}
    return AlertItem(**values)


def _pointer_id(fingerprint: str) -> str:
    return POINTER_PREFIX + fingerprint


def _cancellation_codes(exc: TransactWriteError) -> list[str | None]:
    if exc.cause_response_code != "TransactionCanceledException":
        return []
    return [reason.code if reason else None for reason in exc.cancellation_reasons or []]


def get(alert_id: str, consistent: bool = True) -> dict[str, Any] | None:
    if alert_id.startswith(POINTER_PREFIX):
        return None
    try:
        return to_record(AlertItem.get(alert_id, consistent_read=consistent))
    except AlertItem.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise table_error(exc, "read the alert") from exc


def get_active(fingerprint: str) -> dict[str, Any] | None:
    """The alert of this fingerprint that is not resolved, if any (two strongly consistent reads)."""
    try:
        pointer = ActivePointer.get(_pointer_id(fingerprint), consistent_read=True)
    except ActivePointer.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise table_error(exc, "read the active alert") from exc
    return get(pointer.alertId)


def create_active(record: dict[str, Any]) -> dict[str, Any]:
    """Store a new alert and its fingerprint's pointer in one transaction. Raises ActiveAlertExists
    when the fingerprint already has an active alert (a concurrent writer got there first)."""
    item = _model({**record, "activeFingerprint": record["fingerprint"]})
    pointer = ActivePointer(id=_pointer_id(record["fingerprint"]), alertId=record["id"])
    for attempt in range(_CONFLICT_RETRIES):
        try:
            with TransactWrite(connection=AlertItem._get_connection().connection) as tx:
                tx.save(pointer, condition=ActivePointer.id.does_not_exist())
                tx.save(item, condition=AlertItem.id.does_not_exist())
            return to_record(item)
        except TransactWriteError as exc:
            codes = _cancellation_codes(exc) + [None, None]
            if codes[0] == "ConditionalCheckFailed":
                raise ActiveAlertExists(record["fingerprint"]) from exc
            if codes[1] == "ConditionalCheckFailed":
                raise Conflict("An alert with this id already exists.") from exc
            if "TransactionConflict" not in codes:
                raise table_error(exc, "store the alert") from exc
            if attempt + 1 == _CONFLICT_RETRIES:
                raise RequestInProgress("The alert could not be stored for contention; retry.") from exc
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def batch_put(records: Iterable[dict[str, Any]]) -> int:
    """Bulk load (benchmarks, demo data): BatchWriteItem, 25 a call, no conditions. An alert that is
    not resolved gets its fingerprint's pointer too, as create_active writes it; the caller keeps to
    one such alert per fingerprint (a loader, not a request path)."""
    count = 0
    try:
        with AlertItem.batch_write() as batch:
            for record in records:
                active = record["state"] != "resolved"
                batch.save(_model({**record, "activeFingerprint": record["fingerprint"] if active else None}))
                if active:
                    batch.save(ActivePointer(id=_pointer_id(record["fingerprint"]), alertId=record["id"]))
                count += 1
    except PynamoDBException as exc:
        raise table_error(exc, "store the alert batch") from exc
    return count


def _actions(set_fields: dict[str, Any], remove_fields: Iterable[str]) -> list:
    unknown = [n for n in [*set_fields, *remove_fields] if n not in ATTRIBUTES or n in ("id", "version")]
    if unknown:
        raise ValueError(f"not updatable alert fields: {unknown}")
    actions = [ATTRIBUTES[name].set(value) for name, value in set_fields.items() if value is not None]
    actions += [ATTRIBUTES[name].remove() for name, value in set_fields.items() if value is None]
    actions += [ATTRIBUTES[name].remove() for name in remove_fields]
    return actions


def update(
    alert_id: str,
    expected_version: int,
    set_fields: dict[str, Any],
    remove_fields: Iterable[str] = (),
) -> dict[str, Any]:
    """One conditional write on the version the caller read: a concurrent change is a Conflict, not
    an overwrite. Setting state to "resolved" also deletes the fingerprint's active pointer (and
    removes activeFingerprint) in the same transaction, so the next firing is a new occurrence."""
    if set_fields.get("state") not in (None, *STATES):
        raise ValueError(f"unknown state {set_fields['state']!r}")
    model = AlertItem(id=alert_id)
    model.version = expected_version
    if set_fields.get("state") == "resolved":
        return _resolve(model, expected_version, set_fields, remove_fields)
    try:
        model.update(actions=_actions(set_fields, remove_fields), condition=AlertItem.id.exists())
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise _conflict(alert_id, expected_version) from exc
        raise table_error(exc, "update the alert") from exc
    return to_record(model)


def count_sighting(
    alert_id: str, fingerprint: str, seen_at: str, set_fields: dict[str, Any]
) -> dict[str, Any] | None:
    """One more sighting of an active alert: count + 1, lastSeen (never backwards) and `set_fields`
    (summary, value, threshold), atomically and without a version bump: repeated sightings are not an
    edit, so they neither conflict with each other under concurrent evaluations nor make an
    engineer's acknowledge (If-Match) fail. None when the alert is no longer active (it resolved
    meanwhile: the caller records a new occurrence)."""
    connection = AlertItem._get_connection()
    active = AlertItem.activeFingerprint == fingerprint
    attempts = [
        (_actions({**set_fields, "lastSeen": seen_at}, ()), active & (AlertItem.lastSeen <= seen_at)),
        # A newer sighting was recorded meanwhile: count this one, keep its lastSeen.
        (_actions(set_fields, ()), active),
    ]
    for actions, condition in attempts:
        try:
            data = connection.update_item(
                alert_id,
                actions=[*actions, AlertItem.count.add(1)],
                condition=condition,
                return_values="ALL_NEW",
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                continue
            raise table_error(exc, "count the alert") from exc
        return to_record(AlertItem.from_raw_data(data["Attributes"]))
    return None


def _conflict(alert_id: str, expected_version: int) -> Conflict:
    return Conflict(
        "The alert changed since it was read (version mismatch); read it again and retry.",
        details={"id": alert_id, "expectedVersion": expected_version},
    )


def _resolve(
    model: AlertItem, expected_version: int, set_fields: dict[str, Any], remove_fields: Iterable[str]
) -> dict[str, Any]:
    current = get(model.id)
    if current is None or current["version"] != expected_version:
        raise _conflict(model.id, expected_version)
    remove_fields = [*remove_fields, "activeFingerprint"]
    pointer = ActivePointer(id=_pointer_id(current["fingerprint"]), alertId=model.id)
    try:
        with TransactWrite(connection=AlertItem._get_connection().connection) as tx:
            tx.update(model, actions=_actions(set_fields, remove_fields), condition=AlertItem.id.exists())
            # Only this alert's own pointer: a newer occurrence's pointer is never removed by an old one.
            tx.delete(pointer, condition=ActivePointer.alertId == model.id)
    except TransactWriteError as exc:
        codes = _cancellation_codes(exc) + [None, None]
        if codes[0] in ("ConditionalCheckFailed", "TransactionConflict"):
            raise _conflict(model.id, expected_version) from exc
        if codes[1] == "ConditionalCheckFailed":
            # No pointer of ours (a resolved alert written before pointers existed): resolve alone.
            return _update_only(model.id, expected_version, _actions(set_fields, remove_fields))
        raise table_error(exc, "resolve the alert") from exc
    resolved = get(model.id)
    if resolved is None:
        raise NotFound("No such alert.")
    return resolved


def _update_only(alert_id: str, expected_version: int, actions: list) -> dict[str, Any]:
    fresh = AlertItem(id=alert_id)
    fresh.version = expected_version
    try:
        fresh.update(actions=actions, condition=AlertItem.id.exists())
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise _conflict(alert_id, expected_version) from exc
        raise table_error(exc, "resolve the alert") from exc
    return to_record(fresh)


def any_firing(severity: str, settings: Settings | None = None) -> bool:
    """Whether an alert of this severity is firing, whatever fired after it: the firing partition is
    read in pages of alert_active_max items (filtered server-side) until one matches. (A page of
    list_alerts reads only `limit` items, so newer alerts of another severity would hide it.)"""
    settings = bind_models(settings)
    cap = settings.alert_active_max
    try:
        items = AlertItem.by_state.query(
            "firing",
            filter_condition=AlertItem.severity == severity,
            limit=1,
            page_size=min(cap, 1000),
        )
        return next(iter(items), None) is not None
    except PynamoDBException as exc:
        raise table_error(exc, "read the firing alerts") from exc


def active_alerts(settings: Settings | None = None) -> Capped:
    """Alerts firing or acknowledged, oldest first, at most alert_active_max per state (`truncated`
    when a state held more). Two Query calls on partitions that hold only active alerts."""
    settings = bind_models(settings)
    cap = settings.alert_active_max
    found = Capped()
    for state in ACTIVE_STATES:
        try:
            items = list(AlertItem.by_state.query(state, limit=cap + 1, page_size=min(cap + 1, 1000)))
        except PynamoDBException as exc:
            raise table_error(exc, "read the active alerts") from exc
        found.extend(to_record(i) for i in items[:cap])
        found.truncated = found.truncated or len(items) > cap
    return found


def resolved_since(
    first_seen_from: str, limit: int, settings: Settings | None = None
) -> list[dict[str, Any]]:
    """Resolved alerts first seen at or after the instant, newest first, at most `limit` (one Query)."""
    bind_models(settings)
    try:
        items = AlertItem.by_state.query(
            "resolved",
            AlertItem.firstSeen >= first_seen_from,
            scan_index_forward=False,
            limit=limit,
            page_size=min(limit, 1000),
        )
        return [to_record(i) for i in items]
    except PynamoDBException as exc:
        raise table_error(exc, "read the resolved alerts") from exc


def raised_between(
    first_seen_from: str, first_seen_to: str, limit: int, settings: Settings | None = None
) -> Capped:
    """Alerts first seen in [from, to] (stored instants), every state, oldest first within each:
    one Query per state partition of byState on its firstSeen range, at most `limit` items each
    (`truncated` when a state held more; the newest beyond the ceiling are the ones left unread).
    For the report's alert figures."""
    bind_models(settings)

    def of_state(state: str) -> list[AlertItem]:
        try:
            return list(
                AlertItem.by_state.query(
                    state,
                    AlertItem.firstSeen.between(first_seen_from, first_seen_to),
                    limit=limit + 1,
                    page_size=min(limit + 1, 1000),
                )
            )
        except PynamoDBException as exc:
            raise table_error(exc, "read the alerts of the period") from exc

    found = Capped()
    # One Query per state, side by side (chalicelib.parallel): the report waits for one round trip.
    for items in run_all([partial(of_state, state) for state in STATES]):
        found.extend(to_record(i) for i in items[:limit])
        found.truncated = found.truncated or len(items) > limit
    return found


def _encode_cursor(partition: int, key: dict | None) -> str:
    return encode_token({"p": partition, "k": key})


def _is_key(key: Any) -> bool:
    """A byState LastEvaluatedKey as DynamoDB gives it: {"id"|"state"|"firstSeen": {"S": text}}."""
    return (
        isinstance(key, dict)
        and set(key) == {"id", "state", "firstSeen"}
        and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
    )


def _decode_cursor(cursor: str, partitions: int) -> tuple[int, dict | None]:
    data = decode_token(cursor)
    try:
        partition, key = int(data["p"]), data["k"]
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        raise bad_cursor() from exc
    if not 0 <= partition < partitions or not (key is None or _is_key(key)):
        raise bad_cursor()
    return partition, key


def list_alerts(
    state: str = "active",
    severity: str | None = None,
    rule: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Alerts of a state ("active" = firing then acknowledged, "all" = those then resolved), newest
    first within each state, filtered by severity and rule. Each call reads at most `limit` items
    per Query and at most one Query per state partition, so a page may come back short (filters),
    with a cursor where reading stopped."""
    settings = bind_models(settings)
    states = {"active": list(ACTIVE_STATES), "all": list(STATES)}.get(state, [state])
    if any(s not in STATES for s in states):
        raise ValidationFailed([FieldError("state", f"One of active, all, {', '.join(STATES)}.")])
    partition, key = _decode_cursor(cursor, len(states)) if cursor else (0, None)
    condition = None
    if severity:
        condition = AlertItem.severity == severity
    if rule:
        condition = (AlertItem.rule == rule) if condition is None else condition & (AlertItem.rule == rule)
    items: list[dict[str, Any]] = []
    next_cursor = None
    while partition < len(states) and len(items) < limit:
        try:
            pages = AlertItem.by_state.query(
                states[partition],
                filter_condition=condition,
                scan_index_forward=False,
                last_evaluated_key=key,
                limit=limit - len(items),
                page_size=limit - len(items),
            ).page_iter
            page = next(pages, {})
            items += [to_record(AlertItem.from_raw_data(raw)) for raw in page.get("Items", [])]
            last = pages.last_evaluated_key
        except PynamoDBException as exc:
            raise table_error(exc, "list the alerts") from exc
        if last:
            next_cursor = _encode_cursor(partition, last)
            break
        partition, key = partition + 1, None
        if partition < len(states):
            next_cursor = _encode_cursor(partition, None)
    if partition >= len(states):
        next_cursor = None
    return {"items": items, "nextCursor": next_cursor}


def pending_notifications(
    due_before: str, limit: int = 100, events: Iterable[str] = ("firing", "resolved", "escalated", "repeat")
) -> list[dict[str, Any]]:
    """Alerts owing a notification due at or before `due_before`, oldest due first, at most `limit`
    per event kind (one Query each on a sparse index holding only owed notifications)."""
    bind_models()
    found: list[dict[str, Any]] = []
    for event in events:
        try:
            items = AlertItem.pending_notification.query(
                event, AlertItem.notifyDueAt <= due_before, limit=limit, page_size=limit
            )
            found += [to_record(i) for i in items]
        except PynamoDBException as exc:
            raise table_error(exc, "read the pending notifications") from exc
    return sorted(found, key=lambda a: a["notifyDueAt"] or "")


def record_delivery(alert_id: str, delivery: dict[str, Any], settings: Settings | None = None) -> None:
    """Append a delivery attempt, keeping the newest alert_deliveries_max (older ones are counted in
    deliveriesDropped). Not versioned: an attempt is not an edit, and must not make an engineer's
    acknowledge (If-Match on the version read) fail."""
    settings = bind_models(settings)
    entry = {k: v for k, v in delivery.items()}
    connection = AlertItem._get_connection()
    try:
        data = connection.update_item(
            alert_id,
            actions=[AlertItem.deliveries.set(AlertItem.deliveries.append([entry]))],
            condition=AlertItem.id.exists(),
            return_values="ALL_NEW",
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise NotFound("No such alert.", details={"id": alert_id}) from exc
        raise table_error(exc, "record the delivery") from exc
    length = len(data["Attributes"].get("deliveries", {}).get("L", []))
    excess = length - settings.alert_deliveries_max
    if excess <= 0:
        return
    # Trim only the list we saw: if another attempt was appended meanwhile, the next append trims.
    try:
        connection.update_item(
            alert_id,
            actions=[AlertItem.deliveries[i].remove() for i in range(excess)]
            + [AlertItem.deliveriesDropped.add(excess)],
            condition=size(AlertItem.deliveries) == length,
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise table_error(exc, "trim the deliveries") from exc


def clear_notify_pending(alert_id: str, event: str) -> bool:
    """Remove the owed notification if it is still `event` (a newer one set meanwhile is kept).
    True when it was cleared. Not versioned, like record_delivery."""
    bind_models()
    try:
        AlertItem._get_connection().update_item(
            alert_id,
            actions=[AlertItem.notifyPending.remove(), AlertItem.notifyDueAt.remove()],
            condition=AlertItem.notifyPending == event,
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise table_error(exc, "clear the pending notification") from exc
    return True
