"""Silences: matchers over an alert's rule, severity and labels that stop its notifications for a
while (docs/alerts.md, "Silences"). A silenced alert is still recorded and counted; only delivery
asks `matching_silence` before it notifies.

A matcher is {name, value}: name "rule", "severity" or "label:<key>", equality only. A silence
applies while it is in force: not expired (DELETE / `silence expire`), and before its `endsAt`, or,
for an until-resolved silence, until the alert it was made for resolves (the first check that sees
that alert resolved expires the silence, so it leaves the active index).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from chalicelib.config import Settings
from chalicelib.errors import DomainError, FieldError, InvalidTransition, NotFound, ValidationFailed
from chalicelib.feedback.redaction import redact
from chalicelib.observability import logger
from chalicelib.schemas.alerts import SilenceCreate
from chalicelib.store import silences as store

LABEL_PREFIX = "label:"
RESOLVED_REASON = "the alert it was made for resolved"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _alert_value(alert: dict[str, Any], name: str) -> str | None:
    if name.startswith(LABEL_PREFIX):
        return (alert.get("labels") or {}).get(name[len(LABEL_PREFIX) :])
    return alert.get(name)


def matches(silence: dict[str, Any], alert: dict[str, Any]) -> bool:
    """Every matcher equals the alert's field (a label the alert lacks never matches)."""
    return all(_alert_value(alert, m["name"]) == m["value"] for m in silence["matchers"])


def state_of(silence: dict[str, Any], now: datetime | None = None) -> str:
    """ "expired" (ended early by someone), "ended" (its endsAt passed) or "active"."""
    if silence.get("expiredAt"):
        return "expired"
    if not silence.get("untilResolved") and silence["endsAt"] <= iso(_now(now)):
        return "ended"
    return "active"


