"""The monitoring report of a period (docs/reports.md): executive summary, health, feedback, alerts,
releases, success metrics and ROI, every figure from stored data or CloudWatch.

What one report reads (each bounded, whatever the volume stored):
- health: the period's stored summary points, newest first, at most REPORT_HEALTH_MAX_POINTS (about
  250 bytes each: ~1000 a Query page), plus one Query of one item when the period holds none;
- feedback: the feedback summary of the period (its own ceiling, SUMMARY_MAX_ITEMS_READ) and the
  ratings rollup (one Query, one item a day);
- alerts: three Queries of the byState index on the period's firstSeen range, at most
  REPORT_ALERTS_MAX each;
- releases: one Query of the byCreated index on the period, at most REPORT_RELEASES_MAX;
- CloudWatch: one GetMetricData call.
The sections are read side by side (chalicelib.parallel): the report waits for the longest of them.
The period spans at most REPORT_MAX_DAYS (92): longer is a 400 naming `start`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.auth import Principal, Role
from chalicelib.config import Settings, get_settings
from chalicelib.feedback import service as feedback_service
from chalicelib.feedback.windows import Window as DateWindow
from chalicelib.feedback.windows import summary_window, utcnow
from chalicelib.health.windows import Window, iso
from chalicelib.parallel import run_all
from chalicelib.reports import metrics, roi, sections
from chalicelib.reports.summary import executive_summary
from chalicelib.schemas.feedback import parse
from chalicelib.schemas.instants import EARLIEST
from chalicelib.schemas.reports import ReportQuery
from chalicelib.store import alerts as alert_store
from chalicelib.store import health as health_store
from chalicelib.store import releases as release_store

# The report reads as an engineer would: every workspace unless one is named.
REPORTER = Principal(sub="post-launch-monitor-report", workspace_id=None, roles=frozenset({Role.ENGINEER}))


def _health_points(
    start: datetime, cutoff: datetime, settings: Settings
) -> tuple[list[health_store.Summary], bool]:
    """The period's summary points, oldest first; the newest REPORT_HEALTH_MAX_POINTS when it holds
    more (True)."""
    cap = settings.report_health_max_points
    points: list[health_store.Summary] = []
    cursor: str | None = None
    while len(points) <= cap:  # one point past the ceiling says whether there were more
        page, cursor = health_store.summaries(
            start,
            cutoff,
            limit=min(5000, cap + 1 - len(points)),
            cursor=cursor,
            newest_first=True,
            settings=settings,
        )
        points.extend(page)
        if not cursor:
            break
    truncated = len(points) > cap
    points = points[:cap]
    return list(reversed(points)), truncated


def build_report(
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
    workspace_id: str | None = None,
    cloudwatch: Any = None,
) -> dict[str, Any]:
    """The report of [start, end] (defaults: the last REPORT_DEFAULT_DAYS days, today included, up to
    now). `workspace_id` narrows the feedback section (the rest is module-wide). Raises
    ValidationFailed naming start or end for a bad or too long period."""
    settings = settings or get_settings()
    now = (now or utcnow()).astimezone(UTC)
    query = parse(ReportQuery, {"start": start, "end": end, "workspaceId": workspace_id})
    window = summary_window(
        query.start,
        query.end,
        settings.report_default_days,
        settings.report_max_days,
        now,
        names=("start", "end"),
        what="a report",
    )
    # A default start before the earliest instant accepted (an end in early January 1970) starts there.
    start_at = max(window.start, EARLIEST)
    window = DateWindow(start_at, window.end)
    cutoff = max(start_at, min(window.end, now))
    period_days = (cutoff - start_at).total_seconds() / 86400

    def health_reads() -> tuple[list[health_store.Summary], bool, health_store.Summary | None]:
        points, truncated = _health_points(start_at, cutoff, settings)
        latest = points[-1] if points else None
        if latest is None:
            found, _ = health_store.summaries(
                cutoff - timedelta(days=settings.health_retention_days),
                cutoff,
                limit=1,
                newest_first=True,
                settings=settings,
            )
            latest = found[0] if found else None
        return points, truncated, latest

    # The sections read independent tables (and CloudWatch): side by side, so the report waits for
    # the slowest section, not for the sum (README, "Round trips per route").
    (points, points_truncated, latest), feedback, satisfaction, alerts, releases_read, measured = run_all(
        [
            health_reads,
            lambda: feedback_service.feedback_summary(
                REPORTER,
                {"startDate": window.start, "endDate": window.end, "workspaceId": query.workspace_id},
                now=now,
                settings=settings,
            ),
            lambda: feedback_service.satisfaction_in_window(start_at, cutoff, settings=settings),
            lambda: alert_store.raised_between(
                health_store.at_key(start_at),
                health_store.at_key(cutoff),
                settings.report_alerts_max,
                settings,
            ),
            lambda: release_store.created_between(
                health_store.at_key(start_at),
                health_store.at_key(cutoff),
                settings.report_releases_max,
                settings,
            ),
            lambda: metrics.read_measured(
                Window("report", start_at, cutoff, "report period"), now, settings, client=cloudwatch
            ),
        ]
    )
    releases, releases_truncated = releases_read
    hold = timedelta(minutes=2 * settings.health_schedule_minutes)
    health = sections.health_section(points, latest, start_at, cutoff, hold, truncated=points_truncated)
    success = metrics.success_metrics(
        measured,
        period_days=period_days,
        satisfaction=satisfaction,
        feedback=feedback,
        health_points=points,
        settings=settings,
    )
    report: dict[str, Any] = {
        "period": {
            "start": iso(window.start),
            "end": iso(window.end),
            "cutoff": iso(cutoff),
            "days": round(period_days, 3),
        },
        "generatedAt": iso(now),
        "health": health,
        "feedback": feedback,
        "alerts": sections.alerts_section(list(alerts), cutoff, truncated=alerts.truncated),
        "releases": sections.releases_section(releases, cutoff, truncated=releases_truncated),
        "successMetrics": success,
        "roi": roi.compute_roi(measured.totals, period_days, settings, measured.failure),
        "reads": {
            "healthPoints": len(points),
            "alerts": len(alerts),
            "releases": len(releases),
            "feedbackItemsRead": feedback.get("itemsRead"),
            "feedbackQueries": feedback.get("queries"),
            "cloudwatchCalls": measured.calls,
            "ceilings": {
                "maxDays": settings.report_max_days,
                "healthPoints": settings.report_health_max_points,
                "alertsPerState": settings.report_alerts_max,
                "releases": settings.report_releases_max,
                "feedbackItems": settings.summary_max_items_read,
            },
        },
    }
    report["summary"] = executive_summary(report)
    order = ("period", "generatedAt", "summary", "health", "feedback", "alerts", "releases")
    return {key: report[key] for key in (*order, "successMetrics", "roi", "reads")}
