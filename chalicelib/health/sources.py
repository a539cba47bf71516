"""Reading health inputs from CloudWatch: which queries, and what their answers mean.

One GetMetricData call per window (queries of one window share StartTime/EndTime):
  1. performance  - last 15 min, one bucket: API Gateway, DynamoDB, Lambda (and Lambda Insights);
  2. gauges       - last 24 h in hourly buckets, newest first: the latest value of each gauge;
  3. today        - the current UTC day, one bucket: adoption counts;
  4. rates        - last 7 days, one bucket: numerators and denominators of the quality rates.
A failed call leaves its fields null with the reason; it never fails the evaluation.

A value is never made up: no datapoints means null with a reason, not zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.config import Settings
from chalicelib.errors import UpstreamUnavailable
from chalicelib.health import contract
from chalicelib.health.score import Missing, Ratio
from chalicelib.health.windows import Window, iso, single_bucket_period
from chalicelib.integrations.cloudwatch import Fetch, MetricQuery, get_metric_data

# Gauges are read in hourly buckets, newest first: "latest value" is the average of the most recent
# hour that has data. (5-minute buckets over 24 h would be 288 datapoints per gauge for little gain.)
GAUGE_PERIOD = 3600

CPU_REASON = (
    "Not measurable on AWS Lambda: a function has no host CPU metric to read (Lambda Insights "
    "publishes cpu_total_time, a time, not a utilisation)."
)
DISK_REASON = "Not applicable on AWS Lambda: functions have no persistent disk (only an ephemeral /tmp)."


@dataclass(frozen=True)
class Reading:
    """A value, or None with the reason it is missing."""

    value: float | None
    reason: str | None = None

    @classmethod
    def missing(cls, reason: str) -> Reading:
        return cls(None, reason)

    def rounded(self, digits: int = 2) -> float | None:
        return None if self.value is None else round(self.value, digits)


@dataclass
class SourceRead:
    """What one source call produced: readings by field, score inputs, detail for ?verbose."""

    readings: dict[str, Reading] = field(default_factory=dict)
    ratios: dict[str, Ratio | Missing] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    calls: int = 0


def _describe(fetch: Fetch | None, queries: list[MetricQuery], window: Window) -> dict[str, Any]:
    out: dict[str, Any] = {"window": window.as_dict(), "queries": {}}
    for q in queries:
        series = fetch.get(q.id) if fetch else None
        out["queries"][q.id] = {
            **q.describe(),
            "values": [round(v, 4) for v in series.values] if series else None,
            "timestamps": [iso(t) for t in series.timestamps] if series else None,
        }
    return out


def _fetch(
    queries: list[MetricQuery], window: Window, client: Any, settings: Settings
) -> tuple[Fetch | None, str | None, int]:
    if window.seconds < 60:
        return None, f"the {window.name} window is shorter than a minute (it has just begun)", 0
    try:
        fetch = get_metric_data(queries, window.start, window.end, client=client, settings=settings)
    except UpstreamUnavailable as exc:
        return None, f"CloudWatch did not answer: {exc.message}", 1
    return fetch, None, fetch.calls


def _total(fetch: Fetch | None, query_id: str) -> float | None:
    return fetch.get(query_id).total() if fetch else None


# ---------------------------------------------------------------- performance


def performance_queries(settings: Settings, period: int) -> list[MetricQuery]:
    api = (("ApiName", settings.health_api_name),)
    queries = [
        MetricQuery("api_latency_sum", "AWS/ApiGateway", "Latency", "Sum", period, api),
        MetricQuery("api_latency_n", "AWS/ApiGateway", "Latency", "SampleCount", period, api),
        MetricQuery("api_5xx", "AWS/ApiGateway", "5XXError", "Sum", period, api),
        MetricQuery("api_count", "AWS/ApiGateway", "Count", "Sum", period, api),
    ]
    if settings.percentile_stats:
        queries.append(MetricQuery("api_latency_p95", "AWS/ApiGateway", "Latency", "p95", period, api))
    i = 0
    for table in settings.health_tables:
        for operation in settings.health_dynamodb_operations:
            dims = (("TableName", table), ("Operation", operation))
            queries += [
                MetricQuery(f"ddb{i}_sum", "AWS/DynamoDB", "SuccessfulRequestLatency", "Sum", period, dims),
                MetricQuery(
                    f"ddb{i}_n", "AWS/DynamoDB", "SuccessfulRequestLatency", "SampleCount", period, dims
                ),
            ]
            i += 1
    fn = settings.health_lambda_function
    dims = (("FunctionName", fn),) if fn else ()  # no dimension: the account-wide aggregate
    queries += [
        MetricQuery("fn_errors", "AWS/Lambda", "Errors", "Sum", period, dims),
        MetricQuery("fn_throttles", "AWS/Lambda", "Throttles", "Sum", period, dims),
        MetricQuery("fn_invocations", "AWS/Lambda", "Invocations", "Sum", period, dims),
        MetricQuery("fn_duration_sum", "AWS/Lambda", "Duration", "Sum", period, dims),
        MetricQuery("fn_duration_n", "AWS/Lambda", "Duration", "SampleCount", period, dims),
    ]
    if fn:
        insights = (("function_name", fn),)
        queries.append(
            MetricQuery("fn_memory", "LambdaInsights", "memory_utilization", "Average", period, insights)
        )
    return queries


def read_performance(window: Window, now: datetime, settings: Settings, client: Any = None) -> SourceRead:
    queries = performance_queries(settings, single_bucket_period(window, now))
    fetch, failure, calls = _fetch(queries, window, client, settings)
    out = SourceRead(calls=calls, detail=_describe(fetch, queries, window))
    api = f"AWS/ApiGateway ApiName={settings.health_api_name}"
    r = out.readings

    def none_reason(what: str) -> str:
        return failure or f"no {what} datapoints in the {window.description}"

    lat_sum, lat_n = _total(fetch, "api_latency_sum"), _total(fetch, "api_latency_n")
    if lat_sum is not None and lat_n:
        r["apiResponseTime"] = Reading(lat_sum / lat_n)
    else:
        r["apiResponseTime"] = Reading.missing(none_reason(f"{api} Latency"))

    if not settings.percentile_stats:
        r["apiResponseTimeP95"] = Reading.missing(
            "percentile statistics are switched off (HEALTH_PERCENTILE_STATS; off by default on the "
            "local stage, whose moto CloudWatch cannot compute them)"
        )
    else:
        series = fetch.get("api_latency_p95") if fetch else None
        # One bucket is asked for; if CloudWatch splits the window, the worst bucket is reported.
        r["apiResponseTimeP95"] = (
            Reading(max(series.values))
            if series and series.values
            else Reading.missing(none_reason(f"{api} Latency p95"))
        )

    errors, count = _total(fetch, "api_5xx"), _total(fetch, "api_count")
    r["requestCount"] = Reading(count) if count is not None else Reading.missing(none_reason(f"{api} Count"))
    if count is None:
        out.ratios["errorRate"] = Missing(none_reason(f"{api} Count"))
    elif count <= 0:
        out.ratios["errorRate"] = Missing(f"no API requests in the {window.description}: no error rate")
    elif errors is None:
        out.ratios["errorRate"] = Missing(none_reason(f"{api} 5XXError"))
    else:
        out.ratios["errorRate"] = Ratio(errors, count)
    ratio = out.ratios["errorRate"]
    r["errorRate"] = (
        Reading(float(ratio.percent)) if isinstance(ratio, Ratio) else Reading.missing(ratio.reason)
    )

    db_sum = db_n = 0.0
    seen = False
    i = 0
    for _table in settings.health_tables:
        for _operation in settings.health_dynamodb_operations:
            s, n = _total(fetch, f"ddb{i}_sum"), _total(fetch, f"ddb{i}_n")
            if s is not None and n:
                db_sum, db_n, seen = db_sum + s, db_n + n, True
            i += 1
    tables = ", ".join(settings.health_tables)
    r["databaseResponseTime"] = (
        Reading(db_sum / db_n)
        if seen and db_n
        else Reading.missing(none_reason(f"AWS/DynamoDB SuccessfulRequestLatency for {tables}"))
    )

    fn = settings.health_lambda_function
    scope = f"FunctionName={fn}" if fn else "all functions of the account"
    for field_name, query_id in (
        ("lambdaErrors", "fn_errors"),
        ("lambdaThrottles", "fn_throttles"),
        ("lambdaInvocations", "fn_invocations"),
    ):
        value = _total(fetch, query_id)
        r[field_name] = (
            Reading(value)
            if value is not None
            else Reading.missing(none_reason(f"AWS/Lambda {query_id.split('_')[1].title()} ({scope})"))
        )
    d_sum, d_n = _total(fetch, "fn_duration_sum"), _total(fetch, "fn_duration_n")
    r["lambdaDuration"] = (
        Reading(d_sum / d_n)
        if d_sum is not None and d_n
        else Reading.missing(none_reason(f"AWS/Lambda Duration ({scope})"))
    )
    if not fn:
        r["memoryUsage"] = Reading.missing(
            "no Lambda function configured (HEALTH_LAMBDA_FUNCTION): Lambda Insights publishes "
            "memory_utilization per function only"
        )
    else:
        series = fetch.get("fn_memory") if fetch else None
        r["memoryUsage"] = (
            Reading(sum(series.values) / len(series.values))
            if series and series.values
            else Reading.missing(
                failure
                or f"no LambdaInsights memory_utilization for {fn} in the {window.description} "
                "(is the Lambda Insights extension layer enabled on it?)"
            )
        )
    r["cpuUsage"] = Reading.missing(CPU_REASON)
    r["diskUsage"] = Reading.missing(DISK_REASON)
    return out


# ---------------------------------------------------------------- adoption and quality


def pe_query(settings: Settings, name: str, stat: str, period: int) -> MetricQuery:
    # The aggregate series has no dimensions (the contract); per-workspace copies are not read here.
    query_id = "pe_" + "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return MetricQuery(query_id, settings.health_adoption_namespace, name, stat, period)


def read_gauges(window: Window, settings: Settings, client: Any = None) -> SourceRead:
    queries = [pe_query(settings, name, "Average", GAUGE_PERIOD) for name in contract.GAUGES]
    fetch, failure, calls = _fetch(queries, window, client, settings)
    out = SourceRead(calls=calls, detail=_describe(fetch, queries, window))
    for name, query in zip(contract.GAUGES, queries, strict=True):
        latest = fetch.get(query.id).latest() if fetch else None
        if latest is None:
            out.readings[name] = Reading.missing(
                failure
                or f"no {settings.health_adoption_namespace} {name} datapoints in the {window.description}"
            )
        else:
            out.readings[name] = Reading(latest[1])
            out.detail.setdefault("latestAt", {})[name] = iso(latest[0])
    dau, enabled = out.readings["DailyActiveUsers"], out.readings["EnabledUsers"]
    if dau.value is None:
        out.ratios["dailyActiveUserRatio"] = Missing(dau.reason or "no DailyActiveUsers")
    elif enabled.value is None:
        out.ratios["dailyActiveUserRatio"] = Missing(enabled.reason or "no EnabledUsers")
    elif enabled.value <= 0:
        out.ratios["dailyActiveUserRatio"] = Missing("EnabledUsers is 0: no daily-active share to compute")
    else:
        out.ratios["dailyActiveUserRatio"] = Ratio(dau.value, enabled.value)
    return out


def read_counts(window: Window, now: datetime, settings: Settings, client: Any = None) -> SourceRead:
    period = single_bucket_period(window, now)
    queries = [pe_query(settings, name, "Sum", period) for name in contract.COUNTS]
    fetch, failure, calls = _fetch(queries, window, client, settings)
    out = SourceRead(calls=calls, detail=_describe(fetch, queries, window))
    for name, query in zip(contract.COUNTS, queries, strict=True):
        value = _total(fetch, query.id)
        out.readings[name] = (
            Reading(value)
            if value is not None
            else Reading.missing(
                failure
                or f"no {settings.health_adoption_namespace} {name} datapoints in the {window.description}"
            )
        )
    return out


# (field, numerator metric, denominator metric)
RATE_DEFINITIONS = (
    ("appointmentCompletionRate", "AppointmentsCompleted", "AppointmentsScheduled"),
    ("followUpCompletionRate", "FollowUpsCompleted", "FollowUpsDue"),
    ("reminderDeliverySuccessRate", "RemindersDelivered", "RemindersSent"),
    ("noShowRate", "NoShows", "AppointmentsScheduled"),
)


def read_rates(window: Window, now: datetime, settings: Settings, client: Any = None) -> SourceRead:
    names = sorted({m for _, a, b in RATE_DEFINITIONS for m in (a, b)})
    period = single_bucket_period(window, now)
    queries = [pe_query(settings, name, "Sum", period) for name in names]
    fetch, failure, calls = _fetch(queries, window, client, settings)
    out = SourceRead(calls=calls, detail=_describe(fetch, queries, window))
    totals = {name: _total(fetch, q.id) for name, q in zip(names, queries, strict=True)}
    for field_name, numerator, denominator in RATE_DEFINITIONS:
        num, den = totals[numerator], totals[denominator]
        ratio: Ratio | Missing
        if failure:
            ratio = Missing(failure)
        elif den is None:
            ratio = Missing(f"no {denominator} datapoints in the {window.description}")
        elif den <= 0:
            ratio = Missing(f"{denominator} is 0 in the {window.description}: no rate to compute")
        elif num is None:
            ratio = Missing(f"no {numerator} datapoints in the {window.description}")
        else:
            ratio = Ratio(num, den)
        out.ratios[field_name] = ratio
        out.readings[field_name] = (
            Reading(float(ratio.percent)) if isinstance(ratio, Ratio) else Reading.missing(ratio.reason)
        )
    out.detail["totals"] = totals
    return out
