"""`db-check` and `logs` against the session's moto server: DynamoDB metrics and CloudWatch Logs
events put here, figures and filters read back through chalicelib.ops and the CLI."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from chalicelib.health.windows import floor_minute
from chalicelib.ops import logs as ops_logs
from chalicelib.ops.dbcheck import run_db_check
from postlaunch.awsenv import DEFAULT_STACK
from postlaunch.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, terminal_width=220)


def squeezed(output: str) -> str:
    """Letters and digits only: rich wraps cells to the terminal's width, so phrases may be split."""
    return "".join(c for c in output if c.isalnum())


def by_role(report: dict, role: str) -> dict:
    return next(t for t in report["tables"] if t["role"] == role)


# ---------------------------------------------------------------- db-check


def put_dynamodb_metrics(cw, table: str, at: datetime) -> None:
    """Throttling, latency and consumed capacity on `table` within the hour before `at`."""
    base = [{"Name": "TableName", "Value": table}]
    gsi = base + [{"Name": "GlobalSecondaryIndexName", "Value": "openBySeverity"}]

    def op(name: str) -> list[dict]:
        return base + [{"Name": "Operation", "Value": name}]

    early, late = at - timedelta(minutes=40), at - timedelta(minutes=20)
    data = [
        {"MetricName": "ReadThrottleEvents", "Dimensions": base, "Timestamp": early, "Value": 3.0},
        {"MetricName": "ReadThrottleEvents", "Dimensions": base, "Timestamp": late, "Value": 4.0},
        {"MetricName": "ThrottledRequests", "Dimensions": op("PutItem"), "Timestamp": late, "Value": 2.0},
        {"MetricName": "ReadThrottleEvents", "Dimensions": gsi, "Timestamp": late, "Value": 3.0},
        {"MetricName": "ConsumedReadCapacityUnits", "Dimensions": base, "Timestamp": early, "Value": 5.5},
        {"MetricName": "ConsumedReadCapacityUnits", "Dimensions": base, "Timestamp": late, "Value": 4.5},
        {"MetricName": "ConsumedWriteCapacityUnits", "Dimensions": base, "Timestamp": late, "Value": 36.0},
    ] + [
        {
            "MetricName": "SuccessfulRequestLatency",
            "Dimensions": op("Query"),
            "Timestamp": t,
            "Value": v,
            "Unit": "Milliseconds",
        }
        for t, v in ((early, 10.0), (late, 30.0), (late, 20.0))
    ]
    # Outside the window (an hour and a half before `at`): must not count.
    data.append(
        {
            "MetricName": "ReadThrottleEvents",
            "Dimensions": base,
            "Timestamp": at - timedelta(minutes=90),
            "Value": 100.0,
        }
    )
    cw.put_metric_data(Namespace="AWS/DynamoDB", MetricData=data)


