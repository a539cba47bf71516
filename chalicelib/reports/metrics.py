"""Success metrics of a report period (docs/reports.md, "Success metrics").

The CloudWatch figures come from ONE GetMetricData call over the period, every query a single bucket
as long as the period: the Patient Engagement counts and gauges of the metric contract (README
"System health"), and API Gateway's Count, 5XXError and (where percentiles are served) p95 Latency
for the API health reads. The others come from what the report has read already: the ratings rollup
(satisfaction), the feedback summary (support requests) and the stored health points (uptime when
API Gateway has no requests).

Every metric is {name, label, value, unit, target, comparison, met, source, figures} and, when
`value` is null, `reason`. Nothing is made up: a metric without data is null with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.config import Settings
from chalicelib.errors import UpstreamUnavailable
from chalicelib.health import slo
from chalicelib.health.score import Ratio
from chalicelib.health.sources import RATE_DEFINITIONS, pe_query
from chalicelib.health.windows import Window, single_bucket_period
from chalicelib.integrations.cloudwatch import Fetch, MetricQuery, get_metric_data
from chalicelib.store.health import Summary

DAYS_PER_MONTH = 30
ADOPTION_GAUGES = ("DailyActiveUsers", "EnabledUsers")
PERCENTILES_OFF = (
    "percentile statistics are switched off (HEALTH_PERCENTILE_STATS; off by default on the local "
    "stage, whose moto CloudWatch cannot compute p95)"
)


def _query_id(name: str, stat: str) -> str:
    return f"pe_{stat.lower()}_{name}"


def count_names(settings: Settings) -> list[str]:
    """The contract counts a report sums: the rates' numerators and denominators, and engagement's."""
    rated = {metric for _, a, b in RATE_DEFINITIONS for metric in (a, b)}
    return sorted(rated | set(settings.report_engagement_metrics))


def metric_queries(settings: Settings, period: int) -> list[MetricQuery]:
    api = (("ApiName", settings.health_api_name),)
    queries = [
        MetricQuery(_query_id(name, "Sum"), q.namespace, q.metric, q.stat, period)
        for name in count_names(settings)
        for q in [pe_query(settings, name, "Sum", period)]
    ]
    queries += [
        MetricQuery(_query_id(name, "Average"), q.namespace, q.metric, q.stat, period)
        for name in ADOPTION_GAUGES
        for q in [pe_query(settings, name, "Average", period)]
    ]
    queries += [
        MetricQuery("api_count", "AWS/ApiGateway", "Count", "Sum", period, api),
        MetricQuery("api_5xx", "AWS/ApiGateway", "5XXError", "Sum", period, api),
    ]
    if settings.percentile_stats:
        queries.append(MetricQuery("api_p95", "AWS/ApiGateway", "Latency", "p95", period, api))
    return queries


@dataclass
class Measured:
    """What CloudWatch said about the period: totals by metric name (None: no datapoints), or the
    reason nothing could be read."""

    totals: dict[str, float | None] = field(default_factory=dict)
    averages: dict[str, float | None] = field(default_factory=dict)
    api_requests: float | None = None
    api_errors: float | None = None
    api_p95: float | None = None
    failure: str | None = None
    calls: int = 0
    description: str = "report period"

    def missing(self, what: str) -> str:
        return self.failure or f"no {what} datapoints in the {self.description}"


def read_measured(window: Window, now: datetime, settings: Settings, client: Any = None) -> Measured:
    """One GetMetricData call (one per 500 queries) over the period; a failure leaves every figure
    null with the reason, it never fails the report."""
    measured = Measured(description=window.description)
    if window.seconds < 60:
        measured.failure = "the period holds less than a minute of the past: CloudWatch has nothing for it"
        return measured
    queries = metric_queries(settings, single_bucket_period(window, now))
    try:
        fetch: Fetch = get_metric_data(queries, window.start, window.end, client=client, settings=settings)
    except UpstreamUnavailable as exc:
        measured.failure = f"CloudWatch did not answer: {exc.message}"
        measured.calls = 1
        return measured
    measured.calls = fetch.calls
    for name in count_names(settings):
        measured.totals[name] = fetch.get(_query_id(name, "Sum")).total()
    for name in ADOPTION_GAUGES:
        values = fetch.get(_query_id(name, "Average")).values
        measured.averages[name] = sum(values) / len(values) if values else None
    measured.api_requests = fetch.get("api_count").total()
    measured.api_errors = fetch.get("api_5xx").total()
    p95 = fetch.get("api_p95").values
    # One bucket is asked for; should CloudWatch split the period, the worst bucket is reported.
    measured.api_p95 = max(p95) if p95 else None
    return measured


# ---------------------------------------------------------------- the metrics


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _met(value: float | None, comparison: str, target: float) -> bool | None:
    if value is None:
        return None
    return {">=": value >= target, "<=": value <= target, "<": value < target}[comparison]


def metric(
    name: str,
    label: str,
    value: float | None,
    unit: str,
    target: float,
    comparison: str,
    source: str,
    *,
    reason: str | None = None,
    figures: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "label": label,
        "value": _round(value),
        "unit": unit,
        "target": target,
        "comparison": comparison,
        "met": _met(value, comparison, target),
        "source": source,
        "figures": figures or {},
    }
    if value is None:
        out["reason"] = reason or "no data"
    return out


def _rate(measured: Measured, numerator: str, denominator: str) -> tuple[float | None, str | None]:
    if measured.failure:
        return None, measured.failure
    num, den = measured.totals.get(numerator), measured.totals.get(denominator)
    if den is None:
        return None, measured.missing(denominator)
    if den <= 0:
        return None, f"{denominator} is 0 in the {measured.description}: no rate to compute"
    if num is None:
        return None, measured.missing(numerator)
    return float(Ratio(num, den).percent), None


RATES = {field_name: (a, b) for field_name, a, b in RATE_DEFINITIONS}


def engagement(measured: Measured, period_days: float, settings: Settings) -> dict[str, Any]:
    names = settings.report_engagement_metrics
    baseline = settings.report_engagement_baseline_monthly
    target = settings.report_engagement_target_percent
    source = (
        f"CloudWatch {settings.health_adoption_namespace} Sum({' + '.join(names)}) over the period, "
        f"per {DAYS_PER_MONTH} days, against REPORT_ENGAGEMENT_BASELINE_MONTHLY"
    )
    figures: dict[str, Any] = {"baselineMonthly": baseline, "periodDays": round(period_days, 3)}
    reason = None
    value = None
    missing = [n for n in names if measured.totals.get(n) is None]
    if measured.failure:
        reason = measured.failure
    elif missing:
        reason = "; ".join(measured.missing(n) for n in missing)
    elif period_days <= 0:
        reason = "the period has not begun"
    else:
        interactions = sum(measured.totals[n] or 0 for n in names)
        monthly = interactions * DAYS_PER_MONTH / period_days
        figures |= {"interactions": interactions, "monthly": round(monthly, 2)}
        if baseline is None:
            reason = (
                "no baseline configured (REPORT_ENGAGEMENT_BASELINE_MONTHLY: patient interactions per "
                f"{DAYS_PER_MONTH} days before the module)"
            )
        else:
            value = (monthly - baseline) / baseline * 100
    return metric(
        "patientEngagementChange",
        "Patient engagement change",
        value,
        "percent",
        target,
        ">=",
        source,
        reason=reason,
        figures=figures,
    )


def _support_trend(feedback: dict[str, Any], settings: Settings) -> dict[str, Any]:
    days = feedback.get("volumePerDay") or []
    half = len(days) // 2
    first = sum(d["count"] for d in days[:half])
    second = sum(d["count"] for d in days[len(days) - half :]) if half else 0
    figures = {"firstHalf": first, "secondHalf": second, "daysPerHalf": half}
    value, reason = None, None
    if half == 0:
        reason = "the period is a single day: no halves to compare"
    elif first == 0:
        reason = "no feedback in the period's first half: no volume to compare against"
    else:
        value = (second - first) / first * 100
    return metric(
        "supportRequestsTrend",
        "Support requests (feedback volume) trend",
        value,
        "percent",
        settings.report_target_support_change_percent,
        "<=",
        "feedback summary volumePerDay: the period's second half against its first (the middle day of "
        "an odd number left out)",
        reason=reason,
        figures=figures,
    )


def success_metrics(
    measured: Measured,
    *,
    period_days: float,
    satisfaction: dict[str, Any],
    feedback: dict[str, Any],
    health_points: list[Summary],
    settings: Settings,
) -> list[dict[str, Any]]:
    """The report's success metrics, in the seed's order (business, then technical, then adoption)."""
    ns = settings.health_adoption_namespace
    api = f"CloudWatch AWS/ApiGateway ApiName={settings.health_api_name}"
    out = [engagement(measured, period_days, settings)]
    for name, label, field_name, target, comparison in (
        (
            "followUpCompletion",
            "Follow-up completion",
            "followUpCompletionRate",
            settings.report_target_follow_up_completion_percent,
            ">=",
        ),
        ("noShowRate", "No-show rate", "noShowRate", settings.report_target_no_show_percent, "<="),
        (
            "reminderDeliverySuccess",
            "Reminder delivery success",
            "reminderDeliverySuccessRate",
            settings.report_target_reminder_delivery_percent,
            ">=",
        ),
    ):
        numerator, denominator = RATES[field_name]
        value, reason = _rate(measured, numerator, denominator)
        figures = {numerator: measured.totals.get(numerator), denominator: measured.totals.get(denominator)}
        source = f"CloudWatch {ns} Sum({numerator}) / Sum({denominator}) over the period"
        out.append(
            metric(name, label, value, "percent", target, comparison, source, reason=reason, figures=figures)
        )

    requests, errors = measured.api_requests, measured.api_errors
    has_traffic = not measured.failure and requests is not None and requests > 0 and errors is not None
    api_reason = measured.failure or (
        f"no API Gateway requests for ApiName={settings.health_api_name} in the {measured.description}"
    )
    api_figures = {"requests": requests, "serverErrors": errors}
    if has_traffic:
        out.append(
            metric(
                "uptime",
                "Uptime",
                100 * (1 - errors / requests),
                "percent",
                settings.slo_availability_target,
                ">=",
                f"{api}: requests without a 5xx over the period (the availability SLI, docs/health.md)",
                figures=api_figures,
            )
        )
    else:
        counted = slo.snapshot_uptime(health_points)
        out.append(
            metric(
                "uptime",
                "Uptime",
                counted["uptime"],
                "percent",
                settings.slo_availability_target,
                ">=",
                "stored health evaluations with traffic whose error rate was at most "
                f"{slo.DOWN_ERROR_RATE} % (API Gateway had no requests: {api_reason})",
                reason=f"{api_reason}; and no stored health evaluation with traffic in the period",
                figures={"evaluationsWithTraffic": counted["withTraffic"], "down": counted["down"]},
            )
        )
    out.append(
        metric(
            "errorRate",
            "Error rate",
            100 * errors / requests if has_traffic else None,
            "percent",
            settings.report_target_error_rate_percent,
            "<",
            f"{api}: Sum(5XXError) / Sum(Count) over the period",
            reason=api_reason,
            figures=api_figures,
        )
    )
    if not settings.percentile_stats:
        p95_reason = PERCENTILES_OFF
    else:
        p95_reason = measured.missing(f"AWS/ApiGateway ApiName={settings.health_api_name} Latency p95")
    out.append(
        metric(
            "apiLatencyP95",
            "API response time p95",
            measured.api_p95,
            "ms",
            settings.slo_latency_threshold_ms,
            "<",
            f"{api}: Latency p95 over the period",
            reason=p95_reason,
        )
    )

    dau, enabled = (measured.averages.get(n) for n in ADOPTION_GAUGES)
    adoption, adoption_reason = None, None
    if measured.failure:
        adoption_reason = measured.failure
    elif dau is None:
        adoption_reason = measured.missing("DailyActiveUsers")
    elif enabled is None:
        adoption_reason = measured.missing("EnabledUsers")
    elif enabled <= 0:
        adoption_reason = "EnabledUsers averaged 0 over the period: no share to compute"
    else:
        adoption = 100 * dau / enabled
    out.append(
        metric(
            "featureAdoption",
            "Feature adoption",
            adoption,
            "percent",
            settings.report_target_feature_adoption_percent,
            ">=",
            f"CloudWatch {ns} Average(DailyActiveUsers) / Average(EnabledUsers) over the period",
            reason=adoption_reason,
            figures={"dailyActiveUsers": _round(dau), "enabledUsers": _round(enabled)},
        )
    )
    out.append(
        metric(
            "userSatisfaction",
            "User satisfaction",
            satisfaction.get("average"),
            "rating (1-5)",
            settings.report_target_satisfaction,
            ">=",
            "feedback satisfactionRating: the daily ratings rollup over the period's days (every workspace)",
            reason="no satisfaction ratings in the period",
            figures={"ratings": satisfaction.get("count", 0)},
        )
    )
    out.append(_support_trend(feedback, settings))
    return out
