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
