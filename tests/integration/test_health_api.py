"""System health end to end on the moto server: metrics into CloudWatch, the scheduled handler run as
Lambda runs it, the snapshot read back over HTTP (chalice local) through the health and history
routes; nothing invented; validation, auth and freshness.

CloudWatch data in moto is global to the session, so tests that put metrics use their own API name
and adoption namespace (environment of this process; chalice local keeps the defaults).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

HEALTH = "/api/monitoring/system-health"


@pytest.fixture
def health_env(stack, monkeypatch):
    """Settings of this process pointed at a fresh API name and adoption namespace."""
    from chalicelib.config import get_settings, reset_settings

    tag = uuid.uuid4().hex[:8]
    monkeypatch.setenv("HEALTH_API_NAME", f"api-{tag}")
    monkeypatch.setenv("HEALTH_ADOPTION_NAMESPACE", f"PE-{tag}")
    reset_settings()
    yield get_settings()
    monkeypatch.undo()
    reset_settings()


def cloudwatch(stack):
    return stack.aws_client("cloudwatch")


def scheduled_event(when: datetime) -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/post-launch-monitor-evaluate_health"],
        "detail": {},
    }


def put_scenario(cw, settings, now: datetime) -> None:
    """API at 350 ms average and 1 % errors; 10 of 40 users active (25 %); 45 of 50 appointments kept."""
    recent = now.replace(second=0, microsecond=0) - timedelta(minutes=3)
    api = [{"Name": "ApiName", "Value": settings.health_api_name}]
    cw.put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            {
                "MetricName": "Latency",
                "Dimensions": api,
                "Timestamp": recent,
                "Value": v,
                "Unit": "Milliseconds",
            }
            for v in (250.0, 350.0, 450.0)
        ]
        + [
            {"MetricName": "Count", "Dimensions": api, "Timestamp": recent, "Value": 100.0},
            {"MetricName": "5XXError", "Dimensions": api, "Timestamp": recent, "Value": 1.0},
        ],
    )
    ns = settings.health_adoption_namespace
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {"MetricName": name, "Timestamp": now - timedelta(minutes=20), "Value": value}
            for name, value in (
                ("ActiveWorkspaces", 2.0),
                ("EnabledUsers", 40.0),
                ("DailyActiveUsers", 10.0),
                ("WeeklyActiveUsers", 22.0),
            )
        ]
        + [
            {"MetricName": name, "Timestamp": now - timedelta(days=2), "Value": value}
            for name, value in (("AppointmentsScheduled", 50.0), ("AppointmentsCompleted", 45.0))
        ],
    )


def test_scheduled_handler_stores_a_snapshot_the_api_and_history_return(stack, health_env):
    from app import evaluate_health
    from postlaunch.devstack import LambdaContext

    # Given metrics in CloudWatch
    cw = cloudwatch(stack)
    now = datetime.now(UTC)
    put_scenario(cw, health_env, now)

    # When the scheduled Lambda runs, as EventBridge invokes it
    outcome = evaluate_health(scheduled_event(now), LambdaContext("post-launch-monitor-evaluate_health"))

    # Then it stored a snapshot and published the score
    assert outcome["published"] is True and outcome["cloudwatchCalls"] == 4
    at = datetime.strptime(outcome["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    engineer = stack.client("engineer")
    body = engineer.get(HEALTH).json()
    assert body["freshness"]["source"] == "snapshot", body
    assert body["healthScore"] == outcome["healthScore"]
    assert body["evaluatedAt"] == at.strftime("%Y-%m-%dT%H:%M:%SZ")
    perf = body["performance"]
    assert (perf["apiResponseTime"], perf["errorRate"], perf["requestCount"]) == (350.0, 1.0, 100.0)
    assert body["adoption"]["dailyActiveUserRatio"] == 25.0 and body["adoption"]["totalActiveWorkspaces"] == 2
    assert body["quality"]["appointmentCompletionRate"] == 90.0
    rules = {(d["input"], d["points"]) for d in body["deductions"]}
    assert ("apiResponseTime", -10) in rules and ("dailyActiveUserRatio", -15) in rules
    assert not {"errorRate", "appointmentCompletionRate"} & {d["input"] for d in body["deductions"]}
    raw = 100 + sum(d["points"] for d in body["deductions"])
    assert body["healthScore"] == max(0, min(100, raw))
    assert "details" not in body

    history = engineer.get(
        HEALTH + "/history",
        params={
            "start": (at - timedelta(minutes=1)).isoformat(),
            "end": (at + timedelta(minutes=1)).isoformat(),
        },
    )
    assert history.status_code == 200, history.text
    points = {p["at"]: p for p in history.json()["points"]}
    assert points[outcome["at"]]["healthScore"] == outcome["healthScore"]
    assert points[outcome["at"]]["apiResponseTime"] == 350.0

    published = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "score",
                "MetricStat": {
                    "Metric": {"Namespace": "PostLaunchMonitor", "MetricName": "HealthScore"},
                    "Period": 1,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=at.replace(microsecond=0),
        EndTime=at.replace(microsecond=0) + timedelta(seconds=1),
    )["MetricDataResults"][0]["Values"]
    assert published == [float(outcome["healthScore"])]

    # The snapshot expires through DynamoDB TTL after the retention setting.
    from chalicelib.store.health import SNAPSHOT_SERIES, HealthItem

    item = HealthItem.get(SNAPSHOT_SERIES, outcome["at"])
    assert abs(item.expiresAt - (at + timedelta(days=health_env.health_retention_days))) < timedelta(
        seconds=1
    )


def test_nothing_is_invented_when_a_source_has_no_data(stack):
    # chalice local reads ApiName=post-launch-monitor, for which no test writes API Gateway metrics.
    body = stack.client("engineer").get(HEALTH, params={"refresh": "true"}).json()
    assert body["freshness"]["source"] == "evaluated"
    perf = body["performance"]
    for field in ("apiResponseTime", "errorRate", "requestCount", "cpuUsage", "diskUsage", "memoryUsage"):
        assert perf[field] is None
    missing = {m["field"]: m for m in body["missing"]}
    assert missing["performance.apiResponseTime"]["scoreInput"] is True
    assert (
        "no AWS/ApiGateway ApiName=post-launch-monitor Latency datapoints"
        in (missing["performance.apiResponseTime"]["reason"])
    )
    assert missing["performance.errorRate"]["scoreInput"] is True
    assert missing["performance.cpuUsage"]["scoreInput"] is False
    assert not {"apiResponseTime", "errorRate"} & {d["input"] for d in body["deductions"]}
    inputs = body["scoreInputs"]
    assert body["completeness"] == round(inputs["available"] / inputs["total"], 4) < 1


def test_answers_from_the_fresh_snapshot_and_refresh_evaluates_anew(stack):
    api = stack.client("engineer")
    first = api.get(HEALTH, params={"refresh": "true"}).json()
    second = api.get(HEALTH).json()
    assert first["freshness"]["source"] == "evaluated"
    assert second["freshness"]["source"] == "snapshot" and second["evaluatedAt"] == first["evaluatedAt"]
    assert 0 <= second["freshness"]["ageSeconds"] <= second["freshness"]["maxAgeSeconds"] == 60
    third = api.get(HEALTH, params={"refresh": "true", "verbose": "true"}).json()
    assert third["freshness"]["source"] == "evaluated"
    assert set(third["details"]) >= {"cloudwatch", "feedback", "alerts"}
    assert third["details"]["cloudwatch"]["calls"] == 4
    windows = third["windows"]
    assert windows["performance"]["seconds"] == 900 and windows["rates"]["seconds"] == 7 * 86400
    assert windows["satisfaction"]["seconds"] == 30 * 86400


@pytest.mark.parametrize(
    "path,params,field",
    [
        (HEALTH, {"verbose": "maybe"}, "verbose"),
        (HEALTH, {"refresh": "2"}, "refresh"),
        (HEALTH, {"colour": "blue"}, "colour"),
        (HEALTH + "/history", {"start": "yesterday"}, "start"),
        (HEALTH + "/history", {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "start"),
        (HEALTH + "/history", {"start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "start"),
        (HEALTH + "/history", {"limit": "0"}, "limit"),
        (HEALTH + "/history", {"limit": "5000"}, "limit"),
        (HEALTH + "/history", {"cursor": "not-a-cursor"}, "cursor"),
        (HEALTH + "/slo", {"window": "7d"}, "window"),
    ],
)
def test_bad_query_values_are_400_naming_the_field(stack, path, params, field):
    response = stack.client("engineer").get(path, params=params)
    assert response.status_code == 400, response.text
    assert field in [f["field"] for f in response.json()["error"]["fields"]]


@pytest.mark.parametrize("path", [HEALTH, HEALTH + "/history", HEALTH + "/slo"])
def test_health_routes_need_an_engineer(stack, workspace, path):
    assert stack.client().get(path).status_code == 401
    assert stack.client("staff", workspace).get(path).status_code == 403
    assert stack.client("ingest").get(path).status_code == 403
    assert stack.client("admin").get(path).status_code == 200


def test_history_defaults_to_the_last_day_and_pages(stack):
    api = stack.client("engineer")
    for _ in range(3):
        assert api.get(HEALTH, params={"refresh": "true"}).status_code == 200
    page = api.get(HEALTH + "/history", params={"limit": 2}).json()
    assert page["count"] == 2 and page["nextCursor"]
    start, end = (datetime.fromisoformat(page[k].replace("Z", "+00:00")) for k in ("start", "end"))
    assert end - start == timedelta(hours=24)
    rest = api.get(HEALTH + "/history", params={"limit": 2, "cursor": page["nextCursor"]}).json()
    assert rest["points"] and rest["points"][0]["at"] > page["points"][-1]["at"]
    assert all(p["at"] <= q["at"] for p, q in zip(page["points"], page["points"][1:], strict=False))


def test_a_score_from_few_inputs_says_the_data_is_insufficient(stack):
    # Given the API's metric series are empty (no API Gateway, ratio or completion data: 4 of 7 inputs)
    api = stack.client("engineer")
    # When health is evaluated over HTTP
    body = api.get(HEALTH, params={"refresh": "true"}).json()
    # Then the seed's score and band stand, flagged as computed from too little
    inputs = body["scoreInputs"]
    assert inputs["available"] <= 3 and inputs["total"] == 7
    assert body["healthScore"] == max(0, min(100, 100 + sum(d["points"] for d in body["deductions"])))
    assert (body["sufficientData"], body["minCompleteness"]) == (False, 0.6)
    # ... and so do the snapshot answer and the history point of that evaluation
    again = api.get(HEALTH).json()
    assert again["freshness"]["source"] == "snapshot" and again["sufficientData"] is False
    at = datetime.fromisoformat(body["evaluatedAt"].replace("Z", "+00:00"))
    points = api.get(
        HEALTH + "/history",
        params={
            "start": (at - timedelta(seconds=1)).isoformat(),
            "end": (at + timedelta(seconds=1)).isoformat(),
        },
    ).json()["points"]
    assert points and all(p["sufficientData"] is False for p in points)


def test_a_snapshot_stored_before_the_flag_existed_still_reads(stack):
    from chalicelib.health.evaluator import HealthSources, evaluate
    from chalicelib.store.health import save_snapshot

    # Given a snapshot and summary stored as they were before sufficientData (3 of 7 inputs)
    settings = stack.settings()
    now = datetime.now(UTC)
    evaluation = evaluate(
        now,
        settings=settings,
        sources=HealthSources(
            satisfaction=lambda start, end: {"average": 4.4, "count": 3},
            open_issues=lambda severities: [],
            open_feedback=lambda severities: [],
        ),
    )
    report = evaluation.report.model_dump(mode="json")
    for key in ("sufficientData", "minCompleteness"):
        report.pop(key)
    summary = {k: v for k, v in evaluation.summary.items() if k != "sufficientData"}
    key = save_snapshot(now, report, summary, settings=settings)

    # When the API answers from it, and the history lists it
    api = stack.client("engineer")
    body = api.get(HEALTH).json()
    points = api.get(
        HEALTH + "/history",
        params={
            "start": (now - timedelta(seconds=1)).isoformat(),
            "end": (now + timedelta(seconds=1)).isoformat(),
        },
    ).json()["points"]

    # Then the flag is computed from the stored input counts against today's threshold: 3 of 7
    # (satisfaction and stability; CloudWatch has nothing for this API name) is not enough
    assert body["freshness"]["source"] == "snapshot" and body["evaluatedAt"] == report["evaluatedAt"]
    assert body["scoreInputs"]["available"] == 3
    assert (body["sufficientData"], body["minCompleteness"]) == (False, 0.6)
    assert {p["at"]: p["sufficientData"] for p in points}[key] is False
