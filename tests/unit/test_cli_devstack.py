"""The dev stack's scheduler, without network: job discovery from a Chalice app, schedule parsing,
the Lambda-shaped call, and a failing job that must not stop the timer."""

from __future__ import annotations

import json
import types
from datetime import UTC, datetime

import pytest
from chalice import Chalice, Cron, Rate

from postlaunch.devstack import (
    ROOT,
    CronSpec,
    LambdaContext,
    Scheduler,
    chalice_stage_env,
    discover_jobs,
    rate_seconds,
    run_job,
    scheduled_event,
)


def app_with_jobs(calls: list):
    """A Chalice app with the kinds of schedules the real app may declare, as a module would hold it."""
    app = Chalice(app_name="t")

    @app.schedule("rate(5 minutes)")
    def every_five(event):
        calls.append(("every_five", event))

    @app.schedule(Rate(1, unit=Rate.HOURS), name="hourly")
    def hourly_job(event):
        calls.append(("hourly", event))

    @app.schedule(Cron(30, 8, "*", "*", "?", "*"))
    def daily_report(event):
        calls.append(("daily_report", event))

    @app.schedule("rate(1 minute)")
    def broken(event):
        raise RuntimeError("boom")

    @app.route("/x")
    def route():  # not a job
        return {}

    module = types.SimpleNamespace(
        app=app, every_five=every_five, hourly_job=hourly_job, daily_report=daily_report, broken=broken
    )
    return app, module


@pytest.mark.parametrize(
    "expression, seconds",
    [
        ("rate(5 minutes)", 300),
        ("rate(1 minute)", 60),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("cron(0 8 * * ? *)", None),
        ("nonsense", None),
    ],
)
def test_rate_seconds(expression, seconds):
    assert rate_seconds(expression) == seconds


def test_jobs_are_discovered_from_the_app_object():
    calls: list = []
    app, module = app_with_jobs(calls)

    jobs = {job.name: job for job in discover_jobs(app, module)}

    assert set(jobs) == {"every_five", "hourly", "daily_report", "broken"}
    assert jobs["every_five"].period == 300
    assert jobs["hourly"].period == 3600
    assert jobs["hourly"].expression == "rate(1 hour)"
    assert jobs["daily_report"].period is None and jobs["daily_report"].cron is not None


def test_speedup_and_fixed_period_shorten_schedules():
    app, module = app_with_jobs([])

    sped = {job.name: job.period for job in discover_jobs(app, module, speedup=60)}
    fixed = {job.name: job.period for job in discover_jobs(app, module, fixed_period=7)}

    assert sped["every_five"] == 5 and sped["hourly"] == 60 and sped["daily_report"] is None
    assert set(fixed.values()) == {7}  # the override applies to cron jobs too


def test_cron_matching_in_utc():
    spec = CronSpec.parse("cron(0/15 8-10 ? * MON-FRI *)")

    assert spec.matches(datetime(2025, 10, 6, 8, 15, tzinfo=UTC))  # a Monday
    assert spec.matches(datetime(2025, 10, 10, 10, 45, tzinfo=UTC))  # a Friday
    assert not spec.matches(datetime(2025, 10, 6, 8, 16, tzinfo=UTC))
    assert not spec.matches(datetime(2025, 10, 6, 11, 0, tzinfo=UTC))
    assert not spec.matches(datetime(2025, 10, 5, 8, 15, tzinfo=UTC))  # a Sunday


def test_cron_with_calendar_tokens_is_skipped_not_crashing():
    app = Chalice(app_name="t")

    @app.schedule("cron(0 8 L * ? *)")
    def month_end(event):
        pass

    assert discover_jobs(app, types.SimpleNamespace(month_end=month_end)) == []


def test_handler_gets_a_scheduled_event_and_a_lambda_context():
    calls: list = []
    app, module = app_with_jobs(calls)
    job = next(j for j in discover_jobs(app, module) if j.name == "every_five")
    when = datetime(2025, 10, 6, 8, 15, tzinfo=UTC)

    assert run_job(job, when) is True

    ((_, event),) = calls  # Chalice wraps the raw event in a CloudWatchEvent with the context attached
    raw, context = event.to_dict(), event.context
    assert raw["detail-type"] == "Scheduled Event" and raw["source"] == "aws.events"
    assert raw["time"] == "2025-10-06T08:15:00Z"
    assert raw["resources"][0].endswith("rule/post-launch-monitor-local-every_five")
    assert context.function_name == "post-launch-monitor-local-every_five"
    assert 0 < context.get_remaining_time_in_millis() <= 60_000
    assert context.aws_request_id and context.invoked_function_arn.startswith("arn:aws:lambda:")