def test_db_check_figures_per_table_from_cloudwatch_and_dynamodb(stack):
    # Given throttling, latency and capacity on the issues table two days ago (no other test writes
    # AWS/DynamoDB metrics for it), and an on-demand backup of it
    settings = stack.settings()
    at = floor_minute(datetime.now(UTC)) - timedelta(days=2)
    put_dynamodb_metrics(stack.aws_client("cloudwatch"), settings.issues_table, at)
    ddb = stack.aws_client("dynamodb")
    backup_name = f"dbcheck-{uuid.uuid4().hex[:8]}"
    ddb.create_backup(TableName=settings.issues_table, BackupName=backup_name)

    # When the check runs over the hour ending then
    report = run_db_check(timedelta(hours=1), now=at, settings=settings)

    # Then the issues table's figures are the ones put, and throttling makes it warn
    issues = by_role(report, "issues")
    assert issues["throttles"]["readThrottleEvents"] == 7
    assert issues["throttles"]["throttledRequests"]["PutItem"] == 2
    assert issues["throttles"]["throttledRequests"]["GetItem"] is None  # no data, not 0
    query = next(entry for entry in issues["latency"] if entry["operation"] == "Query")
    assert query == {"operation": "Query", "averageMs": 20.0, "maximumMs": 30.0, "requests": 3}
    assert issues["consumed"]["readCapacityUnits"] == {"total": 10.0, "perSecond": round(10 / 3600, 4)}
    assert issues["consumed"]["writeCapacityUnits"] == {"total": 36.0, "perSecond": 0.01}
    index = next(i for i in issues["indexes"] if i["name"] == "openBySeverity")
    assert (index["kind"], index["status"], index["readThrottleEvents"]) == ("global", "ACTIVE", 3)
    # (the issues table's other indexes had no throttling: no data, not 0)
    others = [i for i in issues["indexes"] if i["name"] != "openBySeverity"]
    assert sorted(i["name"] for i in others) == ["byCreated", "byStatus"]
    assert all(i["status"] == "ACTIVE" and i["readThrottleEvents"] is None for i in others)
    assert issues["verdict"] == "warn"
    assert issues["reasons"] == [
        "throttling seen: 7 read throttle events, 2 throttled PutItem, "
        "3 read throttle events on index openBySeverity"
    ]
    # And write throttling with no datapoint is null with the reason
    assert issues["throttles"]["writeThrottleEvents"] is None
    assert {
        "field": "throttles.writeThrottleEvents",
        "reason": "no WriteThrottleEvents datapoints in the last 1 h",
    } in issues["missing"]

    # And the recovery state: PITR on (the template asks for it), the backup made above is the latest
    assert issues["pointInTimeRecovery"]["enabled"] is True
    assert issues["backups"]["latest"]["name"] == backup_name
    assert issues["backups"]["complete"] is True
    # And the item count is DescribeTable's (moto's is live; DynamoDB's lags up to six hours)
    scanned = ddb.scan(TableName=settings.issues_table, Select="COUNT")["Count"]
    assert issues["itemCount"] == scanned

    # And the other tables, with PITR on and nothing recorded, are ok
    assert by_role(report, "rollups")["verdict"] == "ok"
    assert [i["name"] for i in by_role(report, "silences")["indexes"]] == ["byCreated", "activeByEnd"]

    # And every table the settings name is there, read with one call of each kind per table and a
    # single GetMetricData for all of them
    assert [t["table"] for t in report["tables"]] == list(settings.named_tables.values())
    n = len(settings.named_tables)
    assert report["calls"] == {
        "cloudwatch:GetMetricData": 1,
        "dynamodb:DescribeContinuousBackups": n,
        "dynamodb:DescribeTable": n,
        "dynamodb:ListBackups": n,
    }
    assert report["verdict"] == "warn" and report["warnings"] >= 1


def test_db_check_warns_when_point_in_time_recovery_is_off(stack):
    # Given PITR switched off on the silences table (switched back on afterwards: the DataLossRisk
    # alert tests share the table)
    settings = stack.settings()
    ddb = stack.aws_client("dynamodb")

    def pitr(on: bool) -> None:
        ddb.update_continuous_backups(
            TableName=settings.silences_table,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": on},
        )

    pitr(False)
    try:
        # When the check runs
        result = run("db-check", "--json")
        human = run("db-check")
    finally:
        pitr(True)

    # Then that table warns for it, in the JSON and in the table for people
    silences = by_role(json.loads(result.output), "silences")
    assert silences["pointInTimeRecovery"]["enabled"] is False
    assert silences["verdict"] == "warn" and "point-in-time recovery is off" in silences["reasons"]
    assert "PITRoff" in squeezed(human.output)
    # (its verdict line lists every reason: other tests of the session may add throttling ones)
    verdict_line = squeezed(human.output).split("Verdict", 1)[1]
    assert re.search(r"silenceswarn\w*?pointintimerecoveryisoff", verdict_line), verdict_line


def test_db_check_cli_json_and_table(stack):
    # Given the local stack
    # When db-check runs with --json
    result = run("db-check", "--since", "30m", "--json")

    # Then the JSON names every table, the window asked for and the six-hour note
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["window"]["seconds"] == 1800 and data["window"]["description"] == "last 30 min"
    assert {t["role"] for t in data["tables"]} >= {"feedback", "issues", "silences", "alerts"}
    assert any("six hours" in note for note in data["notes"])

    # And the table for people shows the verdict and "no data" where CloudWatch has none
    human = run("db-check", "--since", "30m")
    assert human.exit_code == 0, human.output
    assert "PITRon" in squeezed(human.output) and "nodata" in squeezed(human.output)


def test_db_check_rejects_a_bad_since():
    result = CliRunner().invoke(cli, ["db-check", "--since", "yesterday"])
    assert result.exit_code == 2 and "not a duration" in result.output


# ---------------------------------------------------------------- logs


def powertools(level: str, message: str, correlation: str | None = None) -> str:
    record = {"level": level, "location": "handler:1", "message": message, "service": "post-launch-monitor"}
    if correlation:
        record["correlation_id"] = correlation
    return json.dumps(record)


