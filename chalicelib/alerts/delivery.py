"""Routing and delivery: owed notifications -> one SNS message per rule group -> Slack, every attempt
recorded on the alerts it carried (docs/alerts.md, "Routing and delivery").

Three steps, each a plain function (no HTTP, no boto3 here: chalicelib.integrations do the calls):

- dispatch(): the scheduled dispatcher (every minute, and right after each evaluation). Reads the
  notifications the engine marked owed (notifyPending firing/resolved/escalated) plus the firing
  alerts due a repeat, drops the silenced ones (recorded on the alert, not notified), groups the rest
  by route and rule, and publishes each group that is ready to its severity's topic.
- notify_slack(): what the @app.on_sns_message handlers run: post a group to the Slack webhook and
  record the attempt on each alert; a failed post is marked for retry (notifyPending "retry").
- retry_deliveries(): the same schedule posts the groups whose retry is due straight to Slack (not
  through SNS again, so other subscribers of the topic are not sent a duplicate), with exponential
  backoff, until one succeeds or alert_delivery_max_attempts is reached (then "given_up", which the
  IntegrationFailure rule reads).

Alertmanager's timing in a world of one-minute schedules: a Lambda cannot sit 10 s waiting for more
alerts, so the timers are judged on each run from what the alerts record. A rule's group is sent
once its oldest owed notification (notifyDueAt: when it became owed) is group_wait old and the
group's last send (the newest SNS delivery on its members) is group_interval old; members that
arrive meanwhile go out with it. A firing, unacknowledged, unsilenced alert is sent again every
repeat_interval after its last notice. With the defaults (10 s, 10 s, 1 h) and a one-minute
schedule, a new alert goes out on the first run at least 10 s after it fired.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.alerts import silences
from chalicelib.config import Settings
from chalicelib.errors import Conflict, UpstreamUnavailable
from chalicelib.feedback.windows import iso, parse_iso, utcnow
from chalicelib.integrations import slack
from chalicelib.integrations.sns import publish_json
from chalicelib.observability import flush_metrics, logger, metrics
from chalicelib.store import alerts as store

ROUTES = {"critical": "paging", "error": "paging", "warning": "warning", "info": "digest"}
# An overdue alert's escalation goes one route up (paging is the top).
ESCALATION = {"digest": "warning", "warning": "paging", "paging": "paging"}
SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "info": 3}
# Owed notifications the dispatcher publishes; RETRY marks a Slack post to try again.
DISPATCH_EVENTS = ("firing", "resolved", "escalated", "repeat")
RETRY = "retry"
SNS, SLACK = "sns", "slack"
MESSAGE_TYPE = "alerts.group"
# Slack shows at most 3000 characters in one section; longer groups point at the API for the rest.
_SLACK_SECTION_MAX = 2900


def route_of(severity: str, event: str) -> str:
    route = ROUTES[severity]
    return ESCALATION[route] if event == "escalated" else route


def topic_arn(route: str, settings: Settings) -> str | None:
    return {
        "paging": settings.alerts_paging_topic_arn,
        "warning": settings.alerts_warning_topic_arn,
        "digest": settings.alerts_digest_topic_arn,
    }[route]


def alert_link(alert_id: str, settings: Settings) -> str:
    return f"{settings.alerts_link_base_url.rstrip('/')}/api/monitoring/alerts/{alert_id}"


def _seconds(td: float) -> timedelta:
    return timedelta(seconds=td)


def _trailing_failures(alert: dict[str, Any], receiver: str) -> int:
    """Failed attempts of `receiver` since its last success, skip or give-up: the current attempt run."""
    n = 0
    for entry in reversed(alert.get("deliveries") or []):
        if entry.get("receiver") != receiver:
            continue
        if entry.get("outcome") != "failed":
            break
        n += 1
    return n


def _last_at(alert: dict[str, Any], receiver: str, outcomes: Iterable[str]) -> datetime | None:
    wanted = set(outcomes)
    times = [
        e["at"]
        for e in alert.get("deliveries") or []
        if e.get("receiver") == receiver and e.get("outcome") in wanted
    ]
    return parse_iso(max(times)) if times else None


def backoff(attempt: int, settings: Settings, retry_after: float | None = None) -> timedelta:
    """Wait before attempt `attempt + 1`: base * 2^(attempt-1), capped; never under Slack's Retry-After."""
    seconds = min(
        settings.alert_delivery_backoff_seconds * 2 ** max(attempt - 1, 0),
        settings.alert_delivery_backoff_max_seconds,
    )
    return _seconds(max(seconds, retry_after or 0))