def test_a_failing_job_is_logged_and_the_others_still_run(caplog):
    calls: list = []
    app, module = app_with_jobs(calls)
    scheduler = Scheduler(discover_jobs(app, module))
    wall = datetime(2025, 10, 6, 8, 30, tzinfo=UTC)

    first = scheduler.run_due(1000.0, wall)
    broken = next(j for j in scheduler.jobs if j.name == "broken")

    assert set(first) == {"every_five", "hourly", "broken", "daily_report"}  # rate jobs run at start
    assert broken.failures == 1 and "boom" in broken.last_error
    assert "scheduled job broken failed" in caplog.text
    # Then each at its period: after 61 s only the one-minute job is due again; cron waits a minute.
    assert scheduler.run_due(1061.0, wall) == ["broken"]
    assert scheduler.run_due(1301.0, wall.replace(minute=31)) == ["every_five", "broken"]


def test_scheduler_thread_stops_promptly():
    calls: list = []
    app, module = app_with_jobs(calls)
    scheduler = Scheduler(discover_jobs(app, module, fixed_period=3600), tick=0.05)

    scheduler.start()
    scheduler.stop(timeout=5)

    assert not scheduler.is_alive()


def test_lambda_context_counts_down():
    context = LambdaContext("f", timeout_s=0.0)
    assert context.get_remaining_time_in_millis() == 0


def test_scheduled_event_names_region_and_account():
    app, module = app_with_jobs([])
    job = discover_jobs(app, module)[0]
    event = scheduled_event(job, datetime(2025, 1, 1, tzinfo=UTC), region="eu-west-1")
    assert event["region"] == "eu-west-1" and event["account"].isdigit()


def test_jobs_get_the_local_stage_environment():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = chalice_stage_env("local")
    assert env["POWERTOOLS_SERVICE_NAME"] == "post-launch-monitor"  # top-level variables
    local = config["stages"]["local"].get("environment_variables", {})
    assert {k: env[k] for k in local} == local  # the stage's own, merged over them


def test_sns_topic_names_resolve_to_arns_as_chalice_package_writes_them():
    from postlaunch.devstack import topic_arn

    assert (
        topic_arn("${AWS::StackName}-alerts-paging", "plm")
        == "arn:aws:sns:us-east-1:123456789012:plm-alerts-paging"
    )
    assert topic_arn("arn:aws:sns:eu-west-1:1:x", "plm") == "arn:aws:sns:eu-west-1:1:x"


def test_each_sns_handler_of_the_app_listens_to_a_topic_the_template_creates():
    from postlaunch.devstack import SnsBridge, load_app, topic_arn
    from postlaunch.localstack import load_template

    module = load_app()
    bridge = SnsBridge.discover(module.app, module, "http://127.0.0.1:1", "plm")
    names = {
        r["Properties"]["TopicName"]["Fn::Sub"].replace("${AWS::StackName}", "plm")
        for r in load_template()["Resources"].values()
        if r["Type"] == "AWS::SNS::Topic" and "TopicName" in r["Properties"]
    }
    assert {route.name: route.topic_arn for route in bridge.routes} == {
        "notify_slack_paging": topic_arn("plm-alerts-paging", "plm"),
        "notify_slack_warning": topic_arn("plm-alerts-warning", "plm"),
        "notify_slack_digest": topic_arn("plm-alerts-digest", "plm"),
    }
    assert {route.topic_arn.rsplit(":", 1)[1] for route in bridge.routes} == names


def test_a_queued_sns_notification_becomes_the_event_lambda_would_get():
    from chalice.app import SNSEvent

    from postlaunch.devstack import sns_event

    envelope = {
        "Type": "Notification",
        "MessageId": "m1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
        "Subject": "[FIRING:1] R (critical)",
        "Message": '{"type": "alerts.group"}',
        "Timestamp": "2026-01-01T00:00:00.000Z",
        "MessageAttributes": {"rule": {"Type": "String", "Value": "R"}},
    }
    event = SNSEvent(sns_event(envelope, "arn:sub"), context=None)
    assert (event.message, event.subject) == ('{"type": "alerts.group"}', "[FIRING:1] R (critical)")
    assert event.message_attributes == {"rule": {"Type": "String", "Value": "R"}}


def test_an_empty_bridge_poll_is_logged_at_debug_and_real_work_at_info(caplog):
    """Given the per-second SNS/SQS bridge jobs, when a poll hands nothing over, then the terminal
    is not told (debug); a job that did something is (info)."""
    import logging

    from postlaunch.devstack import ScheduledJob, run_job

    idle = ScheduledJob("sqs_to_lambda", "x", "poll", lambda _e, _c: 0, period=1.0)
    busy = ScheduledJob("evaluate_alerts", "x", "rate(1 minute)", lambda _e, _c: {"fired": 1}, period=60.0)
    with caplog.at_level(logging.DEBUG, logger="plm.devstack"):
        assert run_job(idle) and run_job(busy)
    levels = {r.getMessage().split()[2]: r.levelno for r in caplog.records if "ran in" in r.getMessage()}
    assert levels == {"sqs_to_lambda": logging.DEBUG, "evaluate_alerts": logging.INFO}
