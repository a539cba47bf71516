"""The gate's verdicts, from fake sources: a CloudWatch client answering GetMetricData from a table of
per-version figures, a health report, a feedback window, active alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.errors import UpstreamUnavailable
from chalicelib.releases import gate

FN = "patient-engagement-api"
STARTED = datetime(2026, 11, 27, 7, 0, 0, tzinfo=UTC)
BAKE = 300
AFTER_BAKE = STARTED + timedelta(seconds=BAKE + 5)
MID_BAKE = STARTED + timedelta(seconds=60)


def release(areas=("reminders",)) -> dict[str, Any]:
    return {
        "version": "1.0.2",
        "featureAreas": list(areas),
        "targets": [
            {
                "function": FN,
                "environment": "staging",
                "alias": "staging",
                "fromVersion": "1",
                "toVersion": "2",
            },
            {
                "function": FN,
                "environment": "production",
                "alias": "live",
                "fromVersion": "1",
                "toVersion": "2",
            },
        ],
    }


STEP = {"percent": 10, "startedAt": "2026-11-27T07:00:00.000000Z", "bakeSeconds": BAKE}


class FakeCloudWatch:
    """Answers GetMetricData from {(version, metric): value}; a metric absent from it has no datapoint."""

    def __init__(self, figures: dict[tuple[str, str], float], alias: str = "live"):
        self.figures = figures
        self.alias = alias
        self.calls: list[dict[str, Any]] = []

    def get_metric_data(self, **kwargs):
        self.calls.append(kwargs)
        results = []
        for query in kwargs["MetricDataQueries"]:
            stat = query["MetricStat"]
            dims = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
            assert stat["Metric"]["Namespace"] == "AWS/Lambda"
            assert dims["FunctionName"] == FN and dims["Resource"] == f"{FN}:{self.alias}"
            value = self.figures.get((dims["ExecutedVersion"], stat["Metric"]["MetricName"]))
            present = value is not None
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": [kwargs["StartTime"]] if present else [],
                    "Values": [value] if present else [],
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": results}


def figures(new_inv=200, new_err=0, new_ms=100.0, old_inv=1800, old_err=0, old_ms=100.0):
    out = {("2", "Invocations"): new_inv, ("2", "Errors"): new_err, ("2", "Duration"): new_ms}
    out |= {("1", "Invocations"): old_inv, ("1", "Errors"): old_err, ("1", "Duration"): old_ms}
    return {k: v for k, v in out.items() if v is not None}


def healthy(score=92, sufficient=True):
    return lambda: {"healthScore": score, "overallHealth": "healthy", "sufficientData": sufficient}


def no_feedback(start, end):
    return []


def run(cw, *, now=AFTER_BAKE, health=None, feedback=no_feedback, rel=None, env="production", settings=None):
    return gate.evaluate(
        rel or release(),
        env,
        STEP,
        now=now,
        settings=settings or Settings(),
        cloudwatch=cw,
        health=health or healthy(),
        feedback=feedback,
    )


def test_clean_step_passes_with_its_inputs_and_thresholds():
    # Given the new version at 0.5 % errors on 200 calls, as fast as the old one, health 92
    cw = FakeCloudWatch(figures(new_err=1, old_err=4))

    # When the bake is over
    verdict = run(cw)

    # Then the step passes, and the verdict says what it read and against what
    assert verdict["verdict"] == "pass", verdict["reasons"]
    metrics = verdict["inputs"]["metrics"]
    assert metrics["durationStat"] == "Average"
    assert metrics["functions"][FN]["new"] == {
        "version": "2",
        "invocations": 200,
        "errors": 1,
        "errorRatePercent": 0.5,
        "durationAvgMs": 100.0,
    }
    assert metrics["functions"][FN]["old"]["invocations"] == 1800
    assert verdict["inputs"]["health"]["judged"] is True
    assert verdict["inputs"]["feedback"]["count"] == 0
    assert verdict["inputs"]["feedback"]["featureAreas"] == ["reminders"]
    json.dumps(verdict)  # the worker answers Step Functions with it and the release stores it
    assert verdict["inputs"]["thresholds"] == {
        "minInvocations": 50,
        "maxErrorRatePercent": 1.0,
        "maxErrorRateIncreasePoints": 0.5,
        "maxDurationRatio": 1.5,
        "minHealthScore": 70,
        "maxNewReports": 0,
    }
    # and both versions of every target came from one GetMetricData call over the step
    assert len(cw.calls) == 1 and len(cw.calls[0]["MetricDataQueries"]) == 6
    assert cw.calls[0]["StartTime"] == STARTED and cw.calls[0]["EndTime"] == AFTER_BAKE


def test_error_rate_above_threshold_fails():
    # Given the new version failing 3 of 200 calls (1.5 % > 1 %)
    verdict = run(FakeCloudWatch(figures(new_err=3, old_err=18)))

    # Then the step fails, naming the rate and the threshold
    assert verdict["verdict"] == "fail"
    assert any("error rate 1.50%" in r and "above 1.0%" in r for r in verdict["reasons"])


def test_error_rate_increase_over_the_old_version_fails_even_under_the_threshold():
    # Given 0.9 % errors on the new version against 0.2 % on the old over the same window
    cw = FakeCloudWatch(figures(new_inv=1000, new_err=9, old_inv=1000, old_err=2))

    # Then it is 0.7 points worse, more than the 0.5 allowed: fail
    verdict = run(cw)
    assert verdict["verdict"] == "fail"
    assert any("0.70 points above" in r for r in verdict["reasons"])
    # but that comparison only settles at the end: during the bake it keeps baking
    assert run(cw, now=MID_BAKE)["verdict"] == "continue"


def test_duration_ratio_above_the_limit_fails():
    # Given the new version twice as slow as the old
    verdict = run(FakeCloudWatch(figures(new_ms=240.0, old_ms=120.0)))

    assert verdict["verdict"] == "fail"
    assert any("2.00x" in r and "at most 1.5x" in r for r in verdict["reasons"])


def test_too_few_invocations_is_inconclusive():
    # Given only 20 calls reached the new version (minimum 50)
    verdict = run(FakeCloudWatch(figures(new_inv=20)))

    assert verdict["verdict"] == "inconclusive"
    assert verdict["reasons"] == [f"{FN}: version 2 had 20 invocations, fewer than the minimum 50"]


def test_a_missing_metric_is_inconclusive():
    # Given Invocations and Errors but no Duration datapoint for the new version
    verdict = run(FakeCloudWatch(figures(new_ms=None)))

    assert verdict["verdict"] == "inconclusive"
    assert "no Duration datapoints" in verdict["reason"]


def test_no_metrics_at_all_is_inconclusive_not_a_pass():
    verdict = run(FakeCloudWatch({}))
    assert verdict["verdict"] == "inconclusive"
    assert verdict["inputs"]["metrics"]["functions"][FN]["new"]["invocations"] is None


def test_cloudwatch_unreachable_is_inconclusive():
    class Broken:
        def get_metric_data(self, **kwargs):
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="http://cloudwatch")

    verdict = run(Broken())
    assert verdict["verdict"] == "inconclusive"
    assert verdict["reason"].startswith("metrics could not be read: CloudWatch GetMetricData")


def test_old_version_without_traffic_is_not_compared():
    # Given staging: the alias sends everything to the new version, the old one served nothing
    cw = FakeCloudWatch(figures(old_inv=None, old_err=None, old_ms=None), alias="staging")

    verdict = run(cw, env="staging")

    assert verdict["verdict"] == "pass"
    assert any("not compared with version 1" in r for r in verdict["reasons"])


def test_continues_during_the_bake_when_nothing_is_wrong_yet():
    verdict = run(FakeCloudWatch(figures(new_inv=10)), now=MID_BAKE)

    assert verdict["verdict"] == "continue"
    assert verdict["reasons"][0] == "baking: 240 s left"
    # health is judged once, at the end
    assert verdict["inputs"]["health"] == {"judged": False, "reason": "not read during the bake"}


def test_fails_early_during_the_bake_on_a_clear_error_rate():
    # Given 60 s into a 300 s bake, the new version already failing 10 of 100 calls
    verdict = run(FakeCloudWatch(figures(new_inv=100, new_err=10)), now=MID_BAKE)

    assert verdict["verdict"] == "fail"
    assert "error rate 10.00%" in verdict["reason"]


def report(
    fid, *, area="reminders", category="bug_report", severity="medium", at=STARTED + timedelta(seconds=30)
):
    return {
        "id": fid,
        "featureArea": area,
        "category": category,
        "severity": severity,
        "createdAt": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def test_new_critical_feedback_in_the_release_area_fails_at_once():
    # Given critical (non-bug) feedback on reminders 30 s after the step began
    seen = []

    def feedback(start, end):
        seen.append((start, end))
        return [report("fb-1", category="usability_issue", severity="critical")]

    # When the gate runs mid-bake
    verdict = run(FakeCloudWatch(figures()), now=MID_BAKE, feedback=feedback)

    # Then it fails without waiting for the bake, and reads only the step's window
    assert verdict["verdict"] == "fail"
    assert "1 new bug report(s) or critical feedback in reminders" in verdict["reason"]
    assert verdict["inputs"]["feedback"]["ids"] == ["fb-1"]
    assert seen == [(STARTED, MID_BAKE)]


def test_a_bug_report_in_the_area_fails_whatever_its_severity():
    verdict = run(FakeCloudWatch(figures()), feedback=lambda s, e: [report("fb-2", severity="low")])
    assert verdict["verdict"] == "fail"


def test_feedback_in_another_area_or_before_the_step_or_not_a_report_does_not_stop_the_rollout():
    records = [
        report("other-area", area="appointments", severity="critical"),
        report("before", at=STARTED - timedelta(seconds=1)),
        report("mild", category="feature_request", severity="high"),
    ]
    verdict = run(FakeCloudWatch(figures()), feedback=lambda s, e: records)

    assert verdict["verdict"] == "pass", verdict["reasons"]
    assert verdict["inputs"]["feedback"]["count"] == 0
    assert verdict["inputs"]["feedback"]["read"] == 3


def test_a_release_without_feature_areas_watches_every_area():
    records = [report("anywhere", area="analytics", severity="critical")]
    verdict = run(FakeCloudWatch(figures()), feedback=lambda s, e: records, rel=release(areas=()))
    assert verdict["verdict"] == "fail"
    assert verdict["inputs"]["feedback"]["allAreas"] is True


def test_max_new_reports_is_a_setting():
    records = [report("one")]
    settings = Settings(release_gate_max_new_reports=1)
    assert (
        run(FakeCloudWatch(figures()), feedback=lambda s, e: records, settings=settings)["verdict"] == "pass"
    )


def test_health_below_the_minimum_fails_only_when_the_report_has_sufficient_data():
    cw = FakeCloudWatch(figures())
    low = run(cw, health=healthy(score=55))
    assert low["verdict"] == "fail" and "health score 55 is below 70" in low["reason"]

    unjudged = run(cw, health=healthy(score=55, sufficient=False))
    assert unjudged["verdict"] == "pass"
    assert unjudged["inputs"]["health"]["judged"] is False


def test_unreadable_feedback_or_health_at_the_end_is_inconclusive():
    def broken(*args):
        raise UpstreamUnavailable("DynamoDB throttled")

    assert run(FakeCloudWatch(figures()), feedback=broken)["verdict"] == "inconclusive"
    assert run(FakeCloudWatch(figures()), health=broken)["verdict"] == "inconclusive"
    # and during the bake they only keep it baking
    assert run(FakeCloudWatch(figures()), feedback=broken, now=MID_BAKE)["verdict"] == "continue"


def test_a_fail_outweighs_an_inconclusive_input():
    verdict = run(
        FakeCloudWatch(figures(new_err=5)), health=lambda: (_ for _ in ()).throw(UpstreamUnavailable("x"))
    )
    assert verdict["verdict"] == "fail"


# ------------------------------------------------------------------------------------- pre-deploy


def alert(rule="HighErrorRate", severity="critical", state="firing"):
    return {"id": f"al-{rule}", "rule": rule, "severity": severity, "state": state, "summary": f"{rule} now"}


@pytest.mark.parametrize(
    ("score", "sufficient", "alerts", "ok"),
    [
        (92, True, [], True),
        (79, True, [], False),
        (40, False, [], True),  # not judged without sufficient data
        (92, True, [alert()], False),
        (92, True, [alert(state="acknowledged")], False),
        (92, True, [alert(severity="error")], True),
        (92, True, [alert(rule="ReleaseRolledBack")], True),
    ],
)
def test_predeploy_check(score, sufficient, alerts, ok):
    result = gate.predeploy_check(
        settings=Settings(), health=healthy(score, sufficient), alerts=lambda: alerts
    )

    assert result["ok"] is ok, result["reasons"]
    assert result["inputs"]["thresholds"] == {"minHealthScore": 80}
    assert result["reasons"]


def test_predeploy_names_the_blocking_alert_and_refuses_when_alerts_cannot_be_read():
    refused = gate.predeploy_check(settings=Settings(), health=healthy(), alerts=lambda: [alert()])
    assert refused["reasons"] == [
        "critical alert HighErrorRate is firing (al-HighErrorRate: HighErrorRate now)"
    ]

    def broken():
        raise UpstreamUnavailable("alerts table unavailable")

    blind = gate.predeploy_check(settings=Settings(), health=healthy(), alerts=broken)
    assert blind["ok"] is False and blind["reasons"] == ["alerts could not be read: alerts table unavailable"]


def test_the_metric_window_is_one_bucket_in_whole_minutes_and_two_buckets_average_by_calls():
    from chalicelib.integrations.cloudwatch import Series, _weighted, _window_period

    assert _window_period(STARTED, STARTED + timedelta(seconds=3)) == 60
    assert _window_period(STARTED, STARTED + timedelta(seconds=305)) == 360
    t1, t2 = STARTED, STARTED + timedelta(minutes=1)
    durations = Series("d", [t1, t2], [100.0, 200.0])
    calls = Series("i", [t1, t2], [300.0, 100.0])
    assert _weighted(durations, calls) == 125.0
    assert _weighted(Series("d"), calls) is None
