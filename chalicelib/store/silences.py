"""Silences on SilencesTable (docs/alerts.md, "Silences").

Item: id (uuid4), kind ("silence": the constant partition of the byCreated index, newest-first
listing), matchers (JSON list of {name, value}), comment, redactedKinds, createdBy, createdAt,
endsAt (ISO, or absent for an until-resolved silence), untilResolved, alertId and fingerprint (the
alert an until-resolved silence was made for), expiredAt/expiredBy/expiredReason, version.

`activePartition` ("active") and `activeUntil` (endsAt, or UNTIL_RESOLVED) are present only while
the silence has not been expired: they key the sparse activeByEnd index, so "the silences in force
now" is one Query for activeUntil > now on a partition that holds only unexpired silences, whatever
the table's size. A timed silence past its end drops out of that Query by its key alone; expiring one
removes both attributes.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import PutError, PynamoDBException, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.config import Settings
from chalicelib.cursors import bad_cursor, decode_token, encode_token
from chalicelib.errors import Conflict
from chalicelib.store.base import BoundModel, Capped, bind_models, table_error

KIND = "silence"
ACTIVE = "active"
# Sorts after every ISO-8601 instant ("9998-..." < "until..."), so `activeUntil > now` keeps them.
UNTIL_RESOLVED = "until-resolved"


class ByCreated(GlobalSecondaryIndex):
    class Meta:
        index_name = "byCreated"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    createdAt = UnicodeAttribute(range_key=True)


class ActiveByEnd(GlobalSecondaryIndex):
    class Meta:
        index_name = "activeByEnd"
        projection = AllProjection()

    activePartition = UnicodeAttribute(hash_key=True)
    activeUntil = UnicodeAttribute(range_key=True)


class SilenceItem(BoundModel):
    table_setting = "silences_table"

    class Meta:
        table_name = "plm-local-silences"

    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=KIND)
    matchers = JSONAttribute()
    comment = UnicodeAttribute()
    redactedKinds = ListAttribute(of=UnicodeAttribute, default=list)
    createdBy = UnicodeAttribute()
    createdAt = UnicodeAttribute()
    endsAt = UnicodeAttribute(null=True)
    untilResolved = BooleanAttribute(default=False)
    alertId = UnicodeAttribute(null=True)
    fingerprint = UnicodeAttribute(null=True)
    expiredAt = UnicodeAttribute(null=True)
    expiredBy = UnicodeAttribute(null=True)
    expiredReason = UnicodeAttribute(null=True)
    activePartition = UnicodeAttribute(null=True)
    activeUntil = UnicodeAttribute(null=True)
    # A plain number, checked and bumped by our own conditions (PynamoDB's VersionAttribute would add
    # its own condition to an update made without reading the item first).
    version = NumberAttribute(default=1)

    by_created = ByCreated()
    active_by_end = ActiveByEnd()


def _record(item: SilenceItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "matchers": list(item.matchers or []),
        "comment": item.comment,
        "redactedKinds": list(item.redactedKinds or []),
        "createdBy": item.createdBy,
        "createdAt": item.createdAt,
        "endsAt": item.endsAt,
        "untilResolved": bool(item.untilResolved),
        "alertId": item.alertId,
        "fingerprint": item.fingerprint,
        "expiredAt": item.expiredAt,
        "expiredBy": item.expiredBy,
        "expiredReason": item.expiredReason,
        "version": int(item.version or 0),
    }


def create(record: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Store a new silence (fields as _record names them; expiry fields absent)."""
    bind_models(settings)
    until = UNTIL_RESOLVED if record.get("untilResolved") else record["endsAt"]
    item = SilenceItem(
        record["id"],
        matchers=record["matchers"],
        comment=record["comment"],
        redactedKinds=sorted(record.get("redactedKinds") or []),
        createdBy=record["createdBy"],
        createdAt=record["createdAt"],
        endsAt=record.get("endsAt"),
        untilResolved=bool(record.get("untilResolved")),
        alertId=record.get("alertId"),
        fingerprint=record.get("fingerprint"),
        activePartition=ACTIVE,
        activeUntil=until,
    )
    try:
        item.save(condition=SilenceItem.id.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict(f"Silence {item.id} already exists.") from exc
        raise table_error(exc, "store the silence") from exc
    return _record(item)


def get(silence_id: str, settings: Settings | None = None) -> dict[str, Any] | None:
    bind_models(settings)
    try:
        return _record(SilenceItem.get(silence_id))
    except SilenceItem.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise table_error(exc, "read the silence") from exc


def in_force(now_iso: str, settings: Settings | None = None) -> Capped:
    """Unexpired silences whose end is after `now_iso` (until-resolved ones included), soonest
    ending first, at most settings.silences_active_max (`truncated` when there were more)."""
    settings = bind_models(settings)
    cap = settings.silences_active_max
    try:
        # Key condition only, no filter: items read are items returned, so cap + 1 tells if there are more.
        items = list(
            SilenceItem.active_by_end.query(
                ACTIVE, SilenceItem.activeUntil > now_iso, limit=cap + 1, page_size=cap + 1
            )
        )
    except PynamoDBException as exc:
        raise table_error(exc, "read the active silences") from exc
    found = Capped(_record(item) for item in items[:cap])
    found.truncated = len(items) > cap
    return found


def expire(
    silence_id: str,
    *,
    expected_version: int,
    at: str,
    by: str,
    reason: str,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Mark a silence expired (it leaves the activeByEnd index); conditional on the version read."""
    bind_models(settings)
    item = SilenceItem(silence_id)
    try:
        item.update(
            actions=[
                SilenceItem.expiredAt.set(at),
                SilenceItem.expiredBy.set(by),
                SilenceItem.expiredReason.set(reason),
                SilenceItem.activePartition.remove(),
                SilenceItem.activeUntil.remove(),
                SilenceItem.version.add(1),
            ],
            condition=(SilenceItem.version == expected_version) & SilenceItem.expiredAt.does_not_exist(),
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict(f"Silence {silence_id} changed meanwhile; read it again.") from exc
        raise table_error(exc, "expire the silence") from exc
    return _record(item)


# ------------------------------------------------------------------------------------ listing


def _encode(key: dict[str, str]) -> str:
    return encode_token({"v": 1, "id": key["id"], "at": key["createdAt"]})


def _decode(text: str) -> dict[str, dict[str, str]]:
    body = decode_token(text)
    silence_id, at = body.get("id"), body.get("at")
    if body.get("v") != 1 or not all(isinstance(v, str) and 0 < len(v) <= 100 for v in (silence_id, at)):
        raise bad_cursor()
    return {"id": {"S": silence_id}, "kind": {"S": KIND}, "createdAt": {"S": at}}


def list_silences(limit: int, cursor: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Every silence, newest first, `limit` a page (one Query of at most limit + 1 items)."""
    bind_models(settings)
    start = _decode(cursor) if cursor else None
    try:
        items = list(
            SilenceItem.by_created.query(
                KIND,
                scan_index_forward=False,
                limit=limit + 1,
                page_size=limit + 1,
                last_evaluated_key=start,
            )
        )
    except PynamoDBException as exc:
        raise table_error(exc, "list silences") from exc
    page = items[:limit]
    more = len(items) > limit
    next_cursor = _encode({"id": page[-1].id, "createdAt": page[-1].createdAt}) if more and page else None
    return {"items": [_record(item) for item in page], "nextCursor": next_cursor}
