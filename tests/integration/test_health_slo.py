"""Availability and SLOs against moto's CloudWatch: error budget, multi-window burn rates, uptime;
and what moto does with percentile statistics (it cannot compute them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config

from chalicelib.config import Settings
from chalicelib.health.evaluator import HealthSources, evaluate
from chalicelib.health.slo import slo_report

NOW = datetime.now(UTC).replace(second=20, microsecond=0)


def cloudwatch(stack, attempts: int = 4):
    return boto3.client(
        "cloudwatch",
        endpoint_url=stack.aws.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": attempts, "mode": "standard"}),
    )


@pytest.fixture
def settings(stack) -> Settings:
    return stack.settings().model_copy(update={"health_api_name": f"api-{uuid.uuid4().hex[:8]}"})


def put(cw, settings, at: datetime, count: float, errors: float) -> None:
    api = [{"Name": "ApiName", "Value": settings.health_api_name}]
    cw.put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            {"MetricName": "Count", "Dimensions": api, "Timestamp": at, "Value": count},
            {"MetricName": "5XXError", "Dimensions": api, "Timestamp": at, "Value": errors},
            {"MetricName": "Latency", "Dimensions": api, "Timestamp": at, "Value": 120.0},
        ],
    )


def test_error_budget_and_burn_rates_follow_the_sre_workbook(stack, settings):
    # Given 10 000 quiet requests ten days ago, then 100 requests per 5 minutes for 6 hours,
    # with 3 % errors in the last hour only.
    cw = cloudwatch(stack)
    end = NOW.replace(second=0)
    put(cw, settings, end - timedelta(days=10), 10_000, 5)
    for k in range(1, 73):
        put(cw, settings, end - timedelta(minutes=5 * k) + timedelta(seconds=30), 100, 3 if k <= 12 else 0)

    report = slo_report(now=NOW, settings=settings, client=cw)

    availability = next(s for s in report["slos"] if s["name"] == "availability")
    assert availability["target"] == 99.9 and availability["missing"] is None
    # 41 errors in 17 200 requests against a 0.1 % budget: 238 % of it spent.
    assert availability["compliance"] == round(100 * (1 - 41 / 17_200), 4)
    assert availability["errorBudget"]["consumedPercent"] == round(100 * (41 / 17_200) / 0.001, 2)
    assert availability["errorBudget"]["remainingPercent"] < 0
    assert availability["burnRates"] == {"5m": 30.0, "30m": 30.0, "1h": 30.0, "6h": 5.0}
    alerts = {a["name"]: a for a in availability["alerts"]}
    assert alerts["fast burn (page)"]["firing"] is True  # 1 h and 5 m both above 14.4
    assert alerts["slow burn (page)"]["firing"] is False  # 6 h at 5, below 6
    assert report["uptime"]["requestAvailability"] == availability["compliance"]
    assert (report["uptime"]["requests"], report["uptime"]["serverErrors"]) == (17_200, 41)
    assert report["cloudwatchCalls"] == 2

    # The local stage has percentile statistics off: the latency SLO says so instead of guessing.
    latency = next(s for s in report["slos"] if s["name"] == "latency")
    assert latency["compliance"] is None and "switched off" in latency["missing"]
    assert set(latency["burnRates"].values()) == {None}


def test_uptime_from_snapshots_counts_evaluations_with_traffic(stack, settings):
    report = slo_report(now=NOW, settings=settings, client=cloudwatch(stack))
    snaps = report["uptime"]["snapshots"]
    assert snaps["expected"] == 30 * 24 * 12  # one evaluation every 5 minutes
    assert snaps["total"] >= snaps["withTraffic"] >= snaps["down"] >= 0
    if snaps["withTraffic"]:
        assert report["uptime"]["snapshotUptime"] == round(
            100 * (1 - snaps["down"] / snaps["withTraffic"]), 4
        )
    else:
        assert report["uptime"]["snapshotUptime"] is None


def test_slo_route_without_traffic_reports_missing_not_zero(stack):
    body = stack.client("engineer").get("/api/monitoring/system-health/slo").json()
    availability = next(s for s in body["slos"] if s["name"] == "availability")
    assert availability["compliance"] is None
    assert "no API Gateway requests for ApiName=post-launch-monitor" in availability["missing"]


def test_moto_cannot_compute_percentiles_so_the_values_stay_null(stack, settings):
    """moto 5.2.5 computes only Sum, Average, Minimum, Maximum and SampleCount; for p95 or PR(:500) it
    puts None in the result and then fails to serialise it: the whole GetMetricData call is an HTTP
    500. On AWS the same queries return numbers. We report null with the reason, never a guess."""
    cw = cloudwatch(stack, attempts=1)
    put(cw, settings, NOW - timedelta(minutes=3), 10, 0)
    on = settings.model_copy(update={"health_percentile_stats": True})

    report = slo_report(now=NOW, settings=on, client=cw)
    latency = next(s for s in report["slos"] if s["name"] == "latency")
    assert latency["compliance"] is None and latency["missing"].startswith("CloudWatch did not answer")
    assert "HTTP 500" in latency["missing"]

    sources = HealthSources(
        cloudwatch=cw,
        satisfaction=lambda start, end: {"average": None, "count": 0},
        open_issues=lambda severities: [],
        open_feedback=lambda severities: [],
    )
    r = evaluate(NOW, settings=on, sources=sources).report
    assert r.performance.apiResponseTime is None and r.performance.apiResponseTimeP95 is None
    assert {m.field: m.reason for m in r.missing}["performance.apiResponseTimeP95"].startswith(
        "CloudWatch did not answer"
    )
    # Without the percentile the same call answers: the average is there.
    off = evaluate(NOW, settings=settings, sources=sources).report
    assert off.performance.apiResponseTime == 120.0


def test_snapshot_uptime_reads_at_most_its_ceiling(stack, settings):
    # Given five stored evaluations an hour apart in June 2013 (no other test writes there), the
    # newest one down (error rate above 5 %)
    from chalicelib.store.health import at_key, save_snapshot

    at = datetime(2013, 6, 15, 12, tzinfo=UTC)
    for k in range(5):
        point = {"healthScore": 90, "overallHealth": "healthy", "completeness": 1.0, "apiResponseTime": 100.0}
        point |= {"errorRate": 9.0 if k == 0 else 0.0, "requests": 10.0}
        save_snapshot(at - timedelta(hours=k), {}, point, settings=settings)
    later = at + timedelta(minutes=1)

    # When the SLO report may read only three summary points
    capped = settings.model_copy(update={"slo_max_snapshot_points": 3})
    report = slo_report(now=later, settings=capped, client=cloudwatch(stack))

    # Then it reads the newest three and says which part of the window they cover
    snaps = report["uptime"]["snapshots"]
    assert report["summaryPointsRead"] == snaps["total"] == 3 and snaps["down"] == 1
    assert snaps["truncated"] is True and snaps["coveredFrom"] == at_key(at - timedelta(hours=2))

    # And under the ceiling it reads them all
    full = slo_report(now=later, settings=settings, client=cloudwatch(stack))["uptime"]["snapshots"]
    assert (full["total"], full["truncated"]) == (5, False)
