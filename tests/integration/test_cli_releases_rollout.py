"""`bug-fix-manage deploy [--wait]|promote|abort|rollback|status` on the real state machine (moto's Step
Functions running infra/release-rollout.asl.json, the worker in this process: the `release_worker`
fixture), with the traffic simulator writing AWS/Lambda metrics so each gate has data. Each test has
its own target function and release."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from chalicelib.store import releases as release_store
from postlaunch.bugfix import cli
from postlaunch.lambda_traffic import Traffic, TrafficThread
from tests.release_helpers import (
    clear_critical_alerts,
    fixed_issue,
    fresh_version,
    make_target,
    publish_build,
    worker_settings,
)

pytestmark = pytest.mark.slow

BAKE = "2"
RATE = 100


def run(*args: str, width: int = 200):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, terminal_width=width)


def wait_for(predicate, timeout: float = 60.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout}s")


def traffic(stack, function: str, alias: str, errors: dict[str, float] | None = None) -> TrafficThread:
    return TrafficThread(
        Traffic(
            [function],
            alias,
            invocations_per_second=RATE,
            error_rate_by_version=errors or {},
            cloudwatch=stack.aws_client("cloudwatch"),
            lambda_client=stack.aws_client("lambda"),
        )
    )


def live_alias(stack, function: str) -> tuple[str, dict[str, float]]:
    alias = stack.aws_client("lambda").get_alias(FunctionName=function, Name="live")
    return alias["FunctionVersion"], (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


@pytest.fixture
def rollout(stack, release_worker) -> Iterator[None]:
    """The worker's gate minimum lowered to what a 2 s bake at 100 calls/s gives the 10 % step."""
    with worker_settings(RELEASE_GATE_MIN_INVOCATIONS="10"):
        yield


def planned(stack) -> tuple[str, str, str]:
    """A target with v2 published and a planned release of a fixed issue moving it there."""
    function = make_target(stack)
    v2 = publish_build(stack, function)
    version = fresh_version()
    created = run("create", version, fixed_issue("reminders"), "--function-version", v2, "--target", function)
    assert created.exit_code == 0, created.output
    return function, v2, version


def staged(stack, function: str, version: str) -> None:
    with traffic(stack, function, "staging"):
        result = run("deploy", version, "staging", "--bake-seconds", BAKE, "--wait")
    assert result.exit_code == 0, result.output
    assert f"Release {version} staging: staging_verified" in result.output
    clear_critical_alerts()


