"""Stored reports on HealthTable (pk `series`, sk `at`, TTL `expiresAt`), beside the health snapshots.

Why HealthTable and not a table of its own: a report is a time-keyed snapshot of the monitor's state,
which is what that table holds (a `series` per kind, ISO `at` keys, TTL), and it already has
point-in-time recovery, encryption, the rollout's backups and the functions' access; a daily report is
one item a day. Series:
- "report#daily": the scheduled report of one UTC day, `at` = the day's start, so a second run of the
  schedule for the same day (EventBridge delivers at least once) finds it and does not send it twice;
- "report#adhoc": a report emailed on request (`post-launch-monitor report --email`), `at` = when.

The item holds the report JSON (`payload`) and its delivery: the recipients, every attempt
(`deliveries`), the recipients still owed a send (`pendingRecipients`) and when the next try is due
(`deliveryDueAt`). Writes are conditioned on `version`. The payload is bounded (REPORT_MAX_BYTES) so the
item stays under DynamoDB's 400 KB with the delivery record beside it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import ListAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, PynamoDBException, UpdateError

from chalicelib.config import Settings
from chalicelib.errors import Conflict, ItemTooLarge
from chalicelib.feedback.windows import iso
from chalicelib.store.base import BoundModel, bind_models, table_error

DAILY, ADHOC = "daily", "adhoc"
SERIES = {DAILY: "report#daily", ADHOC: "report#adhoc"}
# The report JSON stored inline: a day's report measures a few kilobytes (docs/reports.md, "Delivery");
# this leaves 100 KB of the item for its delivery record (at most DELIVERIES_MAX small entries).
REPORT_MAX_BYTES = 300_000
DELIVERIES_MAX = 100


class ReportItem(BoundModel):
    table_setting = "health_table"

    class Meta:
        table_name = "plm-local-health"

    series = UnicodeAttribute(hash_key=True)
    at = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    periodStart = UnicodeAttribute()
    periodEnd = UnicodeAttribute()
    generatedAt = UnicodeAttribute()
    status = UnicodeAttribute(null=True)
    payload = UnicodeAttribute()
    sizeBytes = NumberAttribute()
    sender = UnicodeAttribute(null=True)
    recipients = ListAttribute(of=UnicodeAttribute, default=list)
    pendingRecipients = ListAttribute(of=UnicodeAttribute, null=True)
    deliveryDueAt = UnicodeAttribute(null=True)
    deliveries = ListAttribute(default=list)
    notifiedAlertId = UnicodeAttribute(null=True)
    version = NumberAttribute()
    expiresAt = TTLAttribute(null=True)


def _record(item: ReportItem) -> dict[str, Any]:
    data = {
        "kind": item.kind,
        "key": item.at,
        "periodStart": item.periodStart,
        "periodEnd": item.periodEnd,
        "generatedAt": item.generatedAt,
        "status": item.status,
        "payload": item.payload,
        "sizeBytes": int(item.sizeBytes),
        "sender": item.sender,
        "recipients": list(item.recipients or []),
        "pendingRecipients": list(item.pendingRecipients or []),
        "deliveryDueAt": item.deliveryDueAt,
        "deliveries": [dict(d) for d in item.deliveries or []],
        "notifiedAlertId": item.notifiedAlertId,
        "version": int(item.version),
    }
    return data


def get_report(kind: str, key: str, settings: Settings | None = None) -> dict[str, Any] | None:
    bind_models(settings)
    try:
        return _record(ReportItem.get(SERIES[kind], key, consistent_read=True))
    except ReportItem.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise table_error(exc, "read the stored report") from exc


def create_report(
    kind: str,
    key: str,
    report: dict[str, Any],
    payload: str,
    *,
    sender: str | None,
    recipients: list[str],
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    """Store a report owed to `recipients` now. Conflict when one is stored under this key already."""
    bind_models(settings)
    size = len(payload.encode())
    if size > REPORT_MAX_BYTES:
        raise ItemTooLarge(
            f"The report is {size} bytes; a stored report holds at most {REPORT_MAX_BYTES}.",
            details={"sizeBytes": size},
        )
    item = ReportItem(
        SERIES[kind],
        key,
        kind=kind,
        periodStart=report["period"]["start"],
        periodEnd=report["period"]["end"],
        generatedAt=report.get("generatedAt") or iso(now),
        status=(report.get("summary") or {}).get("status"),
        payload=payload,
        sizeBytes=size,
        sender=sender,
        recipients=recipients,
        pendingRecipients=recipients or None,
        deliveryDueAt=iso(now) if recipients else None,
        deliveries=[],
        version=1,
        expiresAt=now + timedelta(days=settings.report_retention_days),
    )
    try:
        item.save(condition=ReportItem.series.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict(f"A {kind} report is stored for {key} already.") from exc
        raise table_error(exc, "store the report") from exc
    return _record(item)


def record_delivery(
    record: dict[str, Any],
    entries: list[dict[str, Any]],
    pending: list[str],
    due_at: str | None,
    settings: Settings,
    notified_alert_id: str | None = None,
) -> dict[str, Any]:
    """Append attempts, set what is still owed and when; conditioned on the version read."""
    bind_models(settings)
    item = ReportItem(SERIES[record["kind"]], record["key"])
    deliveries = (record["deliveries"] + entries)[-DELIVERIES_MAX:]
    actions = [
        ReportItem.deliveries.set(deliveries),
        ReportItem.version.set(record["version"] + 1),
        ReportItem.pendingRecipients.set(pending) if pending else ReportItem.pendingRecipients.remove(),
        ReportItem.deliveryDueAt.set(due_at) if pending and due_at else ReportItem.deliveryDueAt.remove(),
    ]
    if notified_alert_id:
        actions.append(ReportItem.notifiedAlertId.set(notified_alert_id))
    try:
        item.update(actions=actions, condition=ReportItem.version == record["version"])
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict("The report's delivery changed meanwhile.") from exc
        raise table_error(exc, "record the report's delivery") from exc
    return _record(item)


def pending_reports(now: datetime, settings: Settings, limit: int = 50) -> list[dict[str, Any]]:
    """Reports of the last report_retry_horizon_days with a send due by `now`: a Query per series
    over the horizon's keys (a handful of items a week), never a scan."""
    bind_models(settings)
    since = iso(now - timedelta(days=settings.report_retry_horizon_days))
    due = iso(now)
    found: list[dict[str, Any]] = []
    try:
        for series in SERIES.values():
            for item in ReportItem.query(
                series,
                ReportItem.at >= since,
                filter_condition=ReportItem.deliveryDueAt <= due,
                consistent_read=True,
                limit=limit,
            ):
                found.append(_record(item))
    except PynamoDBException as exc:
        raise table_error(exc, "read the reports owed a send") from exc
    return found[:limit]