@pytest.fixture
def log_stack(stack):
    """Two of our functions' log groups, named as CloudFormation names a `chalice package` stack's
    functions (under the local stack's name, which the CLI resolves its resources from), one group
    of another stack, and events in each; deleted afterwards."""
    name = DEFAULT_STACK
    logs = stack.aws_client("logs")
    api = f"/aws/lambda/{name}-APIHandler-1A2B3C4D5E6F"
    health = f"/aws/lambda/{name}-EvaluateHealth-9Z8Y7X6W5V4U"
    foreign = f"/aws/lambda/other-{name}-APIHandler-QQQQQQQQQQQQ"
    leftover = logs.describe_log_groups(logGroupNamePrefix=ops_logs.group_prefix(name))["logGroups"]
    assert not leftover, "log groups of an earlier test were not deleted"
    for group in (api, health, foreign):
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="2026/01/01/[$LATEST]abc")
    now = datetime.now(UTC)

    def ms(minutes_ago: float) -> int:
        return int((now - timedelta(minutes=minutes_ago)).timestamp() * 1000)

    def put(group: str, events: list[tuple[float, str]]) -> None:
        logs.put_log_events(
            logGroupName=group,
            logStreamName="2026/01/01/[$LATEST]abc",
            logEvents=[
                {"timestamp": ms(m), "message": text} for m, text in sorted(events, key=lambda e: -e[0])
            ],
        )

    put(
        api,
        [
            (120, powertools("ERROR", "old failure", "c-old")),  # outside the default hour
            (50, "START RequestId: r1 Version: $LATEST"),
            (40, powertools("INFO", "no ERROR in the feedback body", "c-info")),
            (30, powertools("ERROR", "DynamoDB write failed", "c-123")),
            (20, "[ERROR] ZeroDivisionError: division by zero\nTraceback (most recent call last):"),
        ],
    )
    put(
        health,
        [
            (35, powertools("INFO", "health evaluated")),
            (10, "2026-01-01T00:00:00.000Z r2 Task timed out after 30.00 seconds"),
        ],
    )
    put(foreign, [(5, powertools("ERROR", "not ours"))])
    yield {"name": name, "api": api, "health": health, "logs": logs, "put": put, "ms": ms}
    for group in (api, health, foreign):
        logs.delete_log_group(logGroupName=group)


def test_logs_lists_our_functions_lines_oldest_first_in_columns(log_stack):
    # When the last hour of our functions' logs is read
    result = run("--stack", log_stack["name"], "logs", "--json")

    # Then both groups under the stack's prefix are read (not the foreign one), oldest line first
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["logGroups"] == sorted([log_stack["api"], log_stack["health"]])
    assert [(e["function"], e["level"], e["message"]) for e in data["events"]] == [
        ("APIHandler", None, "START RequestId: r1 Version: $LATEST"),
        ("APIHandler", "INFO", "no ERROR in the feedback body"),
        ("EvaluateHealth", "INFO", "health evaluated"),
        ("APIHandler", "ERROR", "DynamoDB write failed"),
        (
            "APIHandler",
            "ERROR",
            "[ERROR] ZeroDivisionError: division by zero\nTraceback (most recent call last):",
        ),
        ("EvaluateHealth", "ERROR", "2026-01-01T00:00:00.000Z r2 Task timed out after 30.00 seconds"),
    ]
    # And Powertools lines are parsed (correlation id, the record), other lines kept raw
    failed = data["events"][3]
    assert failed["correlationId"] == "c-123" and failed["json"] is True
    assert failed["record"]["location"] == "handler:1"
    assert data["events"][0]["json"] is False and data["events"][0]["correlationId"] is None
    assert data["calls"] == {"logs:DescribeLogGroups": 1, "logs:FilterLogEvents": 2}


