"""Health use cases: the current health (snapshot or fresh), the scheduled evaluation, the history.

Routes, the scheduled Lambda and the CLI call these; none of them knows HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.config import Settings, get_settings
from chalicelib.errors import DomainError, FieldError, ValidationFailed
from chalicelib.health import contract
from chalicelib.health.evaluator import Evaluation, HealthSources, evaluate
from chalicelib.health.score import INPUTS, available_from_completeness, sufficient_data
from chalicelib.health.windows import iso, utc
from chalicelib.integrations.cloudwatch import datum, put_metric_data
from chalicelib.observability import logger
from chalicelib.schemas.health import Freshness, HealthReport, HistoryQuery
from chalicelib.store import health as snapshots

DEFAULT_HISTORY = timedelta(hours=24)


def store_evaluation(evaluation: Evaluation, settings: Settings, *, backfilled: bool = False) -> str:
    return snapshots.save_snapshot(
        evaluation.at,
        evaluation.report.model_dump(mode="json"),
        evaluation.summary,
        backfilled=backfilled,
        settings=settings,
    )


def _with_sufficiency(report: HealthReport, settings: Settings) -> HealthReport:
    """A snapshot stored before `sufficientData` existed gets it from its own stored input counts,
    against today's threshold (which is then the one shown)."""
    if report.sufficientData is None:
        inputs = report.scoreInputs
        report.sufficientData = sufficient_data(
            int(inputs["available"]), int(inputs["total"]), settings.health_min_completeness
        )
        report.minCompleteness = settings.health_min_completeness
    return report


def current_health(
    *,
    verbose: bool = False,
    refresh: bool = False,
    now: datetime | None = None,
    settings: Settings | None = None,
    sources: HealthSources | None = None,
) -> dict[str, Any]:
    """The latest snapshot while it is fresh (health_freshness_seconds), else a new evaluation,
    which is stored so the next caller within the freshness gets it."""
    settings = settings or get_settings()
    now = utc(now) if now else datetime.now(UTC)
    max_age = settings.health_freshness_seconds
    if not refresh and max_age > 0:
        latest = snapshots.latest_snapshot(settings)
        if latest is not None:
            age = (now - latest.at).total_seconds()
            if 0 <= age <= max_age:
                report = _with_sufficiency(HealthReport.model_validate(latest.report), settings)
                report.freshness = Freshness(
                    source="snapshot", ageSeconds=round(age, 1), maxAgeSeconds=max_age
                )
                return report.public(verbose=verbose)
    evaluation = evaluate(now, settings=settings, sources=sources)
    store_evaluation(evaluation, settings)
    report = evaluation.report
    report.freshness = Freshness(source="evaluated", ageSeconds=0.0, maxAgeSeconds=max_age)
    return report.public(verbose=verbose)


def publish_score(evaluation: Evaluation, settings: Settings, client: Any = None) -> int:
    """HealthScore (and data completeness, percent) to CloudWatch: one PutMetricData call."""
    datums = [
        datum(
            contract.HEALTH_SCORE_METRIC, evaluation.report.healthScore, timestamp=evaluation.at, unit="None"
        ),
        datum(
            contract.HEALTH_COMPLETENESS_METRIC,
            round(evaluation.report.completeness * 100, 2),
            timestamp=evaluation.at,
            unit="Percent",
        ),
    ]
    return put_metric_data(settings.health_score_namespace, datums, client=client, settings=settings)


def run_scheduled_evaluation(
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
    sources: HealthSources | None = None,
) -> dict[str, Any]:
    """What the scheduled Lambda does: evaluate, store the snapshot, publish the score."""
    settings = settings or get_settings()
    evaluation = evaluate(now, settings=settings, sources=sources)
    key = store_evaluation(evaluation, settings)
    published = True
    try:
        publish_score(evaluation, settings, client=sources.cloudwatch if sources else None)
    except DomainError as error:
        # The snapshot is stored; the next run publishes again. Failing the invocation would make
        # Lambda retry and store a second snapshot for the same instant.
        published = False
        logger.error("health score not published", extra={"reason": error.message})
    outcome = {
        "at": key,
        "healthScore": evaluation.report.healthScore,
        "overallHealth": evaluation.report.overallHealth,
        "completeness": evaluation.report.completeness,
        "sufficientData": evaluation.sufficient_data,
        "missing": evaluation.missing_fields,
        "cloudwatchCalls": evaluation.cloudwatch_calls,
        "published": published,
        "durationMs": evaluation.duration_ms,
    }
    logger.info("health evaluated", extra=outcome)
    return outcome


def health_history(
    query: HistoryQuery, *, now: datetime | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Summary points between start and end (default: the last 24 h), oldest first, bounded."""
    settings = settings or get_settings()
    now = utc(now) if now else datetime.now(UTC)
    end = utc(query.end) if query.end else now
    start = utc(query.start) if query.start else end - DEFAULT_HISTORY
    retention = timedelta(days=settings.health_retention_days)
    errors: list[FieldError] = []
    if start >= end:
        errors.append(FieldError("start", "Must be before end."))
    elif end - start > retention:
        errors.append(
            FieldError("start", f"The window may span at most {settings.health_retention_days} days.")
        )
    if query.limit > settings.health_history_max_points:
        errors.append(FieldError("limit", f"At most {settings.health_history_max_points} points per page."))
    if errors:
        raise ValidationFailed(errors)
    points, cursor = snapshots.summaries(
        start, end, limit=query.limit, cursor=query.cursor, settings=settings
    )
    shown = [p.as_dict() for p in points]
    for point in shown:
        # Points stored before the field existed: from their stored completeness, as for snapshots.
        if point["sufficientData"] is None and point["completeness"] is not None:
            available = available_from_completeness(point["completeness"])
            point["sufficientData"] = sufficient_data(
                available, len(INPUTS), settings.health_min_completeness
            )
    return {
        "start": iso(start),
        "end": iso(end),
        "count": len(points),
        "points": shown,
        "nextCursor": cursor,
        "retentionDays": settings.health_retention_days,
    }
