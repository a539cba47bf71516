"""The alert rules: what each one reads, when it fires (docs/alerts.md, "Rules").

One evaluation (`evaluate`) reads, at most:
- one GetMetricData call for every CloudWatch rule (one-minute datapoints of API Gateway 5XXError,
  Count and Latency, Lambda Insights memory, our own AuthFailures);
- one Query for the latest health snapshot (SystemDown, LowAdoption, HealthDataMissing);
- one DescribeContinuousBackups per table of the stack (DataLossRisk);
- the recent feedback through the byMonth index, bounded (FeatureFailure, SimilarComplaints);
- the active alerts, and resolved alerts first seen within the integration window (IntegrationFailure).

A rule that cannot be judged (no datapoints, a read failing) is reported under `notEvaluated` with
the reason, and `apply_evaluation` leaves its alerts as they are: missing data never resolves an alert.
"Sustained for N minutes" is judged from the metric's own one-minute datapoints, as a CloudWatch alarm
counts them: the newest N datapoints within the last N + alert_metric_delay_minutes minutes all breach.
No memory of earlier evaluations is needed, so a late or skipped run delays nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.alerts import engine
from chalicelib.alerts.model import Condition
from chalicelib.config import Settings, get_settings
from chalicelib.errors import DomainError
from chalicelib.feedback.windows import iso, utcnow
from chalicelib.health.stability import PROBLEM_CATEGORIES
from chalicelib.integrations.cloudwatch import Fetch, MetricQuery, get_metric_data
from chalicelib.observability import AUTH_FAILURES_METRIC, NAMESPACE, SERVICE, logger

MINUTE = 60

# Rule name -> severity (the seed's four levels).
RULES: dict[str, str] = {
    "HighErrorRate": "critical",
    "SystemDown": "critical",
    "DataLossRisk": "critical",
    "SecurityBreach": "critical",
    "PerformanceDegradation": "error",
    "HighMemoryUsage": "error",
    "FeatureFailure": "error",
    "IntegrationFailure": "error",
    "ElevatedErrorRate": "warning",
    "SlowAPIResponse": "warning",
    "LowAdoption": "warning",
    "SimilarComplaints": "warning",
    "HealthDataMissing": "warning",
}
# Fired on events, never by the scheduled evaluation (so never auto-resolved by it).
CRITICAL_BUG_REPORT = "CriticalBugReport"


class NotEvaluated(Exception):
    """The rule could not be judged this time; the reason says why. `conditions` are what it could
    see firing all the same (recorded, but the rule's other alerts are not resolved)."""

    def __init__(self, reason: str, conditions: list[Condition] | None = None):
        super().__init__(reason)
        self.conditions = list(conditions or [])


@dataclass
class Readings:
    """What one evaluation read, shared by the rules."""

    now: datetime
    end: datetime  # the current minute's start: the newest complete minute ends here
    settings: Settings
    metrics: Fetch | None = None
    metrics_failure: str | None = None
    snapshot: dict[str, Any] | None = None
    snapshot_at: datetime | None = None
    snapshot_failure: str | None = None
    feedback: list[dict[str, Any]] | None = None
    feedback_failure: str | None = None
    calls: Counter = field(default_factory=Counter)

    def minutes(self, query_id: str) -> list[tuple[datetime, float]]:
        """One-minute datapoints of a query, newest first."""
        if self.metrics is None:
            raise NotEvaluated(self.metrics_failure or "CloudWatch was not read")
        series = self.metrics.get(query_id)
        return sorted(zip(series.timestamps, series.values, strict=False), key=lambda p: p[0], reverse=True)


@dataclass
class RuleRun:
    conditions: list[Condition]
    evaluated: set[str]
    not_evaluated: dict[str, str]
    calls: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "firing": sorted({c.rule for c in self.conditions}),
            "evaluated": sorted(self.evaluated),
            "notEvaluated": dict(sorted(self.not_evaluated.items())),
            "calls": dict(self.calls),
        }


# ---------------------------------------------------------------- reading


def _api(settings: Settings) -> tuple[tuple[str, str], ...]:
    return (("ApiName", settings.health_api_name),)


