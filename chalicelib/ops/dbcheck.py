"""`db-check`: the state of each of our DynamoDB tables (the seed's `db:performance:check`).

Per table: throttling, latency per operation, consumed capacity (CloudWatch AWS/DynamoDB over a
window), point-in-time recovery and the newest on-demand backup, item count and size, indexes and
their status; and a verdict, `ok` or `warn` with the reasons.

Bounded: one DescribeTable, one DescribeContinuousBackups and one ListBackups per table, and one
GetMetricData call for every table's metrics (up to 500 queries a call; more tables than fit would
take a second call, and the answer counts the calls it made).

A metric with no datapoints is null with the reason, never 0: DynamoDB publishes a table's metrics
only for minutes with requests (and throttle metrics only for minutes with throttling), so "no data"
means "nothing recorded", which the reader should see as such.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.config import Settings, get_settings
from chalicelib.errors import DomainError, UpstreamUnavailable
from chalicelib.health.windows import Window, floor_minute, iso, single_bucket_period
from chalicelib.integrations import backups as backups_api
from chalicelib.integrations import tables as tables_api
from chalicelib.integrations.cloudwatch import Fetch, MetricQuery, get_metric_data

NAMESPACE = "AWS/DynamoDB"
ITEM_COUNT_NOTE = (
    "itemCount and sizeBytes come from DescribeTable, which DynamoDB updates about every six hours: "
    "recent writes may not show yet."
)


def describe_window(since: timedelta) -> str:
    minutes = int(since.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"last {minutes // 1440} d"
    if minutes % 60 == 0:
        return f"last {minutes // 60} h"
    return f"last {minutes} min"


def check_window(since: timedelta, now: datetime) -> Window:
    """The window ends at `now` floored to the minute (CloudWatch's resolution), so one bucket covers it."""
    end = floor_minute(now)
    # Whole minutes, at least one: CloudWatch aggregates DynamoDB metrics by the minute.
    start = end - timedelta(minutes=max(1, -(-int(since.total_seconds()) // 60)))
    return Window("dbcheck", start, end, describe_window(end - start))


def _queries(
    tables: list[tuple[str, tables_api.TableInfo | None]], operations: list[str], period: int
) -> list[MetricQuery]:
    queries: list[MetricQuery] = []
    for i, (name, info) in enumerate(tables):
        dims = (("TableName", name),)
        queries += [
            MetricQuery(f"t{i}_rte", NAMESPACE, "ReadThrottleEvents", "Sum", period, dims),
            MetricQuery(f"t{i}_wte", NAMESPACE, "WriteThrottleEvents", "Sum", period, dims),
            MetricQuery(f"t{i}_rcu", NAMESPACE, "ConsumedReadCapacityUnits", "Sum", period, dims),
            MetricQuery(f"t{i}_wcu", NAMESPACE, "ConsumedWriteCapacityUnits", "Sum", period, dims),
        ]
        for j, operation in enumerate(operations):
            op_dims = (("TableName", name), ("Operation", operation))
            queries += [
                MetricQuery(f"t{i}o{j}_thr", NAMESPACE, "ThrottledRequests", "Sum", period, op_dims),
                MetricQuery(
                    f"t{i}o{j}_avg", NAMESPACE, "SuccessfulRequestLatency", "Average", period, op_dims
                ),
                MetricQuery(
                    f"t{i}o{j}_max", NAMESPACE, "SuccessfulRequestLatency", "Maximum", period, op_dims
                ),
                MetricQuery(
                    f"t{i}o{j}_n", NAMESPACE, "SuccessfulRequestLatency", "SampleCount", period, op_dims
                ),
            ]
        for k, index in enumerate(info.indexes if info else []):
            if index.kind != "global":
                continue  # LSIs share the table's capacity and have no metrics of their own
            gsi = (("TableName", name), ("GlobalSecondaryIndexName", index.name))
            queries += [
                MetricQuery(f"t{i}g{k}_rte", NAMESPACE, "ReadThrottleEvents", "Sum", period, gsi),
                MetricQuery(f"t{i}g{k}_wte", NAMESPACE, "WriteThrottleEvents", "Sum", period, gsi),
            ]
    return queries


class _Metrics:
    """Values read from one Fetch, with the reason when there are none."""

    def __init__(self, fetch: Fetch | None, failure: str | None, window: Window):
        self.fetch, self.failure, self.window = fetch, failure, window

    def reason(self, what: str) -> str:
        return self.failure or f"no {what} datapoints in the {self.window.description}"

    def total(self, query_id: str) -> float | None:
        return self.fetch.get(query_id).total() if self.fetch else None

    def extreme(self, query_id: str, pick: Any) -> float | None:
        series = self.fetch.get(query_id) if self.fetch else None
        return float(pick(series.values)) if series and series.values else None

    def weighted_average(self, avg_id: str, count_id: str) -> float | None:
        """Average over the window: one bucket is asked for, but if CloudWatch splits it the
        bucket averages are weighted by their sample counts."""
        if not self.fetch:
            return None
        avg, n = self.fetch.get(avg_id), self.fetch.get(count_id)
        if not avg.values:
            return None
        if len(avg.values) == 1 or len(avg.values) != len(n.values) or not sum(n.values):
            return float(sum(avg.values) / len(avg.values))
        return float(sum(a * c for a, c in zip(avg.values, n.values, strict=True)) / sum(n.values))


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _table_report(
    i: int,
    role: str,
    name: str,
    info: tables_api.TableInfo | None,
    info_error: str | None,
    recovery: backups_api.RecoveryStatus | None,
    recovery_error: str | None,
    listing: backups_api.BackupListing | None,
    listing_error: str | None,
    metrics: _Metrics,
    settings: Settings,
    now: datetime,
) -> dict[str, Any]:
    missing: list[dict[str, str]] = []
    reasons: list[str] = []

    def value(field: str, number: float | None, why: str, digits: int = 2) -> float | None:
        if number is None:
            missing.append({"field": field, "reason": why})
        return _round(number, digits)

    seconds = metrics.window.seconds
    # ---- description
    if info is None:
        reasons.append(f"table could not be described: {info_error}")
        missing += [
            {"field": f, "reason": info_error or "DescribeTable failed"}
            for f in ("status", "itemCount", "sizeBytes", "indexes")
        ]
    elif info.status != "ACTIVE":
        reasons.append(f"table status is {info.status}")

    # ---- throttling
    throttles = {
        "readThrottleEvents": value(
            "throttles.readThrottleEvents",
            metrics.total(f"t{i}_rte"),
            metrics.reason("ReadThrottleEvents"),
            0,
        ),
        "writeThrottleEvents": value(
            "throttles.writeThrottleEvents",
            metrics.total(f"t{i}_wte"),
            metrics.reason("WriteThrottleEvents"),
            0,
        ),
    }
    throttled_by_op: dict[str, float | None] = {}
    latency: list[dict[str, Any]] = []
    for j, operation in enumerate(settings.dbcheck_operations):
        throttled_by_op[operation] = value(
            f"throttles.throttledRequests.{operation}",
            metrics.total(f"t{i}o{j}_thr"),
            metrics.reason(f"ThrottledRequests ({operation})"),
            0,
        )
        why = metrics.reason(f"SuccessfulRequestLatency ({operation})")
        latency.append(
            {
                "operation": operation,
                "averageMs": value(
                    f"latency.{operation}.averageMs",
                    metrics.weighted_average(f"t{i}o{j}_avg", f"t{i}o{j}_n"),
                    why,
                ),
                "maximumMs": value(
                    f"latency.{operation}.maximumMs", metrics.extreme(f"t{i}o{j}_max", max), why
                ),
                "requests": value(f"latency.{operation}.requests", metrics.total(f"t{i}o{j}_n"), why, 0),
            }
        )
    throttles["throttledRequests"] = throttled_by_op
    seen = [
        f"{fmt_count(throttles['readThrottleEvents'])} read throttle events"
        if throttles["readThrottleEvents"]
        else "",
        f"{fmt_count(throttles['writeThrottleEvents'])} write throttle events"
        if throttles["writeThrottleEvents"]
        else "",
        *(f"{fmt_count(n)} throttled {op}" for op, n in throttled_by_op.items() if n),
    ]

    # ---- capacity
    consumed = {}
    for key, qid, metric in (
        ("readCapacityUnits", f"t{i}_rcu", "ConsumedReadCapacityUnits"),
        ("writeCapacityUnits", f"t{i}_wcu", "ConsumedWriteCapacityUnits"),
    ):
        total = value(f"consumed.{key}", metrics.total(qid), metrics.reason(metric))
        consumed[key] = {
            "total": total,
            "perSecond": None if total is None else round(total / seconds, 4),
        }
    provisioned = None
    if info is not None and info.billing_mode == "PROVISIONED":
        provisioned = {
            "readCapacityUnits": info.provisioned_read,
            "writeCapacityUnits": info.provisioned_write,
        }

    # ---- indexes
    indexes = []
    for k, index in enumerate(info.indexes if info else []):
        entry: dict[str, Any] = {
            "name": index.name,
            "kind": index.kind,
            "status": index.status,
            "backfilling": index.backfilling,
            "itemCount": index.item_count,
            "sizeBytes": index.size_bytes,
            "readThrottleEvents": None,
            "writeThrottleEvents": None,
        }
        if index.kind == "global":
            for key, suffix, metric, words in (
                ("readThrottleEvents", "rte", "ReadThrottleEvents", "read throttle"),
                ("writeThrottleEvents", "wte", "WriteThrottleEvents", "write throttle"),
            ):
                entry[key] = value(
                    f"indexes.{index.name}.{key}",
                    metrics.total(f"t{i}g{k}_{suffix}"),
                    metrics.reason(f"{metric} for index {index.name}"),
                    0,
                )
                if entry[key]:
                    seen.append(f"{fmt_count(entry[key])} {words} events on index {index.name}")
        if index.status != "ACTIVE":
            reasons.append(f"index {index.name} is {index.status}")
        elif index.backfilling:
            reasons.append(f"index {index.name} is backfilling")
        indexes.append(entry)
    seen = [s for s in seen if s]
    if seen:
        reasons.append("throttling seen: " + ", ".join(seen))
    if metrics.failure:
        reasons.append(f"metrics unavailable: {metrics.failure}")

    # ---- recovery
    pitr: dict[str, Any] = {
        "enabled": None,
        "latestRestorable": None,
        "earliestRestorable": None,
        "lagMinutes": None,
    }
    if recovery is None:
        missing.append({"field": "pointInTimeRecovery", "reason": recovery_error or "not read"})
        if info is not None:  # an undescribed table already warns for that
            reasons.append(f"point-in-time recovery state unknown: {recovery_error}")
    else:
        pitr["enabled"] = recovery.enabled
        if recovery.latest_restorable:
            pitr["latestRestorable"] = iso(recovery.latest_restorable)
            lag = (now - recovery.latest_restorable).total_seconds() / 60
            pitr["lagMinutes"] = round(max(lag, 0.0), 1)
        if recovery.earliest_restorable:
            pitr["earliestRestorable"] = iso(recovery.earliest_restorable)
        if not recovery.enabled:
            reasons.append("point-in-time recovery is off")
        elif (
            settings.pitr_lag_check
            and pitr["lagMinutes"] is not None
            and pitr["lagMinutes"] > settings.alert_pitr_max_lag_minutes
        ):
            # The same limit as the DataLossRisk alert rule (ALERT_PITR_MAX_LAG_MINUTES).
            reasons.append(f"continuous backup is {pitr['lagMinutes']:.0f} minutes behind")
    latest_backup: dict[str, Any] | None = None
    backups: dict[str, Any] = {"latest": None, "count": None, "complete": None}
    if listing is None:
        missing.append({"field": "backups", "reason": listing_error or "not read"})
    else:
        if listing.latest is not None:
            b = listing.latest
            latest_backup = {
                "name": b.name,
                "arn": b.arn,
                "created": iso(b.created),
                "ageHours": round((now - b.created).total_seconds() / 3600, 1),
                "status": b.status,
                "type": b.type,
                "sizeBytes": b.size_bytes,
            }
        else:
            missing.append({"field": "backups.latest", "reason": "no on-demand backup of this table"})
        backups = {"latest": latest_backup, "count": listing.count, "complete": listing.complete}

    return {
        "role": role,
        "table": name,
        "status": info.status if info else None,
        "billingMode": info.billing_mode if info else None,
        "provisioned": provisioned,
        "itemCount": info.item_count if info else None,
        "sizeBytes": info.size_bytes if info else None,
        "indexes": indexes,
        "throttles": throttles,
        "latency": latency,
        "consumed": consumed,
        "pointInTimeRecovery": pitr,
        "backups": backups,
        "verdict": "warn" if reasons else "ok",
        "reasons": reasons,
        "missing": missing,
    }


def fmt_count(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def run_db_check(
    since: timedelta = timedelta(hours=1),
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
    dynamodb: Any = None,
    cloudwatch: Any = None,
) -> dict[str, Any]:
    """The report for every table the settings name (Settings.named_tables)."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    window = check_window(since, now)
    calls: Counter[str] = Counter()
    named = settings.named_tables

    described: list[tuple[str, tables_api.TableInfo | None]] = []
    info_errors: dict[str, str] = {}
    recovery: dict[str, backups_api.RecoveryStatus] = {}
    recovery_errors: dict[str, str] = {}
    listings: dict[str, backups_api.BackupListing] = {}
    listing_errors: dict[str, str] = {}
    for name in named.values():
        calls["dynamodb:DescribeTable"] += 1
        try:
            described.append((name, tables_api.describe_table(name, client=dynamodb, settings=settings)))
        except DomainError as exc:
            described.append((name, None))
            info_errors[name] = exc.message
            continue  # no table: its backups and metrics have nothing to say
        calls["dynamodb:DescribeContinuousBackups"] += 1
        try:
            recovery[name] = backups_api.continuous_backups(name, client=dynamodb, settings=settings)
        except DomainError as exc:
            recovery_errors[name] = exc.message
        calls["dynamodb:ListBackups"] += 1
        try:
            listings[name] = backups_api.latest_backup(name, client=dynamodb, settings=settings)
        except DomainError as exc:
            listing_errors[name] = exc.message

    queries = _queries(described, settings.dbcheck_operations, single_bucket_period(window, now))
    fetch: Fetch | None = None
    failure: str | None = None
    try:
        fetch = get_metric_data(queries, window.start, window.end, client=cloudwatch, settings=settings)
        calls["cloudwatch:GetMetricData"] += fetch.calls
    except UpstreamUnavailable as exc:
        calls["cloudwatch:GetMetricData"] += 1
        failure = f"CloudWatch did not answer: {exc.message}"
    metrics = _Metrics(fetch, failure, window)

    reports = []
    for i, ((role, name), (_, info)) in enumerate(zip(named.items(), described, strict=True)):
        reports.append(
            _table_report(
                i,
                role,
                name,
                info,
                info_errors.get(name),
                recovery.get(name),
                recovery_errors.get(name)
                or (f"table not described: {info_errors[name]}" if name in info_errors else None),
                listings.get(name),
                listing_errors.get(name)
                or (f"table not described: {info_errors[name]}" if name in info_errors else None),
                metrics,
                settings,
                now,
            )
        )
    warned = [r["table"] for r in reports if r["verdict"] == "warn"]
    return {
        "checkedAt": iso(now),
        "window": window.as_dict(),
        "verdict": "warn" if warned else "ok",
        "warnings": len(warned),
        "tables": reports,
        "notes": [ITEM_COUNT_NOTE],
        "calls": dict(sorted(calls.items())),
        "metricQueries": len(queries),
    }
