"""CloudWatch alarm state changes, as they arrive on SNS, turned into the same alert records the
evaluator writes (docs/alerts.md, "CloudWatch alarms").

The alarms in infra/template.json (HighErrorRate, SlowAPIResponse) carry their rule, severity and
labels as JSON in AlarmDescription, the labels being the ones the evaluator's rule of the same name
uses ({"api": <API name>}). So an alarm and the evaluator seeing one condition share a fingerprint
and make one alert, whichever sees it first; the other counts a sighting.

- ALARM: fire the condition (source "cloudwatch-alarm"): a new alert, or a sighting of the active one.
- OK: the condition cleared: resolve the fingerprint's active alert ("condition cleared"), unless it
  was seen firing after the alarm's state change (SNS does not promise order, and the evaluator may
  have seen it again since).
- INSUFFICIENT_DATA: no change. Missing datapoints say nothing about the condition (the alarms treat
  missing data as not breaching, so a quiet API goes to OK, not here); the evaluator keeps judging.

An alarm whose description is not ours (someone pointed another alarm at the topic) still becomes an
alert, never a dropped message: rule "CloudWatchAlarm", severity "error", labels {"alarm": <name>}.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from chalicelib.alerts import engine
from chalicelib.alerts.model import SEVERITIES, Condition
from chalicelib.config import Settings
from chalicelib.observability import logger

SOURCE = "cloudwatch-alarm"
FOREIGN_RULE = "CloudWatchAlarm"
FOREIGN_SEVERITY = "error"
_RULE = re.compile(r"[A-Z][A-Za-z0-9]{1,63}")
# CloudWatch's reason names the datapoints it judged, newest first:
# "Threshold Crossed: 2 out of the last 2 datapoints [12.5 (27/11/26 04:38:00), 11.0 (...)] were ..."
_NEWEST_DATAPOINT = re.compile(r"\[\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*\(")


def is_alarm_message(message: Any) -> bool:
    """A CloudWatch alarm notification (AlarmName + NewStateValue), as opposed to our own messages."""
    return (
        isinstance(message, dict)
        and isinstance(message.get("AlarmName"), str)
        and isinstance(message.get("NewStateValue"), str)
    )


def _described(message: dict[str, Any]) -> dict[str, Any] | None:
    """Rule, severity, labels and summary from our alarms' AlarmDescription, or None if not ours."""
    try:
        described = json.loads(message.get("AlarmDescription") or "")
    except ValueError:
        return None
    if not isinstance(described, dict):
        return None
    rule, severity, labels = described.get("rule"), described.get("severity"), described.get("labels", {})
    if not (isinstance(rule, str) and _RULE.fullmatch(rule)) or severity not in SEVERITIES:
        return None
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        return None
    summary = described.get("summary")
    return {
        "rule": rule,
        "severity": severity,
        "labels": {str(k): v for k, v in labels.items()},
        "summary": summary if isinstance(summary, str) and summary.strip() else rule,
    }


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def newest_datapoint(reason: str | None) -> float | None:
    """The newest value CloudWatch quotes in NewStateReason (None when it quotes none)."""
    found = _NEWEST_DATAPOINT.search(reason or "")
    return float(found.group(1)) if found else None


def state_change_time(message: dict[str, Any]) -> datetime | None:
    """StateChangeTime ("2026-11-27T04:38:00.123+0000") as an aware UTC datetime."""
    text = message.get("StateChangeTime")
    if not isinstance(text, str):
        return None
    for form in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, form).astimezone(UTC)
        except ValueError:
            continue
    return None


def condition(message: dict[str, Any]) -> Condition:
    """The alert condition an alarm message stands for (whatever its state)."""
    name = message["AlarmName"]
    described = _described(message)
    value = newest_datapoint(message.get("NewStateReason"))
    threshold = _number((message.get("Trigger") or {}).get("Threshold"))
    if described is None:
        return Condition(
            FOREIGN_RULE,
            FOREIGN_SEVERITY,
            f"CloudWatch alarm {name}: {message.get('NewStateReason') or message['NewStateValue']}",
            {"alarm": name},
            value,
            threshold,
            SOURCE,
        )
    return Condition(
        described["rule"],
        described["severity"],
        f"{described['summary']} (CloudWatch alarm {name})",
        described["labels"],
        value,
        threshold,
        SOURCE,
    )


def handle_alarm_message(
    message: dict[str, Any], now: datetime | None = None, settings: Settings | None = None
) -> dict[str, Any] | None:
    """Record one alarm state change; returns the alert it fired or resolved, None if nothing changed.

    `now` defaults to the alarm's StateChangeTime, so firstSeen, the deadline and resolvedAt are when
    CloudWatch saw the change, not when the message arrived.
    """
    if not is_alarm_message(message):
        raise ValueError("not a CloudWatch alarm message (AlarmName and NewStateValue are required)")
    moment = now or state_change_time(message)
    state = message["NewStateValue"]
    seen = condition(message)
    if state == "ALARM":
        alert, outcome = engine.fire(seen, moment, settings)
        logger.info(
            "cloudwatch alarm fired",
            extra={"alarm": message["AlarmName"], "alertId": alert["id"], "outcome": outcome},
        )
        return alert
    if state == "OK":
        alert = engine.clear(seen.rule, seen.labels, actor=SOURCE, now=moment, settings=settings)
        logger.info(
            "cloudwatch alarm ok",
            extra={"alarm": message["AlarmName"], "alertId": alert["id"] if alert else None},
        )
        return alert
    logger.info("cloudwatch alarm state ignored", extra={"alarm": message["AlarmName"], "state": state})
    return None
