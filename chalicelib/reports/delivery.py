"""The report's delivery: built daily, stored, emailed through SES (HTML + the JSON attached), every
attempt recorded per recipient, failed sends retried with backoff until a give-up limit, and an info
alert "report generated" once it has gone out (docs/reports.md, "Delivery").

- run_daily(): the daily schedule. Builds the report of the previous UTC day unless it is stored
  already (the schedule may run twice for a day), stores it owed to REPORT_RECIPIENTS, sends it.
- retry_due(): the retry schedule. Sends again, to the recipients still owed, the reports whose
  backoff has passed.
- email_now(): `post-launch-monitor report --email`: a report stored and sent at once, recorded like
  the scheduled one (and retried by the same schedule when the send fails).

One SES message per recipient, so one refused address costs only its own delivery. No boto3 here:
chalicelib.integrations.ses sends, chalicelib.store.reports keeps the record.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.alerts import engine as alerts
from chalicelib.config import Settings, get_settings
from chalicelib.errors import Conflict, UpstreamUnavailable
from chalicelib.feedback.windows import iso, utcnow
from chalicelib.integrations import ses
from chalicelib.observability import flush_metrics, logger, metrics
from chalicelib.reports import mail
from chalicelib.store import reports as store

DELIVERED, FAILED, GIVEN_UP = "delivered", "failed", "given_up"
ALERT_RULE = "ReportGenerated"

Builder = Callable[..., dict[str, Any]]


def _builder() -> Builder:
    # Imported when used: the report's module reads every store; delivery's tests pass their own.
    from chalicelib.reports.report import build_report

    return build_report


def build(
    start: datetime | str | None,
    end: datetime | str | None,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The report of [start, end], as the API gives it (chalicelib.reports.report.build_report: it
    parses YYYY-MM-DD or date-times, defaults the period and names a bad start or end)."""
    return _builder()(start, end, now=now, settings=settings)


def day_period(now: datetime) -> tuple[datetime, datetime]:
    """The previous UTC day, ends included as the report counts them: [yesterday 00:00, 23:59:59.999999]."""
    yesterday = now.astimezone(UTC).date() - timedelta(days=1)
    return datetime.combine(yesterday, time.min, tzinfo=UTC), datetime.combine(
        yesterday, time.max, tzinfo=UTC
    )


def backoff(attempt: int, settings: Settings) -> timedelta:
    """Wait before attempt `attempt + 1`: base * 2^(attempt-1), capped."""
    return timedelta(
        seconds=min(
            settings.report_delivery_backoff_seconds * 2 ** max(attempt - 1, 0),
            settings.report_delivery_backoff_max_seconds,
        )
    )


def _trailing_failures(record: dict[str, Any], recipient: str) -> int:
    """Failed attempts to `recipient` since its last other outcome: the current attempt run."""
    n = 0
    for entry in reversed(record["deliveries"]):
        if entry.get("recipient") != recipient:
            continue
        if entry.get("outcome") != FAILED:
            break
        n += 1
    return n


def _entry(recipient: str, now: datetime, attempt: int, outcome: str, **extra: Any) -> dict[str, Any]:
    return {"recipient": recipient, "at": iso(now), "attempt": attempt, "outcome": outcome, **extra}


def deliver(
    record: dict[str, Any],
    now: datetime,
    settings: Settings,
    ses_client: Any | None = None,
    *,
    emit_metrics: bool = True,
) -> dict[str, Any]:
    """Send the report to each recipient still owed it and record every attempt. Returns the record
    as stored afterwards. EMF metrics (ReportEmail_<outcome>) are for the Lambda schedules; the CLI
    turns them off, since EMF goes to stdout, where its --json answer is."""
    report = json.loads(record["payload"])
    sender = record.get("sender") or settings.report_sender
    entries: list[dict[str, Any]] = []
    pending: list[str] = []
    waits: list[timedelta] = []
    for recipient in record["pendingRecipients"]:
        attempt = _trailing_failures(record, recipient) + 1
        try:
            if not sender:
                raise UpstreamUnavailable("No sender is configured (REPORT_SENDER).")
            raw = mail.build_message(report, sender=sender, recipient=recipient)
            message_id = ses.send_raw(raw, source=sender, settings=settings, client=ses_client)
        except UpstreamUnavailable as exc:
            entries.append(
                _entry(recipient, now, attempt, FAILED, error=exc.message, awsCode=exc.details.get("awsCode"))
            )
            if attempt >= settings.report_delivery_max_attempts:
                entries.append(
                    _entry(
                        recipient,
                        now,
                        attempt,
                        GIVEN_UP,
                        error=f"gave up after {attempt} attempts: {exc.message}",
                    )
                )
            else:
                pending.append(recipient)
                waits.append(backoff(attempt, settings))
            continue
        entries.append(_entry(recipient, now, attempt, DELIVERED, messageId=message_id, sizeBytes=len(raw)))
    due = iso(now + min(waits)) if pending else None
    delivered = [e for e in entries if e["outcome"] == DELIVERED]
    notified = None
    if (
        not pending
        and not record.get("notifiedAlertId")
        and (delivered or any(e["outcome"] == DELIVERED for e in record["deliveries"]))
    ):
        notified = _notify(record, report, entries, now, settings)
    stored = store.record_delivery(record, entries, pending, due, settings, notified_alert_id=notified)
    if emit_metrics:
        for outcome in (DELIVERED, FAILED, GIVEN_UP):
            count = sum(e["outcome"] == outcome for e in entries)
            if count:
                metrics.add_metric(name=f"ReportEmail_{outcome}", unit=MetricUnit.Count, value=count)
        flush_metrics()
    (logger.info if not pending else logger.warning)(
        "report delivery",
        extra={
            "report": f"{record['kind']}/{record['key']}",
            "delivered": len(delivered),
            "pending": pending,
            "nextAttemptAt": due,
        },
    )
    return stored


