"""Feedback use cases: one function each, no HTTP and no boto3 here (chalicelib.store and
chalicelib.integrations hold the AWS calls). Routes in app.py, the CLI, the demo loader and the
health evaluator call these.

Every entry takes `settings=None` (read from the environment when absent) and binds the models to
the configured tables first; `now` is injectable so tests and the demo loader can place items in time.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.auth import Principal
from chalicelib.config import Settings
from chalicelib.errors import (
    Conflict,
    FieldError,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    RequestInProgress,
    UpstreamUnavailable,
    ValidationFailed,
)
from chalicelib.feedback import lifecycle
from chalicelib.feedback.pagination import Cursor, check_cursor, decode_cursor, encode_cursor
from chalicelib.feedback.redaction import redact, redact_fields
from chalicelib.feedback.summary import SUMMARY_ATTRIBUTES, compute_summary
from chalicelib.feedback.windows import (
    Window,
    iso,
    list_window,
    month_of,
    months_newest_first,
    summary_window,
    utcnow,
)
from chalicelib.integrations.sns import publish_json
from chalicelib.observability import flush_metrics, logger, metrics
from chalicelib.schemas.feedback import (
    FeedbackCreate,
    FeedbackFilters,
    FeedbackListQuery,
    FeedbackSummaryQuery,
    FeedbackUpdate,
    parse,
    validate_payload,
)
from chalicelib.store import feedback as store
from chalicelib.store import rollups
from chalicelib.store.idempotency import ClaimExists, IdempotencyClaim, get_claim, scoped_key

# Free text that may carry patient details: redacted before storage.
FREE_TEXT_FIELDS = (
    "title",
    "description",
    "browserInfo",
    "deviceInfo",
    "steps",
    "expectedBehavior",
    "actualBehavior",
)
# Stored for the indexes and the retry job; not part of the API's view of an item.
_INTERNAL_FIELDS = ("month", "openSeverity", "notifyPending")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# An ETag as we send it ("3"), weak (W/"3"), or bare (3).
_IF_MATCH = re.compile(r'(?:W/)?("?)(?P<version>[0-9]{1,18})\1')
_MAX_ID_LENGTH = 100


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """An item as the API shows it."""
    view = {name: value for name, value in record.items() if name not in _INTERNAL_FIELDS}
    view["history"] = view.get("history") or []
    view["redactions"] = view.get("redactions") or []
    view["notificationPending"] = bool(record.get("notifyPending"))
    return view


def etag(record: dict[str, Any]) -> str:
    """The ETag of an item: its version, quoted as RFC 9110 asks."""
    return f'"{record["version"]}"'


# ---------------------------------------------------------------------------------------- submit


def _request_hash(payload: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the validated payload: key order, whitespace and absent vs
    null optional fields do not make two submissions differ."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise ValidationFailed(
            [FieldError("Idempotency-Key", "Use 1-255 visible ASCII characters (a UUID is a good key).")]
        )
    return value


def new_record(
    principal: Principal, payload: dict[str, Any] | FeedbackCreate, now: datetime | None = None
) -> tuple[dict[str, Any], str]:
    """Validate and redact a payload into the item to store; also returns the request hash that
    idempotency compares. Raises ValidationFailed / Forbidden before anything is written."""
    data = validate_payload(payload).payload()
    workspace = principal.require_workspace()
    created_at = iso(now or utcnow())
    redacted, kinds = redact_fields(data, FREE_TEXT_FIELDS)
    record = {
        "id": str(uuid.uuid4()),
        "workspaceId": workspace,
        "userId": principal.sub,
        "userRole": principal.primary_role,
        "createdAt": created_at,
        "updatedAt": created_at,
        "month": month_of(created_at),
        **redacted,
        **lifecycle.initial_state(data["category"], data["severity"], created_at),
        "redactions": sorted(kinds),
    }
    return record, _request_hash(data)


def submit_feedback(
    principal: Principal,
    payload: dict[str, Any] | FeedbackCreate,
    idempotency_key: str | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
    sns_client: Any | None = None,
) -> tuple[dict[str, Any], bool]:
    """Validate, redact and store one feedback item; returns (record, replayed).

    With an idempotency key, the item and the key's record are written in one transaction; a retry
    with the same body returns the stored item (replayed=True), a different body is refused.
    A critical bug report is acknowledged at once and published to the alerts topic; if that
    publish fails the item keeps notifyPending and retry_pending_notifications delivers it later.
    """
    settings = store.bind(settings)
    record, request_hash = new_record(principal, payload, now)
    key = _check_idempotency_key(idempotency_key)
    # Key expiry runs on the wall clock, whatever `now` says about createdAt.
    now_epoch = int(time.time())
    claim = None
    if key is not None:
        claim = IdempotencyClaim(
            key=scoped_key(principal.sub, key),
            request_hash=request_hash,
            feedback_id=record["id"],
            created_at=record["createdAt"],
            expires_at=now_epoch + settings.idempotency_ttl_seconds,
        )
    try:
        stored = store.put_new(record, claim, now_epoch)
    except ClaimExists:
        return _replay(claim, now_epoch), True
    metrics.add_metric(name="FeedbackSubmitted", unit=MetricUnit.Count, value=1)
    if stored["redactions"]:
        metrics.add_metric(name="FeedbackRedacted", unit=MetricUnit.Count, value=1)
    logger.info(
        "feedback stored",
        extra={
            "feedbackId": stored["id"],
            "severity": stored["severity"],
            "redactions": stored["redactions"],
        },
    )
    if stored.get("notifyPending"):
        stored = _publish_alert(stored, settings, sns_client)
    return public_view(stored), False


def _replay(claim: IdempotencyClaim, now_epoch: int) -> dict[str, Any]:
    existing = get_claim(claim.key, now_epoch)
    if existing is None:  # expired and removed between our write and this read
        raise RequestInProgress("The Idempotency-Key's earlier request could not be found; retry.")
    if existing.request_hash != claim.request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different body; use a new key for new feedback.",
            details={"fields": [{"field": "Idempotency-Key", "message": "Already used with another body."}]},
        )
    record = store.get(existing.feedback_id)
    if record is None:
        raise RequestInProgress("The Idempotency-Key's earlier request is not readable yet; retry.")
    return public_view(record)


# ---------------------------------------------------------------------------------------- alerts


def alert_message(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The alerts-topic message for an item (title already redacted) and its MessageAttributes."""
    message = {
        "type": "feedback.critical",
        "id": record["id"],
        "workspaceId": record["workspaceId"],
        "severity": record["severity"],
        "category": record["category"],
        "title": record["title"],
        "featureArea": record["featureArea"],
        "createdAt": record["createdAt"],
    }
    return message, {"severity": record["severity"], "category": record["category"]}


