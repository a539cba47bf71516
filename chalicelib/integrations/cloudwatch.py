"""CloudWatch metrics: batched GetMetricData reads and chunked PutMetricData writes.

The only module that speaks CloudWatch's wire shapes. Callers describe queries with `MetricQuery`
and get plain series back; AWS errors become `UpstreamUnavailable` here (by error *code*).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings
from chalicelib.errors import UpstreamUnavailable
from chalicelib.integrations.aws import aws_client

# API limits (CloudWatch API reference): GetMetricData takes at most 500 queries per call;
# PutMetricData at most 1000 metric datums and 1 MB per call.
GET_QUERIES_PER_CALL = 500
PUT_DATUMS_PER_CALL = 1000

# Error codes that mean "try again later" rather than "the request was wrong".
_THROTTLED = {"Throttling", "ThrottlingException", "LimitExceeded", "LimitExceededException"}


@dataclass(frozen=True)
class MetricQuery:
    """One MetricStat query. `id` must start with a lower-case letter ([a-z][a-zA-Z0-9_]*)."""

    id: str
    namespace: str
    metric: str
    stat: str
    period: int
    dimensions: tuple[tuple[str, str], ...] = ()
    unit: str | None = None

    def to_api(self) -> dict[str, Any]:
        metric: dict[str, Any] = {"Namespace": self.namespace, "MetricName": self.metric}
        if self.dimensions:
            metric["Dimensions"] = [{"Name": n, "Value": v} for n, v in self.dimensions]
        stat: dict[str, Any] = {"Metric": metric, "Period": self.period, "Stat": self.stat}
        if self.unit:
            stat["Unit"] = self.unit
        return {"Id": self.id, "MetricStat": stat, "ReturnData": True}

    def describe(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "metric": self.metric,
            "stat": self.stat,
            "period": self.period,
            "dimensions": dict(self.dimensions),
        }


@dataclass
class Series:
    """The datapoints CloudWatch returned for one query, newest first."""

    id: str
    timestamps: list[datetime] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    status: str = "Complete"

    @property
    def empty(self) -> bool:
        return not self.values

    def total(self) -> float | None:
        """Sum over the returned buckets (for Sum / SampleCount stats); None when there is no data."""
        return float(sum(self.values)) if self.values else None

    def latest(self) -> tuple[datetime, float] | None:
        if not self.values:
            return None
        pairs = sorted(zip(self.timestamps, self.values, strict=False), key=lambda p: p[0], reverse=True)
        return pairs[0]


@dataclass
class Fetch:
    """Results by query id, and how many GetMetricData calls it took."""

    series: dict[str, Series]
    calls: int
    start: datetime
    end: datetime

    def get(self, query_id: str) -> Series:
        return self.series.get(query_id) or Series(query_id)


def _upstream(exc: Exception, action: str) -> UpstreamUnavailable:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        kind = "throttled" if code in _THROTTLED else "failed"
        return UpstreamUnavailable(
            f"CloudWatch {action} {kind} ({code}, HTTP {status}).",
            details={"awsCode": code, "httpStatus": status},
        )
    return UpstreamUnavailable(f"CloudWatch {action} could not be reached ({type(exc).__name__}).")


def get_metric_data(
    queries: Sequence[MetricQuery],
    start: datetime,
    end: datetime,
    *,
    client: Any = None,
    settings: Settings | None = None,
) -> Fetch:
    """Run the queries over [start, end) in as few calls as the API allows (one per 500 queries, plus
    one per NextToken page). Newest datapoints first."""
    client = client or aws_client("cloudwatch", settings)
    series: dict[str, Series] = {q.id: Series(q.id) for q in queries}
    calls = 0
    for offset in range(0, len(queries), GET_QUERIES_PER_CALL):
        chunk = [q.to_api() for q in queries[offset : offset + GET_QUERIES_PER_CALL]]
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "MetricDataQueries": chunk,
                "StartTime": start,
                "EndTime": end,
                "ScanBy": "TimestampDescending",
            }
            if token:
                kwargs["NextToken"] = token
            try:
                calls += 1
                page = client.get_metric_data(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise _upstream(exc, "GetMetricData") from exc
            for result in page.get("MetricDataResults", []):
                target = series.setdefault(result["Id"], Series(result["Id"]))
                target.timestamps.extend(result.get("Timestamps", []))
                target.values.extend(float(v) for v in result.get("Values", []))
                if result.get("StatusCode") and result["StatusCode"] != "Complete":
                    target.status = result["StatusCode"]
            token = page.get("NextToken")
            if not token:
                break
    return Fetch(series=series, calls=calls, start=start, end=end)


def datum(
    name: str,
    value: float,
    *,
    timestamp: datetime | None = None,
    unit: str = "Count",
    dimensions: Iterable[tuple[str, str]] = (),
    statistic_values: dict[str, float] | None = None,
) -> dict[str, Any]:
    """A PutMetricData MetricDatum. `statistic_values` (SampleCount, Sum, Minimum, Maximum) publishes an
    aggregate of many samples in one datum instead of `value`."""
    item: dict[str, Any] = {"MetricName": name, "Unit": unit}
    if statistic_values is not None:
        item["StatisticValues"] = statistic_values
    else:
        item["Value"] = float(value)
    if timestamp is not None:
        item["Timestamp"] = timestamp
    dims = [{"Name": n, "Value": v} for n, v in dimensions]
    if dims:
        item["Dimensions"] = dims
    return item


def put_metric_data(
    namespace: str,
    datums: Sequence[dict[str, Any]],
    *,
    client: Any = None,
    settings: Settings | None = None,
) -> int:
    """Write datums in chunks the API accepts; returns the number of calls made."""
    client = client or aws_client("cloudwatch", settings)
    calls = 0
    for offset in range(0, len(datums), PUT_DATUMS_PER_CALL):
        try:
            calls += 1
            client.put_metric_data(
                Namespace=namespace, MetricData=list(datums[offset : offset + PUT_DATUMS_PER_CALL])
            )
        except (ClientError, BotoCoreError) as exc:
            raise _upstream(exc, "PutMetricData") from exc
    return calls


# ---- releases: gate (AWS/Lambda metrics of the versions behind an alias)

LAMBDA_NAMESPACE = "AWS/Lambda"


@dataclass(frozen=True)
class AliasVersion:
    """One version behind an alias: the metrics Lambda publishes under FunctionName, Resource
    (`function:alias`) and ExecutedVersion."""

    function: str
    alias: str
    version: str

    @property
    def dimensions(self) -> tuple[tuple[str, str], ...]:
        return (
            ("FunctionName", self.function),
            ("Resource", f"{self.function}:{self.alias}"),
            ("ExecutedVersion", str(self.version)),
        )


@dataclass
class VersionMetrics:
    """What one version did over the window; None where CloudWatch returned no datapoint."""

    target: AliasVersion
    invocations: float | None
    errors: float | None
    duration_ms: float | None
    duration_stat: str


def _window_period(start: datetime, end: datetime) -> int:
    # One bucket as long as the window (in whole minutes: Lambda's metrics are standard resolution,
    # and GetMetricData takes any multiple of 60), so a sub-minute bake is one bucket too.
    seconds = max(1, int((end - start).total_seconds()))
    return max(60, -(-seconds // 60) * 60)


def lambda_version_metrics(
    targets: Sequence[AliasVersion],
    start: datetime,
    end: datetime,
    *,
    duration_stat: str = "Average",
    client: Any = None,
    settings: Settings | None = None,
) -> tuple[list[VersionMetrics], Fetch]:
    """Invocations (Sum), Errors (Sum) and Duration (`duration_stat`: "Average", or "p95" where
    percentiles are served; moto answers HTTP 500 to any percentile) of each version over [start, end):
    three queries per version, all in one GetMetricData call (up to 166 versions)."""
    queries: list[MetricQuery] = []
    period = _window_period(start, end)
    for i, target in enumerate(targets):
        dims = target.dimensions
        queries += [
            MetricQuery(f"v{i}_invocations", LAMBDA_NAMESPACE, "Invocations", "Sum", period, dims),
            MetricQuery(f"v{i}_errors", LAMBDA_NAMESPACE, "Errors", "Sum", period, dims),
            MetricQuery(f"v{i}_duration", LAMBDA_NAMESPACE, "Duration", duration_stat, period, dims),
        ]
    fetch = get_metric_data(queries, start, end, client=client, settings=settings)
    found: list[VersionMetrics] = []
    for i, target in enumerate(targets):
        invocations = fetch.get(f"v{i}_invocations")
        duration = fetch.get(f"v{i}_duration")
        found.append(
            VersionMetrics(
                target=target,
                invocations=invocations.total(),
                errors=fetch.get(f"v{i}_errors").total(),
                duration_ms=_weighted(duration, invocations),
                duration_stat=duration_stat,
            )
        )
    return found, fetch


def _weighted(values: Series, weights: Series) -> float | None:
    """One duration for the window: the bucket's value, or (should the window straddle two buckets)
    the mean of the buckets' values weighted by their invocations."""
    if values.empty:
        return None
    if len(values.values) == 1:
        return values.values[0]
    by_time = dict(zip(weights.timestamps, weights.values, strict=False))
    pairs = [(v, by_time.get(t, 0.0)) for t, v in zip(values.timestamps, values.values, strict=False)]
    total = sum(w for _, w in pairs)
    if not total:
        return sum(v for v, _ in pairs) / len(pairs)
    return sum(v * w for v, w in pairs) / total
