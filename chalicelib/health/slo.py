"""Availability and SLOs: uptime over the SLO window, error budgets, multi-window burn rates.

SLIs (request-based, from API Gateway for the configured API):
- availability: good = requests without a 5xx; bad fraction = Sum(5XXError) / Sum(Count).
- latency: good = requests answered within slo_latency_threshold_ms (500). CloudWatch's percentile
  rank statistic PR(:500) is the share of requests at or under 500 ms, so "p95 < 500 ms" is the SLO
  "at least 95 % of requests within 500 ms"; bad fraction = 1 - PR/100, weighted by SampleCount.

Error budget over the window (default 30 days): allowed bad fraction = 1 - target; consumed = bad
fraction / allowed; remaining = 1 - consumed (negative once overspent).
Burn rate over a window w = bad fraction(w) / allowed bad fraction (1 = spending exactly the budget).
Alerts as in the Google SRE workbook (multiwindow, multi-burn-rate), for a 30-day budget:
  page when burn(1h) > 14.4 and burn(5m) > 14.4   (2 % of the budget gone in an hour),
  page when burn(6h) > 6    and burn(30m) > 6     (5 % of the budget gone in six hours).

Uptime: request availability over the window (as above), and time-based uptime from the stored
health snapshots: the share of evaluations with traffic whose error rate was at most 5 % (the seed's
worst error-rate band), with how many evaluations the window should have held (coverage).

AWS calls: 2 GetMetricData (the window totals; 6 h of 5-minute buckets for the burn rates) and the
Query pages of one month of summary points (about 250 bytes each).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.config import Settings, get_settings
from chalicelib.errors import UpstreamUnavailable
from chalicelib.health.score import ERROR_RATE_RULES
from chalicelib.health.windows import Window, floor_minute, iso, single_bucket_period, utc
from chalicelib.integrations.cloudwatch import Fetch, MetricQuery, get_metric_data
from chalicelib.store import health as snapshots

BURN_WINDOWS = {"5m": 5, "30m": 30, "1h": 60, "6h": 360}
BURN_PERIOD = 300
MULTIWINDOW_ALERTS = (
    {"name": "fast burn (page)", "long": "1h", "short": "5m", "threshold": 14.4},
    {"name": "slow burn (page)", "long": "6h", "short": "30m", "threshold": 6.0},
)
DOWN_ERROR_RATE = ERROR_RATE_RULES[0][0]  # percent


def _queries(settings: Settings, period: int) -> list[MetricQuery]:
    api = (("ApiName", settings.health_api_name),)
    queries = [
        MetricQuery("requests", "AWS/ApiGateway", "Count", "Sum", period, api),
        MetricQuery("errors", "AWS/ApiGateway", "5XXError", "Sum", period, api),
        MetricQuery("latency_n", "AWS/ApiGateway", "Latency", "SampleCount", period, api),
    ]
    if settings.percentile_stats:
        stat = f"PR(:{settings.slo_latency_threshold_ms:g})"
        queries.append(MetricQuery("latency_good_pct", "AWS/ApiGateway", "Latency", stat, period, api))
    return queries


def _by_time(fetch: Fetch, query_id: str) -> dict[datetime, float]:
    series = fetch.get(query_id)
    return {utc(t): v for t, v in zip(series.timestamps, series.values, strict=False)}


def _bad_fractions(fetch: Fetch | None, since: datetime | None) -> dict[str, float | None]:
    """Bad-request fractions (availability, latency) over the buckets starting at or after `since`."""
    if fetch is None:
        return {"availability": None, "latency": None}
    requests, errors = _by_time(fetch, "requests"), _by_time(fetch, "errors")
    counts, good = _by_time(fetch, "latency_n"), _by_time(fetch, "latency_good_pct")

    def keep(t: datetime) -> bool:
        return since is None or t >= since

    total = sum(v for t, v in requests.items() if keep(t))
    bad = sum(v for t, v in errors.items() if keep(t))
    availability = bad / total if total > 0 else None
    weighted = [(counts[t], good[t]) for t in counts if keep(t) and t in good]
    n = sum(c for c, _ in weighted)
    latency = sum(c * (1 - pct / 100) for c, pct in weighted) / n if n > 0 else None
    return {"availability": availability, "latency": latency}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def slo_report(
    *, now: datetime | None = None, settings: Settings | None = None, client: Any = None
) -> dict[str, Any]:
    settings = settings or get_settings()
    now = utc(now) if now else datetime.now(UTC)
    end = floor_minute(now)
    window = Window(
        "slo", end - timedelta(days=settings.slo_window_days), end, f"last {settings.slo_window_days} days"
    )
    burn = Window("burn", end - timedelta(minutes=max(BURN_WINDOWS.values())), end, "last 6 hours")
    calls = 0
    failures: dict[str, str] = {}
    fetched: dict[str, Fetch | None] = {}
    for name, win, period in (
        ("window", window, single_bucket_period(window, now)),
        ("burn", burn, BURN_PERIOD),
    ):
        try:
            fetched[name] = get_metric_data(
                _queries(settings, period), win.start, win.end, client=client, settings=settings
            )
            calls += fetched[name].calls  # type: ignore[union-attr]
        except UpstreamUnavailable as exc:
            fetched[name] = None
            failures[name] = exc.message
            calls += 1

    totals = _bad_fractions(fetched["window"], None)
    burn_fractions = {
        label: _bad_fractions(fetched["burn"], end - timedelta(minutes=minutes))
        for label, minutes in BURN_WINDOWS.items()
    }
    requests = errors = None
    if fetched["window"] is not None:
        requests = fetched["window"].get("requests").total()
        errors = fetched["window"].get("errors").total()

    def missing_reason(kind: str) -> str | None:
        if "window" in failures:
            return f"CloudWatch did not answer: {failures['window']}"
        if kind == "latency" and not settings.percentile_stats:
            return (
                "percentile statistics are switched off (HEALTH_PERCENTILE_STATS; off by default on the "
                "local stage, whose moto CloudWatch answers HTTP 500 to PR() and p95 queries)"
            )
        if totals[kind] is None:
            return (
                f"no API Gateway requests for ApiName={settings.health_api_name} in the {window.description}"
            )
        return None

    slos = []
    for kind, target, sli in (
        ("availability", settings.slo_availability_target, "share of API requests without a 5xx response"),
        (
            "latency",
            settings.slo_latency_target,
            f"share of API requests answered within {settings.slo_latency_threshold_ms:g} ms "
            f"(p{settings.slo_latency_target:g} < {settings.slo_latency_threshold_ms:g} ms)",
        ),
    ):
        allowed = 1 - target / 100
        bad = totals[kind]
        burn_rates = {
            label: _round(f[kind] / allowed if f[kind] is not None else None, 3)
            for label, f in burn_fractions.items()
        }
        alerts = []
        for rule in MULTIWINDOW_ALERTS:
            long_rate, short_rate = burn_rates[rule["long"]], burn_rates[rule["short"]]
            firing = None
            if long_rate is not None and short_rate is not None:
                firing = long_rate > rule["threshold"] and short_rate > rule["threshold"]
            alerts.append({**rule, "firing": firing})
        consumed = bad / allowed if bad is not None else None
        slos.append(
            {
                "name": kind,
                "sli": sli,
                "target": target,
                "window": window.as_dict(),
                "compliance": _round(100 * (1 - bad) if bad is not None else None),
                "errorBudget": {
                    "allowedBadFraction": _round(allowed, 6),
                    "consumedPercent": _round(100 * consumed if consumed is not None else None, 2),
                    "remainingPercent": _round(100 * (1 - consumed) if consumed is not None else None, 2),
                },
                "burnRates": burn_rates,
                "burnWindow": burn.as_dict(),
                "alerts": alerts,
                "missing": missing_reason(kind),
            }
        )

    uptime_points, truncated = _snapshot_points(window, settings)
    counted = snapshot_uptime(uptime_points)
    expected = int(
        timedelta(days=settings.slo_window_days) / timedelta(minutes=settings.health_schedule_minutes)
    )
    return {
        "evaluatedAt": iso(now),
        "window": window.as_dict(),
        "uptime": {
            "requestAvailability": _round(100 * (1 - totals["availability"]))
            if totals["availability"] is not None
            else None,
            "requests": requests,
            "serverErrors": errors,
            "snapshotUptime": counted["uptime"],
            "snapshots": {
                "total": len(uptime_points),
                "withTraffic": counted["withTraffic"],
                "down": counted["down"],
                "expected": expected,
                "coverage": _round(len(uptime_points) / expected) if expected else None,
                # More points than the read ceiling: the counts cover the newest, from coveredFrom.
                "truncated": truncated,
                "coveredFrom": snapshots.at_key(uptime_points[-1].at if truncated else window.start),
            },
            "downDefinition": f"an evaluation whose API error rate was above {DOWN_ERROR_RATE} %",
        },
        "slos": slos,
        "cloudwatchCalls": calls,
        "summaryPointsRead": len(uptime_points),
    }


def snapshot_uptime(points: list[snapshots.Summary]) -> dict[str, Any]:
    """Time-based uptime from stored evaluations: the share (percent) of those with traffic whose API
    error rate was at most DOWN_ERROR_RATE; None without any evaluation with traffic."""
    with_traffic = [p for p in points if p.error_rate is not None]
    down = [p for p in with_traffic if p.error_rate > DOWN_ERROR_RATE]
    uptime = _round(100 * (1 - len(down) / len(with_traffic))) if with_traffic else None
    return {"uptime": uptime, "withTraffic": len(with_traffic), "down": len(down)}


def _snapshot_points(window: Window, settings: Settings) -> tuple[list[snapshots.Summary], bool]:
    """The window's summary points, newest first, at most slo_max_snapshot_points of them (each
    `?refresh=true` stores one more, so their number is not bounded by the schedule); True when
    there were more, the oldest left unread."""
    points: list[snapshots.Summary] = []
    cursor: str | None = None
    cap = settings.slo_max_snapshot_points
    while len(points) < cap:
        page, cursor = snapshots.summaries(
            window.start,
            window.end,
            limit=min(5000, cap - len(points)),
            cursor=cursor,
            newest_first=True,
            settings=settings,
        )
        points.extend(page)
        if not cursor:
            return points, False
    return points, True
