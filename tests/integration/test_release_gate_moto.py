"""The gate against the local stack: the traffic simulator writes AWS/Lambda metrics to moto's
CloudWatch following the alias weights, feedback arrives over the API, and `gate.evaluate` reads them
through its default sources (CloudWatch, the feedback table's byMonth index, the health service)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from chalicelib.releases import gate
from postlaunch.lambda_traffic import Traffic, TrafficThread
from tests.integration.test_release_gate_traffic import make_function
from tests.payloads import SEED_FEEDBACK

# 3 s at 60 calls/s split 50/50 is about 90 calls per version: above the default minimum of 50.
BAKE_SECONDS = 3


def release_for(function: str, v1: str, v2: str, areas: list[str]) -> dict:
    return {
        "version": "9.9.9",
        "featureAreas": areas,
        "targets": [
            {
                "function": function,
                "environment": "production",
                "alias": "live",
                "fromVersion": v1,
                "toVersion": v2,
            }
        ],
    }


def bake(stack, function: str, *, errors: dict[str, float], seconds: float = BAKE_SECONDS) -> dict:
    """Run 60 calls/s through the alias for the bake; returns the step as the rollout records it."""
    started = datetime.now(UTC)
    traffic = Traffic(
        [function],
        "live",
        invocations_per_second=60,
        error_rate_by_version=errors,
        cloudwatch=stack.aws_client("cloudwatch"),
        lambda_client=stack.aws_client("lambda"),
    )
    with TrafficThread(traffic) as thread:
        time.sleep(seconds)
    assert thread.error is None
    return {"percent": 50, "startedAt": started.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "bakeSeconds": seconds}


def test_clean_new_version_passes_the_gate(stack):
    # Given a function whose alias sends half its traffic to v2, and v2 as clean as v1
    function, v1, v2 = make_function(stack, new_weight=0.5)

    # When the step bakes under traffic and the gate judges it
    step = bake(stack, function, errors={})
    verdict = gate.evaluate(
        release_for(function, v1, v2, ["follow_ups"]), "production", step, settings=stack.settings()
    )

    # Then it passes on the metrics moto's CloudWatch returned for each version
    assert verdict["verdict"] == "pass", verdict["reasons"]
    metrics = verdict["inputs"]["metrics"]["functions"][function]
    assert metrics["new"]["invocations"] >= 50 and metrics["new"]["errors"] == 0
    assert metrics["old"]["invocations"] >= 50
    assert metrics["new"]["durationAvgMs"] == 120.0


def test_errors_of_the_new_version_fail_the_gate(stack):
    # Given v2 failing one call in five while v1 is clean
    function, v1, v2 = make_function(stack, new_weight=0.5)

    step = bake(stack, function, errors={v2: 0.2})
    verdict = gate.evaluate(
        release_for(function, v1, v2, ["follow_ups"]), "production", step, settings=stack.settings()
    )

    # Then the gate fails it, on the rate and on the increase over v1 in the same window
    assert verdict["verdict"] == "fail"
    new = verdict["inputs"]["metrics"]["functions"][function]["new"]
    assert 19.0 <= new["errorRatePercent"] <= 21.0
    assert any("above 1.0%" in r for r in verdict["reasons"])
    assert any("points above version" in r for r in verdict["reasons"])


def test_a_bug_report_in_the_release_area_fails_the_step_mid_bake(stack, workspace):
    # Given a clean v2 baking for 60 s on a release that fixes follow-ups
    function, v1, v2 = make_function(stack, new_weight=0.5)
    step = bake(stack, function, errors={}, seconds=1)
    step["bakeSeconds"] = 60
    rel = release_for(function, v1, v2, ["follow_ups"])
    settings = stack.settings()
    assert gate.evaluate(rel, "production", step, settings=settings)["verdict"] == "continue"

    # When a pharmacist reports a bug about another area, then one about follow-ups
    api = stack.client("staff", workspace)
    other = api.post("/api/monitoring/feedback", json={**SEED_FEEDBACK, "featureArea": "appointments"})
    assert other.status_code == 201, other.text
    assert gate.evaluate(rel, "production", step, settings=settings)["verdict"] == "continue"
    report = api.post("/api/monitoring/feedback", json={**SEED_FEEDBACK, "featureArea": "follow_ups"})
    assert report.status_code == 201, report.text

    # Then the next tick fails the step without waiting for the bake, naming the report
    verdict = gate.evaluate(rel, "production", step, settings=settings)
    assert verdict["verdict"] == "fail"
    assert verdict["inputs"]["feedback"]["ids"] == [report.json()["id"]]
    assert "in follow_ups since the step began" in verdict["reason"]


def test_predeploy_check_reads_health_and_alerts_of_the_stack(stack):
    # When the pre-deploy check runs against the stack's own health and alerts
    result = gate.predeploy_check(settings=stack.settings())

    # Then it answers with what it read (whatever earlier tests left firing)
    assert set(result["inputs"]) == {"health", "alerts", "thresholds"}
    critical = [a for a in result["inputs"]["alerts"]["critical"] if a["rule"] != "ReleaseRolledBack"]
    assert result["ok"] is (
        not critical
        and not (result["inputs"]["health"].get("judged") and result["inputs"]["health"]["healthScore"] < 80)
    )
