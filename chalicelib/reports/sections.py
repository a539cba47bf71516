"""The report's health, alerts and releases sections: pure functions over what the stores read
(docs/reports.md has the definitions). Everything is judged as of the period's cutoff (its end, or
now when the end is later), so a report for a past period reads the same whenever it is generated.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from chalicelib.alerts.model import SEVERITIES
from chalicelib.health.score import BANDS
from chalicelib.health.windows import iso
from chalicelib.store.health import Summary

BAND_NAMES = tuple(name for _, name in BANDS)
NO_DATA = "noData"
# A release history entry with one of these actions ends the rollout step before it (a pause does
# not: traffic stays where it was while an operator decides).
STEP_ENDS = ("shift", "complete", "finish", "rolled_back", "failed", "abandoned")
ROLLBACK_ACTIONS = ("rolled_back", "failed")
OUTCOMES = {"released": "released", "rolled_back": "rolled_back", "failed": "failed"}


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _seconds(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds(), 3)


# ---------------------------------------------------------------- health


def health_section(
    points: list[Summary],
    latest: Summary | None,
    start: datetime,
    cutoff: datetime,
    hold: timedelta,
    *,
    truncated: bool = False,
) -> dict[str, Any]:
    """`points`: the stored evaluations of [start, cutoff], oldest first (the newest ones when
    `truncated`); `latest`: the newest at or before the cutoff. Each evaluation's band holds until the
    next one, at most `hold`; the rest of the period is noData."""
    now: dict[str, Any] = {"score": None, "band": None, "sufficientData": None, "at": None}
    if latest is not None:
        now = {
            "score": latest.health_score,
            "band": latest.overall_health,
            "sufficientData": latest.sufficient_data,
            "at": iso(latest.at),
            "ageSeconds": _seconds(latest.at, cutoff),
        }
    else:
        now["reason"] = "no stored health evaluation at or before the period's end"

    scored = [p for p in points if p.health_score is not None]
    in_band = dict.fromkeys((*BAND_NAMES, NO_DATA), 0.0)
    # Past the read ceiling only the newest points were read: the figures cover them, from the first.
    covered_from = points[0].at if truncated and points else start
    in_band[NO_DATA] += max(0.0, ((points[0].at if points else cutoff) - covered_from).total_seconds())
    for point, following in zip(points, [*points[1:], None], strict=False):
        segment_end = min(following.at if following else cutoff, cutoff)
        held_end = max(point.at, min(segment_end, point.at + hold))
        band = point.overall_health if point.overall_health in BAND_NAMES else NO_DATA
        in_band[band] += (held_end - point.at).total_seconds()
        in_band[NO_DATA] += max(0.0, (segment_end - held_end).total_seconds())
    lowest = min(scored, key=lambda p: (p.health_score, p.at)) if scored else None
    period: dict[str, Any] = {
        "lowest": lowest.health_score if lowest else None,
        "lowestAt": iso(lowest.at) if lowest else None,
        "mean": round(sum(p.health_score for p in scored) / len(scored), 2) if scored else None,
        "points": len(points),
        "timeInBand": {name: round(seconds, 3) for name, seconds in in_band.items()},
        "holdSeconds": hold.total_seconds(),
        "truncated": truncated,
        "coveredFrom": iso(covered_from),
    }
    if not scored:
        period["reason"] = "no stored health evaluation in the period"
    return {"now": now, "period": period}


# ---------------------------------------------------------------- alerts


def alerts_section(
    alerts: list[dict[str, Any]], cutoff: datetime, *, truncated: bool = False
) -> dict[str, Any]:
    """Alerts first seen in the period. Active: not resolved by the cutoff. MTTA / MTTR: mean seconds
    from firstSeen to acknowledgedAt / resolvedAt (by the cutoff), over alerts that need an answer
    (info notices are left out: they expire on their own). Overdue: an alert needing an answer whose
    deadline passed by the cutoff before any acknowledgement or resolution."""
    by_severity = Counter(a["severity"] for a in alerts)
    active_by_severity: Counter[str] = Counter()
    to_ack: list[float] = []
    to_resolve: list[float] = []
    overdue: list[str] = []
    for alert in alerts:
        first = _at(alert["firstSeen"])
        acked, resolved = _at(alert.get("acknowledgedAt")), _at(alert.get("resolvedAt"))
        acked = acked if acked and acked <= cutoff else None
        resolved = resolved if resolved and resolved <= cutoff else None
        if resolved is None:
            active_by_severity[alert["severity"]] += 1
        if alert["severity"] == "info":
            continue
        if acked:
            to_ack.append((acked - first).total_seconds())
        if resolved:
            to_resolve.append((resolved - first).total_seconds())
        deadline = _at(alert.get("deadline"))
        answered = min((t for t in (acked, resolved) if t), default=None)
        if deadline and deadline <= cutoff and (answered is None or answered > deadline):
            overdue.append(alert["id"])

    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 1) if values else None

    return {
        "raised": len(alerts),
        "active": sum(active_by_severity.values()),
        "bySeverity": {s: by_severity.get(s, 0) for s in SEVERITIES},
        "activeBySeverity": {s: active_by_severity.get(s, 0) for s in SEVERITIES},
        "acknowledged": len(to_ack),
        "resolved": len(to_resolve),
        "meanTimeToAcknowledgeSeconds": mean(to_ack),
        "meanTimeToResolveSeconds": mean(to_resolve),
        "overdue": len(overdue),
        "overdueIds": overdue[:20],
        "truncated": truncated,
    }


# ---------------------------------------------------------------- releases


def _percent(text: Any) -> int | None:
    try:
        return int(str(text).rstrip("%"))
    except ValueError:
        return None


def release_item(record: dict[str, Any], cutoff: datetime) -> dict[str, Any]:
    """One release: its outcome, its rollbacks (why, when, where) and the time at each rollout step,
    all from its history (the entries the rollout's steps append)."""
    environments = {e.get("arn"): e.get("environment") for e in record.get("executions") or []}
    history = sorted(record.get("history") or [], key=lambda e: e.get("at") or "")
    rollbacks = []
    steps = []
    for n, entry in enumerate(history):
        action = entry.get("action")
        environment = environments.get(entry.get("execution"))
        if action in ROLLBACK_ACTIONS:
            rollbacks.append(
                {
                    "reason": entry.get("reason"),
                    "at": entry.get("at"),
                    "environment": environment,
                    "status": action,
                    "error": entry.get("error"),
                }
            )
        if action in ("shift", "complete"):
            started = _at(entry["at"])
            end_entry = next(
                (
                    e
                    for e in history[n + 1 :]
                    if e.get("execution") == entry.get("execution") and e.get("action") in STEP_ENDS
                ),
                None,
            )
            ended = _at(end_entry["at"]) if end_entry else None
            steps.append(
                {
                    "environment": environment,
                    "percent": _percent(entry.get("to")),
                    "startedAt": entry["at"],
                    "endedAt": end_entry["at"] if end_entry else None,
                    "endedBy": end_entry.get("action") if end_entry else None,
                    "seconds": _seconds(started, ended or max(cutoff, started)),
                }
            )
    return {
        "version": record["version"],
        "status": record["status"],
        "outcome": OUTCOMES.get(record["status"], "in_progress"),
        "createdAt": record.get("createdAt"),
        "issues": list(record.get("issues") or []),
        "rollbacks": rollbacks,
        "stepDurations": steps,
    }


def releases_section(
    records: list[dict[str, Any]], cutoff: datetime, *, truncated: bool = False
) -> dict[str, Any]:
    items = [release_item(r, cutoff) for r in records]
    outcomes = Counter(i["outcome"] for i in items)
    return {
        "items": items,
        "count": len(items),
        "byOutcome": {o: outcomes.get(o, 0) for o in ("released", "rolled_back", "failed", "in_progress")},
        "rollbacks": sum(len(i["rollbacks"]) for i in items),
        "truncated": truncated,
    }