def _notify(
    record: dict[str, Any],
    report: dict[str, Any],
    entries: list[dict[str, Any]],
    now: datetime,
    settings: Settings,
) -> str | None:
    """The info alert "report generated" (digest route), once per report. A failure to record it is
    logged, not raised: the report went out, and the next run must not send it again for this."""
    everyone = {e["recipient"] for e in [*record["deliveries"], *entries] if e["outcome"] == DELIVERED}
    gave_up = {e["recipient"] for e in [*record["deliveries"], *entries] if e["outcome"] == GIVEN_UP}
    status = (report.get("summary") or {}).get("status", "unknown")
    text = (
        f"report generated: {mail.title(report)}, status {status}; emailed to {len(everyone)} of "
        f"{len(record['recipients'])} recipients" + (f" ({len(gave_up)} given up)" if gave_up else "")
    )
    try:
        alert = alerts.notify_info(
            ALERT_RULE,
            text,
            {"report": f"{record['kind']}/{record['key'][:10]}"},
            value=float(len(everyone)),
            now=now,
            settings=settings,
        )
    except Exception as exc:  # noqa: BLE001 - see the docstring
        logger.warning("report alert not recorded", extra={"reason": str(exc)})
        return None
    return alert["id"]


def _store(
    kind: str,
    key: str,
    report: dict[str, Any],
    recipients: list[str],
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    return store.create_report(
        kind,
        key,
        report,
        mail.report_json(report),
        sender=settings.report_sender,
        recipients=recipients,
        now=now,
        settings=settings,
    )


def run_daily(
    now: datetime | None = None,
    settings: Settings | None = None,
    *,
    build: Builder | None = None,
    ses_client: Any | None = None,
) -> dict[str, Any]:
    """The daily schedule: yesterday's report built and stored once, then sent to whoever is owed it."""
    settings = settings or get_settings()
    now = now or utcnow()
    start, end = day_period(now)
    key = iso(start)
    record = store.get_report(store.DAILY, key, settings)
    created = False
    if record is None:
        report = (build or _builder())(start, end, now=now, settings=settings)
        try:
            record = _store(store.DAILY, key, report, list(settings.report_recipients), now, settings)
            created = True
        except Conflict:
            # Another run of the schedule stored it between our read and our write.
            record = store.get_report(store.DAILY, key, settings)
    if not created and record is not None:
        logger.info("daily report stored already", extra={"report": key})
    if record is not None and record["pendingRecipients"] and record["deliveryDueAt"] <= iso(now):
        record = deliver(record, now, settings, ses_client)
    return {"report": key, "created": created, **delivery_state(record)}


def retry_due(
    now: datetime | None = None, settings: Settings | None = None, *, ses_client: Any | None = None
) -> dict[str, Any]:
    """The retry schedule: every stored report whose next send is due, to its pending recipients."""
    settings = settings or get_settings()
    now = now or utcnow()
    results = []
    for record in store.pending_reports(now, settings):
        try:
            results.append(delivery_state(deliver(record, now, settings, ses_client)))
        except Conflict:
            logger.info("report delivery moved on meanwhile", extra={"report": record["key"]})
    return {"due": len(results), "reports": results}


def email_now(
    report: dict[str, Any],
    recipients: list[str],
    now: datetime | None = None,
    settings: Settings | None = None,
    *,
    ses_client: Any | None = None,
) -> dict[str, Any]:
    """A report emailed on request: stored under "report#adhoc" and sent now; a failed send is left
    owed, so the retry schedule takes it over."""
    settings = settings or get_settings()
    now = now or utcnow()
    record = _store(store.ADHOC, iso(now), report, recipients, now, settings)
    return delivery_state(deliver(record, now, settings, ses_client, emit_metrics=False))


def delivery_state(record: dict[str, Any] | None) -> dict[str, Any]:
    """What the record says about the delivery, per recipient: its last outcome and attempts."""
    if record is None:
        return {}
    recipients: dict[str, dict[str, Any]] = {}
    for entry in record["deliveries"]:
        recipients[entry["recipient"]] = {
            "outcome": entry["outcome"],
            "attempts": entry["attempt"],
            "at": entry["at"],
            "error": entry.get("error"),
            "messageId": entry.get("messageId"),
        }
    for recipient in record["recipients"]:
        recipients.setdefault(recipient, {"outcome": "pending", "attempts": 0})
    return {
        "kind": record["kind"],
        "key": record["key"],
        "sizeBytes": record["sizeBytes"],
        "recipients": recipients,
        "pendingRecipients": record["pendingRecipients"],
        "nextAttemptAt": record["deliveryDueAt"],
        "alertId": record.get("notifiedAlertId"),
    }
