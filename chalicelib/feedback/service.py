"""Feedback use cases: one function each, no HTTP and no boto3 here (chalicelib.store and
chalicelib.integrations hold the AWS calls). Routes in app.py, the CLI, the demo loader and the
health evaluator call these.

Every entry takes `settings=None` (read from the environment when absent) and binds the models to
the configured tables first; `now` is injectable so tests and the demo loader can place items in time.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.auth import Principal
from chalicelib.config import Settings
from chalicelib.errors import (
    Conflict,
    DomainError,
    FieldError,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    RequestInProgress,
    UpstreamUnavailable,
    ValidationFailed,
)
from chalicelib.etags import etag, expected_version  # noqa: F401 - etag is part of this module's API
from chalicelib.feedback import lifecycle
from chalicelib.feedback.pagination import Cursor, check_cursor, decode_cursor, encode_cursor
from chalicelib.feedback.redaction import SecondDetector, redact_fields, redact_texts
from chalicelib.feedback.summary import SUMMARY_ATTRIBUTES, compute_summary
from chalicelib.feedback.windows import (
    Window,
    iso,
    list_window,
    month_of,
    months_newest_first,
    parse_iso,
    summary_window,
    utcnow,
)
from chalicelib.integrations import comprehend
from chalicelib.integrations.sns import publish_json
from chalicelib.observability import flush_metrics, logger, metrics
from chalicelib.schemas.feedback import (
    FeedbackCreate,
    FeedbackFilters,
    FeedbackListQuery,
    FeedbackSummaryQuery,
    FeedbackUpdate,
    fit_text,
    parse,
    validate_payload,
)
from chalicelib.store import feedback as store
from chalicelib.store import rollups
from chalicelib.store.base import Capped
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
_MAX_ID_LENGTH = 100


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """An item as the API shows it."""
    view = {name: value for name, value in record.items() if name not in _INTERNAL_FIELDS}
    view["history"] = view.get("history") or []
    view["historyDropped"] = view.get("historyDropped") or 0
    view["redactions"] = view.get("redactions") or []
    view["notificationPending"] = bool(record.get("notifyPending"))
    return view


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


def phi_detector(settings: Settings, client: Any | None = None) -> SecondDetector | None:
    """The second detector of patient identifiers the settings ask for (Comprehend Medical), or None.
    When it fails the feedback is still stored, redacted by the patterns: the failure is logged and
    counted (PhiDetectorFailed), since refusing a bug report would not protect anyone."""
    if not settings.phi_detector_comprehend:
        return None

    def detect(texts):
        try:
            return comprehend.detect_phi(
                texts, min_score=settings.phi_detector_min_score, settings=settings, client=client
            )
        except UpstreamUnavailable as exc:
            logger.warning("PHI detector failed; pattern redaction only", extra={"reason": exc.message})
            metrics.add_metric(name="PhiDetectorFailed", unit=MetricUnit.Count, value=1)
            return None

    return detect


def new_record(
    principal: Principal,
    payload: dict[str, Any] | FeedbackCreate,
    now: datetime | None = None,
    second_detector: SecondDetector | None = None,
) -> tuple[dict[str, Any], str]:
    """Validate and redact a payload into the item to store; also returns the request hash that
    idempotency compares. Raises ValidationFailed / Forbidden before anything is written."""
    data = validate_payload(payload).payload()
    workspace = principal.require_workspace()
    created_at = iso(now or utcnow())
    redacted, kinds = redact_fields(data, FREE_TEXT_FIELDS, second_detector)
    redacted = {
        name: fit_text(name, value) if name in FREE_TEXT_FIELDS else value for name, value in redacted.items()
    }
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
    comprehend_client: Any | None = None,
) -> tuple[dict[str, Any], bool]:
    """Validate, redact and store one feedback item; returns (record, replayed).

    With an idempotency key, the item and the key's record are written in one transaction; a retry
    with the same body returns the stored item (replayed=True), a different body is refused.
    A critical bug report is acknowledged at once and published to the alerts topic; if that
    publish fails the item keeps notifyPending and retry_pending_notifications delivers it later.
    """
    settings = store.bind(settings)
    record, request_hash = new_record(principal, payload, now, phi_detector(settings, comprehend_client))
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
        return _replay(principal, claim, now_epoch), True
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
    if lifecycle.alerts_on_submit(stored["category"], stored["severity"]):
        _fire_alert(stored, settings)
    if stored.get("notifyPending"):
        stored = _publish_alert(stored, settings, sns_client)
    return public_view(stored), False


def _replay(principal: Principal, claim: IdempotencyClaim, now_epoch: int) -> dict[str, Any]:
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
    # A replay is a read of the stored item, held to the same rule as GET: a caller whose token now
    # names another workspace does not get the item stored in the old one.
    if not principal.spans_workspaces and record["workspaceId"] != principal.workspace_id:
        raise Forbidden(
            "This Idempotency-Key's earlier request stored feedback in another workspace than your "
            "token's; use a new key to submit it here."
        )
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


def _bug_report_labels(record: dict[str, Any]) -> dict[str, str]:
    return {"feedbackId": record["id"], "featureArea": record["featureArea"]}


def _fire_alert(record: dict[str, Any], settings: Settings, at: datetime | None = None) -> None:
    """The alert record of a critical bug report (rule CriticalBugReport, source "feedback"): it is
    routed, escalated and resolved like every other alert. The title is the stored, redacted one. A
    failure here is logged, not raised: the feedback is stored and its alerts-topic publish (below,
    retried until delivered) still tells someone."""
    from chalicelib.alerts.engine import fire
    from chalicelib.alerts.model import Condition
    from chalicelib.alerts.rules import CRITICAL_BUG_REPORT

    condition = Condition(
        CRITICAL_BUG_REPORT,
        "critical",
        f"Critical bug report about {record['featureArea']}: {record['title']}",
        _bug_report_labels(record),
        source="feedback",
    )
    try:
        fire(condition, at or parse_iso(record["createdAt"]), settings)
    except DomainError as exc:
        logger.error("feedback alert not recorded", extra={"feedbackId": record["id"], "reason": exc.message})
        metrics.add_metric(name="FeedbackAlertRecordFailed", unit=MetricUnit.Count, value=1)


def _sync_alert(
    before: dict[str, Any], after: dict[str, Any], actor: str, at: str, settings: Settings
) -> None:
    """A critical bug report's alert follows the report: resolving (or closing) it clears the alert,
    reopening it fires a new occurrence. Like _fire_alert, a failure is logged, not raised."""
    if not lifecycle.alerts_on_submit(after["category"], after["severity"]):
        return
    was_open, is_open = lifecycle.is_open(before["status"]), lifecycle.is_open(after["status"])
    if was_open == is_open:
        return
    if is_open:
        _fire_alert(after, settings, parse_iso(at))
        return
    from chalicelib.alerts.engine import clear
    from chalicelib.alerts.rules import CRITICAL_BUG_REPORT

    try:
        clear(CRITICAL_BUG_REPORT, _bug_report_labels(after), actor, parse_iso(at), settings)
    except DomainError as exc:
        logger.error("feedback alert not cleared", extra={"feedbackId": after["id"], "reason": exc.message})
        metrics.add_metric(name="FeedbackAlertRecordFailed", unit=MetricUnit.Count, value=1)


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


def _query_limit(
    wanted: int, read: int, matched: int, remaining: int, filtered: bool, last: bool = False
) -> int:
    """DynamoDB's Limit for the next Query of a list: never more than the read budget left. Without
    filters every item read is returned, so the items still wanted are enough. With filters, the share
    of items that matched so far estimates how many to read (eight times what was read when none
    matched), so a selective filter takes a few growing Queries, not hundreds of tiny ones, and a
    filter that matches most items does not read a budget's worth for a short page. In a request's
    last round there is no later Query to correct the estimate: twice it, or the budget left when
    nothing has matched yet."""
    want = wanted
    if filtered and read:
        want = read * 8 if matched == 0 else math.ceil(wanted * read / matched)
    if filtered and last:
        want = remaining if matched == 0 else 2 * want
    return max(1, min(remaining, max(wanted, want)))


def _days_in(partition: str, window: Window) -> float:
    """Days of the window within a month partition ('YYYY-MM')."""
    year, month = (int(part) for part in partition.split("-"))
    first = datetime(year, month, 1, tzinfo=UTC)
    after = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return max((min(after, window.end) - max(first, window.start)).total_seconds() / 86400, 0.0)


def _fills_alone(exhausted: list[_Lane], following: _Lane, matched: int, wanted: int, window: Window) -> bool:
    """Whether the next month, at the rate the months read to their end matched, probably fills the
    page twice over: then it is read alone (an unfiltered list crossing into last month needs no
    other), else with every month after it (sparse data). Only the byMonth walk has several."""
    if not exhausted:
        return False
    days = sum(_days_in(ln.partition, window) for ln in exhausted)
    return matched / max(days, 1 / 24) * _days_in(following.partition, window) >= 2 * wanted


@dataclass
class _Lane:
    """One index partition of a list request: its query and the records read but not yet taken."""

    partition: str
    pages: Any  # store.DateQuery
    records: list[dict[str, Any]]

    @property
    def done(self) -> bool:
        return self.pages.done


def list_feedback(
    principal: Principal,
    query: FeedbackListQuery | dict[str, Any] | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """A page of feedback, newest first: {"items", "nextCursor", "scanned"}.

    One request reads at most list_max_items_read items (DynamoDB's evaluated count, before filters)
    from at most list_max_partitions index partitions, in at most list_max_rounds rounds of Queries.
    The first round reads the newest partition alone (usually enough); each later round reads the
    partition where the page stopped and, side by side with it, the partitions after it, the budget
    left shared between them, so months holding nothing that matches cost one round, not one round
    each (unless the months read so far say the next one fills the page: then it is read alone).
    Items read from a later partition are returned only once every partition before it is
    exhausted. When the budget, the partitions or the rounds run out first, the page is returned as
    it is, perhaps short or empty, with a nextCursor where reading stopped; nextCursor is null only
    when the window holds nothing more."""
    settings = store.bind(settings)
    query = parse(FeedbackListQuery, query)
    window = list_window(
        query.start_date, query.end_date, settings.list_horizon_days, settings.list_max_days, now or utcnow()
    )
    index_name, partitions = _partitions(_scope(principal, query.workspace_id), window)
    limit = min(query.limit, settings.page_size_max)
    filters = query.attribute_filters()
    cursor = None
    if query.cursor:
        cursor = decode_cursor(query.cursor)
        check_cursor(cursor, partitions, window.start_key, window.end_key)
        partitions = partitions[partitions.index(cursor.partition) :]

    def lane(partition: str) -> _Lane:
        after = cursor.after if cursor is not None and partition == cursor.partition else None
        pages = store.DateQuery(index_name, partition, window.start_key, window.end_key, filters, after=after)
        return _Lane(partition, pages, [])

    budget, rounds = settings.list_max_items_read, settings.list_max_rounds
    opened = partitions[: settings.list_max_partitions]
    lanes: list[_Lane] = []
    items: list[tuple[str, dict[str, Any]]] = []
    read = matched = queries = queried = 0
    taken = 0  # the lanes before this one are exhausted and their records taken

    def take() -> Cursor | None:
        """Move records into the page, partition by partition, newest first, as far as the partitions
        read so far allow; the cursor once the page is full (one item beyond it proves a next page)."""
        nonlocal taken
        while taken < len(lanes):
            current = lanes[taken]
            while current.records:
                record = current.records.pop(0)
                if len(items) == limit:
                    last_partition, last = items[-1]
                    return Cursor(last_partition, last["id"], last["createdAt"])
                items.append((current.partition, record))
            if not current.done:
                return None
            taken += 1
        return None

    resume: Cursor | None = None
    for round_number in range(rounds):
        # The first round reads the newest partition alone; each later one, the partition the page
        # waits on and every partition after it still to read, side by side.
        for partition in opened[len(lanes) : 1 if round_number == 0 else None]:
            lanes.append(lane(partition))
        remaining = budget - read
        wanted, last = limit + 1 - len(items), round_number == rounds - 1
        batch = [ln for ln in lanes[taken:] if not ln.done][: max(0, remaining)]
        if (
            batch
            and not batch[0].pages.started
            and not last
            and _fills_alone(lanes[:taken], batch[0], len(items), wanted, window)
        ):
            batch = batch[:1]
        if not batch:
            break
        size = _query_limit(wanted, read, matched, remaining // len(batch), bool(filters), last)
        queried += sum(1 for ln in batch if not ln.pages.started)
        pages = store.read_pages([(ln.pages, size) for ln in batch])
        for ln, (records, scanned) in zip(batch, pages, strict=True):
            ln.records.extend(records)
            read, matched, queries = read + scanned, matched + len(records), queries + 1
        resume = take()
        if resume is not None:
            break
    if resume is None:
        if taken < len(lanes):
            # Stopped inside a partition (budget or rounds): continue after its last item evaluated.
            resume = Cursor(lanes[taken].partition, **_key_fields(lanes[taken].pages.last_key))
        elif taken < len(partitions):
            resume = Cursor(partitions[taken])  # at a partition boundary (the partition ceiling)
    stopped_early = resume is not None and len(items) < limit
    if stopped_early:
        metrics.add_metric(name="FeedbackListStoppedEarly", unit=MetricUnit.Count, value=1)
    return {
        "items": [public_view(record) for _, record in items],
        "nextCursor": encode_cursor(resume) if resume is not None else None,
        "scanned": {
            "itemsRead": read,
            "queries": queries,
            "partitions": queried,
            "stoppedEarly": stopped_early,
        },
    }


def _key_fields(key: dict[str, str] | None) -> dict[str, str | None]:
    key = key or {}
    return {"feedback_id": key.get("id"), "created_at": key.get("createdAt")}


@dataclass
class WindowRead:
    """What a budgeted read of a window found: the records, DynamoDB's evaluated count and Query
    calls, and `covered_from` when the budget ran out first (the records then cover only the newest
    part of the window, from that instant)."""

    records: list[dict[str, Any]]
    read: int
    queries: int
    covered_from: datetime | None

    def covered(self, window: Window) -> Window:
        return window if self.covered_from is None else Window(self.covered_from, window.end)


def read_window(
    index_name: str,
    partitions: list[str],
    window: Window,
    filters: dict[str, str | tuple[str, ...]],
    attributes: tuple[str, ...],
    budget: int,
) -> WindowRead:
    """Read a window's partitions of a date index (never a scan) newest first, at most `budget`
    items evaluated. When the budget runs out, the records kept are exactly those from
    `covered_from` on, so every figure computed from them is true of that part of the window.

    The newest partition is read first, alone. Then, while the budget left is ample for what the
    partitions still to read probably hold (twice as much a partition as those read so far held),
    they are read side by side, the budget shared equally (a window of sparse months costs two
    round trips, not one a month); otherwise the oldest partition not yet exhausted is read alone
    with all the budget left, as a newest-first walk would, so a tight budget covers as much of the
    window as it can."""
    lanes = [
        _Lane(
            p,
            store.DateQuery(index_name, p, window.start_key, window.end_key, filters, attributes=attributes),
            [],
        )
        for p in partitions
    ]
    read = queries = taken = 0  # the lanes before `taken` are read to their end
    while taken < len(lanes) and read < budget:
        remaining = budget - read
        pending = [ln for ln in lanes[taken:] if not ln.done]
        started = sum(1 for ln in lanes if ln.pages.started)
        wide = started > 0 and remaining >= 2 * max(1, read // started) * len(pending)
        batch = pending[:remaining] if wide else pending[:1]
        share = remaining // len(batch)
        pages = store.read_pages([(ln.pages, share) for ln in batch])
        for ln, (page, scanned) in zip(batch, pages, strict=True):
            ln.records.extend(page)
            read, queries = read + scanned, queries + 1
        while taken < len(lanes) and lanes[taken].done:
            taken += 1
    records = [record for ln in lanes[:taken] for record in ln.records]
    covered_from: datetime | None = None
    if taken < len(lanes):
        frontier = lanes[taken]
        if frontier.pages.last_key is not None:
            # Reading stopped inside the partition. Items sharing the last key's instant may be
            # partly unread, so the figures count only what follows it.
            boundary = frontier.pages.last_key["createdAt"]
            covered_from = parse_iso(boundary) + timedelta(microseconds=1)
            records += [r for r in frontier.records if r["createdAt"] > boundary]
        else:
            # The partitions before it (months: several partitions only arise on the byMonth walk)
            # were read to their end; this one and the older ones were not.
            year, month = (int(part) for part in lanes[taken - 1].partition.split("-"))
            covered_from = max(window.start, datetime(year, month, 1, tzinfo=UTC))
    return WindowRead(records, read, queries, covered_from)


def feedback_summary(
    principal: Principal,
    query: FeedbackSummaryQuery | FeedbackFilters | dict[str, Any] | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Counts, ratings, trend and resolution times over a date window. Reads only the window's
    partitions of a date index (never a scan), newest first, and at most summary_max_items_read
    items: if the window holds more, the figures cover the newest part of it, from `coveredFrom`
    (`complete` false). `itemsRead` reports what was read."""
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
    found = read_window(
        index_name,
        partitions,
        window,
        query.attribute_filters(),
        SUMMARY_ATTRIBUTES,
        settings.summary_max_items_read,
    )
    covered = found.covered(window)
    summary = compute_summary(found.records, covered)
    summary["window"] = {"start": window.start_key, "end": window.end_key, "days": len(window.days())}
    summary["complete"] = found.covered_from is None
    summary["coveredFrom"] = covered.start_key
    summary["itemsRead"] = found.read
    summary["queries"] = found.queries
    summary["scope"] = {"workspaceId": scope}
    summary["filters"] = query.attribute_filters()
    return summary


# ----------------------------------------------------------------------------- for other capabilities


def feedback_in_window(
    window: Window,
    categories: tuple[str, ...],
    attributes: tuple[str, ...],
    budget: int,
    settings: Settings | None = None,
) -> WindowRead:
    """Feedback of the given categories created in the window, all workspaces, read as the summary
    reads (the window's months of byMonth, newest first, at most `budget` items evaluated; see
    read_window for what `covered_from` means). For the Phase 2 plan."""
    store.bind(settings)
    index_name, partitions = _partitions(None, window)
    return read_window(index_name, partitions, window, {"category": tuple(categories)}, attributes, budget)


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
) -> Capped:
    """Open feedback (new, acknowledged, in_progress) of the given severities, from the sparse
    openBySeverity index (it projects category, issueId and workspaceId, so one query each),
    at most health_open_items_max items per severity, the oldest (`truncated` when a severity held
    more)."""
    settings = store.bind(settings)
    out = Capped()
    for severity in severities:
        found, truncated = store.open_by_severity(severity, settings.health_open_items_max)
        out.truncated = out.truncated or truncated
        for record in found:
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


