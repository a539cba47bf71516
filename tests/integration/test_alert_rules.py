"""Every alert rule fires from data put into the local CloudWatch and tables, and stays quiet
when the data does not breach (docs/alerts.md, "Rules").

Isolation on the session's shared stack: each CloudWatch test reads its own API name, function or
adoption namespace; feedback tests place their items in a year no other test writes to (2012);
snapshot tests read "the latest snapshot at or before now" at instants of their own. Rules are judged
with `rules.evaluate` (nothing written) except where the lifecycle is the point (`rules.run`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.alerts import engine, rules
from chalicelib.auth import Principal, Role
from chalicelib.feedback.service import submit_feedback
from chalicelib.feedback.windows import iso
from chalicelib.health import service as health
from chalicelib.observability import NAMESPACE, SERVICE
from chalicelib.store import alerts as store

FEEDBACK = "/api/monitoring/feedback"


def minute_now() -> datetime:
    """A real instant 30 s into the current minute (CloudWatch keeps datapoints for recent times)."""
    return datetime.now(UTC).replace(second=30, microsecond=0)


@pytest.fixture
def cw(stack):
    return stack.aws_client("cloudwatch")


@pytest.fixture
def settings(stack):
    """The stack's settings with an API, adoption namespace and function of this test's own."""
    tag = uuid.uuid4().hex[:8]
    return stack.settings().model_copy(
        update={
            "health_api_name": f"api-{tag}",
            "health_adoption_namespace": f"PE-{tag}",
            "health_score_namespace": f"Score-{tag}",
        }
    )


def put_minutes(cw, namespace, metric, dims, values, now, *, unit="Count"):
    """values[0] lands in the newest complete minute before `now`, values[1] a minute earlier, ..."""
    end = now.replace(second=0, microsecond=0)
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Timestamp": end - timedelta(minutes=i + 1) + timedelta(seconds=10),
                "Value": float(v),
                "Unit": unit,
            }
            for i, v in enumerate(values)
            if v is not None
        ],
    )


def put_api(cw, settings, now, *, count=None, errors=None, latency=None):
    dims = {"ApiName": settings.health_api_name}
    if count is not None:
        put_minutes(cw, "AWS/ApiGateway", "Count", dims, count, now)
    if errors is not None:
        put_minutes(cw, "AWS/ApiGateway", "5XXError", dims, errors, now)
    if latency is not None:
        put_minutes(cw, "AWS/ApiGateway", "Latency", dims, latency, now, unit="Milliseconds")


def judged(settings, now, *names: str) -> rules.RuleRun:
    return rules.evaluate(now, settings, rules=set(names))


def firing(run: rules.RuleRun, rule: str) -> list:
    return [c for c in run.conditions if c.rule == rule]


# ---------------------------------------------------------------- error rates


def test_high_error_rate_fires_when_every_one_of_the_last_two_minutes_breaches(cw, settings):
    now = minute_now()
    # Given 20 % and 15 % 5xx in the last two minutes (the seed's rule: > 10 % for 2 minutes)
    put_api(cw, settings, now, count=[100, 200], errors=[20, 30])
    run = judged(settings, now, "HighErrorRate", "ElevatedErrorRate")
    # Then HighErrorRate fires with the newest minute's rate; ElevatedErrorRate leaves it to it
    [alert] = firing(run, "HighErrorRate")
    assert alert.severity == "critical" and alert.value == 20.0 and alert.threshold == 10
    assert alert.labels == {"api": settings.health_api_name}
    assert not firing(run, "ElevatedErrorRate")
    assert run.evaluated == {"HighErrorRate", "ElevatedErrorRate"}
    assert run.calls["cloudwatch:GetMetricData"] == 1


def test_high_error_rate_does_not_fire_on_a_single_bad_minute(cw, settings):
    now = minute_now()
    # Given 30 % two minutes ago, but 4 % in the newest minute
    put_api(cw, settings, now, count=[100, 100], errors=[4, 30])
    run = judged(settings, now, "HighErrorRate")
    assert not firing(run, "HighErrorRate") and "HighErrorRate" in run.evaluated


def test_elevated_error_rate_fires_when_sustained_above_two_percent(cw, settings):
    now = minute_now()
    put_api(cw, settings, now, count=[100] * 5, errors=[3, 4, 3, 5, 3])
    [alert] = firing(judged(settings, now, "ElevatedErrorRate"), "ElevatedErrorRate")
    assert alert.severity == "warning" and alert.value == 3.0 and alert.threshold == 2


def test_elevated_error_rate_does_not_fire_below_two_percent(cw, settings):
    now = minute_now()
    put_api(cw, settings, now, count=[100] * 5, errors=[1, 2, 1, 0, 1])
    run = judged(settings, now, "ElevatedErrorRate")
    assert not firing(run, "ElevatedErrorRate") and "ElevatedErrorRate" in run.evaluated


def test_error_rate_rules_without_any_requests_are_not_evaluated(settings):
    run = judged(settings, minute_now(), "HighErrorRate", "ElevatedErrorRate")
    assert run.evaluated == set()
    assert "no API requests" in run.not_evaluated["HighErrorRate"]


# ---------------------------------------------------------------- latency


def test_performance_degradation_fires_above_a_second_sustained(cw, settings):
    now = minute_now()
    put_api(cw, settings, now, latency=[1500, 1200, 1100, 1300, 1800])
    [alert] = firing(judged(settings, now, "PerformanceDegradation"), "PerformanceDegradation")
    assert alert.severity == "error" and alert.value == 1500 and alert.threshold == 1000


def test_performance_degradation_does_not_fire_once_the_newest_minute_recovers(cw, settings):
    now = minute_now()
    put_api(cw, settings, now, latency=[800, 1200, 1100, 1300, 1800])
    run = judged(settings, now, "PerformanceDegradation")
    assert not firing(run, "PerformanceDegradation") and "PerformanceDegradation" in run.evaluated


def test_slow_api_response_fires_on_the_average_and_says_so_where_p95_is_unavailable(cw, settings):
    assert settings.percentile_stats is False  # the local stage: moto cannot compute percentiles
    now = minute_now()
    put_api(cw, settings, now, latency=[700, 650, 600, 900, 550])
    [alert] = firing(judged(settings, now, "SlowAPIResponse"), "SlowAPIResponse")
    assert alert.severity == "warning" and alert.value == 700 and alert.threshold == 500
    assert "(average)" in alert.summary and "p95 unavailable" in alert.summary


def test_slow_api_response_does_not_fire_under_half_a_second(cw, settings):
    now = minute_now()
    put_api(cw, settings, now, latency=[300, 450, 600, 900, 550])
    run = judged(settings, now, "SlowAPIResponse")
    assert not firing(run, "SlowAPIResponse") and "SlowAPIResponse" in run.evaluated


# ---------------------------------------------------------------- memory


def test_high_memory_usage_fires_from_lambda_insights(cw, settings):
    settings = settings.model_copy(update={"health_lambda_function": f"fn-{uuid.uuid4().hex[:6]}"})
    now = minute_now()
    dims = {"function_name": settings.health_lambda_function}
    put_minutes(cw, "LambdaInsights", "memory_utilization", dims, [95, 92, 97, 91, 99], now, unit="Percent")
    [alert] = firing(judged(settings, now, "HighMemoryUsage"), "HighMemoryUsage")
    assert alert.labels == {"function": settings.health_lambda_function} and alert.value == 95


def test_high_memory_usage_does_not_fire_below_ninety_percent(cw, settings):
    settings = settings.model_copy(update={"health_lambda_function": f"fn-{uuid.uuid4().hex[:6]}"})
    now = minute_now()
    dims = {"function_name": settings.health_lambda_function}
    put_minutes(cw, "LambdaInsights", "memory_utilization", dims, [60, 95, 97, 91, 99], now, unit="Percent")
    run = judged(settings, now, "HighMemoryUsage")
    assert not firing(run, "HighMemoryUsage") and "HighMemoryUsage" in run.evaluated


def test_high_memory_usage_is_not_evaluated_without_a_function_or_insights(settings):
    run = judged(settings, minute_now(), "HighMemoryUsage")
    assert "HEALTH_LAMBDA_FUNCTION" in run.not_evaluated["HighMemoryUsage"]
    with_fn = settings.model_copy(update={"health_lambda_function": "fn-without-insights"})
    run = judged(with_fn, minute_now(), "HighMemoryUsage")
    assert "Lambda Insights" in run.not_evaluated["HighMemoryUsage"]


# ---------------------------------------------------------------- security


def put_auth_failures(cw, values, now):
    put_minutes(cw, NAMESPACE, "AuthFailures", {"service": SERVICE}, values, now)


def test_security_breach_fires_on_a_spike_of_auth_failures(cw, settings):
    # Our EMF metric, as CloudWatch would hold it on AWS (locally Powertools prints it to stdout).
    now = minute_now() - timedelta(hours=3)  # an hour of its own: the metric has no per-test dimension
    put_auth_failures(cw, [20, 25, 10], now)
    [alert] = firing(judged(settings, now, "SecurityBreach"), "SecurityBreach")
    assert alert.severity == "critical" and alert.value == 55 and alert.threshold == 50


def test_security_breach_does_not_fire_on_a_few_failed_logins(cw, settings):
    now = minute_now() - timedelta(hours=5)
    put_auth_failures(cw, [3, 2, 4], now)
    run = judged(settings, now, "SecurityBreach")
    assert not firing(run, "SecurityBreach") and "SecurityBreach" in run.evaluated


# ---------------------------------------------------------------- health snapshot rules


def put_gauges(cw, settings, now, **gauges):
    cw.put_metric_data(
        Namespace=settings.health_adoption_namespace,
        MetricData=[
            {
                "MetricName": name,
                "Timestamp": now - timedelta(minutes=20),
                "Value": float(value),
                "Unit": "Count",
            }
            for name, value in gauges.items()
        ],
    )


def evaluate_health(settings, now):
    """The scheduled health evaluation, stored as the latest snapshot at `now`."""
    health.run_scheduled_evaluation(now=now, settings=settings)


def test_system_down_fires_when_health_evaluation_stops_producing_snapshots(settings):
    # Given no snapshot in the 15 minutes before an instant nobody else evaluates at
    now = datetime(2011, 3, 1, 12, 0, tzinfo=UTC)
    run = judged(settings, now, "SystemDown", "HealthDataMissing")
    [alert] = firing(run, "SystemDown")
    assert alert.labels == {"cause": "health-evaluation"}
    # and the rules that judge the snapshot say why they could not
    assert "no fresh health snapshot" in run.not_evaluated["HealthDataMissing"]


def test_system_down_fires_with_no_api_traffic_while_workspaces_are_active(cw, settings):
    now = minute_now()
    put_gauges(cw, settings, now, ActiveWorkspaces=12)
    evaluate_health(settings, now)
    [alert] = firing(judged(settings, now, "SystemDown"), "SystemDown")
    assert alert.labels == {"cause": "no-traffic", "api": settings.health_api_name}
    assert "12 workspaces" in alert.summary


def test_system_down_does_not_fire_while_requests_arrive(cw, settings):
    now = minute_now()
    put_gauges(cw, settings, now, ActiveWorkspaces=12)
    put_api(cw, settings, now, count=[40, 35])
    evaluate_health(settings, now)
    run = judged(settings, now, "SystemDown")
    assert not firing(run, "SystemDown") and "SystemDown" in run.evaluated


def test_low_adoption_fires_below_the_daily_active_target(cw, settings):
    now = minute_now()
    put_gauges(cw, settings, now, DailyActiveUsers=10, EnabledUsers=100)
    evaluate_health(settings, now)
    [alert] = firing(judged(settings, now, "LowAdoption"), "LowAdoption")
    assert alert.value == 10.0 and alert.threshold == 30


def test_low_adoption_does_not_fire_at_target(cw, settings):
    now = minute_now()
    put_gauges(cw, settings, now, DailyActiveUsers=45, EnabledUsers=100)
    evaluate_health(settings, now)
    run = judged(settings, now, "LowAdoption")
    assert not firing(run, "LowAdoption") and "LowAdoption" in run.evaluated


def test_health_data_missing_fires_when_the_score_rests_on_too_few_inputs(settings):
    # Given a health evaluation that found nothing for this API and namespace
    now = minute_now()
    evaluate_health(settings, now)
    [alert] = firing(judged(settings, now, "HealthDataMissing"), "HealthDataMissing")
    assert alert.value < 60 and alert.threshold == 60
    assert "inputs" in alert.summary


def test_health_data_missing_does_not_fire_with_enough_inputs(cw, settings):
    now = minute_now()
    put_gauges(cw, settings, now, DailyActiveUsers=45, EnabledUsers=100)
    put_api(cw, settings, now, count=[100, 100], errors=[0, 0], latency=[120, 130])
    evaluate_health(settings, now)
    run = judged(settings, now, "HealthDataMissing")
    assert not firing(run, "HealthDataMissing") and "HealthDataMissing" in run.evaluated


# ---------------------------------------------------------------- backups


@pytest.fixture
def table(stack):
    ddb = stack.aws_client("dynamodb")
    name = f"plm-test-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    ddb.delete_table(TableName=name)


def test_data_loss_risk_fires_when_point_in_time_recovery_is_off(settings, table):
    settings = settings.model_copy(update={"alert_backup_tables": [table]})
    [alert] = firing(judged(settings, minute_now(), "DataLossRisk"), "DataLossRisk")
    assert alert.labels == {"table": table, "cause": "pitr-off"} and alert.severity == "critical"


def test_data_loss_risk_does_not_fire_with_recovery_on(stack, settings, table):
    stack.aws_client("dynamodb").update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    settings = settings.model_copy(update={"alert_backup_tables": [table]})
    run = judged(settings, minute_now(), "DataLossRisk")
    assert not firing(run, "DataLossRisk") and "DataLossRisk" in run.evaluated


def test_data_loss_risk_fires_when_the_continuous_backup_stops_advancing(stack, settings, table):
    # Given recovery switched on (moto records the restorable time then and never moves it)
    stack.aws_client("dynamodb").update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    settings = settings.model_copy(update={"alert_backup_tables": [table], "alert_pitr_lag_check": True})
    # When judged now, and two hours later
    assert not firing(judged(settings, minute_now(), "DataLossRisk"), "DataLossRisk")
    [alert] = firing(judged(settings, minute_now() + timedelta(hours=2), "DataLossRisk"), "DataLossRisk")
    # Then the later judgement sees the backup 2 h behind
    assert alert.labels == {"table": table, "cause": "backup-lagging"}
    assert alert.value >= 119 and alert.threshold == 30


def test_data_loss_risk_with_an_unreadable_table_fires_what_it_saw_and_resolves_nothing(settings, table):
    settings = settings.model_copy(update={"alert_backup_tables": [table, "plm-no-such-table"]})
    run = judged(settings, minute_now(), "DataLossRisk")
    [alert] = firing(run, "DataLossRisk")
    assert alert.labels["table"] == table
    assert "plm-no-such-table" in run.not_evaluated["DataLossRisk"]


def test_the_stacks_own_tables_all_have_recovery_on(settings):
    run = judged(settings, minute_now(), "DataLossRisk")
    assert run.calls["dynamodb:DescribeContinuousBackups"] == len(settings.stack_tables)
    assert not firing(run, "DataLossRisk")


# ---------------------------------------------------------------- feedback


def staff(workspace: str) -> Principal:
    return Principal(sub=f"staff-{workspace}", workspace_id=workspace, roles=frozenset({Role.STAFF}))


def report(settings, workspace, at, *, category="bug_report", severity="high", area="reminders"):
    body = {
        "category": category,
        "severity": severity,
        "title": "Reminder texts not arriving",
        "description": "Patients say the reminder never came.",
        "featureArea": area,
    }
    submit_feedback(staff(workspace), body, now=at, settings=settings)


def test_feature_failure_fires_on_a_burst_of_high_bug_reports_in_one_area(settings, workspace):
    now = datetime(2012, 5, 3, 10, 0, tzinfo=UTC)
    for minutes in (5, 20, 50):
        report(settings, workspace, now - timedelta(minutes=minutes))
    report(settings, workspace, now - timedelta(minutes=30), severity="low")  # not counted
    [alert] = firing(judged(settings, now, "FeatureFailure"), "FeatureFailure")
    assert alert.labels == {"featureArea": "reminders"} and alert.value == 3 and alert.severity == "error"


def test_feature_failure_does_not_fire_when_the_reports_are_spread_out(settings, workspace):
    now = datetime(2012, 6, 3, 10, 0, tzinfo=UTC)
    for minutes in (5, 20, 90):  # the third is outside the 60-minute window
        report(settings, workspace, now - timedelta(minutes=minutes))
    run = judged(settings, now, "FeatureFailure")
    assert not firing(run, "FeatureFailure") and "FeatureFailure" in run.evaluated


def test_similar_complaints_fires_on_five_of_one_category_in_one_area(settings, workspace):
    now = datetime(2012, 7, 3, 10, 0, tzinfo=UTC)
    for minutes in range(1, 6):
        report(
            settings,
            workspace,
            now - timedelta(minutes=minutes),
            category="usability_issue",
            area="analytics",
        )
    [alert] = firing(judged(settings, now, "SimilarComplaints"), "SimilarComplaints")
    assert alert.labels == {"featureArea": "analytics", "category": "usability_issue"} and alert.value == 5


def test_similar_complaints_does_not_fire_across_categories(settings, workspace):
    now = datetime(2012, 8, 3, 10, 0, tzinfo=UTC)
    for minutes in range(1, 5):
        report(
            settings,
            workspace,
            now - timedelta(minutes=minutes),
            category="usability_issue",
            area="analytics",
        )
    report(settings, workspace, now - timedelta(minutes=6), category="feature_request", area="analytics")
    run = judged(settings, now, "SimilarComplaints")
    assert not firing(run, "SimilarComplaints") and "SimilarComplaints" in run.evaluated


def test_a_critical_bug_report_over_http_becomes_a_critical_alert(stack, workspace):
    created = stack.client("staff", workspace).post(
        FEEDBACK,
        json={
            "category": "bug_report",
            "severity": "critical",
            "title": "Portal login fails for every patient",
            "description": "Since 9:00 no patient can log in.",
            "featureArea": "patient_portal",
        },
    )
    assert created.status_code == 201, created.text
    feedback_id = created.json()["id"]
    from chalicelib.alerts.model import fingerprint

    alert = store.get_active(
        fingerprint(rules.CRITICAL_BUG_REPORT, {"feedbackId": feedback_id, "featureArea": "patient_portal"})
    )
    assert alert is not None
    assert alert["severity"] == "critical" and alert["source"] == "feedback"
    assert "Portal login fails" in alert["summary"] and alert["firstSeen"] == created.json()["createdAt"]


def test_resolving_a_critical_bug_report_resolves_its_alert_and_reopening_fires_it_again(stack, workspace):
    # Given a critical bug report and its firing alert
    created = stack.client("staff", workspace).post(
        FEEDBACK,
        json={
            "category": "bug_report",
            "severity": "critical",
            "title": "Reminders sent twice",
            "description": "Every reminder since this morning went out twice.",
            "featureArea": "reminders",
        },
    )
    assert created.status_code == 201, created.text
    feedback_id = created.json()["id"]
    from chalicelib.alerts.model import fingerprint

    key = fingerprint(rules.CRITICAL_BUG_REPORT, {"feedbackId": feedback_id, "featureArea": "reminders"})
    first = store.get_active(key)
    assert first is not None and first["state"] == "firing"
    engineer = stack.client("engineer", workspace)

    # When an engineer resolves the report
    resolved = engineer.patch(
        f"{FEEDBACK}/{feedback_id}", json={"status": "resolved", "resolution": "Deduplicated the sender"}
    )
    assert resolved.status_code == 200, resolved.text

    # Then its alert is resolved, by that engineer, and no alert of the report is active
    assert store.get_active(key) is None
    done = store.get(first["id"])
    assert done["state"] == "resolved" and done["resolvedBy"] == resolved.json()["history"][-1]["by"]

    # And reopening the report fires a new occurrence
    reopened = engineer.patch(f"{FEEDBACK}/{feedback_id}", json={"status": "acknowledged", "reason": "Again"})
    assert reopened.status_code == 200, reopened.text
    again = store.get_active(key)
    assert again is not None and again["id"] != first["id"] and again["state"] == "firing"


def test_a_high_bug_report_is_no_alert_by_itself(stack, workspace):
    created = stack.client("staff", workspace).post(
        FEEDBACK,
        json={
            "category": "bug_report",
            "severity": "high",
            "title": "Slow calendar",
            "description": "The calendar takes a while.",
            "featureArea": "appointments",
        },
    )
    feedback_id = created.json()["id"]
    from chalicelib.alerts.model import fingerprint

    key = {"feedbackId": feedback_id, "featureArea": "appointments"}
    assert store.get_active(fingerprint(rules.CRITICAL_BUG_REPORT, key)) is None


# ---------------------------------------------------------------- integration failure


def alert_with_delivery(settings, at, outcome):
    rule = f"Delivered{uuid.uuid4().hex[:6]}"
    alert, _ = engine.fire(engine.Condition(rule, "warning", "x", {"k": "v"}), at, settings)
    store.record_delivery(
        alert["id"],
        {
            "receiver": "slack",
            "at": iso(at),
            "attempt": 5,
            "outcome": outcome,
            "error": "HTTP 500" if outcome != "delivered" else None,
        },
        settings,
    )
    return alert


def test_integration_failure_fires_when_a_notification_was_given_up(settings):
    now = datetime(2010, 1, 4, 12, 0, tzinfo=UTC)
    alert_with_delivery(settings, now - timedelta(minutes=10), "given_up")
    [alert] = firing(judged(settings, now, "IntegrationFailure"), "IntegrationFailure")
    assert alert.value == 1 and alert.severity == "error"


def test_integration_failure_does_not_fire_when_notifications_are_delivered(settings):
    now = datetime(2010, 2, 4, 12, 0, tzinfo=UTC)
    alert_with_delivery(settings, now - timedelta(minutes=10), "delivered")
    alert_with_delivery(settings, now - timedelta(minutes=120), "given_up")  # outside the window
    run = judged(settings, now, "IntegrationFailure")
    assert not firing(run, "IntegrationFailure") and "IntegrationFailure" in run.evaluated


# ---------------------------------------------------------------- the scheduled run


def test_the_scheduled_run_records_resolves_and_leaves_unjudged_rules_alone(cw, settings):
    # Given a sustained 5xx spike: the run records a HighErrorRate alert
    now = minute_now()
    put_api(cw, settings, now, count=[100, 100], errors=[50, 50])
    first = rules.run(now, settings)
    assert "HighErrorRate" in first["firing"] and first["calls"]["cloudwatch:GetMetricData"] == 1
    label = {"api": settings.health_api_name}
    from chalicelib.alerts.model import fingerprint

    alert = store.get_active(fingerprint("HighErrorRate", label))
    assert alert is not None and alert["source"] == "evaluator" and alert["count"] == 1

    # When a later run finds no datapoints at all (CloudWatch silent): not evaluated, alert kept
    later = now + timedelta(minutes=30)
    second = rules.run(later, settings)
    assert "HighErrorRate" in second["notEvaluated"]
    assert store.get(alert["id"])["state"] == "firing"

    # When the errors stop while requests continue: resolved as "condition cleared"
    put_api(cw, settings, later, count=[100, 100], errors=[0, 0])
    rules.run(later, settings)
    resolved = store.get(alert["id"])
    assert resolved["state"] == "resolved" and resolved["resolution"] == "condition cleared"


def test_the_scheduled_lambda_handler_runs_the_evaluation(stack):
    from app import evaluate_alerts
    from postlaunch.devstack import LambdaContext

    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/post-launch-monitor-evaluate_alerts"],
        "detail": {},
    }
    outcome = evaluate_alerts(event, LambdaContext("post-launch-monitor-evaluate_alerts"))
    assert set(outcome["evaluated"]) | set(outcome["notEvaluated"]) == set(rules.RULES)
    assert outcome["calls"]["cloudwatch:GetMetricData"] == 1
    assert outcome["calls"]["dynamodb:DescribeContinuousBackups"] == len(stack.settings().stack_tables)
