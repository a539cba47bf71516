"""Issue use cases: one function each, no HTTP and no boto3 here (chalicelib.store.issues holds the
table). Routes in app.py and the bug-fix-manage CLI call these.

Free text (title, description, the reason of a status change) may carry patient details, as
feedback does: it is redacted by the feedback's redaction (patterns, and the second detector when
configured) before anything is stored; `redactions` lists the kinds removed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.auth import Principal
from chalicelib.config import Settings
from chalicelib.cursors import bad_cursor, decode_token, encode_token
from chalicelib.errors import Conflict, FieldError, NotFound, ValidationFailed
from chalicelib.etags import etag, expected_version  # noqa: F401 - etag is part of this module's API
from chalicelib.feedback.redaction import redact_texts
from chalicelib.feedback.service import phi_detector
from chalicelib.issues import lifecycle
from chalicelib.observability import logger, metrics
from chalicelib.schemas.feedback import parse
from chalicelib.schemas.issues import (
    TEXT_LIMITS,
    IssueCreate,
    IssueFromFeedback,
    IssueListQuery,
    IssueUpdate,
)
from chalicelib.store import feedback as feedback_store
from chalicelib.store import issues as store

_ISSUE_ID = re.compile(r"BUG-[0-9]{3,9}")
_CURSOR_VERSION = 1
# Issues a new report cannot join (fixed and wont_fix can: the fix is coming / the verdict stands).
NOT_LINKABLE = frozenset({"released", "verified", "closed"})


def _now(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fit(name: str, value: str) -> str:
    limit = TEXT_LIMITS[name]
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


def _redact(texts: dict[str, str | None], settings: Settings) -> tuple[dict[str, str], set[str]]:
    """The given texts redacted (None and absent ones left out) and the kinds removed."""
    present = {name: value for name, value in texts.items() if value}
    cleaned, kinds = redact_texts(list(present.values()), phi_detector(settings))
    return {name: _fit(name, value) for name, value in zip(present, cleaned, strict=True)}, kinds


def _load(issue_id: str, settings: Settings) -> store.IssueRecord:
    if not _ISSUE_ID.fullmatch(issue_id):
        raise NotFound(f"No issue with id {issue_id!r} (ids look like BUG-001).")
    return store.get_issue(issue_id, settings)


def _load_feedback(feedback_id: str) -> dict[str, Any]:
    record = feedback_store.get(feedback_id) if 0 < len(feedback_id) <= 100 else None
    if record is None:
        raise NotFound(f"No feedback with id {feedback_id!r}.")
    return record


def _check_unlinked(record: dict[str, Any]) -> None:
    if record.get("issueId"):
        message = f"Feedback {record['id']} is already linked to issue {record['issueId']}."
        raise Conflict(message, details={"feedbackId": record["id"], "issueId": record["issueId"]})


# ------------------------------------------------------------------------------------------ create


def create_issue(
    principal: Principal,
    body: IssueCreate | dict[str, Any],
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """A new open issue; linked feedback items (feedbackIds) get its id in the same transaction."""
    settings = store.bind(settings)
    body = parse(IssueCreate, body)
    texts, kinds = _redact({"title": body.title, "description": body.description}, settings)
    feedback = []
    for n, fid in enumerate(body.feedback_ids or []):
        record = feedback_store.get(fid)
        if record is None:
            raise ValidationFailed([FieldError(f"feedbackIds.{n}", f"No feedback with id {fid!r}.")])
        _check_unlinked(record)
        feedback.append(record)
    issue = store.create_issue(
        texts["title"],
        body.severity,
        description=texts.get("description", ""),
        feature_areas=body.feature_areas or [],
        priority=body.priority,
        assignee=body.assignee,
        estimate=body.estimate_hours,
        feedback_ids=[r["id"] for r in feedback],
        feedback_workspaces=[r["workspaceId"] for r in feedback],
        redactions=kinds,
        linked_versions={r["id"]: r["version"] for r in feedback} or None,
        actor=principal.sub,
        now=now,
        settings=settings,
    )
    metrics.add_metric(name="IssueCreated", unit=MetricUnit.Count, value=1)
    logger.info("issue created", extra={"issueId": issue.id, "severity": issue.severity})
    return issue.as_dict()


def issue_from_feedback(
    principal: Principal,
    feedback_id: str,
    body: IssueFromFeedback | dict[str, Any] | None = None,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> tuple[dict[str, Any], bool]:
    """An issue for one feedback item, linked both ways (issue.feedbackIds, feedback.issueId):
    a new one from the item (created=True), or, with issueId, the existing one it joins. The item
    must not be linked yet (409). Health then counts the problem once, through the issue."""
    settings = store.bind(settings)
    body = parse(IssueFromFeedback, body or {})
    item = _load_feedback(feedback_id)
    _check_unlinked(item)
    if body.issue_id is not None:
        return _link_existing(principal, body.issue_id, item, now, settings), False
    # The item's texts were redacted when it was stored; given ones are redacted here.
    texts, kinds = _redact({"title": body.title, "description": body.description}, settings)
    title = texts.get("title") or _fit("title", item["title"])
    issue = store.create_issue(
        title,
        body.severity or item["severity"],
        description=texts.get("description") or item.get("description") or "",
        feature_areas=body.feature_areas or [item["featureArea"]],
        priority=body.priority,
        assignee=body.assignee,
        estimate=body.estimate_hours,
        feedback_ids=[item["id"]],
        feedback_workspaces=[item["workspaceId"]],
        redactions=kinds | set(item.get("redactions") or []),
        linked_versions={item["id"]: item["version"]},
        actor=principal.sub,
        now=now,
        settings=settings,
    )
    metrics.add_metric(name="IssueCreated", unit=MetricUnit.Count, value=1)
    logger.info("issue created from feedback", extra={"issueId": issue.id, "feedbackId": item["id"]})
    return issue.as_dict(), True


def _link_existing(
    principal: Principal, issue_id: str, item: dict[str, Any], now: datetime | None, settings: Settings
) -> dict[str, Any]:
    try:
        issue = _load(issue_id, settings)
    except NotFound as exc:
        raise ValidationFailed([FieldError("issueId", exc.message)]) from exc
    record = issue.as_dict()
    if record["status"] in NOT_LINKABLE:
        # A report after the fix shipped (or after closing) may be a regression: hiding it from the
        # health rules behind a finished issue would lose it. Reopen the issue first.
        raise Conflict(
            f"Issue {issue_id} is {record['status']}; reopen it (status open) before linking new reports.",
            details={"issueId": issue_id, "status": record["status"]},
        )
    ids = [*record["feedbackIds"], item["id"]]
    if len(ids) > settings.issue_feedback_max:
        raise ValidationFailed(
            [FieldError("issueId", f"Issue {issue_id} already links {settings.issue_feedback_max} items.")]
        )
    workspaces = sorted({*issue.feedback_workspaces, item["workspaceId"]})
    stamp = _now(now)
    change = lifecycle.Change()
    change.set |= {"feedbackIds": ids, "feedbackWorkspaces": workspaces, "updatedAt": stamp}
    if record["prioritySource"] != "explicit":
        priority = lifecycle.derived_priority(record["severity"], len(ids), len(workspaces))
        change.set["priority"] = priority
    entry = lifecycle.history_entry(
        at=stamp,
        by=principal.sub,
        action="linked",
        feedbackId=item["id"],
        **(
            {"changes": {"priority": {"from": record["priority"], "to": change.set["priority"]}}}
            if change.set.get("priority", record["priority"]) != record["priority"]
            else {}
        ),
    )
    lifecycle.with_history(record, entry, settings.issue_history_max, change)
    linked = store.link_feedback(
        issue_id, record["version"], item["id"], item["version"], change.set, settings
    )
    logger.info("feedback linked", extra={"issueId": issue_id, "feedbackId": item["id"]})
    return linked.as_dict()


# -------------------------------------------------------------------------------------------- read


def get_issue(issue_id: str, settings: Settings | None = None) -> dict[str, Any]:
    settings = store.bind(settings)
    return _load(issue_id, settings).as_dict()


def _decode_cursor(text: str, index: str, partitions: list[str]) -> tuple[str, dict[str, str] | None]:
    body = decode_token(text)
    if body.get("v") != _CURSOR_VERSION or body.get("ix") != index:
        raise bad_cursor("it belongs to another query")
    partition, key = body.get("p"), (body.get("id"), body.get("at"))
    if partition not in partitions:
        raise bad_cursor("it belongs to another query")
    if key == (None, None):
        return partition, None
    if not all(isinstance(v, str) and 0 < len(v) <= 200 for v in key):
        raise bad_cursor("missing fields")
    return partition, {"id": key[0], "createdAt": key[1]}


def _encode_cursor(index: str, partition: str, after: dict[str, str] | None) -> str:
    body: dict[str, Any] = {"v": _CURSOR_VERSION, "ix": index, "p": partition}
    if after:
        body |= {"id": after["id"], "at": after["createdAt"]}
    return encode_token(body)


def list_issues(
    query: IssueListQuery | dict[str, Any] | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """A page of issues, newest first: {"items", "nextCursor", "scanned"}.

    With a status, the byStatus index's partition for it (and, for fixed, the legacy `resolved`
    one); without, byCreated. Severity and feature area are filters on that Query. One request reads
    at most list_max_items_read items (DynamoDB's evaluated count, before filters); when that runs
    out first the page is short, with a nextCursor where reading stopped."""
    settings = store.bind(settings)
    query = parse(IssueListQuery, query)
    if query.status is not None:
        index = "byStatus"
        partitions = [query.status, *(s for s, to in lifecycle.LEGACY_STATUSES.items() if to == query.status)]
    else:
        index, partitions = "byCreated", [store.KIND]
    limit = min(query.limit, settings.page_size_max)
    after: dict[str, str] | None = None
    if query.cursor:
        start, after = _decode_cursor(query.cursor, index, partitions)
        partitions = partitions[partitions.index(start) :]
    budget = settings.list_max_items_read
    items: list[store.IssueRecord] = []
    read = queries = 0
    resume: tuple[str, dict[str, str] | None] | None = None
    for n, partition in enumerate(partitions):
        start_after = after if n == 0 else None
        pages = store.IndexQuery(
            index, partition, severity=query.severity, feature_area=query.feature_area, after=start_after
        )
        while resume is None and not pages.done:
            if read >= budget:
                resume = (partition, pages.last_key or start_after)
                break
            # One item beyond the page tells whether there is a next one; with filters, more are
            # read per Query (not every item read is returned), still within the budget.
            wanted = limit + 1 - len(items)
            size = max(1, min(budget - read, wanted * 4 if _filtered(query) else wanted))
            records, scanned = pages.read_page(size)
            read, queries = read + scanned, queries + 1
            for record in records:
                if len(items) == limit:
                    last = items[-1]
                    resume = (partition, {"id": last.id, "createdAt": last.created_at})
                    break
                items.append(record)
        if resume is not None:
            break
    return {
        "items": [record.as_dict() for record in items],
        "nextCursor": _encode_cursor(index, *resume) if resume is not None else None,
        "scanned": {"itemsRead": read, "queries": queries, "index": index},
    }


def _filtered(query: IssueListQuery) -> bool:
    return query.severity is not None or query.feature_area is not None


# ------------------------------------------------------------------------------------------ update


def update_issue(
    principal: Principal,
    issue_id: str,
    change: IssueUpdate | dict[str, Any],
    if_match: str | None = None,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Edit an issue and move it along its lifecycle. The write is conditioned on the version read
    (and on If-Match/version when given): a concurrent update makes the loser's a 409 Conflict.
    `released` (and released -> fixed) are the releases capability's, refused here."""
    settings = store.bind(settings)
    change = parse(IssueUpdate, change)
    expected = expected_version(if_match, change.version)
    record = _load(issue_id, settings).as_dict()
    if expected is not None and expected != record["version"]:
        raise Conflict(
            f"Issue {issue_id} is at version {record['version']}, not {expected}; read it again and retry.",
            details={"currentVersion": record["version"], "expectedVersion": expected},
        )
    given = change.given()
    texts, kinds = _redact(
        {"title": given.get("title"), "description": given.get("description"), "reason": change.reason},
        settings,
    )
    for name in ("title", "description"):
        if name in given and given[name] is not None:
            given[name] = texts.get(name, "")
    plan = lifecycle.plan_update(
        record,
        given,
        actor=principal.sub,
        now=_now(now),
        history_max=settings.issue_history_max,
        reason=texts.get("reason"),
    )
    if not plan:
        return record
    known = set(record["redactions"])
    if kinds - known:
        plan.set["redactions"] = sorted(known | kinds)
    updated = store.update_issue(issue_id, record["version"], plan.set, plan.remove, settings)
    logger.info("issue updated", extra={"issueId": issue_id, "changed": sorted(plan.set)})
    return updated.as_dict()