def test_deploy_wait_pauses_at_the_rollout_percentage_then_promote_full_releases(stack, rollout):
    # Given a planned release
    function, v2, version = planned(stack)
    sfn = stack.aws_client("stepfunctions")
    machine = stack.env["RELEASE_STATE_MACHINE_ARN"]
    executions = len(sfn.list_executions(stateMachineArn=machine)["executions"])

    # When a dry run of the staging deploy is asked: the input is printed and nothing starts
    dry = run("deploy", version, "staging", "--bake-seconds", BAKE, "--dry-run")
    assert dry.exit_code == 0 and '"environment": "staging"' in dry.output, dry.output
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == executions

    # When it is deployed to staging and followed: the ARN first, then the gate, then the end
    with traffic(stack, function, "staging"):
        result = run("deploy", version, "staging", "--bake-seconds", BAKE, "--wait")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("arn:aws:states:")
    assert "gate staging 100 %: pass" in result.output
    assert f"Release {version} staging: staging_verified" in result.output
    clear_critical_alerts()

    # When production is deployed to stop at 25 %, and followed
    with traffic(stack, function, "live"):
        result = run(
            "deploy", version, "production", "--steps", "10,25,50,100", "--rollout-percentage", "25",
            "--bake-seconds", BAKE, "--wait",
        )  # fmt: skip
        # Then it returns 0 once paused there, after the 10 and 25 % gates passed
        assert result.exit_code == 0, result.output
        assert "gate production 10 %: pass" in result.output and "gate production 25 %: pass" in result.output
        assert f"Release {version} production: paused at 25 % as asked" in result.output
        # and status reads the weights from Lambda and the execution still running
        status = json.loads(run("status", version, "--json").output)
        assert status["release"]["status"] == "paused" and status["release"]["trafficPercent"] == 25
        assert status["execution"]["status"] == "RUNNING"
        live = next(a for a in status["aliases"] if a["alias"] == "live")
        assert (live["functionVersion"], live["additionalVersionWeights"]) == ("1", {v2: 0.25})
        assert live_alias(stack, function) == ("1", {v2: 0.25})

        # When an operator promotes it in full
        promoted = run("promote", version, "--full")
        assert promoted.exit_code == 0, promoted.output
        assert f"Release {version}: promote_full" in promoted.output
        record = wait_for(lambda: (r := release_store.get_release(version))["status"] == "released" and r)

    # Then the alias serves v2 alone and the human status shows the release and its gates
    assert live_alias(stack, function) == (v2, {})
    assert record["trafficPercent"] == 100
    shown = run("status", version)
    assert f"Release {version}  released" in shown.output and "Gate verdicts" in shown.output

    # When a rollback is dry-run: it says what it would start, and starts nothing
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    dry = run("rollback", version, "--reason", "checking the plan", "--dry-run")
    assert dry.exit_code == 0 and f"would roll release {version} back in production" in dry.output, dry.output
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == before
    assert release_store.get_release(version)["status"] == "released"


def test_deploy_wait_exits_1_when_the_gate_rolls_the_release_back(stack, rollout):
    # Given a release verified in staging whose new version fails in production
    function, v2, version = planned(stack)
    staged(stack, function, version)

    # When it is deployed and followed while v2 errors on a fifth of its calls
    with traffic(stack, function, "live", errors={v2: 0.2}):
        result = run("deploy", version, "production", "--bake-seconds", BAKE, "--wait")

    # Then the wait ends with exit 1, saying where it ended and why
    assert result.exit_code == 1, result.output
    assert "gate production 10 %: fail" in result.output
    assert f"Release {version} production: ended rolled_back, not released" in result.output
    assert live_alias(stack, function) == ("1", {})


def test_abort_from_the_cli_rolls_back_a_baking_rollout(stack, rollout):
    # Given a production rollout of a staged release, baking 30 s at 10 %
    function, v2, version = planned(stack)
    staged(stack, function, version)
    started = run("deploy", version, "production", "--steps", "10,100", "--bake-seconds", "30", "--json")
    assert started.exit_code == 0, started.output
    arn = json.loads(started.output)["executionArn"]
    wait_for(lambda: live_alias(stack, function) == ("1", {v2: 0.1}))

    # When an operator aborts it from the CLI
    t0 = time.monotonic()
    aborted = run("abort", version, "--reason", "pharmacies report duplicate reminders")
    assert aborted.exit_code == 0 and "abort_requested" in aborted.output, aborted.output

    # Then the alias is back on v1 alone mid-bake (well before the 30 s bake ends: no timed bound
    # tighter than that on a shared machine; docs/releases.md has the figure), and status says why
    wait_for(lambda: live_alias(stack, function) == ("1", {}), timeout=15, every=0.1)
    assert time.monotonic() - t0 < 15
    ended = wait_for(lambda: (d := stack.aws_client("stepfunctions").describe_execution(executionArn=arn))[
        "status"] != "RUNNING" and d)  # fmt: skip
    assert ended["status"] == "FAILED"
    status = json.loads(run("status", version, "--json").output)
    assert status["release"]["status"] == "rolled_back"
    assert "pharmacies report duplicate reminders" in status["release"]["history"][-1]["reason"]
    # and nothing is left to abort or promote
    again = run("abort", version, "--reason", "twice")
    assert again.exit_code == 1 and "no rollout of it is running" in again.output
    assert run("promote", version).exit_code == 1