def metric_queries(settings: Settings) -> list[MetricQuery]:
    api = _api(settings)
    queries = [
        MetricQuery("api_5xx", "AWS/ApiGateway", "5XXError", "Sum", MINUTE, api),
        MetricQuery("api_count", "AWS/ApiGateway", "Count", "Sum", MINUTE, api),
        MetricQuery("api_latency", "AWS/ApiGateway", "Latency", "Average", MINUTE, api),
        MetricQuery("auth_failures", NAMESPACE, AUTH_FAILURES_METRIC, "Sum", MINUTE, (("service", SERVICE),)),
    ]
    if settings.percentile_stats:
        queries.append(MetricQuery("api_latency_p95", "AWS/ApiGateway", "Latency", "p95", MINUTE, api))
    if settings.health_lambda_function:
        insights = (("function_name", settings.health_lambda_function),)
        queries.append(
            MetricQuery("fn_memory", "LambdaInsights", "memory_utilization", "Maximum", MINUTE, insights)
        )
    return queries


def lookback_minutes(settings: Settings) -> int:
    longest = max(
        settings.alert_high_error_rate_minutes,
        settings.alert_elevated_error_rate_minutes,
        settings.alert_degraded_latency_minutes,
        settings.alert_slow_latency_minutes,
        settings.alert_memory_minutes,
        settings.alert_auth_failures_minutes,
        settings.alert_no_traffic_minutes,
    )
    return longest + settings.alert_metric_delay_minutes


def _failure(exc: Exception) -> str:
    return exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"


def read(now: datetime | None, settings: Settings, cloudwatch: Any = None) -> Readings:
    moment = now or utcnow()
    end = moment.replace(second=0, microsecond=0)
    readings = Readings(now=moment, end=end, settings=settings)
    start = end - timedelta(minutes=lookback_minutes(settings))
    try:
        readings.metrics = get_metric_data(
            metric_queries(settings), start, end, client=cloudwatch, settings=settings
        )
        readings.calls["cloudwatch:GetMetricData"] += readings.metrics.calls
    except DomainError as exc:
        readings.calls["cloudwatch:GetMetricData"] += 1
        readings.metrics_failure = f"CloudWatch did not answer: {exc.message}"

    from chalicelib.store import health as snapshots

    try:
        readings.calls["dynamodb:Query"] += 1
        latest = snapshots.latest_snapshot(settings, before=moment)
        if latest is not None:
            readings.snapshot, readings.snapshot_at = latest.report, latest.at
    except Exception as exc:  # noqa: BLE001 - a failing source makes its rules not evaluated
        readings.snapshot_failure = f"health snapshots could not be read: {_failure(exc)}"

    from chalicelib.feedback.service import recent_feedback

    window = max(settings.alert_feature_failure_minutes, settings.alert_similar_complaints_minutes)
    try:
        found = recent_feedback(
            moment - timedelta(minutes=window), moment, settings.alert_feedback_max_items, settings
        )
        readings.feedback = list(found)
        readings.calls["dynamodb:Query"] += found.queries
        if found.truncated:
            logger.warning("alert rules read a truncated feedback window", extra={"read": len(found)})
    except Exception as exc:  # noqa: BLE001
        readings.feedback_failure = f"feedback could not be read: {_failure(exc)}"
    return readings


# ---------------------------------------------------------------- helpers


def _recent(
    points: list[tuple[datetime, float]], readings: Readings, minutes: int
) -> list[tuple[datetime, float]]:
    """The datapoints within the last `minutes` + the publishing delay, newest first."""
    since = readings.end - timedelta(minutes=minutes + readings.settings.alert_metric_delay_minutes)
    return [(t, v) for t, v in points if t >= since]


def _sustained(
    points: list[tuple[datetime, float]], minutes: int, breach: Callable[[float], bool]
) -> tuple[bool, list[float]]:
    """(all of the newest `minutes` datapoints breach, those values newest first)."""
    newest = [v for _, v in points[:minutes]]
    return len(newest) == minutes and all(breach(v) for v in newest), newest