def _publish_alert(record: dict[str, Any], settings: Settings, sns_client: Any | None) -> dict[str, Any]:
    message, attributes = alert_message(record)
    try:
        publish_json(
            settings.alerts_topic_arn,
            message,
            attributes=attributes,
            subject=f"Critical feedback: {record['title']}",
            settings=settings,
            client=sns_client,
        )
    except UpstreamUnavailable as exc:
        # Not lost: the item keeps notifyPending and the scheduled job publishes it again.
        logger.warning(
            "feedback alert not published", extra={"feedbackId": record["id"], "reason": exc.message}
        )
        metrics.add_metric(name="FeedbackAlertPublishFailed", unit=MetricUnit.Count, value=1)
        return record
    store.clear_notify_pending(record["id"])
    metrics.add_metric(name="FeedbackAlertsPublished", unit=MetricUnit.Count, value=1)
    return {**record, "notifyPending": None}


def retry_pending_notifications(
    now: datetime | None = None, settings: Settings | None = None, sns_client: Any | None = None
) -> dict[str, int]:
    """The scheduled job: publish alerts whose first publish failed. Items younger than
    notify_retry_min_age_seconds are left to the request still handling them."""
    settings = store.bind(settings)
    now = now or utcnow()
    cutoff = iso(now - timedelta(seconds=settings.notify_retry_min_age_seconds))
    ids = store.pending_notification_ids(cutoff)
    delivered = failed = 0
    for feedback_id in ids:
        record = store.get(feedback_id)
        if not record or not record.get("notifyPending"):
            continue
        if _publish_alert(record, settings, sns_client).get("notifyPending"):
            failed += 1
        else:
            delivered += 1
    result = {"pending": len(ids), "delivered": delivered, "failed": failed}
    logger.info("feedback notification retry", extra=result)
    if ids:
        flush_metrics()  # a scheduled run has no HTTP middleware to flush for it
    return result


