"""Health snapshots on HealthTable (pk `series`, sk `at`, TTL `expiresAt`).

Each evaluation writes two items in one BatchWriteItem:
- series "health#snapshot": the whole report as JSON, for "answer from the latest snapshot";
- series "health#summary": a few numbers (score, band, completeness and whether it sufficed, API
  latency and error rate),
  which the history and uptime queries read. Keeping the payload out of the summaries keeps a month
  of history at about 250 bytes a point instead of several kilobytes.
`at` is ISO-8601 UTC to the microsecond, so the sort key orders by time and ranges are BETWEEN.
Both expire after the retention setting through DynamoDB TTL.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException

from chalicelib.config import Settings, get_settings
from chalicelib.errors import FieldError, ValidationFailed
from chalicelib.store.base import BoundModel, bind_models, table_error
from chalicelib.store.idempotency import scoped_key

SNAPSHOT_SERIES = "health#snapshot"
SUMMARY_SERIES = "health#summary"


def at_key(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_at(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class HealthItem(BoundModel):
    table_setting = "health_table"

    class Meta:
        table_name = "plm-local-health"

    series = UnicodeAttribute(hash_key=True)
    at = UnicodeAttribute(range_key=True)
    healthScore = NumberAttribute(null=True)
    overallHealth = UnicodeAttribute(null=True)
    completeness = NumberAttribute(null=True)
    sufficientData = BooleanAttribute(null=True)  # absent on points stored before the field existed
    apiResponseTime = NumberAttribute(null=True)
    errorRate = NumberAttribute(null=True)
    requests = NumberAttribute(null=True)
    backfilled = NumberAttribute(null=True)  # 1 when evaluated after the fact (demo backfill)
    payload = UnicodeAttribute(null=True)
    expiresAt = TTLAttribute(null=True)


@dataclass(frozen=True)
class Summary:
    at: datetime
    health_score: int | None
    overall_health: str | None
    completeness: float | None
    api_response_time: float | None
    error_rate: float | None
    requests: float | None
    sufficient_data: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "healthScore": self.health_score,
            "overallHealth": self.overall_health,
            "completeness": self.completeness,
            "sufficientData": self.sufficient_data,
            "apiResponseTime": self.api_response_time,
            "errorRate": self.error_rate,
            "requests": self.requests,
        }


@dataclass(frozen=True)
class Snapshot:
    at: datetime
    report: dict[str, Any]


def snapshot_items(
    at: datetime,
    report: dict[str, Any],
    summary: dict[str, Any],
    *,
    backfilled: bool = False,
    settings: Settings | None = None,
) -> tuple[HealthItem, HealthItem]:
    """The two items one evaluation stores (snapshot, summary point), as save_snapshot writes them."""
    settings = bind_models(settings)
    key = at_key(at)
    expires = at.astimezone(UTC) + timedelta(days=settings.health_retention_days)
    common = {"expiresAt": expires, "backfilled": 1 if backfilled else None}
    snapshot = HealthItem(SNAPSHOT_SERIES, key, payload=json.dumps(report, separators=(",", ":")), **common)
    point = HealthItem(SUMMARY_SERIES, key, **{**summary, **common})
    return snapshot, point


def batch_put(items: Iterable[HealthItem]) -> int:
    """BatchWriteItem, 25 a call, unprocessed items retried by PynamoDB: one evaluation's pair, or a
    bulk load (benchmarks) of many."""
    count = 0
    try:
        with HealthItem.batch_write() as batch:
            for item in items:
                batch.save(item)
                count += 1
    except PynamoDBException as exc:
        raise table_error(exc, "store the health snapshot") from exc
    return count


def save_snapshot(
    at: datetime,
    report: dict[str, Any],
    summary: dict[str, Any],
    *,
    backfilled: bool = False,
    settings: Settings | None = None,
) -> str:
    """Store one evaluation (snapshot + summary) in one BatchWriteItem; returns the `at` key."""
    batch_put(snapshot_items(at, report, summary, backfilled=backfilled, settings=settings))
    return at_key(at)


def latest_snapshot(settings: Settings | None = None, before: datetime | None = None) -> Snapshot | None:
    """The newest snapshot (at or before `before`, when given)."""
    bind_models(settings)
    condition = HealthItem.at <= at_key(before) if before is not None else None
    try:
        for item in HealthItem.query(SNAPSHOT_SERIES, condition, scan_index_forward=False, limit=1):
            return Snapshot(at=parse_at(item.at), report=json.loads(item.payload or "{}"))
    except PynamoDBException as exc:
        raise table_error(exc, "read health snapshots") from exc
    return None


def _encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    at = key.get("at", {}).get("S")
    return base64.urlsafe_b64encode(at.encode()).decode() if at else None


def decode_cursor(cursor: str) -> str:
    try:
        value = base64.urlsafe_b64decode(cursor.encode()).decode()
        parse_at(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed([FieldError("cursor", "Not a cursor this route returned.")]) from exc
    return value


def summaries(
    start: datetime,
    end: datetime,
    *,
    limit: int,
    cursor: str | None = None,
    newest_first: bool = False,
    settings: Settings | None = None,
) -> tuple[list[Summary], str | None]:
    """Summary points with start <= at <= end, oldest first (or newest first), at most `limit`, plus
    a cursor to go on. No filter: the items read are the points returned."""
    bind_models(settings)
    start_key = None
    if cursor:
        start_key = {"series": {"S": SUMMARY_SERIES}, "at": {"S": decode_cursor(cursor)}}
    points: list[Summary] = []
    try:
        results = HealthItem.query(
            SUMMARY_SERIES,
            HealthItem.at.between(at_key(start), at_key(end)),
            limit=limit,
            last_evaluated_key=start_key,
            scan_index_forward=not newest_first,
            page_size=min(limit, 1000),
        )
        for item in results:
            points.append(
                Summary(
                    at=parse_at(item.at),
                    health_score=None if item.healthScore is None else int(item.healthScore),
                    overall_health=item.overallHealth,
                    completeness=item.completeness,
                    api_response_time=item.apiResponseTime,
                    error_rate=item.errorRate,
                    requests=item.requests,
                    sufficient_data=item.sufficientData,
                )
            )
        next_key = results.last_evaluated_key if len(points) >= limit else None
    except PynamoDBException as exc:
        raise table_error(exc, "read health snapshots") from exc
    return points, _encode_cursor(next_key)


def retention(settings: Settings | None = None) -> timedelta:
    return timedelta(days=(settings or get_settings()).health_retention_days)


# ---------------------------------------------------------------- idempotency of metric ingest


class IngestClaim(BoundModel):
    """An Idempotency-Key of POST /api/monitoring/metrics, on the idempotency table.

    CloudWatch cannot take part in a DynamoDB transaction, so the claim is taken first ("pending"),
    the metrics are written, and the claim is completed with the result (or released on failure).
    Keys are scoped to the route and the caller (store.idempotency.scoped_key, scope "metrics"), so
    they never meet the feedback route's keys nor another caller's.
    """

    table_setting = "idempotency_table"

    class Meta:
        table_name = "plm-local-idempotency"

    key = UnicodeAttribute(hash_key=True)
    requestHash = UnicodeAttribute()
    state = UnicodeAttribute()  # pending | done
    result = UnicodeAttribute(null=True)
    createdAt = UnicodeAttribute()
    expiresAt = NumberAttribute()


@dataclass(frozen=True)
class Claimed:
    request_hash: str
    state: str
    result: dict[str, Any] | None


def ingest_key(sub: str, key: str) -> str:
    return scoped_key(sub, key, scope="metrics")


def claim_ingest(key: str, request_hash: str, now_epoch: int, ttl_seconds: int) -> Claimed | None:
    """Take the key; None when taken now, else the live claim someone already holds."""
    item = IngestClaim(
        key,
        requestHash=request_hash,
        state="pending",
        createdAt=datetime.fromtimestamp(now_epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        expiresAt=now_epoch + ttl_seconds,
    )
    try:
        # TTL deletes lazily, so an expired claim may still be there: it may be taken over.
        item.save(condition=IngestClaim.key.does_not_exist() | (IngestClaim.expiresAt < now_epoch))
        return None
    except PynamoDBException as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise table_error(exc, "claim the Idempotency-Key") from exc
    try:
        held = IngestClaim.get(key, consistent_read=True)
    except IngestClaim.DoesNotExist:
        return Claimed(request_hash, "pending", None)  # released meanwhile: treat as in progress
    except PynamoDBException as exc:
        raise table_error(exc, "read the Idempotency-Key") from exc
    return Claimed(held.requestHash, held.state, json.loads(held.result) if held.result else None)


def complete_ingest(key: str, result: dict[str, Any]) -> None:
    try:
        IngestClaim(key).update(
            actions=[IngestClaim.state.set("done"), IngestClaim.result.set(json.dumps(result))],
            condition=IngestClaim.key.exists(),
        )
    except PynamoDBException as exc:
        raise table_error(exc, "complete the Idempotency-Key") from exc


def release_ingest(key: str) -> None:
    try:
        IngestClaim(key).delete(condition=IngestClaim.state == "pending")
    except PynamoDBException:
        pass  # the claim expires by TTL; a retry within its life gets "in progress"
