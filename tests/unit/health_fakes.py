"""In-memory stand-ins for the health evaluator's sources (unit tests only; no network).

FakeCloudWatch answers GetMetricData the way CloudWatch documents it: buckets of `Period` seconds from
StartTime, a query matches only datums with exactly its dimensions, no datapoint where a bucket has
no data. Percentiles use the nearest-rank method (only here; moto cannot compute them at all).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from botocore.exceptions import ClientError


class FakeCloudWatch:
    def __init__(self, fail: bool = False):
        self.points: list[tuple[str, str, frozenset, datetime, float]] = []
        self.get_calls = 0
        self.put_calls: list[dict] = []
        self.fail = fail

    def add(
        self, namespace: str, name: str, value: float, at: datetime, dims: dict | None = None, n: int = 1
    ):
        for _ in range(n):
            self.points.append((namespace, name, frozenset((dims or {}).items()), at, float(value)))

    def get_metric_data(self, MetricDataQueries, StartTime, EndTime, ScanBy="TimestampDescending", **_):
        self.get_calls += 1
        if self.fail:
            raise ClientError(
                {
                    "Error": {"Code": "InternalServiceError", "Message": "boom"},
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                },
                "GetMetricData",
            )
        results = []
        for query in MetricDataQueries:
            stat = query["MetricStat"]
            metric = stat["Metric"]
            dims = frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
            period = timedelta(seconds=stat["Period"])
            matching = [
                (t, v)
                for ns, name, d, t, v in self.points
                if ns == metric["Namespace"] and name == metric["MetricName"] and d == dims
            ]
            stamps, values = [], []
            bucket = StartTime
            while bucket < EndTime:
                inside = [v for t, v in matching if bucket <= t < min(bucket + period, EndTime)]
                if inside:
                    stamps.append(bucket)
                    values.append(self._stat(stat["Stat"], inside))
                bucket += period
            pairs = sorted(zip(stamps, values, strict=True), reverse=ScanBy == "TimestampDescending")
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": [p[0] for p in pairs],
                    "Values": [p[1] for p in pairs],
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": results}

    def put_metric_data(self, Namespace, MetricData):
        self.put_calls.append({"Namespace": Namespace, "MetricData": MetricData})
        return {}

    @staticmethod
    def _stat(stat: str, values: list[float]) -> float:
        if stat == "Sum":
            return sum(values)
        if stat == "SampleCount":
            return float(len(values))
        if stat == "Average":
            return sum(values) / len(values)
        if stat == "Maximum":
            return max(values)
        if stat.startswith("p"):
            rank = math.ceil(float(stat[1:]) / 100 * len(values))
            return sorted(values)[max(rank, 1) - 1]
        if stat.startswith("PR(:"):
            limit = float(stat[4:-1])
            return 100 * sum(1 for v in values if v <= limit) / len(values)
        raise ValueError(stat)
