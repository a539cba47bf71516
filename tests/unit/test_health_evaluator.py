"""The evaluator over fake sources: what it reads, what it derives, and that it invents nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.config import Settings
from chalicelib.errors import UpstreamUnavailable
from chalicelib.health.evaluator import HealthSources, evaluate
from chalicelib.health.sources import CPU_REASON, DISK_REASON
from chalicelib.store.issues import IssueRecord
from tests.unit.health_fakes import FakeCloudWatch

NOW = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)
API = {"ApiName": "pe-api"}
PE = "PatientEngagement"


def settings(**kw) -> Settings:
    base = dict(
        health_api_name="pe-api",
        health_lambda_function="pe-fn",
        health_dynamodb_tables=["pe-table"],
        health_dynamodb_operations=["Query"],
        health_percentile_stats=True,
    )
    return Settings(**{**base, **kw})


def full_cloudwatch() -> FakeCloudWatch:
    cw = FakeCloudWatch()
    recent = NOW - timedelta(minutes=5)
    for ms in (100, 200, 300, 400, 1000):  # average 400 ms, p95 1000
        cw.add("AWS/ApiGateway", "Latency", ms, recent, API)
    cw.add("AWS/ApiGateway", "Count", 200, recent, API)
    cw.add("AWS/ApiGateway", "5XXError", 6, recent, API)  # 3 %
    cw.add(
        "AWS/DynamoDB",
        "SuccessfulRequestLatency",
        8,
        recent,
        {"TableName": "pe-table", "Operation": "Query"},
        n=4,
    )
    fn = {"FunctionName": "pe-fn"}
    cw.add("AWS/Lambda", "Errors", 2, recent, fn)
    cw.add("AWS/Lambda", "Throttles", 0, recent, fn)
    cw.add("AWS/Lambda", "Invocations", 210, recent, fn)
    cw.add("AWS/Lambda", "Duration", 120, recent, fn, n=3)
    cw.add("LambdaInsights", "memory_utilization", 42.5, recent, {"function_name": "pe-fn"})
    for name, value in (
        ("ActiveWorkspaces", 12),
        ("EnabledUsers", 200),
        ("DailyActiveUsers", 50),  # 25 % < 30 %
        ("WeeklyActiveUsers", 120),
    ):
        cw.add(PE, name, value - 1, NOW - timedelta(hours=3))  # older value: not the latest
        cw.add(PE, name, value, NOW - timedelta(minutes=20))
    today = NOW.replace(hour=9)
    for name, value in (("AppointmentsCreated", 30), ("FollowUpsCompleted", 7), ("RemindersDelivered", 40)):
        cw.add(PE, name, value, today)
    cw.add(PE, "AppointmentsCreated", 99, NOW - timedelta(days=1))  # yesterday: not today
    cw.add(PE, "PatientPortalSessions", 15, today)
    week = NOW - timedelta(days=3)
    for name, value in (
        ("AppointmentsScheduled", 100),
        ("AppointmentsCompleted", 75),  # 75 % < 80 %
        ("NoShows", 10),
        ("FollowUpsDue", 50),
        ("FollowUpsCompleted", 18),  # + 7 today = 25 of 50
        ("RemindersSent", 100),
        ("RemindersDelivered", 49),  # + 40 today = 89 of 100
    ):
        cw.add(PE, name, value, week)
    return cw


def sources(cw, *, satisfaction=None, issues=(), feedback=(), alerts=lambda: []) -> HealthSources:
    return HealthSources(
        cloudwatch=cw,
        satisfaction=lambda start, end: (
            satisfaction if satisfaction is not None else {"average": 3.8, "count": 9}
        ),
        open_issues=lambda severities: list(issues),
        open_feedback=lambda severities: list(feedback),
        active_alerts=alerts,
    )


def test_full_evaluation_reads_derives_and_explains():
    cw = full_cloudwatch()
    issues = [IssueRecord("BUG-001", "Reminders down", "critical", "open", ["fb-1"])]
    feedback = [
        {"id": "fb-1", "severity": "critical", "category": "bug_report", "issueId": None, "createdAt": "x"},
        {"id": "fb-2", "severity": "high", "category": "bug_report", "issueId": None, "createdAt": "x"},
    ]
    ev = evaluate(NOW, settings=settings(), sources=sources(cw, issues=issues, feedback=feedback))
    r = ev.report

    assert r.performance.apiResponseTime == 400.0
    assert r.performance.apiResponseTimeP95 == 1000.0
    assert r.performance.errorRate == 3.0
    assert r.performance.databaseResponseTime == 8.0
    assert r.performance.memoryUsage == 42.5
    assert (r.performance.cpuUsage, r.performance.diskUsage) == (None, None)
    assert (r.performance.lambdaErrors, r.performance.lambdaDuration) == (2.0, 120.0)
    assert r.adoption.dailyActiveUsers == 50 and r.adoption.enabledUsers == 200
    assert r.adoption.dailyActiveUserRatio == 25.0
    assert r.adoption.appointmentsCreatedToday == 30  # yesterday's 99 is not today
    assert r.adoption.patientPortalUsage == 15
    assert r.quality.appointmentCompletionRate == 75.0
    assert r.quality.followUpCompletionRate == 50.0
    assert r.quality.reminderDeliverySuccessRate == 89.0
    assert r.quality.noShowRate == 10.0
    assert (r.quality.userSatisfactionScore, r.quality.satisfactionResponses) == (3.8, 9)
    assert (r.stability.criticalErrors, r.stability.highPriorityIssues) == (1, 1)  # fb-1 is BUG-001's

    rules = sorted((d.rule, d.points) for d in r.deductions)
    assert rules == sorted(
        [
            ("API response time > 300 ms", -10),
            ("error rate > 2 %", -10),
            ("daily active users < 30 % of enabled users", -15),
            ("appointment completion rate < 80 %", -15),
            ("user satisfaction < 4.0", -10),
            ("critical error (each)", -15),
            ("high-priority issue (each)", -5),
        ]
    )
    assert r.healthScore == 20 and r.overallHealth == "emergency"
    assert r.completeness == 1.0
    assert ev.cloudwatch_calls == cw.get_calls == 4
    assert set(r.windows) == {"performance", "adoptionGauges", "adoptionCounts", "rates", "satisfaction"}
    assert (
        r.windows["performance"]["seconds"] == 900
        and r.windows["performance"]["end"] == "2026-03-10T12:00:00Z"
    )


def test_cpu_and_disk_are_null_with_reasons_and_not_scored():
    ev = evaluate(NOW, settings=settings(), sources=sources(full_cloudwatch()))
    missing = {m.field: m for m in ev.report.missing}
    assert missing["performance.cpuUsage"].reason == CPU_REASON
    assert missing["performance.diskUsage"].reason == DISK_REASON
    assert not any(m.scoreInput for m in missing.values())
    assert ev.report.stability.activeAlerts == 0


def test_active_alerts_that_cannot_be_read_are_null_with_the_reason_and_not_scored():
    def failing():
        raise UpstreamUnavailable("Could not read the active alerts; try again.")

    ev = evaluate(NOW, settings=settings(), sources=sources(full_cloudwatch(), alerts=failing))
    missing = {m.field: m for m in ev.report.missing}
    assert ev.report.stability.activeAlerts is None
    assert missing["stability.activeAlerts"].reason.startswith("active alerts could not be read")
    assert missing["stability.activeAlerts"].scoreInput is False


def test_active_alerts_seam_is_shown_when_supplied():
    ev = evaluate(
        NOW, settings=settings(), sources=sources(full_cloudwatch(), alerts=lambda: [{"id": "a"}] * 3)
    )
    assert ev.report.stability.activeAlerts == 3


def test_nothing_is_invented_when_api_gateway_has_no_data():
    cw = full_cloudwatch()
    cw.points = [p for p in cw.points if p[0] != "AWS/ApiGateway"]
    ev = evaluate(NOW, settings=settings(), sources=sources(cw, satisfaction={"average": 4.5, "count": 3}))
    r = ev.report
    assert (r.performance.apiResponseTime, r.performance.errorRate, r.performance.apiResponseTimeP95) == (
        None,
        None,
        None,
    )
    missing = {m.field: m for m in r.missing}
    for field in ("performance.apiResponseTime", "performance.errorRate"):
        assert missing[field].scoreInput and "ApiName=pe-api" in missing[field].reason
    assert not any(d.input in ("apiResponseTime", "errorRate") for d in r.deductions)
    assert r.completeness == round(5 / 7, 4)
    assert r.sufficientData is True and ev.sufficient_data is True  # 5 of 7 >= 0.6


def test_a_failing_cloudwatch_makes_metric_fields_missing_not_an_error():
    ev = evaluate(
        NOW,
        settings=settings(),
        sources=sources(FakeCloudWatch(fail=True), satisfaction={"average": 4.2, "count": 5}),
    )
    r = ev.report
    assert r.performance.apiResponseTime is None and r.adoption.dailyActiveUsers is None
    reasons = {m.field: m.reason for m in r.missing}
    assert reasons["performance.apiResponseTime"].startswith("CloudWatch did not answer")
    assert reasons["quality.appointmentCompletionRate"].startswith("CloudWatch did not answer")
    assert r.deductions == [] and r.healthScore == 100
    assert r.completeness == round(3 / 7, 4)  # satisfaction and the two stability inputs remain
    # ... and a 100 from 3 of 7 inputs says so, on the report and on the result a later rule reads
    assert (r.sufficientData, r.minCompleteness) == (False, 0.6)
    assert ev.sufficient_data is False and ev.summary["sufficientData"] is False


def test_a_failing_feedback_source_makes_its_inputs_missing():
    def broken(*_):
        raise UpstreamUnavailable("The feedback table could not be read.")

    src = sources(full_cloudwatch())
    src.satisfaction = broken
    src.open_feedback = broken
    r = evaluate(NOW, settings=settings(), sources=src).report
    reasons = {m.field: m.reason for m in r.missing}
    assert "could not be read" in reasons["quality.userSatisfactionScore"]
    assert "could not be read" in reasons["stability.criticalErrors"]
    assert r.stability.criticalErrors is None and r.quality.userSatisfactionScore is None


def test_zero_requests_give_no_error_rate():
    cw = FakeCloudWatch()
    cw.add("AWS/ApiGateway", "Count", 0, NOW - timedelta(minutes=2), API)
    cw.add("AWS/ApiGateway", "5XXError", 0, NOW - timedelta(minutes=2), API)
    r = evaluate(NOW, settings=settings(), sources=sources(cw)).report
    assert r.performance.errorRate is None and r.performance.requestCount == 0
    assert "no API requests" in {m.field: m.reason for m in r.missing}["performance.errorRate"]


def test_percentiles_off_leave_p95_missing_and_do_not_query_it():
    cw = full_cloudwatch()
    r = evaluate(NOW, settings=settings(health_percentile_stats=False), sources=sources(cw)).report
    assert r.performance.apiResponseTimeP95 is None
    assert "switched off" in {m.field: m.reason for m in r.missing}["performance.apiResponseTimeP95"]
    assert "api_latency_p95" not in r.details["cloudwatch"]["performance"]["queries"]


def test_without_a_function_name_lambda_is_account_wide_and_memory_missing():
    cw = FakeCloudWatch()
    cw.add("AWS/Lambda", "Errors", 4, NOW - timedelta(minutes=1))
    r = evaluate(NOW, settings=settings(health_lambda_function=None), sources=sources(cw)).report
    assert r.performance.lambdaErrors == 4
    assert "HEALTH_LAMBDA_FUNCTION" in {m.field: m.reason for m in r.missing}["performance.memoryUsage"]


def test_backdated_evaluation_leaves_stability_missing():
    ev = evaluate(NOW, settings=settings(), sources=sources(full_cloudwatch()), backdated=True)
    assert ev.report.backfilled is True
    assert ev.report.stability.criticalErrors is None
    assert "back-dated" in {m.field: m.reason for m in ev.report.missing}["stability.criticalErrors"]


def test_the_first_minute_of_a_day_has_no_counts_window():
    midnight = datetime(2026, 3, 10, 0, 0, 20, tzinfo=UTC)
    r = evaluate(midnight, settings=settings(), sources=sources(full_cloudwatch())).report
    assert "just begun" in {m.field: m.reason for m in r.missing}["adoption.appointmentsCreatedToday"]


@pytest.mark.parametrize("verbose", [True, False])
def test_public_view_hides_details_unless_verbose(verbose):
    report = evaluate(NOW, settings=settings(), sources=sources(full_cloudwatch())).report
    body = report.public(verbose=verbose)
    assert ("details" in body) is verbose
    assert body["healthScore"] == report.healthScore


def test_the_completeness_threshold_is_a_setting():
    # Given CloudWatch unreachable: 3 of 7 inputs (satisfaction and stability) have data
    src = sources(FakeCloudWatch(fail=True), satisfaction={"average": 4.2, "count": 5})
    # When the threshold is lowered to 0.4, then raised to 0.5
    low = evaluate(NOW, settings=settings(health_min_completeness=0.4), sources=src)
    high = evaluate(NOW, settings=settings(health_min_completeness=0.5), sources=src)
    # Then 3/7 (0.43) is sufficient for the first and not for the second; the score is the same
    assert (low.sufficient_data, high.sufficient_data) == (True, False)
    assert low.report.healthScore == high.report.healthScore == 100
    assert (low.report.minCompleteness, high.report.minCompleteness) == (0.4, 0.5)


def test_the_completeness_threshold_is_read_from_the_environment():
    assert Settings.from_env({"HEALTH_MIN_COMPLETENESS": "0.75"}).health_min_completeness == 0.75
    assert Settings().health_min_completeness == 0.6
    with pytest.raises(ValueError):
        Settings(health_min_completeness=1.5)


def test_a_report_stored_without_the_flag_gets_it_from_its_input_counts():
    from chalicelib.health.service import _with_sufficiency
    from chalicelib.schemas.health import HealthReport

    # Given a full evaluation (7 of 7) and one with CloudWatch down (3 of 7), stored without the flag
    full = evaluate(NOW, settings=settings(), sources=sources(full_cloudwatch())).report
    sparse = evaluate(NOW, settings=settings(), sources=sources(FakeCloudWatch(fail=True))).report
    old = []
    for report in (full, sparse):
        body = report.model_dump(mode="json")
        del body["sufficientData"], body["minCompleteness"]
        old.append(HealthReport.model_validate(body))
    assert old[0].sufficientData is None  # what reading such a snapshot gives

    # When the service reads them
    read = [_with_sufficiency(r, settings(health_min_completeness=0.6)) for r in old]

    # Then each has the flag its stored counts give, and the threshold applied
    assert [(r.sufficientData, r.minCompleteness) for r in read] == [(True, 0.6), (False, 0.6)]