# ---------------------------------------------------------------------------------------- read


def _load_visible(principal: Principal, feedback_id: str) -> dict[str, Any]:
    record = store.get(feedback_id) if 0 < len(feedback_id) <= _MAX_ID_LENGTH else None
    if record is None:
        raise NotFound(f"No feedback with id {feedback_id!r}.")
    principal.check_workspace(record["workspaceId"])
    return record


def get_feedback(principal: Principal, feedback_id: str, settings: Settings | None = None) -> dict[str, Any]:
    store.bind(settings)
    return public_view(_load_visible(principal, feedback_id))


def _scope(principal: Principal, requested: str | None) -> str | None:
    """The workspace a read is limited to (None: all). Staff are held to their own."""
    if principal.spans_workspaces:
        return requested
    own = principal.require_workspace()
    if requested is not None and requested != own:
        raise Forbidden("Staff can read only their own workspace's feedback.")
    return own


def _partitions(scope: str | None, window: Window) -> tuple[str, list[str]]:
    """The date index and its partitions, newest first, that cover a window."""
    if scope is not None:
        return "byWorkspace", [scope]
    return "byMonth", months_newest_first(window.start, window.end)


def list_feedback(
    principal: Principal,
    query: FeedbackListQuery | dict[str, Any] | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """A page of feedback, newest first: {"items": [...], "nextCursor": str | None}."""
    settings = store.bind(settings)
    query = parse(FeedbackListQuery, query)
    window = list_window(query.start_date, query.end_date, settings.list_horizon_days, now or utcnow())
    index_name, partitions = _partitions(_scope(principal, query.workspace_id), window)
    limit = min(query.limit, settings.page_size_max)
    cursor = None
    if query.cursor:
        cursor = decode_cursor(query.cursor)
        check_cursor(cursor, partitions, window.start_key, window.end_key)
        partitions = partitions[partitions.index(cursor.partition) :]

    items: list[tuple[str, dict[str, Any]]] = []
    more = False
    for partition in partitions:
        after = None
        if cursor is not None and partition == cursor.partition:
            after = {"id": cursor.feedback_id, "createdAt": cursor.created_at}
        # One item beyond the page tells whether a next page exists.
        for record in store.DateQuery(
            index_name,
            partition,
            window.start_key,
            window.end_key,
            query.attribute_filters(),
            after=after,
            page_size=limit + 1,
        ):
            if len(items) == limit:
                more = True
                break
            items.append((partition, record))
        if more:
            break
    next_cursor = None
    if more:
        partition, last = items[-1]
        next_cursor = encode_cursor(Cursor(partition, last["id"], last["createdAt"]))
    return {"items": [public_view(record) for _, record in items], "nextCursor": next_cursor}


def feedback_summary(
    principal: Principal,
    query: FeedbackSummaryQuery | FeedbackFilters | dict[str, Any] | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Counts, ratings, trend and resolution times over a date window. Reads only the window's
    partitions of a date index (never a scan); `itemsRead` reports how many items that was."""
    settings = store.bind(settings)
    query = parse(FeedbackSummaryQuery, query)
    window = summary_window(
        query.start_date,
        query.end_date,
        settings.summary_default_days,
        settings.summary_max_days,
        now or utcnow(),
    )
    scope = _scope(principal, query.workspace_id)
    index_name, partitions = _partitions(scope, window)
    queries = [
        store.DateQuery(
            index_name,
            partition,
            window.start_key,
            window.end_key,
            query.attribute_filters(),
            attributes=SUMMARY_ATTRIBUTES,
        )
        for partition in partitions
    ]
    summary = compute_summary(chain.from_iterable(queries), window)
    summary["itemsRead"] = sum(q.items_read for q in queries)
    summary["queries"] = len(queries)
    summary["scope"] = {"workspaceId": scope}
    summary["filters"] = query.attribute_filters()
    return summary


# ----------------------------------------------------------------------------- for other capabilities


def satisfaction_in_window(
    start: datetime, end: datetime, settings: Settings | None = None
) -> dict[str, Any]:
    """Mean satisfactionRating of feedback created on the UTC days from start's to end's (whole days),
    all workspaces: {"average": float | None, "count": int}. Read from the daily ratings rollup kept
    with each submission: one Query of at most one item per day, whatever the volume of feedback."""
    store.bind(settings)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start > end:
        return {"average": None, "count": 0}
    totals = rollups.ratings_between(start.date().isoformat(), end.date().isoformat())["satisfaction"]
    count = int(totals["count"])
    return {"average": round(totals["sum"] / count, 3) if count else None, "count": count}


def open_feedback(
    severities: tuple[str, ...] = ("critical", "high"), settings: Settings | None = None
) -> list[dict[str, Any]]:
    """Open feedback (new, acknowledged, in_progress) of the given severities, from the sparse
    openBySeverity index (it projects category, issueId and workspaceId, so one query each)."""
    store.bind(settings)
    out = []
    for severity in severities:
        for record in store.open_by_severity(severity):
            out.append(
                {
                    "id": record["id"],
                    "severity": severity,
                    "category": record.get("category"),
                    "issueId": record.get("issueId"),
                    "createdAt": record["createdAt"],
                }
            )
    return out


# ---------------------------------------------------------------------------------------- update


def _expected_version(if_match: str | None, body_version: int | None) -> int | None:
    """The version the caller last read, from If-Match ("3", W/"3", 3; * means any) or the body."""
    header: int | None = None
    if if_match is not None and if_match.strip() != "*":
        # ASCII digits only and a bounded length: str.isdigit() admits "²", and int() refuses
        # more than 4,300 digits; either would otherwise escape as a 500.
        match = _IF_MATCH.fullmatch(if_match.strip())
        if not match:
            raise ValidationFailed([FieldError("If-Match", 'Send the ETag you read, e.g. "3".')])
        header = int(match["version"])
    if header is not None and body_version is not None and header != body_version:
        raise ValidationFailed([FieldError("version", "The body's version differs from If-Match.")])
    return header if header is not None else body_version


def update_feedback(
    principal: Principal,
    feedback_id: str,
    change: FeedbackUpdate | dict[str, Any],
    if_match: str | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Triage one item: status (lifecycle rules), assignee, resolution. The write is conditioned on
    the version read (and on the caller's If-Match/version when given), so concurrent updates
    cannot overwrite each other: the loser gets Conflict."""
    store.bind(settings)
    change = parse(FeedbackUpdate, change)
    expected = _expected_version(if_match, change.version)
    record = _load_visible(principal, feedback_id)
    if expected is not None and expected != record["version"]:
        raise Conflict(
            f"The feedback is at version {record['version']}, not {expected}; read it again and retry.",
            details={"currentVersion": record["version"], "expectedVersion": expected},
        )
    kinds: set[str] = set()
    resolution = reason = None
    if change.resolution is not None:
        resolution, found = redact(change.resolution)
        kinds |= found
    if change.reason is not None:
        reason, found = redact(change.reason)
        kinds |= found
    plan = lifecycle.plan_update(
        record,
        actor=principal.sub,
        now=iso(now or utcnow()),
        status=change.status,
        resolution=resolution,
        reason=reason,
        assignee=change.assignee,
        assignee_given=change.assignee_given,
    )
    if not plan:
        return public_view(record)
    known = set(record.get("redactions") or [])
    if kinds - known:
        plan.set["redactions"] = sorted(known | kinds)
    updated = store.update(feedback_id, record["version"], plan.set, plan.remove)
    logger.info("feedback updated", extra={"feedbackId": feedback_id, "changed": sorted(plan.set)})
    return public_view(updated)
