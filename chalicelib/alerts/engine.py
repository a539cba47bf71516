"""The alert lifecycle: firing -> acknowledged -> resolved, deduplicated by fingerprint.

No boto3 here: the store does the writes. Every state change that owes a notification sets
notifyPending (firing, resolved, escalated) with notifyDueAt; the dispatcher (chalicelib.alerts.delivery)
consumes it. Concurrent evaluations are safe: a new alert and its fingerprint's pointer are written in
one conditional transaction, sightings of an active alert are atomic counters, and every other
change is conditioned on the version read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from chalicelib.alerts.model import ACTIVE_STATES, Condition, deadline, fingerprint
from chalicelib.config import Settings
from chalicelib.errors import Conflict, FieldError, InvalidTransition, NotFound, ValidationFailed
from chalicelib.feedback.windows import iso, utcnow
from chalicelib.store import alerts as store

_RETRIES = 6
CONDITION_CLEARED = "condition cleared"
INFO_EXPIRED = "info notice expired"


def _now(now: datetime | None) -> datetime:
    return now or utcnow()


def new_record(condition: Condition, now: datetime, settings: Settings) -> dict[str, Any]:
    """A new firing alert of `condition` seen at `now`, as the store writes it (fire; bulk loaders)."""
    seen = iso(now)
    return {
        "id": str(uuid.uuid4()),
        "fingerprint": condition.fingerprint,
        "rule": condition.rule,
        "severity": condition.severity,
        "state": "firing",
        "labels": dict(condition.labels),
        "summary": condition.summary,
        "value": condition.value,
        "threshold": condition.threshold,
        "source": condition.source,
        "count": 1,
        "firstSeen": seen,
        "lastSeen": seen,
        "deadline": iso(deadline(now, condition.severity, settings)),
        "overdue": False,
        "silenced": False,
        "deliveries": [],
        "notifyPending": "firing",
        "notifyDueAt": seen,
    }


def fire(
    condition: Condition, now: datetime | None = None, settings: Settings | None = None
) -> tuple[dict[str, Any], str]:
    """Record that `condition` holds: a new alert ("new") unless its fingerprint already has an active
    one, which is counted and refreshed ("repeat"). A resolved fingerprint firing again is new."""
    settings = store.bind(settings)
    moment = _now(now)
    for _ in range(_RETRIES):
        current = store.get_active(condition.fingerprint)
        if current is None:
            try:
                return store.create_active(new_record(condition, moment, settings)), "new"
            except store.ActiveAlertExists:
                continue  # a concurrent evaluation created it: count this sighting on that one
        changes = {"summary": condition.summary, "value": condition.value, "threshold": condition.threshold}
        counted = store.count_sighting(current["id"], condition.fingerprint, iso(moment), changes)
        if counted is not None:
            return counted, "repeat"
        # resolved between the read and the count: the sighting is a new occurrence
    raise Conflict(f"The alert {condition.rule} kept changing while it was recorded; retry.")


def apply_evaluation(
    conditions: Iterable[Condition],
    evaluated_rules: set[str],
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Fire each condition; resolve the active alerts of the evaluated rules whose fingerprint is not
    among them (their condition cleared). Rules not in `evaluated_rules` (no data this time) keep
    their alerts as they are."""
    settings = store.bind(settings)
    moment = _now(now)
    conditions = list(conditions)
    fired: list[dict[str, Any]] = []
    new = 0
    for condition in conditions:
        alert, outcome = fire(condition, moment, settings)
        fired.append(alert)
        new += outcome == "new"
    firing = {c.fingerprint for c in conditions}
    resolved = []
    for alert in store.active_alerts(settings):
        if alert["rule"] in evaluated_rules and alert["fingerprint"] not in firing:
            done = _resolve_cleared(alert, moment)
            if done is not None:
                resolved.append(done)
    return {
        "fired": len(fired),
        "new": new,
        "resolved": len(resolved),
        "alerts": fired + resolved,
    }


def resolution_fields(actor: str, reason: str, moment: datetime) -> dict[str, Any]:
    """The fields resolving an alert sets (resolve, a cleared condition; bulk loaders)."""
    at = iso(moment)
    return {
        "state": "resolved",
        "resolvedAt": at,
        "resolvedBy": actor,
        "resolution": reason,
        "notifyPending": "resolved",
        "notifyDueAt": at,
    }