def _entry(receiver: str, at: datetime, attempt: int, outcome: str, error: str | None) -> dict[str, Any]:
    return {"receiver": receiver, "at": iso(at), "attempt": attempt, "outcome": outcome, "error": error}


def _event_of(alert: dict[str, Any]) -> str:
    """What a retried post says: the alert's state now."""
    if alert["state"] == "resolved":
        return "resolved"
    return "escalated" if alert.get("overdue") else "firing"


# ---------------------------------------------------------------------------------------- messages


def message_alert(alert: dict[str, Any], event: str, settings: Settings) -> dict[str, Any]:
    return {
        "id": alert["id"],
        "event": event,
        "rule": alert["rule"],
        "severity": alert["severity"],
        "state": alert["state"],
        "summary": alert.get("summary"),
        "labels": alert.get("labels") or {},
        "value": alert.get("value"),
        "threshold": alert.get("threshold"),
        "count": alert.get("count"),
        "firstSeen": alert.get("firstSeen"),
        "lastSeen": alert.get("lastSeen"),
        "deadline": alert.get("deadline"),
        "overdue": bool(alert.get("overdue")),
        "resolvedAt": alert.get("resolvedAt"),
        "link": alert_link(alert["id"], settings),
    }


def group_message(
    rule: str, route: str, members: list[tuple[dict[str, Any], str]], now: datetime, settings: Settings
) -> dict[str, Any]:
    alerts = [message_alert(a, event, settings) for a, event in members]
    severity = min((a["severity"] for a in alerts), key=SEVERITY_ORDER.__getitem__)
    resolved = all(a["event"] == "resolved" for a in alerts)
    return {
        "type": MESSAGE_TYPE,
        "route": route,
        "rule": rule,
        "severity": severity,
        "status": "resolved" if resolved else "firing",
        "sentAt": iso(now),
        "alerts": alerts,
    }


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def slack_text(message: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The Slack message for a group: a headline, then per alert its summary, value, threshold,
    deadline and API link. Returns (fallback text, blocks)."""
    alerts = message["alerts"]
    firing = [a for a in alerts if a["event"] != "resolved"]
    resolved = [a for a in alerts if a["event"] == "resolved"]
    parts = []
    if firing:
        parts.append(f"FIRING:{len(firing)}")
    if resolved:
        parts.append(f"RESOLVED:{len(resolved)}")
    headline = f"[{' '.join(parts)}] {message['rule']} ({message['severity']})"
    lines = []
    for a in alerts:
        tag = {"resolved": "RESOLVED", "escalated": "OVERDUE", "repeat": "STILL FIRING"}.get(
            a["event"], "FIRING"
        )
        labels = ", ".join(f"{k}={v}" for k, v in sorted(a["labels"].items()))
        lines.append(
            f"• {tag} {a['rule']} ({a['severity']}): {a['summary']}"
            + (f" [{labels}]" if labels else "")
            + f"\n  value {_number(a['value'])}, threshold {_number(a['threshold'])},"
            f" deadline {a['deadline']}, {a['link']}"
        )
    body = "\n".join(lines)
    if len(body) > _SLACK_SECTION_MAX:
        body = body[:_SLACK_SECTION_MAX].rsplit("\n•", 1)[0] + "\n… more in the API: /api/monitoring/alerts"
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body}},
    ]
    return f"{headline}\n" + "\n".join(lines), blocks


# ---------------------------------------------------------------------------------------- dispatch


@dataclass
class _Group:
    route: str
    rule: str
    members: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    owed_since: list[datetime] = field(default_factory=list)


def _silence_check(alert: dict[str, Any], event: str, now: datetime) -> dict[str, Any] | None:
    """The silence that holds this notification back, recording it on the alert; None to notify."""
    silence = silences.matching_silence(alert, now)
    if silence is None and event == "resolved" and alert.get("silenced"):
        # Its firing was never announced: announcing the resolution alone would be noise.
        return {"id": alert.get("silenceId")}
    if silence is not None and not (alert.get("silenced") and alert.get("silenceId") == silence["id"]):
        _set_fields(alert, {"silenced": True, "silenceId": silence["id"]})
    elif silence is None and alert.get("silenced"):
        # The silence ended (expired or was expired): notify again, and say so on the record.
        _set_fields(alert, {"silenced": False, "silenceId": None})
    return silence


def _set_fields(alert: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any] | None:
    """A versioned update that re-reads on a concurrent change (an acknowledge, a new sighting)."""
    current = alert
    for _ in range(4):
        try:
            return store.update(current["id"], current["version"], fields)
        except Conflict:
            current = store.get(current["id"])
            if current is None:
                return None
    return None


def dispatch(
    now: datetime | None = None, settings: Settings | None = None, sns_client: Any | None = None
) -> dict[str, Any]:
    """Publish every rule group that is ready; returns counts of what it did."""
    settings = store.bind(settings)
    now = now or utcnow()
    result = {
        "pending": 0,
        "silenced": 0,
        "published": 0,
        "alerts": 0,
        "waiting": 0,
        "failed": 0,
        "gaveUp": 0,
    }
    groups: dict[tuple[str, str], _Group] = {}

    def add(alert: dict[str, Any], event: str, owed_since: datetime) -> None:
        route = route_of(alert["severity"], event)
        group = groups.setdefault((route, alert["rule"]), _Group(route, alert["rule"]))
        group.members.append((alert, event))
        group.owed_since.append(owed_since)

    pending = store.pending_notifications(
        iso(now), limit=settings.alert_dispatch_max_alerts, events=DISPATCH_EVENTS
    )
    result["pending"] = len(pending)
    owed = {a["id"] for a in pending}
    for alert in pending:
        event = alert["notifyPending"]
        silence = _silence_check(alert, event, now)
        if silence is not None:
            store.record_delivery(
                alert["id"], _entry(SNS, now, 0, "skipped", f"silenced by {silence['id']}"), settings
            )
            store.clear_notify_pending(alert["id"], event)
            result["silenced"] += 1
            continue
        add(alert, event, parse_iso(alert["notifyDueAt"]))

    for alert, due in _repeats_due(now, settings, exclude=owed):
        if silences.matching_silence(alert, now) is None:
            if alert.get("silenced"):
                _set_fields(alert, {"silenced": False, "silenceId": None})
            add(alert, "repeat" if not alert.get("silenced") else "firing", due)

    wait, interval = (
        _seconds(settings.alert_group_wait_seconds),
        _seconds(settings.alert_group_interval_seconds),
    )
    for group in groups.values():
        last_sent = max(
            (t for a, _ in group.members if (t := _last_at(a, SNS, ("delivered",))) is not None), default=None
        )
        # group_wait gathers what fires together; a repeat has waited its repeat_interval already.
        fresh = [
            t for (_, event), t in zip(group.members, group.owed_since, strict=True) if event != "repeat"
        ]
        if (fresh and min(fresh) > now - wait) or (last_sent is not None and last_sent > now - interval):
            result["waiting"] += len(group.members)
            continue
        _publish_group(group, now, settings, sns_client, result)
    if result["published"] or result["failed"]:
        metrics.add_metric(name="AlertGroupsPublished", unit=MetricUnit.Count, value=result["published"])
        flush_metrics()
    logger.info("alert dispatch", extra=result)
    return result


def _repeats_due(
    now: datetime, settings: Settings, exclude: set[str]
) -> list[tuple[dict[str, Any], datetime]]:
    """Firing alerts with no notification owed whose last notice is repeat_interval old (or whose
    silence ended before they were ever announced)."""
    repeat = _seconds(settings.alert_repeat_interval_seconds)
    due = []
    for alert in store.active_alerts(settings):
        if alert["state"] != "firing" or alert["id"] in exclude or alert.get("notifyPending"):
            continue
        if alert.get("silenced"):
            # Owed since it fired (dispatch checks whether the silence still holds).
            due.append((alert, parse_iso(alert["firstSeen"])))
            continue
        last = _last_at(alert, SNS, ("delivered", "given_up", "skipped")) or parse_iso(alert["firstSeen"])
        if last + repeat <= now:
            due.append((alert, last + repeat))
    return due[: settings.alert_dispatch_max_alerts]


def _publish_group(
    group: _Group, now: datetime, settings: Settings, sns_client: Any | None, result: dict[str, Any]
) -> None:
    message = group_message(group.rule, group.route, group.members, now, settings)
    severity = message["severity"]
    subject = f"[{message['status'].upper()}:{len(group.members)}] {group.rule} ({severity})"
    try:
        publish_json(
            topic_arn(group.route, settings),
            message,
            attributes={"severity": severity, "rule": group.rule, "route": group.route},
            subject=subject,
            settings=settings,
            client=sns_client,
        )
    except UpstreamUnavailable as exc:
        # Kept: notifyPending stays, the next run after the backoff publishes it again.
        for alert, event in group.members:
            attempt = _trailing_failures(alert, SNS) + 1
            store.record_delivery(alert["id"], _entry(SNS, now, attempt, "failed", exc.message), settings)
            if attempt >= settings.alert_delivery_max_attempts:
                store.record_delivery(
                    alert["id"],
                    _entry(SNS, now, attempt, "given_up", f"gave up after {attempt} attempts: {exc.message}"),
                    settings,
                )
                store.clear_notify_pending(alert["id"], event)
                result["gaveUp"] += 1
            elif event != "repeat":
                _set_fields(alert, {"notifyDueAt": iso(now + backoff(attempt, settings))})
        logger.warning("alert group not published", extra={"rule": group.rule, "reason": exc.message})
        result["failed"] += 1
        return
    for alert, event in group.members:
        store.record_delivery(
            alert["id"], _entry(SNS, now, _trailing_failures(alert, SNS) + 1, "delivered", None), settings
        )
        if event != "repeat":
            store.clear_notify_pending(alert["id"], event)
    result["published"] += 1
    result["alerts"] += len(group.members)


# ---------------------------------------------------------------------------------------- Slack


def notify_slack(
    message: dict[str, Any],
    now: datetime | None = None,
    settings: Settings | None = None,
    secrets_client: Any | None = None,
) -> dict[str, Any]:
    """Post a group message (as published by dispatch) to Slack; record the attempt on each alert."""
    settings = store.bind(settings)
    now = now or utcnow()
    if message.get("type") != MESSAGE_TYPE:
        logger.warning("not an alert group message; ignored", extra={"type": message.get("type")})
        return {"outcome": "ignored"}
    text, blocks = slack_text(message)
    outcome = slack.post(text, blocks, settings=settings, secrets_client=secrets_client)
    # A retry (posted by retry_deliveries) carries no owed event of its own.
    carried = {a["id"]: None if message.get("retry") else a.get("event") for a in message["alerts"]}
    recorded = _record_slack(carried, outcome, now, settings, retry_after=outcome.retry_after)
    result = {
        "outcome": outcome.outcome,
        "error": outcome.error,
        "alerts": len(message["alerts"]),
        **recorded,
    }
    (logger.info if outcome.outcome != "failed" else logger.warning)(
        "slack delivery", extra={"rule": message.get("rule"), **result}
    )
    metrics.add_metric(name=f"SlackDelivery_{outcome.outcome}", unit=MetricUnit.Count, value=1)
    flush_metrics()
    return result


def _record_slack(
    carried: dict[str, str | None],
    outcome: slack.SlackResult,
    now: datetime,
    settings: Settings,
    retry_after: float | None = None,
) -> dict[str, int]:
    """Record the attempt on each alert of the group (`carried`: alert id -> the event it carried)."""
    counts = {"retrying": 0, "gaveUp": 0}
    for alert_id, event in carried.items():
        alert = store.get(alert_id)
        if alert is None:
            continue
        attempt = _trailing_failures(alert, SLACK) + 1
        store.record_delivery(alert_id, _entry(SLACK, now, attempt, outcome.outcome, outcome.error), settings)
        if outcome.outcome != "failed":
            if alert.get("notifyPending") == RETRY:
                store.clear_notify_pending(alert_id, RETRY)
            continue
        if attempt >= settings.alert_delivery_max_attempts:
            store.record_delivery(
                alert_id,
                _entry(SLACK, now, attempt, "given_up", f"gave up after {attempt} attempts: {outcome.error}"),
                settings,
            )
            if alert.get("notifyPending") == RETRY:
                store.clear_notify_pending(alert_id, RETRY)
            counts["gaveUp"] += 1
            continue
        _schedule_retry(alert, event, iso(now + backoff(attempt, settings, retry_after)))
        counts["retrying"] += 1
    return counts


def _schedule_retry(alert: dict[str, Any], carried: str | None, due: str) -> None:
    """Owe a Slack retry at `due`. The SNS message can reach this handler before the dispatcher has
    cleared the event it carried, so that event is replaced too (the dispatcher's clear is conditional
    on it and then leaves the retry alone). A different event owed meanwhile, for a newer change,
    carries the alert to Slack anyway: it is left as it is."""
    current: dict[str, Any] | None = alert
    for _ in range(4):
        if current is None or current.get("notifyPending") not in (None, RETRY, carried):
            return
        try:
            store.update(current["id"], current["version"], {"notifyPending": RETRY, "notifyDueAt": due})
            return
        except Conflict:
            current = store.get(current["id"])


def retry_deliveries(
    now: datetime | None = None, settings: Settings | None = None, secrets_client: Any | None = None
) -> dict[str, Any]:
    """Post the groups whose Slack retry is due (their current state), straight to Slack."""
    settings = store.bind(settings)
    now = now or utcnow()
    due = store.pending_notifications(iso(now), limit=settings.alert_dispatch_max_alerts, events=(RETRY,))
    groups: dict[tuple[str, str], list[tuple[dict[str, Any], str]]] = {}
    for alert in due:
        event = _event_of(alert)
        groups.setdefault((route_of(alert["severity"], event), alert["rule"]), []).append((alert, event))
    outcomes = []
    for (route, rule), members in groups.items():
        outcomes.append(
            notify_slack(
                group_message(rule, route, members, now, settings) | {"retry": True},
                now,
                settings,
                secrets_client,
            )
        )
    result = {
        "due": len(due),
        "groups": len(groups),
        "delivered": sum(o["outcome"] == "delivered" for o in outcomes),
        "failed": sum(o["outcome"] == "failed" for o in outcomes),
        "gaveUp": sum(o.get("gaveUp", 0) for o in outcomes),
    }
    logger.info("alert delivery retry", extra=result)
    return result


def run_scheduled(now: datetime | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """The schedule: retries first (they have waited longest), then new groups."""
    now = now or utcnow()
    return {"retries": retry_deliveries(now, settings), "dispatch": dispatch(now, settings)}


def sns_message(event_message: str) -> dict[str, Any]:
    """The group message out of an SNS notification's Message."""
    return json.loads(event_message)
