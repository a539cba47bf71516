"""GET /api/monitoring/report against the moto stack: every figure checked against data this test
stored. The data sits in 2009, a year no other test writes to (each test its own month), so the
module-wide sections (health, alerts, releases, the ratings rollup) see only it; feedback is also
narrowed to the test's own workspace."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml

from chalicelib.alerts import engine
from chalicelib.alerts.model import Condition
from chalicelib.auth import Principal, Role
from chalicelib.feedback import service as feedback
from chalicelib.releases import model as release_model
from chalicelib.store import health as health_store
from chalicelib.store import releases as release_store
from tests.payloads import SEED_FEEDBACK
from tests.release_helpers import fresh_version

MARCH = {"start": "2009-03-01", "end": "2009-03-31"}
DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def at(day: int, hour: int = 0, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2009, month, day, hour, minute, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return health_store.at_key(moment)


def submit(workspace: str, moment: datetime, **fields) -> dict:
    staff = Principal(sub=f"staff-{workspace}", workspace_id=workspace, roles=frozenset({Role.STAFF}))
    body = {k: v for k, v in SEED_FEEDBACK.items() if not k.endswith("Rating")}
    body |= {"category": "general_feedback", "severity": "low"} | fields
    record, _ = feedback.submit_feedback(staff, body, now=moment)
    return record


def snapshot(moment: datetime, score: int, band: str) -> None:
    point = {"healthScore": score, "overallHealth": band, "completeness": 1.0, "sufficientData": True}
    health_store.save_snapshot(moment, {}, point | {"errorRate": 0.0, "requests": 10.0})


def fire(severity: str, moment: datetime) -> dict:
    condition = Condition("ReportTest", severity, "report test", {"case": uuid.uuid4().hex}, source="event")
    alert, outcome = engine.fire(condition, now=moment)
    assert outcome == "new"
    return alert


def rolled_back_release(created: datetime) -> str:
    """A production rollout as the rollout's steps record it: 10 % for 5 minutes, 25 % for 2, then
    the gate failed and the aliases went back."""
    version = fresh_version()
    record = release_model.new_record(version, [], [], [], actor="eng-report", now=stamp(created))
    release_store.create_release(record)
    execution = f"arn:aws:states:us-east-1:123456789012:execution:rollout:{uuid.uuid4().hex}"

    def entry(minutes: int, action: str, before, after, reason: str) -> dict:
        return {
            "at": stamp(created + timedelta(minutes=minutes)),
            "actor": "eng-report",
            "action": action,
            "from": before,
            "to": after,
            "reason": reason,
            "execution": execution,
            "key": f"{action}:{minutes}",
        }

    history = [
        entry(1, "deploy_started", "staging_verified", "deploying", "deploy production"),
        entry(2, "shift", "0%", "10%", "first step"),
        entry(7, "shift", "10%", "25%", "gate passed at 10%"),
        entry(9, "rolled_back", "deploying", "rolled_back", "gate failed: error rate 3.2 % above 1 %"),
    ]
    release_store.update_release(
        version,
        1,
        {
            "status": "rolled_back",
            "executions+": [{"arn": execution, "environment": "production", "action": "deploy"}],
        },
        history=history,
    )
    return version


@pytest.fixture(scope="module")
def march(stack) -> dict:
    """March 2009: feedback in one workspace, three health evaluations, three alerts, one release."""
    workspace = f"ws-report-{uuid.uuid4().hex[:8]}"
    items = [
        submit(workspace, at(2, 9), satisfactionRating=5),
        submit(workspace, at(3, 9), category="feature_request", satisfactionRating=4),
        submit(workspace, at(20, 9), category="usability_issue", severity="medium", satisfactionRating=3),
        submit(workspace, at(28, 9), category="feature_request"),
    ]
    snapshot(at(10, 0, 0), 90, "healthy")
    snapshot(at(10, 0, 5), 70, "warning")
    snapshot(at(10, 0, 10), 50, "critical")

    critical = fire("critical", at(5, 10))
    engine.acknowledge(critical["id"], "eng", now=at(5, 10, 10))  # 600 s to acknowledge
    engine.resolve(critical["id"], "eng", "fixed", now=at(5, 11))  # 3600 s to resolve
    warning = fire("warning", at(6, 9))
    engine.acknowledge(warning["id"], "eng", now=at(6, 19))  # 10 h: past the 8 h deadline
    engine.resolve(warning["id"], "eng", "fixed", now=at(7, 9))  # 86 400 s
    error = fire("error", at(31, 23))
    engine.resolve(error["id"], "eng", "after the period", now=at(2, 9, month=4))

    version = rolled_back_release(at(20, 10))
    return {"workspace": workspace, "items": items, "version": version}


def test_report_figures_are_the_data_of_the_period(stack, march):
    # When an engineer asks for March 2009's report, feedback narrowed to the test's workspace
    response = stack.client("engineer").get(
        "/api/monitoring/report", params=MARCH | {"workspaceId": march["workspace"]}
    )

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["period"]["start"] == "2009-03-01T00:00:00Z"
    assert report["period"]["end"] == "2009-03-31T23:59:59Z"

    # Then feedback is the feedback summary of those four items, in its own shape
    fb = report["feedback"]
    assert fb["total"] == 4 and fb["scope"] == {"workspaceId": march["workspace"]}
    assert fb["byCategory"]["feature_request"] == 2 and fb["byCategory"]["usability_issue"] == 1
    assert fb["ratings"]["satisfaction"] == {"average": 4.0, "count": 3}

    # And health: the newest evaluation by the period's end, lowest, mean and time in each band
    # (each band holds until the next evaluation, at most two schedule intervals: 10 minutes)
    health = report["health"]
    assert health["now"] | {"ageSeconds": None} == {
        "score": 50,
        "band": "critical",
        "sufficientData": True,
        "at": "2009-03-10T00:10:00Z",
        "ageSeconds": None,
    }
    period = health["period"]
    assert (period["lowest"], period["lowestAt"], period["mean"], period["points"]) == (
        50,
        "2009-03-10T00:10:00Z",
        70.0,
        3,
    )
    assert period["holdSeconds"] == 600
    bands = period["timeInBand"]
    assert (bands["healthy"], bands["warning"], bands["critical"], bands["emergency"]) == (300, 300, 600, 0)
    assert sum(bands.values()) == pytest.approx(31 * 86400 - 0.000001, abs=0.01)

    # And alerts: three raised, MTTA (600 + 36 000) / 2, MTTR (3600 + 86 400) / 2, one overdue, and
    # the error alert still active at the period's end (it was resolved in April)
    alerts = report["alerts"]
    assert alerts["raised"] == 3 and alerts["active"] == 1
    assert alerts["bySeverity"] == {"critical": 1, "error": 1, "warning": 1, "info": 0}
    assert alerts["activeBySeverity"]["error"] == 1
    assert alerts["meanTimeToAcknowledgeSeconds"] == 18300.0
    assert alerts["meanTimeToResolveSeconds"] == 45000.0
    assert alerts["overdue"] == 1

    # And the release: rolled back, why, and how long each step held
    (release,) = report["releases"]["items"]
    assert release["version"] == march["version"] and release["outcome"] == "rolled_back"
    assert [(r["reason"], r["at"], r["environment"]) for r in release["rollbacks"]] == [
        ("gate failed: error rate 3.2 % above 1 %", "2009-03-20T10:09:00.000000Z", "production")
    ]
    assert [(s["environment"], s["percent"], s["seconds"]) for s in release["stepDurations"]] == [
        ("production", 10, 300),
        ("production", 25, 120),
    ]

    # And the summary: critical (health ended critical), with the reason and the figures
    summary = report["summary"]
    assert summary["status"] == "critical"
    issue = summary["criticalIssues"][0]
    assert issue["figures"] == {"score": 50, "band": "critical", "at": "2009-03-10T00:10:00Z"}
    assert "below 60" in issue["reason"]
    texts = [h["text"] for h in summary["highlights"]]
    assert any(t.startswith(f"Release {march['version']} rolled back in production") for t in texts)
    assert any("1 alert(s) answered after their response deadline" in t for t in texts)

    # And satisfaction comes from the ratings rollup: (5 + 4 + 3) / 3
    metrics = {m["name"]: m for m in report["successMetrics"]}
    assert metrics["userSatisfaction"]["value"] == 4.0 and metrics["userSatisfaction"]["met"] is True
    # ... support requests: 2 items in the first 15 days, 2 in the last 15
    assert metrics["supportRequestsTrend"]["figures"] == {"firstHalf": 2, "secondHalf": 2, "daysPerHalf": 15}
    assert metrics["supportRequestsTrend"]["value"] == 0.0


def test_a_success_metric_without_data_is_null_with_its_reason(stack, march):
    # When the report covers a period with no CloudWatch series at all
    report = stack.client("admin").get("/api/monitoring/report", params=MARCH).json()

    # Then the metrics CloudWatch would give are null, each saying why, and none is judged met
    metrics = {m["name"]: m for m in report["successMetrics"]}
    follow_ups = metrics["followUpCompletion"]
    assert follow_ups["value"] is None and follow_ups["met"] is None
    assert follow_ups["reason"] == "no FollowUpsDue datapoints in the report period"
    # moto cannot compute percentiles: p95 is null locally, and says so
    assert metrics["apiLatencyP95"]["value"] is None
    assert "percentile statistics are switched off" in metrics["apiLatencyP95"]["reason"]
    # Uptime falls back to the stored evaluations (3 with traffic, none down)
    assert metrics["uptime"]["value"] == 100.0 and metrics["uptime"]["figures"]["evaluationsWithTraffic"] == 3
    assert set(metrics) == {
        "patientEngagementChange",
        "followUpCompletion",
        "noShowRate",
        "reminderDeliverySuccess",
        "uptime",
        "errorRate",
        "apiLatencyP95",
        "featureAdoption",
        "userSatisfaction",
        "supportRequestsTrend",
    }
    # And the ROI figures wait for their inputs, naming them
    assert report["roi"]["monthlySavings"] is None
    assert "REPORT_ROI_HOURLY_RATE" in str(report["roi"]["missing"])


def test_the_answer_is_the_documented_shape(stack, march):
    # The fuzz test sees mostly empty periods; this one has every section filled
    doc = yaml.safe_load(DOC.read_text())
    report = stack.client("engineer").get("/api/monitoring/report", params=MARCH).json()
    assert report["releases"]["count"] and report["alerts"]["raised"] and report["health"]["period"]["points"]
    schema = {"$ref": "#/components/schemas/Report", "components": doc["components"]}
    jsonschema.Draft202012Validator(schema).validate(report)
    assert list(report)[:9] == [
        "period",
        "generatedAt",
        "summary",
        "health",
        "feedback",
        "alerts",
        "releases",
        "successMetrics",
        "roi",
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2009-01-01", "end": "2009-06-30"}, "start"),  # 181 days: over the 92-day cap
        ({"start": "2009-03-31", "end": "2009-03-01"}, "start"),  # empty
        ({"start": "yesterday"}, "start"),
        ({"end": "2009-13-01"}, "end"),
        ({"limit": "5"}, "limit"),  # unknown
    ],
)
def test_a_bad_period_is_a_400_naming_the_parameter(stack, params, field):
    response = stack.client("engineer").get("/api/monitoring/report", params=params)
    assert response.status_code == 400, response.text
    assert field in [f["field"] for f in response.json()["error"]["fields"]]


def test_staff_may_not_read_the_report(stack):
    assert stack.client("staff", "ws-x").get("/api/monitoring/report").status_code == 403
    assert stack.client().get("/api/monitoring/report").status_code == 401


# ---------------------------------------------------------------- CloudWatch series as success metrics

MAY = datetime(2009, 5, 1, tzinfo=UTC)


def put_engagement(cw, settings, values: dict[str, float], moment: datetime) -> None:
    cw.put_metric_data(
        Namespace=settings.health_adoption_namespace,
        MetricData=[
            {"MetricName": name, "Timestamp": moment, "Value": value, "Unit": "Count"}
            for name, value in values.items()
        ],
    )


def put_api(cw, settings, moment: datetime, count: float, errors: float) -> None:
    api = [{"Name": "ApiName", "Value": settings.health_api_name}]
    cw.put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            {"MetricName": "Count", "Dimensions": api, "Timestamp": moment, "Value": count},
            {"MetricName": "5XXError", "Dimensions": api, "Timestamp": moment, "Value": errors},
        ],
    )


def test_cloudwatch_series_are_read_back_as_success_metrics(stack):
    from chalicelib.reports.report import build_report

    # Given May 2009's Patient Engagement counts and gauges, on two days, and an API of its own
    settings = stack.settings().model_copy(
        update={
            "health_api_name": f"api-report-{uuid.uuid4().hex[:8]}",
            "report_engagement_baseline_monthly": 1000.0,
            "report_roi_hourly_rate": 40.0,
            "report_roi_minutes_per_reminder": 2.0,
            "report_roi_minutes_per_follow_up": 6.0,
            "report_roi_operational_cost_reduction_monthly": 500.0,
            "report_roi_implementation_cost": 20000.0,
        }
    )
    cw = stack.aws_client("cloudwatch")
    day1 = {
        "AppointmentsScheduled": 200,
        "AppointmentsCompleted": 500,
        "NoShows": 12,
        "FollowUpsDue": 100,
        "FollowUpsCompleted": 300,
        "RemindersSent": 400,
        "RemindersDelivered": 380,
        "PatientPortalSessions": 100,
        "DailyActiveUsers": 30,
        "EnabledUsers": 100,
    }
    day2 = {
        "AppointmentsScheduled": 100,
        "AppointmentsCompleted": 300,
        "NoShows": 3,
        "FollowUpsDue": 300,
        "FollowUpsCompleted": 100,
        "RemindersSent": 600,
        "RemindersDelivered": 570,
        "PatientPortalSessions": 100,
        "DailyActiveUsers": 50,
        "EnabledUsers": 100,
    }
    put_engagement(cw, settings, day1, MAY + timedelta(days=4, hours=12))
    put_engagement(cw, settings, day2, MAY + timedelta(days=20, hours=12))
    put_api(cw, settings, MAY + timedelta(days=4, hours=12), 10_000, 5)
    put_api(cw, settings, MAY + timedelta(days=20, hours=12), 10_000, 15)

    # When the report of May 2009 is built (30 days: the 1st to the 30th)
    report = build_report("2009-05-01", "2009-05-30", settings=settings)

    # Then each metric is the arithmetic of those series, with one GetMetricData call for them all
    assert report["reads"]["cloudwatchCalls"] == 1
    metrics = {m["name"]: m for m in report["successMetrics"]}
    # 800 completed appointments + 400 follow-ups + 200 portal sessions in 30 days, against 1000
    engagement = metrics["patientEngagementChange"]
    assert engagement["figures"]["interactions"] == 1400 and engagement["figures"]["monthly"] == 1400
    assert engagement["value"] == 40.0 and engagement["target"] == 40.0 and engagement["met"] is True
    assert (metrics["followUpCompletion"]["value"], metrics["followUpCompletion"]["met"]) == (100.0, True)
    assert (metrics["noShowRate"]["value"], metrics["noShowRate"]["met"]) == (5.0, True)
    assert (metrics["reminderDeliverySuccess"]["value"], metrics["reminderDeliverySuccess"]["met"]) == (
        95.0,
        True,
    )
    assert (metrics["featureAdoption"]["value"], metrics["featureAdoption"]["met"]) == (40.0, True)
    # 20 errors in 20 000 requests: 0.1 % error rate, 99.9 % uptime (exactly the target)
    assert (metrics["errorRate"]["value"], metrics["errorRate"]["met"]) == (0.1, True)
    assert (metrics["uptime"]["value"], metrics["uptime"]["met"]) == (99.9, True)
    assert metrics["uptime"]["figures"] == {"requests": 20_000, "serverErrors": 20}

    # And the ROI is the seed's formulas over the measured work and the configured inputs:
    # (950 reminders × 2 min + 400 follow-ups × 6 min) / 60 = 71.67 h in 30 days
    roi = report["roi"]
    assert roi["inputs"]["remindersDelivered"] == 950 and roi["inputs"]["followUpsCompleted"] == 400
    assert roi["timeSavedHoursMonthly"] == round(4300 / 60, 2)
    assert roi["monthlySavings"] == round(4300 / 60 * 40 + 500, 2)
    assert roi["annualSavings"] == round((4300 / 60 * 40 + 500) * 12, 2)
    assert roi["annualROI"] == round(((4300 / 60 * 40 + 500) * 12 - 20000) / 20000 * 100, 2)
    # Revenue inputs are not configured: revenue and total ROI wait for them, naming the settings
    assert roi["revenueIncrease"] is None and roi["totalROI"] is None
    assert "REPORT_ROI_MTM_BILLING_MONTHLY is not set" in " ".join(roi["missing"]["totalROI"])


def test_a_report_makes_the_reads_it_states(stack, march, monkeypatch):
    from chalicelib.reports.report import build_report
    from tests.integration.test_health_cost import AwsCalls, model_clients

    # Given every AWS call counted, per operation (the settings first: reading them anew rebinds the
    # models to new connections)
    settings = stack.settings()
    cw = stack.aws_client("cloudwatch")
    calls = AwsCalls(monkeypatch, [*model_clients(), cw])

    # When March 2009's report is built
    report = build_report(MARCH["start"], MARCH["end"], settings=settings, cloudwatch=cw)

    # Then it queried, never scanned: one page of health points, the feedback summary's queries, the
    # ratings rollup, the three alert states and the releases; and made one GetMetricData call
    feedback_queries = report["reads"]["feedbackQueries"]
    assert calls.by_operation["dynamodb:Scan"] == 0
    assert calls.by_operation["dynamodb:Query"] == 1 + feedback_queries + 1 + 3 + 1
    assert calls.by_operation["cloudwatch:GetMetricData"] == report["reads"]["cloudwatchCalls"] == 1
    assert calls.total == calls.requests == calls.by_operation["dynamodb:Query"] + 1


def test_past_its_ceilings_a_report_reads_the_newest_and_says_so(stack, march):
    from chalicelib.reports.report import build_report

    # Given ceilings below what March 2009 holds: 2 of its 3 health points, 2 of its 3 alerts
    settings = stack.settings().model_copy(update={"report_health_max_points": 2, "report_alerts_max": 2})

    report = build_report(MARCH["start"], MARCH["end"], settings=settings)

    # Then health covers the newest two evaluations, from the first of them
    period = report["health"]["period"]
    assert (period["points"], period["truncated"], period["coveredFrom"]) == (2, True, "2009-03-10T00:05:00Z")
    assert (period["lowest"], period["mean"]) == (50, 60.0)
    assert period["timeInBand"]["healthy"] == 0 and period["timeInBand"]["warning"] == 300
    # And the alerts read stop at the ceiling, flagged
    assert report["alerts"]["raised"] == 2 and report["alerts"]["truncated"] is True
    assert report["reads"]["healthPoints"] == 2 and report["reads"]["alerts"] == 2


def test_an_end_in_early_1970_starts_the_default_period_at_the_earliest_instant(stack):
    # The default 30 days before 1970-01-01 would begin in 1969, before any instant the API accepts
    response = stack.client("engineer").get("/api/monitoring/report", params={"end": "1970-01-01"})
    assert response.status_code == 200, response.text
    assert response.json()["period"]["start"] == "1970-01-01T00:00:00Z"