def _resolve_cleared(
    alert: dict[str, Any], moment: datetime, actor: str = "evaluator"
) -> dict[str, Any] | None:
    for _ in range(_RETRIES):
        try:
            return store.update(
                alert["id"], alert["version"], resolution_fields(actor, CONDITION_CLEARED, moment)
            )
        except Conflict:
            alert = store.get(alert["id"])
            if alert is None or alert["state"] not in ACTIVE_STATES:
                return None  # resolved meanwhile by someone else
    return None


def clear(
    rule: str,
    labels: dict[str, str],
    actor: str = "evaluator",
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any] | None:
    """The condition (rule, labels) cleared at `now`, as a source other than the evaluation saw it (a
    CloudWatch alarm going OK): resolve its active alert, unless that was seen firing after `now` (a
    late or out-of-order message must not resolve a condition seen since). None: nothing resolved."""
    store.bind(settings)
    moment = _now(now)
    alert = store.get_active(fingerprint(rule, labels))
    if alert is None or alert["lastSeen"] > iso(moment):
        return None
    return _resolve_cleared(alert, moment, actor)


def _load(alert_id: str) -> dict[str, Any]:
    alert = store.get(alert_id)
    if alert is None:
        raise NotFound("No such alert.", details={"id": alert_id})
    return alert


def acknowledge(
    alert_id: str, actor: str, now: datetime | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """firing -> acknowledged: someone is on it (the deadline stops mattering)."""
    store.bind(settings)
    alert = _load(alert_id)
    if alert["state"] != "firing":
        raise InvalidTransition(
            f"An alert that is {alert['state']} cannot be acknowledged.",
            details={"from": alert["state"], "to": "acknowledged"},
        )
    return store.update(
        alert_id,
        alert["version"],
        {"state": "acknowledged", "acknowledgedBy": actor, "acknowledgedAt": iso(_now(now))},
    )


def resolve(
    alert_id: str,
    actor: str,
    reason: str,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """firing or acknowledged -> resolved, with the reason; a resolved notice is owed."""
    store.bind(settings)
    if not (reason or "").strip():
        raise ValidationFailed([FieldError("reason", "Say why the alert is resolved.")])
    alert = _load(alert_id)
    if alert["state"] not in ACTIVE_STATES:
        raise InvalidTransition(
            "The alert is already resolved.", details={"from": alert["state"], "to": "resolved"}
        )
    return store.update(alert_id, alert["version"], resolution_fields(actor, reason.strip(), _now(now)))


def mark_overdue(now: datetime | None = None, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Alerts still firing (not acknowledged) at their deadline: overdue, escalated (recorded in
    escalatedAt; the dispatcher sends the escalation to the next route). Info notices need no answer:
    at their deadline they resolve as expired instead of escalating."""
    settings = store.bind(settings)
    moment = _now(now)
    at = iso(moment)
    changed = []
    for alert in store.active_alerts(settings):
        if alert["state"] != "firing" or alert["overdue"] or alert["deadline"] > at:
            continue
        if alert["severity"] == "info":
            fields = {
                "state": "resolved",
                "resolvedAt": at,
                "resolvedBy": "evaluator",
                "resolution": INFO_EXPIRED,
            }
        else:
            fields = {"overdue": True, "escalatedAt": at, "notifyPending": "escalated", "notifyDueAt": at}
        try:
            changed.append(store.update(alert["id"], alert["version"], fields))
        except Conflict:
            continue  # changed meanwhile (acknowledged, counted): the next run looks again
    return changed


def notify_info(
    rule: str,
    summary: str,
    labels: dict[str, str] | None = None,
    value: float | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """An informational notice (a deployment finished, a usage milestone, maintenance due, a report
    generated): recorded as an info alert and delivered to the digest. The same rule and labels
    while the notice is active count as one (count, lastSeen)."""
    alert, _ = fire(Condition(rule, "info", summary, dict(labels or {}), value, None, "event"), now, settings)
    return alert