def _error_rates(readings: Readings, minutes: int) -> list[tuple[datetime, float]]:
    """Per-minute 5xx rate (percent) for the minutes that had requests, newest first."""
    counts = dict(_recent(readings.minutes("api_count"), readings, minutes))
    errors = dict(readings.minutes("api_5xx"))
    rates = [(t, 100.0 * errors.get(t, 0.0) / n) for t, n in counts.items() if n > 0]
    if not rates:
        raise NotEvaluated(
            f"no API requests with datapoints in the last "
            f"{minutes + readings.settings.alert_metric_delay_minutes} minutes "
            f"(AWS/ApiGateway ApiName={readings.settings.health_api_name})"
        )
    return sorted(rates, key=lambda p: p[0], reverse=True)


def _fmt(values: list[float], unit: str) -> str:
    return ", ".join(f"{v:.1f}{unit}" for v in values)


# ---------------------------------------------------------------- CloudWatch rules


def high_error_rate(r: Readings) -> list[Condition]:
    s = r.settings
    n, limit = s.alert_high_error_rate_minutes, s.alert_high_error_rate_percent
    breached, values = _sustained(_error_rates(r, n), n, lambda v: v > limit)
    if not breached:
        return []
    return [
        Condition(
            "HighErrorRate",
            RULES["HighErrorRate"],
            f"5xx rate above {limit:g} % for {n} minutes ({_fmt(values, ' %')}, newest first)",
            {"api": s.health_api_name},
            round(values[0], 2),
            limit,
        )
    ]


def elevated_error_rate(r: Readings) -> list[Condition]:
    """From the elevated threshold up; while HighErrorRate fires for the API, that alert says it."""
    s = r.settings
    n, limit = s.alert_elevated_error_rate_minutes, s.alert_elevated_error_rate_percent
    breached, values = _sustained(_error_rates(r, n), n, lambda v: v > limit)
    if not breached or _high_fires(r):
        return []
    return [
        Condition(
            "ElevatedErrorRate",
            RULES["ElevatedErrorRate"],
            f"5xx rate above {limit:g} % for {n} minutes ({_fmt(values, ' %')}, newest first)",
            {"api": s.health_api_name},
            round(values[0], 2),
            limit,
        )
    ]


def _high_fires(r: Readings) -> bool:
    try:
        return bool(high_error_rate(r))
    except NotEvaluated:
        return False


def _latency(r: Readings, minutes: int, query_id: str) -> list[tuple[datetime, float]]:
    points = _recent(r.minutes(query_id), r, minutes)
    if not points:
        raise NotEvaluated(
            f"no AWS/ApiGateway Latency datapoints in the last "
            f"{minutes + r.settings.alert_metric_delay_minutes} minutes "
            f"(ApiName={r.settings.health_api_name})"
        )
    return points


def performance_degradation(r: Readings) -> list[Condition]:
    s = r.settings
    n, limit = s.alert_degraded_latency_minutes, s.alert_degraded_latency_ms
    breached, values = _sustained(_latency(r, n, "api_latency"), n, lambda v: v > limit)
    if not breached:
        return []
    return [
        Condition(
            "PerformanceDegradation",
            RULES["PerformanceDegradation"],
            f"average API response time above {limit:g} ms for {n} minutes ({_fmt(values, ' ms')})",
            {"api": s.health_api_name},
            round(values[0], 1),
            limit,
        )
    ]


def slow_api_response(r: Readings) -> list[Condition]:
    """p95 where CloudWatch computes percentiles (HEALTH_PERCENTILE_STATS), else the average: the
    summary says which."""
    s = r.settings
    n, limit = s.alert_slow_latency_minutes, s.alert_slow_latency_ms
    statistic, query_id = ("p95", "api_latency_p95") if s.percentile_stats else ("average", "api_latency")
    breached, values = _sustained(_latency(r, n, query_id), n, lambda v: v > limit)
    if not breached:
        return []
    return [
        Condition(
            "SlowAPIResponse",
            RULES["SlowAPIResponse"],
            f"API response time ({statistic}) above {limit:g} ms for {n} minutes ({_fmt(values, ' ms')})"
            + ("" if statistic == "p95" else "; p95 unavailable (percentile statistics off), average used"),
            {"api": s.health_api_name},
            round(values[0], 1),
            limit,
        )
    ]


