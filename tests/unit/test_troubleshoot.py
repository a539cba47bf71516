"""db-check verdicts and the logs reader over in-memory AWS stand-ins (no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click
import pytest
from botocore.exceptions import ClientError

from chalicelib.config import Settings
from chalicelib.ops import logs as ops_logs
from chalicelib.ops.dbcheck import run_db_check
from postlaunch.cli.troubleshoot import Duration
from tests.unit.health_fakes import FakeCloudWatch

NOW = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)


def settings(**kw) -> Settings:
    base = {
        f"{role}_table": f"t-{role}"
        for role in ("feedback", "idempotency", "rollups", "issues", "health", "alerts", "silences")
    }
    return Settings(**{**base, "dbcheck_operations": ["Query", "PutItem"], **kw})


class FakeDynamoDB:
    """DescribeTable / DescribeContinuousBackups / ListBackups as DynamoDB answers them."""

    def __init__(self, missing=(), indexes=None, pitr_off=(), restorable=None):
        self.missing, self.indexes, self.pitr_off = set(missing), indexes or {}, set(pitr_off)
        self.restorable = restorable or NOW
        self.calls: list[tuple[str, str]] = []

    def _check(self, action: str, table: str) -> None:
        self.calls.append((action, table))
        if table in self.missing:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, action)

    def describe_table(self, TableName):
        self._check("DescribeTable", TableName)
        table = {
            "TableName": TableName,
            "TableStatus": "ACTIVE",
            "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            "ItemCount": 42,
            "TableSizeBytes": 4200,
        }
        if TableName in self.indexes:
            table["GlobalSecondaryIndexes"] = self.indexes[TableName]
        return {"Table": table}

    def describe_continuous_backups(self, TableName):
        self._check("DescribeContinuousBackups", TableName)
        on = TableName not in self.pitr_off
        return {
            "ContinuousBackupsDescription": {
                "PointInTimeRecoveryDescription": {
                    "PointInTimeRecoveryStatus": "ENABLED" if on else "DISABLED",
                    **({"LatestRestorableDateTime": self.restorable} if on else {}),
                }
            }
        }

    def list_backups(self, TableName, **_):
        self._check("ListBackups", TableName)
        return {
            "BackupSummaries": [
                {
                    "BackupArn": "arn:1",
                    "BackupName": "old",
                    "BackupCreationDateTime": NOW - timedelta(days=3),
                    "BackupType": "USER",
                },
                {
                    "BackupArn": "arn:2",
                    "BackupName": "new",
                    "BackupCreationDateTime": NOW - timedelta(hours=5),
                    "BackupType": "AWS_BACKUP",
                },
                {
                    "BackupArn": "arn:3",
                    "BackupName": "deleted-table",
                    "BackupCreationDateTime": NOW,
                    "BackupType": "SYSTEM",
                },
            ]
        }


def table(report, role):
    return next(t for t in report["tables"] if t["role"] == role)


def test_an_index_not_active_or_backfilling_warns_and_the_latest_on_demand_backup_is_shown():
    ddb = FakeDynamoDB(
        indexes={
            "t-feedback": [
                {"IndexName": "byMonth", "IndexStatus": "ACTIVE"},
                {"IndexName": "byWorkspace", "IndexStatus": "CREATING", "Backfilling": True},
            ],
            "t-alerts": [{"IndexName": "byState", "IndexStatus": "ACTIVE", "Backfilling": True}],
        }
    )
    report = run_db_check(now=NOW, settings=settings(), dynamodb=ddb, cloudwatch=FakeCloudWatch())

    assert table(report, "feedback")["reasons"] == ["index byWorkspace is CREATING"]
    assert table(report, "alerts")["reasons"] == ["index byState is backfilling"]
    assert table(report, "rollups")["verdict"] == "ok"
    # SYSTEM backups (kept after a table is deleted) are not on-demand backups of this table
    latest = table(report, "rollups")["backups"]["latest"]
    assert (latest["name"], latest["type"], latest["ageHours"]) == ("new", "AWS_BACKUP", 5.0)
    assert table(report, "rollups")["itemCount"] == 42


def test_a_missing_table_warns_and_is_not_asked_about_further():
    ddb = FakeDynamoDB(missing={"t-issues"})
    cw = FakeCloudWatch()
    report = run_db_check(now=NOW, settings=settings(), dynamodb=ddb, cloudwatch=cw)

    issues = table(report, "issues")
    assert issues["verdict"] == "warn"
    assert issues["reasons"] == ["table could not be described: DynamoDB table t-issues does not exist."]
    assert {m["field"] for m in issues["missing"]} >= {"itemCount", "pointInTimeRecovery", "backups"}
    assert [c for c in ddb.calls if c[1] == "t-issues"] == [("DescribeTable", "t-issues")]
    tables = len(settings().named_tables)  # every table of the stack, the missing one included
    assert report["calls"]["dynamodb:DescribeTable"] == tables
    assert report["calls"]["dynamodb:ListBackups"] == tables - 1
    assert cw.get_calls == 1


def test_pitr_off_and_lagging_warn_with_the_alert_rules_limit():
    ddb = FakeDynamoDB(pitr_off={"t-health"}, restorable=NOW - timedelta(minutes=45))
    report = run_db_check(
        now=NOW,
        settings=settings(alert_pitr_lag_check=True, alert_pitr_max_lag_minutes=30),
        dynamodb=ddb,
        cloudwatch=FakeCloudWatch(),
    )
    assert table(report, "health")["reasons"] == ["point-in-time recovery is off"]
    assert table(report, "feedback")["reasons"] == ["continuous backup is 45 minutes behind"]
    assert table(report, "feedback")["pointInTimeRecovery"]["lagMinutes"] == 45.0


def test_cloudwatch_down_leaves_metrics_null_with_the_reason_and_warns():
    report = run_db_check(
        now=NOW, settings=settings(), dynamodb=FakeDynamoDB(), cloudwatch=FakeCloudWatch(fail=True)
    )
    feedback = table(report, "feedback")
    assert feedback["throttles"]["readThrottleEvents"] is None
    assert feedback["verdict"] == "warn"
    assert feedback["reasons"][0].startswith("metrics unavailable: CloudWatch did not answer")
    reasons = {m["field"]: m["reason"] for m in feedback["missing"]}
    assert reasons["latency.Query.averageMs"].startswith("CloudWatch did not answer")


def test_one_get_metric_data_call_reads_every_table_and_index():
    cw = FakeCloudWatch()
    at = NOW.replace(second=0) - timedelta(minutes=10)
    cw.add(
        "AWS/DynamoDB",
        "WriteThrottleEvents",
        5,
        at,
        {"TableName": "t-alerts", "GlobalSecondaryIndexName": "byState"},
    )
    cw.add(
        "AWS/DynamoDB",
        "SuccessfulRequestLatency",
        8,
        at,
        {"TableName": "t-rollups", "Operation": "PutItem"},
        n=3,
    )
    ddb = FakeDynamoDB(indexes={"t-alerts": [{"IndexName": "byState", "IndexStatus": "ACTIVE"}]})

    report = run_db_check(now=NOW, settings=settings(), dynamodb=ddb, cloudwatch=cw)

    assert cw.get_calls == 1
    # every table x (4 table metrics + 2 operations x 4) + 2 for the one GSI
    assert report["metricQueries"] == len(settings().named_tables) * (4 + 2 * 4) + 2
    assert table(report, "alerts")["reasons"] == ["throttling seen: 5 write throttle events on index byState"]
    put = next(e for e in table(report, "rollups")["latency"] if e["operation"] == "PutItem")
    assert put == {"operation": "PutItem", "averageMs": 8.0, "maximumMs": 8.0, "requests": 3}


# ---------------------------------------------------------------- logs


def test_cfn_name_is_chalices_for_every_function_of_app():
    from chalice.utils import to_cfn_resource_name

    import app

    names = ["api_handler"] + [source.name for source in app.app.event_sources]
    assert "evaluate_health" in names and "notify_slack_paging" in names
    for name in names:
        assert ops_logs.cfn_name(name) == to_cfn_resource_name(name), name
        group = f"/aws/lambda/plm-prod-{to_cfn_resource_name(name)}-AB12CD34EF56"
        assert ops_logs.matches_function(ops_logs.function_of(group, "/aws/lambda/plm-prod-"), name)


def line(message: str) -> ops_logs.LogLine:
    return ops_logs.LogLine(0, "Fn", "g", "s", "e", message, ops_logs.parse_record(message))


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (json.dumps({"level": "ERROR", "message": "write failed"}), True),
        (json.dumps({"level": "CRITICAL", "message": "gone"}), True),
        (json.dumps({"level": "INFO", "message": "no ERROR here"}), False),
        (json.dumps({"level": "WARNING", "message": "Task timed out is a phrase"}), False),
        ("[ERROR] KeyError: 'x'\nTraceback (most recent call last):", True),
        ("2026-03-10T12:00:00.000Z 1f2e Task timed out after 30.03 seconds", True),
        ("RequestId: 1f2e Error: Runtime exited with error: signal: killed", True),
        ("REPORT RequestId: 1f2e Duration: 12.3 ms Max Memory Used: 80 MB", False),
        ('{"not": "powertools", "ERROR": 1}', True),  # JSON but not ours: judged as a raw line
    ],
)
def test_what_counts_as_an_error(message, error):
    assert line(message).is_error() is error


class FakeLogs:
    """FilterLogEvents over a list of events, at most `page` events a page (oldest first)."""

    def __init__(self, events: list[tuple[int, str]], page: int = 10):
        self.events, self.page, self.calls = events, page, 0

    def describe_log_groups(self, logGroupNamePrefix, **_):
        return {"logGroups": [{"logGroupName": f"{logGroupNamePrefix}APIHandler-X1"}]}

    def filter_log_events(self, logGroupName, startTime, endTime, nextToken=None, **_):
        self.calls += 1
        inside = [e for e in self.events if startTime <= e[0] <= endTime]
        offset = int(nextToken or 0)
        chunk = inside[offset : offset + self.page]
        more = offset + self.page < len(inside)
        return {
            "events": [
                {"timestamp": t, "message": m, "eventId": f"id{t}", "logStreamName": "s"} for t, m in chunk
            ],
            **({"nextToken": str(offset + self.page)} if more else {}),
        }


def busy_hour() -> tuple[list[tuple[int, str]], int]:
    end = int(NOW.timestamp() * 1000)
    # 1,000 events, one every 3.6 s over the hour
    return [(end - 3_600_000 + i * 3600, f"line {i}") for i in range(1, 1001)], end


def test_a_busy_window_is_read_backwards_in_slices_and_gives_the_newest_lines():
    events, _ = busy_hour()
    fake = FakeLogs(events)
    query = ops_logs.LogQuery(stack="plm", limit=5)

    read = ops_logs.read_logs(query, now=NOW, client=fake, settings=settings())

    assert [line.raw for line in read.lines] == [f"line {i}" for i in range(996, 1001)]
    # whole hour: 3 pages, too many; 7.5 min: 3 pages, too many; 56 s: 16 events in 2 pages, done
    assert fake.calls == read.calls["logs:FilterLogEvents"] == 8
    assert read.partial == []


def test_the_call_budget_bounds_the_read_and_says_so():
    events, _ = busy_hour()
    query = ops_logs.LogQuery(stack="plm", limit=5, max_calls=4)

    read = ops_logs.read_logs(query, now=NOW, client=FakeLogs(events), settings=settings())

    assert read.lines == []
    assert read.calls["logs:FilterLogEvents"] == 4
    assert "budget (4 calls) ran out" in read.partial[0]


def test_a_quiet_window_takes_one_call_per_group():
    events, _ = busy_hour()
    fake = FakeLogs(events[-3:], page=10_000)
    read = ops_logs.read_logs(ops_logs.LogQuery(stack="plm"), now=NOW, client=fake, settings=settings())
    assert len(read.lines) == 3 and fake.calls == 1


@pytest.mark.parametrize(
    ("text", "seconds"), [("1h", 3600), ("30m", 1800), ("1h30m", 5400), ("2d", 172800), ("90s", 90)]
)
def test_durations(text, seconds):
    assert Duration().convert(text, None, None) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1", "h", "0m", "16d", "1w", "1h then"])
def test_bad_durations(text):
    with pytest.raises(click.BadParameter):
        Duration().convert(text, None, None)


def test_a_follow_with_many_new_events_continues_at_the_next_poll():
    # Given a follower started an hour ago over a group that then received 1,000 events
    events, end = busy_hour()
    fake = FakeLogs(events, page=100)
    query = ops_logs.LogQuery(stack="plm")
    group = "/aws/lambda/plm-APIHandler-X1"
    follower = ops_logs.Follower(
        query, [group], end - 3_600_000, client=fake, settings=settings(), pages_per_poll=5
    )

    # When it polls until nothing new comes
    polls = [follower.poll(now=NOW)]
    notes = follower.notes
    while polls[-1]:
        polls.append(follower.poll(now=NOW))

    # Then the first poll gives the oldest 500 and says the rest follows; the next ones continue
    # where it stopped (re-reading a minute, skipping what was shown), and every line comes once
    assert [line.raw for line in polls[0]] == [f"line {i}" for i in range(1, 501)]
    assert notes == [f"{group}: more than 5 pages of new events; the rest at the next poll"]
    shown = [line.raw for poll in polls for line in poll]
    assert shown == [f"line {i}" for i in range(1, 1001)]
    assert len(polls) == 4  # 500, 483 (17 of the 5 pages re-read), 17, then nothing


def test_a_deleted_group_is_dropped_from_the_follow():
    class Gone(FakeLogs):
        def filter_log_events(self, **_):
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "x"}}, "FilterLogEvents"
            )

    follower = ops_logs.Follower(
        ops_logs.LogQuery(stack="plm"), ["/aws/lambda/plm-A-1"], 0, client=Gone([]), settings=settings()
    )
    assert follower.poll(now=NOW) == []
    assert follower.groups == [] and "no longer exists" in follower.notes[0]


def test_the_db_check_window_is_whole_minutes():
    from chalicelib.ops.dbcheck import check_window

    window = check_window(timedelta(seconds=90), NOW)
    assert window.seconds == 120 and window.end == NOW.replace(second=0)
    assert window.description == "last 2 min"