def recent_feedback(
    start: datetime, end: datetime, max_items: int, settings: Settings | None = None
) -> Capped:
    """Feedback created in [start, end], all workspaces, newest first, from the byMonth index (a
    window touches only its months): id, category, severity, featureArea, createdAt. At most
    `max_items` are read (`truncated` when the window held more; `queries`: the Query calls made).
    For the alert rules."""
    store.bind(settings)
    out = Capped()
    start_key, end_key = iso(start), iso(end)
    for month in months_newest_first(start, end):
        query = store.DateQuery(
            "byMonth",
            month,
            start_key,
            end_key,
            attributes=("id", "category", "severity", "featureArea", "createdAt", "month"),
        )
        while not query.done and len(out) < max_items:
            records, _ = query.read_page(max_items - len(out))
            out.queries += 1
            out.extend(
                {k: r.get(k) for k in ("id", "category", "severity", "featureArea", "createdAt")}
                for r in records
            )
        if len(out) >= max_items:
            out.truncated = not query.done or month != months_newest_first(start, end)[-1]
            break
    return out


# ---------------------------------------------------------------------------------------- update


def update_feedback(
    principal: Principal,
    feedback_id: str,
    change: FeedbackUpdate | dict[str, Any],
    if_match: str | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
    comprehend_client: Any | None = None,
) -> dict[str, Any]:
    """Triage one item: status (lifecycle rules), assignee, resolution. The write is conditioned on
    the version read (and on the caller's If-Match/version when given), so concurrent updates
    cannot overwrite each other: the loser gets Conflict. The resolution and the reason (kept in the
    history) are redacted as the submitted text is."""
    settings = store.bind(settings)
    change = parse(FeedbackUpdate, change)
    expected = expected_version(if_match, change.version)
    record = _load_visible(principal, feedback_id)
    if expected is not None and expected != record["version"]:
        raise Conflict(
            f"The feedback is at version {record['version']}, not {expected}; read it again and retry.",
            details={"currentVersion": record["version"], "expectedVersion": expected},
        )
    given = {"resolution": change.resolution, "reason": change.reason}
    texts = {name: value for name, value in given.items() if value is not None}
    cleaned, kinds = redact_texts(list(texts.values()), phi_detector(settings, comprehend_client))
    redacted = {name: fit_text(name, value) for name, value in zip(texts, cleaned, strict=True)}
    resolution, reason = redacted.get("resolution"), redacted.get("reason")
    plan = lifecycle.plan_update(
        record,
        actor=principal.sub,
        now=iso(now or utcnow()),
        status=change.status,
        resolution=resolution,
        reason=reason,
        assignee=change.assignee,
        assignee_given=change.assignee_given,
        history_max=settings.feedback_history_max,
    )
    if not plan:
        return public_view(record)
    known = set(record.get("redactions") or [])
    if kinds - known:
        plan.set["redactions"] = sorted(known | kinds)
    updated = store.update(feedback_id, record["version"], plan.set, plan.remove)
    logger.info("feedback updated", extra={"feedbackId": feedback_id, "changed": sorted(plan.set)})
    _sync_alert(record, updated, principal.sub, plan.set["updatedAt"], settings)
    return public_view(updated)