def high_memory_usage(r: Readings) -> list[Condition]:
    s = r.settings
    fn = s.health_lambda_function
    if not fn:
        raise NotEvaluated(
            "no Lambda function configured (HEALTH_LAMBDA_FUNCTION): Lambda Insights publishes "
            "memory_utilization per function only"
        )
    n, limit = s.alert_memory_minutes, s.alert_memory_percent
    points = _recent(r.minutes("fn_memory"), r, n)
    if not points:
        raise NotEvaluated(
            f"no LambdaInsights memory_utilization for {fn} (is the Lambda Insights extension enabled on it?)"
        )
    breached, values = _sustained(points, n, lambda v: v > limit)
    if not breached:
        return []
    return [
        Condition(
            "HighMemoryUsage",
            RULES["HighMemoryUsage"],
            f"memory use of {fn} above {limit:g} % for {n} minutes ({_fmt(values, ' %')})",
            {"function": fn},
            round(values[0], 1),
            limit,
        )
    ]


def security_breach(r: Readings) -> list[Condition]:
    """Our AuthFailures metric (401 and 403 answers, chalicelib.web) summed over the window. The
    metric is only published when a failure happens, so no datapoints is zero, not unknown."""
    s = r.settings
    n, limit = s.alert_auth_failures_minutes, s.alert_auth_failures_count
    since = r.end - timedelta(minutes=n)
    total = sum(v for t, v in r.minutes("auth_failures") if t >= since)
    if total < limit:
        return []
    return [
        Condition(
            "SecurityBreach",
            RULES["SecurityBreach"],
            f"{total:g} answers 401/403 in the last {n} minutes (at least {limit} fire this)",
            {"service": SERVICE},
            float(total),
            float(limit),
        )
    ]


# ---------------------------------------------------------------- health snapshot rules


def _snapshot(r: Readings) -> dict[str, Any]:
    if r.snapshot_failure:
        raise NotEvaluated(r.snapshot_failure)
    if r.snapshot is None or r.snapshot_at is None or _stale(r):
        raise NotEvaluated("no fresh health snapshot (see SystemDown)")
    return r.snapshot


def _stale(r: Readings) -> bool:
    return r.snapshot_at is None or r.now - r.snapshot_at > timedelta(
        minutes=r.settings.alert_health_stale_minutes
    )


def system_down(r: Readings) -> list[Condition]:
    """Two causes, two alerts: the health evaluation is not producing snapshots; or the API had no
    requests at all while the module reports active workspaces."""
    s = r.settings
    if r.snapshot_failure:
        raise NotEvaluated(r.snapshot_failure)
    found: list[Condition] = []
    if _stale(r):
        age = "none stored" if r.snapshot_at is None else f"the latest is from {iso(r.snapshot_at)}"
        found.append(
            Condition(
                "SystemDown",
                RULES["SystemDown"],
                f"health evaluation failing: no snapshot in the last {s.alert_health_stale_minutes} "
                f"minutes ({age})",
                {"cause": "health-evaluation"},
                None,
                float(s.alert_health_stale_minutes),
            )
        )
        return found
    workspaces = ((r.snapshot or {}).get("adoption") or {}).get("totalActiveWorkspaces")
    if not workspaces:
        return found  # nobody is expected to use the API (or the module reports nothing): no outage to see
    since = r.end - timedelta(minutes=s.alert_no_traffic_minutes)
    requests = sum(v for t, v in r.minutes("api_count") if t >= since)
    if requests <= 0:
        found.append(
            Condition(
                "SystemDown",
                RULES["SystemDown"],
                f"no API requests in the last {s.alert_no_traffic_minutes} minutes while "
                f"{workspaces:g} workspaces are active",
                {"cause": "no-traffic", "api": s.health_api_name},
                0.0,
                0.0,
            )
        )
    return found


def low_adoption(r: Readings) -> list[Condition]:
    s = r.settings
    share = (_snapshot(r).get("adoption") or {}).get("dailyActiveUserRatio")
    if share is None:
        raise NotEvaluated("the latest health snapshot has no dailyActiveUserRatio (see its `missing`)")
    if share >= s.alert_low_adoption_percent:
        return []
    return [
        Condition(
            "LowAdoption",
            RULES["LowAdoption"],
            f"daily active users are {share:.1f} % of enabled users "
            f"(target {s.alert_low_adoption_percent:g} %)",
            {},
            float(share),
            s.alert_low_adoption_percent,
        )
    ]


