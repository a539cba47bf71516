"""One health evaluation: read every source, score it, explain it.

Sources are injected (`HealthSources`) so the logic runs against fakes in unit tests; the default
wiring reads CloudWatch, the issues table, and the feedback service (imported lazily: the feedback
capability owns its queries). Every source may fail on its own: its fields turn null with the reason,
the score skips the inputs it would have given, `completeness` says how much was seen and
`sufficientData` whether that is enough (health_min_completeness) to take the score at its word.

AWS calls per evaluation (docs/health.md has the measured figure): 4 GetMetricData (one per window),
2 Query on IssuesTable's openBySeverity index, plus what the feedback service's
satisfaction_in_window and open_feedback make. None of them grows with the amount of stored feedback,
and they are made side by side (chalicelib.parallel): an evaluation waits for the longest chain, two
Queries (one per severity), not for the sum.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.config import Settings, get_settings
from chalicelib.errors import DomainError
from chalicelib.health import stability as stability_rules
from chalicelib.health.score import INPUTS, Missing, Problem, ScoreInputs, compute_score
from chalicelib.health.sources import (
    Reading,
    SourceRead,
    read_counts,
    read_gauges,
    read_performance,
    read_rates,
)
from chalicelib.health.windows import Windows, evaluation_windows, iso, utc
from chalicelib.parallel import run_all
from chalicelib.schemas.health import HealthReport
from chalicelib.store.issues import IssueRecord

SatisfactionFn = Callable[[datetime, datetime], Mapping[str, Any]]
OpenFeedbackFn = Callable[[Sequence[str]], Sequence[Mapping[str, Any]]]
OpenIssuesFn = Callable[[Sequence[str]], Sequence[IssueRecord]]
ActiveAlertsFn = Callable[[], Sequence[Mapping[str, Any]]]

STABILITY_SEVERITIES = ("critical", "high")

BACKDATED_STABILITY = (
    "back-dated evaluation: open issues and feedback are only known as of now, not as of this instant"
)


@dataclass
class HealthSources:
    """Where an evaluation reads from. None means the default (real) source."""

    cloudwatch: Any = None
    satisfaction: SatisfactionFn | None = None
    open_feedback: OpenFeedbackFn | None = None
    open_issues: OpenIssuesFn | None = None
    # The active alerts (firing or acknowledged): shown as stability.activeAlerts, not scored (alerts
    # fire on the same error rate and latency the performance rules already deduct for).
    active_alerts: ActiveAlertsFn | None = None


def default_sources(settings: Settings) -> HealthSources:
    def satisfaction(start: datetime, end: datetime) -> Mapping[str, Any]:
        from chalicelib.feedback.service import satisfaction_in_window

        return satisfaction_in_window(start, end, settings=settings)

    def open_feedback(severities: Sequence[str]) -> Sequence[Mapping[str, Any]]:
        from chalicelib.feedback.service import open_feedback as read_open_feedback

        return read_open_feedback(severities=tuple(severities), settings=settings)

    def open_issues(severities: Sequence[str]) -> Sequence[IssueRecord]:
        from chalicelib.store.issues import open_issues as read_open_issues

        return read_open_issues(severities, settings=settings)

    def active_alerts() -> Sequence[Mapping[str, Any]]:
        from chalicelib.store.alerts import active_alerts as read_active_alerts

        return read_active_alerts(settings)

    return HealthSources(
        satisfaction=satisfaction,
        open_feedback=open_feedback,
        open_issues=open_issues,
        active_alerts=active_alerts,
    )


def _with_defaults(sources: HealthSources | None, settings: Settings) -> HealthSources:
    base = default_sources(settings)
    if sources is None:
        return base
    return HealthSources(
        cloudwatch=sources.cloudwatch,
        satisfaction=sources.satisfaction or base.satisfaction,
        open_feedback=sources.open_feedback or base.open_feedback,
        open_issues=sources.open_issues or base.open_issues,
        active_alerts=sources.active_alerts or base.active_alerts,
    )


def _failure(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    if isinstance(exc, ImportError):
        return f"the source is not installed ({exc})"
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Evaluation:
    at: datetime
    report: HealthReport
    summary: dict[str, Any]
    cloudwatch_calls: int
    duration_ms: float
    # False when fewer than health_min_completeness of the score's inputs had data: a rule that acts
    # on the score (an alert, a page) should not act on this one alone.
    sufficient_data: bool
    missing_fields: list[str] = field(default_factory=list)


def _value(reading: Reading, digits: int = 2) -> float | None:
    return reading.rounded(digits)


def _fetched(fetched: Any) -> Any:
    """A result read side by side with the others, or the exception reading it raised, raised here."""
    if isinstance(fetched, BaseException):
        raise fetched
    return fetched


def _read_feedback(
    fetched: Mapping[str, Any], windows: Windows, backdated: bool
) -> tuple[Reading, int | None, list[Problem] | Missing, list[Problem] | Missing, dict[str, Any]]:
    """Satisfaction and the open problems, from what `evaluate` read (results or exceptions)."""
    detail: dict[str, Any] = {}
    # Satisfaction: average of stored feedback ratings in the window.
    try:
        answer = _fetched(fetched["satisfaction"])
        count = int(answer.get("count") or 0)
        average = answer.get("average")
        detail["satisfaction"] = {
            "window": windows.satisfaction.as_dict(),
            "average": average,
            "count": count,
        }
        if count > 0 and average is not None:
            satisfaction = Reading(float(average))
        else:
            satisfaction = Reading.missing(f"no feedback ratings in the {windows.satisfaction.description}")
        responses: int | None = count
    except Exception as exc:  # noqa: BLE001 - a failing source makes its input missing, never a 500
        satisfaction = Reading.missing(f"feedback ratings could not be read: {_failure(exc)}")
        responses = None
        detail["satisfaction"] = {"error": _failure(exc)}

    if backdated:
        return satisfaction, responses, Missing(BACKDATED_STABILITY), Missing(BACKDATED_STABILITY), detail

    try:
        read_issues = _fetched(fetched["issues"])
        # Both stores read a bounded number per severity and say when there were more
        # (chalicelib.store.base.Capped); a source without the flag is taken as complete.
        issues_truncated = bool(getattr(read_issues, "truncated", False))
        issues = list(read_issues)
    except Exception as exc:  # noqa: BLE001
        reason = f"open issues could not be read: {_failure(exc)}"
        detail["issues"] = {"error": _failure(exc)}
        return satisfaction, responses, Missing(reason), Missing(reason), detail
    try:
        found = _fetched(fetched["openFeedback"])
        truncated = bool(getattr(found, "truncated", False))
        feedback = list(found)
    except Exception as exc:  # noqa: BLE001
        reason = f"open feedback could not be read: {_failure(exc)}"
        detail["openFeedback"] = {"error": _failure(exc)}
        return satisfaction, responses, Missing(reason), Missing(reason), detail
    counted = stability_rules.classify(issues, feedback)
    detail["issues"] = {"open": [i.brief() for i in issues], "truncated": issues_truncated}
    detail["openFeedback"] = {
        "read": len(feedback),
        "truncated": truncated,
        "skippedLinkedToIssue": counted.linked_feedback_skipped,
        "skippedNotAProblem": counted.other_feedback_skipped,
    }
    return satisfaction, responses, counted.critical_errors, counted.high_priority_issues, detail


def evaluate(
    now: datetime | None = None,
    *,
    settings: Settings | None = None,
    sources: HealthSources | None = None,
    backdated: bool = False,
) -> Evaluation:
    """Evaluate health as of `now` (default: the current time).

    `backdated=True` evaluates a past instant from the metric series (the demo's history backfill):
    stability is then missing, since what was open at that instant is not recorded.
    """
    started = time.monotonic()
    settings = settings or get_settings()
    sources = _with_defaults(sources, settings)
    at = utc(now) if now else datetime.now(UTC)
    windows = evaluation_windows(at, settings)
    cw = sources.cloudwatch

    # Every source is read side by side (none depends on another): the evaluation waits for the
    # slowest read, not for the sum of them (README, "Round trips per route").
    reads: dict[str, Callable[[], Any]] = {
        "performance": lambda: read_performance(windows.performance, at, settings, cw),
        "gauges": lambda: read_gauges(windows.gauges, settings, cw),
        "counts": lambda: read_counts(windows.today, at, settings, cw),
        "rates": lambda: read_rates(windows.rates, at, settings, cw),
        "satisfaction": lambda: sources.satisfaction(  # type: ignore[misc]
            windows.satisfaction.start, windows.satisfaction.end
        ),
        "alerts": lambda: sources.active_alerts(),  # type: ignore[misc]
    }
    if not backdated:
        reads["issues"] = lambda: sources.open_issues(STABILITY_SEVERITIES)  # type: ignore[misc]
        reads["openFeedback"] = lambda: sources.open_feedback(STABILITY_SEVERITIES)  # type: ignore[misc]
    fetched = dict(zip(reads, run_all(list(reads.values()), return_exceptions=True), strict=True))
    perf, gauges = _fetched(fetched["performance"]), _fetched(fetched["gauges"])
    counts, rates = _fetched(fetched["counts"]), _fetched(fetched["rates"])
    satisfaction, responses, critical, high, feedback_detail = _read_feedback(fetched, windows, backdated)

    try:
        alerts = Reading(float(len(_fetched(fetched["alerts"]))))
    except Exception as exc:  # noqa: BLE001 - a failing source makes its field missing, never a 500
        alerts = Reading.missing(f"active alerts could not be read: {_failure(exc)}")

    result = compute_score(
        ScoreInputs(
            api_response_time_ms=(
                perf.readings["apiResponseTime"].value
                if perf.readings["apiResponseTime"].value is not None
                else Missing(perf.readings["apiResponseTime"].reason or "missing")
            ),
            error_rate=perf.ratios["errorRate"],
            daily_active_ratio=gauges.ratios["dailyActiveUserRatio"],
            appointment_completion=rates.ratios["appointmentCompletionRate"],
            satisfaction=(
                satisfaction.value
                if satisfaction.value is not None
                else Missing(satisfaction.reason or "missing")
            ),
            critical_errors=critical,
            high_priority_issues=high,
        )
    )

    body, missing = _flatten(_sections(perf, gauges, counts, rates, satisfaction))
    body["quality"]["satisfactionResponses"] = responses

    stability_body: dict[str, Any] = {"problems": [], "activeAlerts": None}
    for key, problems in (("criticalErrors", critical), ("highPriorityIssues", high)):
        if isinstance(problems, Missing):
            stability_body[key] = None
            missing.append({"field": f"stability.{key}", "reason": problems.reason, "scoreInput": True})
        else:
            stability_body[key] = len(problems)
            stability_body["problems"] += [{**p.as_dict(), "counts": key} for p in problems]
    if alerts.value is None:
        missing.append({"field": "stability.activeAlerts", "reason": alerts.reason, "scoreInput": False})
    else:
        stability_body["activeAlerts"] = int(alerts.value)

    cloudwatch_calls = perf.calls + gauges.calls + counts.calls + rates.calls
    sufficient = result.sufficient(settings.health_min_completeness)
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    report = HealthReport(
        healthScore=result.score,
        overallHealth=result.band,
        evaluatedAt=iso(at),
        performance=body["performance"],
        adoption=body["adoption"],
        quality=body["quality"],
        stability=stability_body,
        deductions=[d.as_dict() for d in result.deductions],
        missing=missing,
        completeness=result.completeness,
        sufficientData=sufficient,
        minCompleteness=settings.health_min_completeness,
        scoreInputs={
            "available": result.available,
            "total": result.total,
            "names": list(INPUTS),
            "values": result.inputs,
            "rawScore": result.raw,
            "clamped": result.clamped,
        },
        windows=windows.as_dict(),
        backfilled=backdated,
        details={
            "cloudwatch": {
                "calls": cloudwatch_calls,
                "performance": perf.detail,
                "adoptionGauges": gauges.detail,
                "adoptionCounts": counts.detail,
                "rates": rates.detail,
                "settings": {
                    "apiName": settings.health_api_name,
                    "lambdaFunction": settings.health_lambda_function,
                    "dynamodbTables": settings.health_tables,
                    "dynamodbOperations": settings.health_dynamodb_operations,
                    "adoptionNamespace": settings.health_adoption_namespace,
                    "percentileStats": settings.percentile_stats,
                },
            },
            "feedback": feedback_detail,
            "alerts": {"available": alerts.value is not None, "reason": alerts.reason},
            "evaluation": {"durationMs": duration_ms},
        },
    )
    summary = {
        "healthScore": result.score,
        "overallHealth": result.band,
        "completeness": result.completeness,
        "sufficientData": sufficient,
        "apiResponseTime": body["performance"]["apiResponseTime"],
        "errorRate": body["performance"]["errorRate"],
        "requests": body["performance"]["requestCount"],
    }
    return Evaluation(
        at=at,
        report=report,
        summary=summary,
        cloudwatch_calls=cloudwatch_calls,
        duration_ms=duration_ms,
        sufficient_data=sufficient,
        missing_fields=[m["field"] for m in missing],
    )


def _ratio_reading(read: SourceRead, name: str) -> Reading:
    ratio = read.ratios[name]
    if isinstance(ratio, Missing):
        return Reading.missing(ratio.reason)
    return Reading(float(ratio.percent))


SCORE_FIELDS = frozenset(
    {
        "performance.apiResponseTime",
        "performance.errorRate",
        "adoption.dailyActiveUserRatio",
        "quality.appointmentCompletionRate",
        "quality.userSatisfactionScore",
    }
)


def _sections(
    perf: SourceRead, gauges: SourceRead, counts: SourceRead, rates: SourceRead, satisfaction: Reading | None
) -> dict[str, dict[str, Reading]]:
    """The seed's metric groups (and our additions), field by field."""
    pr, gr, cr, rr = perf.readings, gauges.readings, counts.readings, rates.readings
    quality = {
        "appointmentCompletionRate": rr["appointmentCompletionRate"],
        "followUpCompletionRate": rr["followUpCompletionRate"],
        "reminderDeliverySuccessRate": rr["reminderDeliverySuccessRate"],
        "noShowRate": rr["noShowRate"],
    }
    if satisfaction is not None:
        quality["userSatisfactionScore"] = satisfaction
    return {
        "performance": {
            name: pr[name]
            for name in (
                "apiResponseTime",
                "apiResponseTimeP95",
                "databaseResponseTime",
                "memoryUsage",
                "cpuUsage",
                "diskUsage",
                "errorRate",
                "requestCount",
                "lambdaErrors",
                "lambdaThrottles",
                "lambdaInvocations",
                "lambdaDuration",
            )
        },
        "adoption": {
            "totalActiveWorkspaces": gr["ActiveWorkspaces"],
            "enabledUsers": gr["EnabledUsers"],
            "dailyActiveUsers": gr["DailyActiveUsers"],
            "weeklyActiveUsers": gr["WeeklyActiveUsers"],
            "dailyActiveUserRatio": _ratio_reading(gauges, "dailyActiveUserRatio"),
            "appointmentsCreatedToday": cr["AppointmentsCreated"],
            "followUpsCompletedToday": cr["FollowUpsCompleted"],
            "remindersDeliveredToday": cr["RemindersDelivered"],
            "patientPortalUsage": cr["PatientPortalSessions"],
        },
        "quality": quality,
    }


def _flatten(sections: dict[str, dict[str, Reading]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Values by section (rates to 4 decimals, the rest to 2) and every null field with its reason."""
    missing: list[dict[str, Any]] = []
    body: dict[str, Any] = {}
    for section, readings in sections.items():
        body[section] = {}
        for name, reading in readings.items():
            body[section][name] = _value(reading, 4 if name.endswith(("Rate", "Ratio")) else 2)
            if reading.value is None:
                path = f"{section}.{name}"
                missing.append(
                    {"field": path, "reason": reading.reason or "missing", "scoreInput": path in SCORE_FIELDS}
                )
    return body, missing


def read_metrics(
    now: datetime | None = None, *, settings: Settings | None = None, client: Any = None
) -> dict[str, Any]:
    """The CloudWatch metrics alone (performance, adoption, quality rates): the same four
    GetMetricData calls as an evaluation, no score, nothing stored. For `post-launch-monitor metrics`."""
    settings = settings or get_settings()
    at = utc(now) if now else datetime.now(UTC)
    windows = evaluation_windows(at, settings)
    perf = read_performance(windows.performance, at, settings, client)
    gauges = read_gauges(windows.gauges, settings, client)
    counts = read_counts(windows.today, at, settings, client)
    rates = read_rates(windows.rates, at, settings, client)
    body, missing = _flatten(_sections(perf, gauges, counts, rates, None))
    windows_shown = windows.as_dict()
    windows_shown.pop("satisfaction")
    return {
        "evaluatedAt": iso(at),
        **body,
        "missing": missing,
        "windows": windows_shown,
        "cloudwatchCalls": perf.calls + gauges.calls + counts.calls + rates.calls,
        "source": {
            "apiName": settings.health_api_name,
            "lambdaFunction": settings.health_lambda_function,
            "dynamodbTables": settings.health_tables,
            "adoptionNamespace": settings.health_adoption_namespace,
        },
    }
