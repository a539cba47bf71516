"""DEMO=1 metrics: a month of deterministic CloudWatch series, so health shows computed values.

No randomness: every value is a function of its timestamp (a daily and weekly rhythm from sin/cos,
and a small jitter from a sha256 of the timestamp), so two loads with the same `now` write the same
datums. The month has one clear incident, lined up with the feedback demo's rough release (day 11 of
30, i.e. 19 days ago): from 08:00 to 15:00 UTC API latency climbs to about 700 ms, 5xx errors to about 7 %,
reminder delivery and appointment completion sag and daily active users drop. The health history
shows the score fall from healthy to critical there and recover.

Series written (aggregate series only: moto 5.2.5 matches a no-dimension query against *every*
dimension set of a metric, so per-workspace copies would be double counted locally):
- AWS/ApiGateway Latency, Count, 5XXError for ApiName=<health_api_name>, as StatisticValues
  (one datum per bucket stands for all its requests);
- AWS/DynamoDB SuccessfulRequestLatency for the health tables (Query, GetItem);
- AWS/Lambda Invocations, Errors, Throttles, Duration (account-wide: no function is configured);
- PatientEngagement gauges and counts (the contract in chalicelib.health.contract), hourly, zeros
  included.
Resolution: 5-minute buckets for the last 48 h (what the burn-rate windows and the live performance
window read), hourly before that, except one-minute buckets from an hour before the incident to an
hour after it (`Month.replay`): the alert rules judge one-minute datapoints, and postlaunch.demo_alerts
replays the incident through them. The series run HEAD hours past `now` (CloudWatch accepts up to two
hours ahead), so a demo left running keeps live performance data that long; `top_up()` extends them.

Then the evaluator runs back-dated over the month (`backfill_snapshots`), storing snapshots marked
`backfilled`: the history route has a month to show. Back-dated snapshots leave stability missing
(what was open then is not recorded).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from postlaunch.demo_load import NoProgress, Tracker

DAYS = 30
HEAD = timedelta(hours=2)
FINE = timedelta(hours=48)
FINE_STEP = timedelta(minutes=5)
COARSE_STEP = timedelta(hours=1)
MINUTE_STEP = timedelta(minutes=1)
REPLAY_MARGIN = timedelta(hours=1)  # one-minute buckets this long either side of the incident
INCIDENT_DAY = 11  # day of the month (0 = oldest), as in postlaunch.demo's INCIDENT_DAYS
INCIDENT_HOURS = (8, 15)  # UTC, start inclusive, end exclusive
BACKFILL_STEP = timedelta(hours=6)
ENABLED_USERS = 48
WORKSPACES = 3


def jitter(at: datetime, salt: str) -> float:
    """A deterministic number in [0, 1) for (timestamp, salt)."""
    digest = hashlib.sha256(f"{salt}|{at.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def daytime(at: datetime) -> float:
    """0 at night .. 1 at 14:00 UTC (pharmacy opening hours), from a cosine."""
    hour = at.hour + at.minute / 60
    return max(0.0, math.cos((hour - 14) / 12 * math.pi)) ** 1.5


def weekday_factor(at: datetime) -> float:
    return 0.55 if at.weekday() >= 5 else 1.0


@dataclass(frozen=True)
class Month:
    """The demo month ending at `now` (aligned to the hour below it)."""

    now: datetime

    @property
    def start(self) -> datetime:
        return self.now.replace(minute=0, second=0, microsecond=0) - timedelta(days=DAYS)

    @property
    def incident(self) -> tuple[datetime, datetime]:
        day = self.start.replace(hour=0) + timedelta(days=INCIDENT_DAY)
        return day + timedelta(hours=INCIDENT_HOURS[0]), day + timedelta(hours=INCIDENT_HOURS[1])

    @property
    def replay(self) -> tuple[datetime, datetime]:
        """The hour-aligned span written in one-minute buckets: the incident and an hour either side."""
        begin, end = self.incident
        return begin - REPLAY_MARGIN, end + REPLAY_MARGIN

    def in_incident(self, at: datetime) -> bool:
        begin, end = self.incident
        return begin <= at < end


def _stats(samples: float, mean: float, low: float, high: float) -> dict[str, float]:
    return {"SampleCount": samples, "Sum": samples * mean, "Minimum": low, "Maximum": high}


def api_points(month: Month, at: datetime, step: timedelta, settings: Any) -> list[tuple[str, dict]]:
    """(namespace, datum) for one bucket of the performance series."""
    from chalicelib.integrations.cloudwatch import datum

    minutes = step.total_seconds() / 60
    bad = month.in_incident(at)
    load = daytime(at) * weekday_factor(at)
    requests = max(1.0, round((6 + 30 * load + 4 * jitter(at, "req")) * minutes))
    latency = 640 + 120 * jitter(at, "lat") if bad else 140 + 60 * load + 25 * math.sin(at.timestamp() / 5400)
    error_share = 0.07 + 0.02 * jitter(at, "err") if bad else 0.002 + 0.003 * jitter(at, "err")
    errors = float(round(requests * error_share))
    api = [("ApiName", settings.health_api_name)]
    out = [
        (
            "AWS/ApiGateway",
            datum(
                "Latency",
                0,
                timestamp=at,
                unit="Milliseconds",
                dimensions=api,
                statistic_values=_stats(requests, latency, latency * 0.3, latency * 3.5),
            ),
        ),
        (
            "AWS/ApiGateway",
            datum("Count", 0, timestamp=at, dimensions=api, statistic_values=_stats(requests, 1, 1, 1)),
        ),
        (
            "AWS/ApiGateway",
            datum(
                "5XXError",
                0,
                timestamp=at,
                dimensions=api,
                statistic_values={
                    "SampleCount": requests,
                    "Sum": errors,
                    "Minimum": 0,
                    "Maximum": 1 if errors else 0,
                },
            ),
        ),
        (
            "AWS/Lambda",
            datum("Invocations", requests, timestamp=at),
        ),
        ("AWS/Lambda", datum("Errors", errors, timestamp=at)),
        ("AWS/Lambda", datum("Throttles", float(round(requests * 0.01)) if bad else 0.0, timestamp=at)),
        (
            "AWS/Lambda",
            datum(
                "Duration",
                0,
                timestamp=at,
                unit="Milliseconds",
                statistic_values=_stats(requests, latency * 0.8, latency * 0.2, latency * 3),
            ),
        ),
    ]
    table = settings.health_tables[0]
    for operation, base in (("Query", 7.5), ("GetItem", 3.2)):
        ms = base * (3.5 if bad else 1 + 0.2 * jitter(at, operation))
        out.append(
            (
                "AWS/DynamoDB",
                datum(
                    "SuccessfulRequestLatency",
                    0,
                    timestamp=at,
                    unit="Milliseconds",
                    dimensions=[("TableName", table), ("Operation", operation)],
                    statistic_values=_stats(requests, ms, ms * 0.4, ms * 4),
                ),
            )
        )
    return out


def adoption_points(month: Month, at: datetime) -> list[tuple[str, float]]:
    """(metric, value) for one hour of the Patient Engagement contract, zeros included."""
    bad = month.in_incident(at)
    load = daytime(at) * weekday_factor(at)
    day_progress = min(1.0, max(0.0, (at.hour - 6) / 10))  # DAU accumulates through the working day
    dau = round(ENABLED_USERS * (0.2 + 0.35 * day_progress) * weekday_factor(at) + 10 * weekday_factor(at))
    if bad:
        dau = min(dau, 12)
    scheduled = float(round(9 * load + 2 * jitter(at, "sch") * load))
    completion = 0.7 if bad else 0.86 + 0.06 * jitter(at, "cmp")
    completed = float(round(scheduled * completion))
    no_shows = float(round(scheduled * (0.03 + 0.08 * jitter(at, "ns"))))
    due = float(round(4 * load + jitter(at, "due") * load))
    sent = float(round(12 * load + 3 * jitter(at, "snt") * load))
    delivered = float(round(sent * 0.72)) if bad else sent - float(jitter(at, "dlv") < 0.02 * sent)
    return [
        ("ActiveWorkspaces", float(WORKSPACES)),
        ("EnabledUsers", float(ENABLED_USERS)),
        ("DailyActiveUsers", float(dau)),
        ("WeeklyActiveUsers", float(min(ENABLED_USERS, 30 + round(8 * weekday_factor(at))))),
        ("AppointmentsCreated", float(round(scheduled * 1.1))),
        ("AppointmentsScheduled", scheduled),
        ("AppointmentsCompleted", completed),
        ("NoShows", no_shows),
        ("FollowUpsDue", due),
        ("FollowUpsCompleted", float(round(due * (0.6 if bad else 0.88)))),
        ("RemindersSent", sent),
        ("RemindersDelivered", delivered),
        ("PatientPortalSessions", float(round(15 * load + 5 * jitter(at, "pps") * load))),
    ]


def _steps(start: datetime, end: datetime, step: timedelta) -> Iterator[datetime]:
    at = start
    while at < end:
        yield at
        at += step


def series(month: Month, start: datetime, end: datetime, settings: Any) -> dict[str, list[dict[str, Any]]]:
    """Datums by namespace for [start, end): 5-minute API buckets within FINE of `now`, hourly before,
    one-minute across the replay span; adoption hourly."""
    from chalicelib.health.contract import UNIT
    from chalicelib.integrations.cloudwatch import datum

    out: dict[str, list[dict[str, Any]]] = {}
    fine_from = month.now - FINE
    replay_from, replay_to = month.replay
    for at in _steps(start, end, MINUTE_STEP):
        on_grid = (at - start) % FINE_STEP == timedelta(0)
        if replay_from <= at < replay_to:
            step = MINUTE_STEP
        elif at >= fine_from and on_grid:
            step = FINE_STEP
        elif on_grid and at.minute == 0:
            step = COARSE_STEP
        else:
            continue
        for namespace, item in api_points(month, at, step, settings):
            out.setdefault(namespace, []).append(item)
        if on_grid and at.minute == 0:
            for name, value in adoption_points(month, at):
                out.setdefault(settings.health_adoption_namespace, []).append(
                    datum(name, value, timestamp=at, unit=UNIT)
                )
    return out


def write(
    datums: dict[str, list[dict[str, Any]]],
    client: Any,
    settings: Any,
    advance: Callable[[int], None] | None = None,
) -> int:
    """PutMetricData in the chunks the API takes; `advance(n)` after each chunk of n datums."""
    from chalicelib.integrations.cloudwatch import PUT_DATUMS_PER_CALL, put_metric_data

    calls = 0
    for namespace, items in datums.items():
        for offset in range(0, len(items), PUT_DATUMS_PER_CALL):
            chunk = items[offset : offset + PUT_DATUMS_PER_CALL]
            calls += put_metric_data(namespace, chunk, client=client, settings=settings)
            if advance:
                advance(len(chunk))
    return calls


def write_month(
    now: datetime, *, client: Any = None, settings: Any = None, progress: Tracker | None = None
) -> dict[str, Any]:
    """Write the month [now - 30 d, now + HEAD) to CloudWatch through `client`."""
    from chalicelib.config import get_settings

    settings = settings or get_settings()
    progress = progress or NoProgress()
    month = Month(now)
    data = series(month, month.start, month.now + HEAD, settings)
    task = progress.add_task("metric datums", total=sum(len(v) for v in data.values()))
    calls = write(data, client, settings, lambda n: progress.advance(task, n))
    begin, end = month.incident
    return {
        "datums": sum(len(v) for v in data.values()),
        "calls": calls,
        "from": month.start.isoformat(),
        "to": (month.now + HEAD).isoformat(),
        "incident": [begin.isoformat(), end.isoformat()],
    }


def top_up(now: datetime, written_until: datetime, *, client: Any = None, settings: Any = None) -> datetime:
    """Extend the series from `written_until` to now + HEAD (same values a full load would give).
    Returns the new end. For a long-running demo; call it on a timer."""
    from chalicelib.config import get_settings

    settings = settings or get_settings()
    month = Month(now)
    end = now + HEAD
    if written_until < end:
        write(series(month, written_until, end, settings), client, settings)
    return max(end, written_until)


def backfill_instants(month: Month) -> list[datetime]:
    """Past instants to evaluate: every BACKFILL_STEP at 02:05, 08:05, 14:05, 20:05 UTC (two of them
    fall in the incident), from the second day of the month on."""
    first = month.start.replace(hour=2, minute=5) + timedelta(days=1)
    return list(_steps(first, month.now - timedelta(minutes=10), BACKFILL_STEP))


def backfill_snapshots(
    now: datetime, *, client: Any = None, settings: Any = None, progress: Tracker | None = None
) -> dict[str, Any]:
    """Run the real evaluator back-dated over the month and store its snapshots (marked backfilled)."""
    from chalicelib.config import get_settings
    from chalicelib.health.evaluator import HealthSources, evaluate
    from chalicelib.health.service import store_evaluation

    settings = settings or get_settings()
    progress = progress or NoProgress()
    sources = HealthSources(cloudwatch=client)
    instants = backfill_instants(Month(now))
    task = progress.add_task("health snapshots", total=len(instants))
    scores: list[tuple[datetime, int, str]] = []
    insufficient = 0
    for at in instants:
        evaluation = evaluate(at, settings=settings, sources=sources, backdated=True)
        store_evaluation(evaluation, settings, backfilled=True)
        scores.append((at, evaluation.report.healthScore, evaluation.report.overallHealth))
        insufficient += not evaluation.sufficient_data
        progress.advance(task)
    low = min(scores, key=lambda s: s[1]) if scores else None
    return {
        "snapshots": len(scores),
        "lowest": {"at": low[0].isoformat(), "healthScore": low[1], "overallHealth": low[2]} if low else None,
        "highest": max(s for _, s, _ in scores) if scores else None,
        "insufficientData": insufficient,
    }


def _minute(iso: str) -> str:
    return iso[:16].replace("T", " ")


def load_demo(
    now: datetime | None = None,
    *,
    client: Any = None,
    settings: Any = None,
    progress: Tracker | None = None,
) -> Iterator[str]:
    """What DEMO=1 runs (postlaunch.demo.load_all calls it): write the month, backfill snapshots;
    one summary line for each, yielded when it is done."""
    now = now or datetime.now(UTC)
    started = time.monotonic()
    written = write_month(now, client=client, settings=settings, progress=progress)
    begin, end = (datetime.fromisoformat(at) for at in written["incident"])
    yield (
        f"metrics: {written['datums']:,} CloudWatch datums in {written['calls']} PutMetricData calls, "
        f"{_minute(written['from'])} .. {_minute(written['to'])} UTC, incident "
        f"{begin:%Y-%m-%d %H:%M}-{end:%H:%M} ({time.monotonic() - started:.1f} s)"
    )
    started = time.monotonic()
    history = backfill_snapshots(now, client=client, settings=settings, progress=progress)
    low = history["lowest"]
    lowest = f"lowest {low['healthScore']} {low['overallHealth']} at {_minute(low['at'])}" if low else "none"
    yield (
        f"health snapshots: {history['snapshots']} back-dated every {BACKFILL_STEP.seconds // 3600} h, "
        f"{lowest}, {history['insufficientData']} on insufficient data "
        f"({time.monotonic() - started:.1f} s)"
    )