def health_data_missing(r: Readings) -> list[Condition]:
    """A score from too few inputs must not look healthy without saying so."""
    s = r.settings
    snapshot = _snapshot(r)
    if snapshot.get("sufficientData") is not False:
        return []
    completeness = float(snapshot.get("completeness") or 0)
    inputs = snapshot.get("scoreInputs") or {}
    return [
        Condition(
            "HealthDataMissing",
            RULES["HealthDataMissing"],
            f"health score {snapshot.get('healthScore')} computed from {inputs.get('available')} of "
            f"{inputs.get('total')} inputs ({completeness * 100:.0f} %, "
            f"below {s.health_min_completeness * 100:.0f} %)",
            {},
            round(completeness * 100, 1),
            s.health_min_completeness * 100,
        )
    ]


# ---------------------------------------------------------------- feedback rules


def _feedback(r: Readings, minutes: int) -> list[dict[str, Any]]:
    if r.feedback is None:
        raise NotEvaluated(r.feedback_failure or "feedback was not read")
    since = iso(r.now - timedelta(minutes=minutes))
    return [f for f in r.feedback if (f.get("createdAt") or "") >= since]


def feature_failure(r: Readings) -> list[Condition]:
    s = r.settings
    n, minutes = s.alert_feature_failure_count, s.alert_feature_failure_minutes
    areas = Counter(
        f["featureArea"]
        for f in _feedback(r, minutes)
        if f.get("category") == "bug_report" and f.get("severity") in ("critical", "high")
    )
    return [
        Condition(
            "FeatureFailure",
            RULES["FeatureFailure"],
            f"{count} high or critical bug reports about {area} in the last {minutes} minutes",
            {"featureArea": area},
            float(count),
            float(n),
        )
        for area, count in sorted(areas.items())
        if count >= n
    ]


def similar_complaints(r: Readings) -> list[Condition]:
    s = r.settings
    n, minutes = s.alert_similar_complaints_count, s.alert_similar_complaints_minutes
    groups = Counter(
        (f["featureArea"], f["category"])
        for f in _feedback(r, minutes)
        if f.get("category") in PROBLEM_CATEGORIES
    )
    return [
        Condition(
            "SimilarComplaints",
            RULES["SimilarComplaints"],
            f"{count} {category.replace('_', ' ')} reports about {area} in the last {minutes} minutes",
            {"featureArea": area, "category": category},
            float(count),
            float(n),
        )
        for (area, category), count in sorted(groups.items())
        if count >= n
    ]


# ---------------------------------------------------------------- our own state


def integration_failure(r: Readings) -> list[Condition]:
    """Alerts whose latest delivery attempt, made within the window, failed or was given up."""
    from chalicelib.store import alerts as store

    s = r.settings
    since = iso(r.now - timedelta(minutes=s.alert_integration_window_minutes))
    until = iso(r.now)
    r.calls["dynamodb:Query"] += 3  # active: two states; resolved: one
    try:
        candidates = list(store.active_alerts(s)) + store.resolved_since(since, s.alert_active_max, s)
    except DomainError as exc:
        raise NotEvaluated(f"alerts could not be read: {exc.message}") from exc
    failing = sorted(
        {
            a["id"]
            for a in candidates
            if a["rule"] != "IntegrationFailure"
            and a.get("deliveries")
            and a["deliveries"][-1].get("outcome") in ("failed", "given_up")
            and since <= (a["deliveries"][-1].get("at") or "") <= until
        }
    )
    if len(failing) < s.alert_integration_failures:
        return []
    return [
        Condition(
            "IntegrationFailure",
            RULES["IntegrationFailure"],
            f"{len(failing)} alerts whose latest notification failed or was given up in the last "
            f"{s.alert_integration_window_minutes} minutes",
            {},
            float(len(failing)),
            float(s.alert_integration_failures),
        )
    ]