def test_logs_errors_keeps_error_levels_and_lambda_errors_only(log_stack):
    result = run("--stack", log_stack["name"], "logs", "--errors", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # The INFO line that merely mentions ERROR, the START line and the error older than an hour are out
    assert [e["message"].split("\n")[0] for e in data["events"]] == [
        "DynamoDB write failed",
        "[ERROR] ZeroDivisionError: division by zero",
        "2026-01-01T00:00:00.000Z r2 Task timed out after 30.00 seconds",
    ]
    assert data["filter"]["pattern"] == ops_logs.ERROR_FILTER_PATTERN

    # And --since reaches the older error
    older = json.loads(
        run("--stack", log_stack["name"], "logs", "--errors", "--since", "3h", "--json").output
    )
    assert [e["correlationId"] for e in older["events"]][:2] == ["c-old", "c-123"]


def test_logs_function_and_limit(log_stack):
    # --function takes the name in app.py (or the logical id)
    only = json.loads(
        run("--stack", log_stack["name"], "logs", "--function", "evaluate_health", "--json").output
    )
    assert only["logGroups"] == [log_stack["health"]]
    assert [e["message"] for e in only["events"]] == [
        "health evaluated",
        "2026-01-01T00:00:00.000Z r2 Task timed out after 30.00 seconds",
    ]
    # --limit keeps the newest lines, still oldest first
    newest = json.loads(run("--stack", log_stack["name"], "logs", "--limit", "2", "--json").output)
    assert [e["function"] for e in newest["events"]] == ["APIHandler", "EvaluateHealth"]
    assert newest["events"][1]["message"].endswith("Task timed out after 30.00 seconds")

    # An unknown function names the ones there are
    missing = run("--stack", log_stack["name"], "logs", "--function", "nope")
    assert missing.exit_code == 1 and "APIHandler, EvaluateHealth" in missing.output


def test_logs_lines_for_people(log_stack):
    result = run("--stack", log_stack["name"], "logs", "--errors")
    assert result.exit_code == 0, result.output
    assert "3 line(s) from 2 log group(s)" in result.output
    assert "DynamoDBwritefailed" in squeezed(result.output) and "c123" in squeezed(result.output)


def test_logs_with_no_groups_says_why(stack):
    query = ops_logs.LogQuery(stack=f"none-{uuid.uuid4().hex[:6]}")
    with pytest.raises(ops_logs.NoLogGroups, match="no log groups start with /aws/lambda/none-"):
        ops_logs.read_logs(query, settings=stack.settings())


def test_follower_shows_each_new_event_once(log_stack, stack):
    # Given a follower started after the initial read
    query = ops_logs.LogQuery(stack=log_stack["name"], errors_only=True)
    settings = stack.settings()
    read = ops_logs.read_logs(query, settings=settings)
    follower = ops_logs.Follower(query, read.groups, int(read.end.timestamp() * 1000), settings=settings)
    follower.remember(read.lines)
    assert follower.poll() == []

    # When an error and an info line arrive
    log_stack["put"](
        log_stack["api"],
        [(0.05, powertools("INFO", "fine")), (0.01, powertools("CRITICAL", "table gone", "c-9"))],
    )

    # Then the next poll shows the error alone, and the one after shows nothing again
    fresh = follower.poll()
    assert [(line.level, line.message, line.correlation_id) for line in fresh] == [
        ("CRITICAL", "table gone", "c-9")
    ]
    assert follower.poll() == []


def test_logs_follow_prints_new_lines_then_stops_after_max_polls(log_stack, monkeypatch):
    # Given a new error that lands while the command waits for its first poll
    import postlaunch.cli.troubleshoot as troubleshoot

    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        if not sleeps:
            log_stack["put"](log_stack["health"], [(0.01, powertools("ERROR", "late failure", "c-late"))])
        sleeps.append(seconds)

    monkeypatch.setattr(troubleshoot.time, "sleep", sleep)

    # When it follows for two polls
    result = run(
        "--stack",
        log_stack["name"],
        "logs",
        "--errors",
        "--follow",
        "--max-polls",
        "2",
        "--interval",
        "0.5",
        "--json",
    )

    # Then it printed the three errors there were, then the new one, once, and stopped
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["message"].split("\n")[0] for line in lines][-2:] == [
        "2026-01-01T00:00:00.000Z r2 Task timed out after 30.00 seconds",
        "late failure",
    ]
    assert len(lines) == 4 and sleeps == [0.5, 0.5]


def test_logs_follow_for_people_prints_lines_and_stops(log_stack, monkeypatch):
    import postlaunch.cli.troubleshoot as troubleshoot

    monkeypatch.setattr(troubleshoot.time, "sleep", lambda seconds: None)
    result = run("logs", "--errors", "--follow", "--max-polls", "1")

    assert result.exit_code == 0, result.output
    assert "DynamoDBwritefailed" in squeezed(result.output) and "c123" in squeezed(result.output)


def test_logs_with_a_given_log_group_prefix(log_stack):
    # Groups named otherwise (here: another stack's) are read with --log-group-prefix
    result = run("logs", "--log-group-prefix", f"/aws/lambda/other-{log_stack['name']}-", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(e["function"], e["message"]) for e in data["events"]] == [("APIHandler", "not ours")]