def view(silence: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    return {**silence, "state": state_of(silence, now)}


def _alert(alert_id: str, settings: Settings | None) -> dict[str, Any] | None:
    from chalicelib.store import alerts as alert_store
    from chalicelib.store.base import bind_models

    bind_models(settings)
    return alert_store.get(alert_id)


def _still_on(
    silence: dict[str, Any], alert: dict[str, Any], now: datetime, settings: Settings | None
) -> bool:
    """For an until-resolved silence: is the alert it was made for still unresolved? When not, the
    silence is expired now, recorded with the reason."""
    if not silence.get("untilResolved"):
        return True
    target = alert if alert.get("id") == silence["alertId"] else _alert(silence["alertId"], settings)
    if target is not None and target.get("state") != "resolved":
        return True
    try:
        store.expire(
            silence["id"],
            expected_version=silence["version"],
            at=iso(now),
            by="system",
            reason=RESOLVED_REASON,
            settings=settings,
        )
    except DomainError as error:
        # A concurrent expiry (conflict) or a failed write: it no longer applies either way, and
        # the next check tries the write again.
        logger.info(
            "until-resolved silence not expired now", extra={"silenceId": silence["id"], "code": error.code}
        )
    return False


def first_match(
    alert: dict[str, Any], silences: Iterable[dict[str, Any]], now: datetime, settings: Settings | None = None
) -> dict[str, Any] | None:
    """The oldest silence in `silences` that is in force at `now` and matches `alert`."""
    for silence in sorted(silences, key=lambda s: (s["createdAt"], s["id"])):
        if (
            state_of(silence, now) == "active"
            and matches(silence, alert)
            and _still_on(silence, alert, now, settings)
        ):
            return silence
    return None


def active_silences(now: datetime | None = None, settings: Settings | None = None) -> list[dict[str, Any]]:
    """The silences in force at `now` (bounded: settings.silences_active_max; `truncated` says more)."""
    return store.in_force(iso(_now(now)), settings=settings)


def matching_silence(
    alert: dict[str, Any], now: datetime | None = None, settings: Settings | None = None
) -> dict[str, Any] | None:
    """The silence that hides `alert` at `now`, or None: one Query on the active index."""
    moment = _now(now)
    return first_match(alert, active_silences(moment, settings), moment, settings)


# ---------------------------------------------------------------------------- API / CLI entries


def _check(body: SilenceCreate, now: datetime) -> None:
    fields = []
    names = [m.name for m in body.matchers]
    if len(set(names)) != len(names):
        fields.append(FieldError("matchers", "Each matcher name may appear once (all matchers must match)."))
    if body.until_resolved == (body.ends_at is not None):
        fields.append(FieldError("endsAt", "Give exactly one of endsAt and untilResolved: true."))
    elif body.ends_at is not None and body.ends_at <= now:
        fields.append(FieldError("endsAt", "Must be in the future."))
    if body.until_resolved != (body.alert_id is not None):
        fields.append(
            FieldError(
                "alertId", "alertId goes with untilResolved: true (the alert whose resolution ends it)."
            )
        )
    if fields:
        raise ValidationFailed(fields)


def create_silence(
    body: SilenceCreate | dict[str, Any],
    actor: str,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Validate, redact the comment, store. An until-resolved silence names an unresolved alert."""
    from chalicelib.schemas.feedback import parse

    body = parse(SilenceCreate, body)
    moment = _now(now)
    _check(body, moment)
    fingerprint = None
    if body.until_resolved:
        alert = _alert(body.alert_id or "", settings)
        if alert is None:
            raise ValidationFailed([FieldError("alertId", "No alert has this id.")])
        if alert.get("state") == "resolved":
            raise InvalidTransition(
                f"Alert {alert['id']} is already resolved: a silence until it resolves would never apply."
            )
        fingerprint = alert.get("fingerprint")
    comment, kinds = redact(body.comment)
    record = {
        "id": str(uuid.uuid4()),
        "matchers": [{"name": m.name, "value": m.value} for m in body.matchers],
        "comment": comment,
        "redactedKinds": sorted(kinds),
        "createdBy": actor,
        "createdAt": iso(moment),
        "endsAt": iso(body.ends_at) if body.ends_at else None,
        "untilResolved": body.until_resolved,
        "alertId": body.alert_id,
        "fingerprint": fingerprint,
    }
    return view(store.create(record, settings=settings), moment)


def get_silence(
    silence_id: str, now: datetime | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    found = store.get(silence_id, settings=settings)
    if found is None:
        raise NotFound(f"Silence {silence_id} does not exist.")
    return view(found, now)


def expire_silence(
    silence_id: str, actor: str, now: datetime | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """End a silence now. Expiring one already expired or ended changes nothing and returns it."""
    moment = _now(now)
    found = get_silence(silence_id, moment, settings)
    if found["state"] != "active":
        return found
    expired = store.expire(
        silence_id,
        expected_version=found["version"],
        at=iso(moment),
        by=actor,
        reason="expired by hand",
        settings=settings,
    )
    return view(expired, moment)


def list_silences(
    state: str = "active",
    limit: int = 25,
    cursor: str | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """state "active": the silences in force (one bounded Query, no pages; `truncated` past the
    cap); "all": every silence newest first, `limit` a page."""
    moment = _now(now)
    if state == "active":
        if cursor:
            raise ValidationFailed(
                [FieldError("cursor", "Active silences come in one page; no cursor applies.")]
            )
        found = active_silences(moment, settings)
        newest = sorted(found, key=lambda s: (s["createdAt"], s["id"]), reverse=True)
        # An until-resolved silence whose alert has resolved is expired here rather than listed.
        items = [view(s, moment) for s in newest if _still_on(s, s, moment, settings)]
        return {"items": items, "nextCursor": None, "truncated": bool(getattr(found, "truncated", False))}
    page = store.list_silences(limit, cursor, settings=settings)
    return {
        "items": [view(s, moment) for s in page["items"]],
        "nextCursor": page["nextCursor"],
        "truncated": False,
    }