def data_loss_risk(r: Readings, dynamodb: Any = None) -> list[Condition]:
    """Point-in-time recovery off on one of our tables, or on but no longer advancing (its latest
    restorable time lags: the continuous backup is failing)."""
    from chalicelib.integrations.backups import continuous_backups

    s = r.settings
    found: list[Condition] = []
    failures = []
    lag_limit = timedelta(minutes=s.alert_pitr_max_lag_minutes)
    for table in s.stack_tables:
        r.calls["dynamodb:DescribeContinuousBackups"] += 1
        try:
            status = continuous_backups(table, client=dynamodb, settings=s)
        except DomainError as exc:
            failures.append(exc.message)
            continue
        if not status.enabled:
            found.append(
                Condition(
                    "DataLossRisk",
                    RULES["DataLossRisk"],
                    f"point-in-time recovery is off on table {table}",
                    {"table": table, "cause": "pitr-off"},
                )
            )
        elif (
            s.pitr_lag_check
            and status.latest_restorable is not None
            and r.now - status.latest_restorable > lag_limit
        ):
            lag = (r.now - status.latest_restorable).total_seconds() / 60
            found.append(
                Condition(
                    "DataLossRisk",
                    RULES["DataLossRisk"],
                    f"continuous backup of table {table} is {lag:.0f} minutes behind",
                    {"table": table, "cause": "backup-lagging"},
                    round(lag, 1),
                    float(s.alert_pitr_max_lag_minutes),
                )
            )
    if failures:
        # A table we could not read may still have its alert: judge none of them resolved.
        raise NotEvaluated("; ".join(failures), found)
    return found


# ---------------------------------------------------------------- the evaluation


RULE_FUNCTIONS: dict[str, Callable[[Readings], list[Condition]]] = {
    "HighErrorRate": high_error_rate,
    "SystemDown": system_down,
    "SecurityBreach": security_breach,
    "PerformanceDegradation": performance_degradation,
    "HighMemoryUsage": high_memory_usage,
    "FeatureFailure": feature_failure,
    "IntegrationFailure": integration_failure,
    "ElevatedErrorRate": elevated_error_rate,
    "SlowAPIResponse": slow_api_response,
    "LowAdoption": low_adoption,
    "SimilarComplaints": similar_complaints,
    "HealthDataMissing": health_data_missing,
}


def evaluate(
    now: datetime | None = None,
    settings: Settings | None = None,
    *,
    cloudwatch: Any = None,
    dynamodb: Any = None,
    rules: set[str] | None = None,
) -> RuleRun:
    """Judge every rule (or those named) once; nothing is written."""
    settings = settings or get_settings()
    readings = read(now, settings, cloudwatch)
    conditions: list[Condition] = []
    evaluated: set[str] = set()
    skipped: dict[str, str] = {}
    functions: dict[str, Callable[[Readings], list[Condition]]] = {
        **RULE_FUNCTIONS,
        "DataLossRisk": lambda rd: data_loss_risk(rd, dynamodb),
    }
    for name, function in functions.items():
        if rules is not None and name not in rules:
            continue
        try:
            conditions += function(readings)
            evaluated.add(name)
        except NotEvaluated as exc:
            conditions += exc.conditions
            skipped[name] = str(exc)
    return RuleRun(conditions, evaluated, skipped, dict(readings.calls))


def run(
    now: datetime | None = None,
    settings: Settings | None = None,
    *,
    cloudwatch: Any = None,
    dynamodb: Any = None,
) -> dict[str, Any]:
    """The scheduled evaluation: judge the rules, record what fires, resolve what cleared (only for
    rules that were judged), mark what is overdue."""
    settings = settings or get_settings()
    moment = now or utcnow()
    judged = evaluate(moment, settings, cloudwatch=cloudwatch, dynamodb=dynamodb)
    applied = engine.apply_evaluation(judged.conditions, judged.evaluated, moment, settings)
    overdue = engine.mark_overdue(moment, settings)
    outcome = {
        **judged.as_dict(),
        "fired": applied["fired"],
        "new": applied["new"],
        "resolved": applied["resolved"],
        "overdue": len(overdue),
    }
    logger.info("alerts evaluated", extra=outcome)
    return outcome
