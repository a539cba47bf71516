"""A release rolled out with the AWS CLI alone, as an engineer would after `make run`'s exports:
find the state machine (`aws stepfunctions list-state-machines`, the README's query), start it
(`start-execution --name --input`), follow it (`describe-execution` until it ends) and watch the
traffic move (`aws lambda get-alias` while it runs). Staging first, then production in two steps.

The worker is the real one (app.py's handler behind the dev stack's SQS bridge: the `release_worker`
fixture), the gate reads the AWS/Lambda metrics the traffic simulator writes for the alias.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.releases import service as releases
from chalicelib.store import issues as issue_store
from chalicelib.store import releases as release_store
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

AWS = str(Path(sys.executable).with_name("aws"))
MACHINE = "post-launch-monitor-local-release-rollout"


def aws(stack, *args: str) -> dict | str:
    env = {**os.environ, **stack.env}
    result = subprocess.run(
        [AWS, *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout or "{}")


def execution_name(version: str, environment: str) -> str:
    """The CLI's naming (README): version with dashes, environment, action, UTC time."""
    return f"{version.replace('.', '-')}-{environment}-deploy-{datetime.now(UTC):%Y%m%dT%H%M%S}"


def alias_state(stack, function: str, alias: str) -> tuple[str, dict]:
    """`aws lambda get-alias`: (the version it points at, the additional version weights)."""
    found = aws(stack, "lambda", "get-alias", "--function-name", function, "--name", alias)
    return found["FunctionVersion"], (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights", {})


def follow(stack, execution_arn: str, function: str, alias: str, timeout: float = 120.0) -> tuple[dict, list]:
    """describe-execution until it ends, reading the alias with get-alias in between: (the ended
    execution, each distinct (version, weights) the alias showed, in order)."""
    seen: list[tuple[str, dict]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = alias_state(stack, function, alias)
        if not seen or seen[-1] != state:
            seen.append(state)
        described = aws(stack, "stepfunctions", "describe-execution", "--execution-arn", execution_arn)
        if described["status"] != "RUNNING":
            return described, seen
    raise AssertionError(f"{execution_arn} still running after {timeout}s; alias states {seen}")


def traffic(stack, function: str, alias: str) -> TrafficThread:
    return TrafficThread(
        Traffic(
            [function],
            alias,
            invocations_per_second=100,
            cloudwatch=stack.aws_client("cloudwatch"),
            lambda_client=stack.aws_client("lambda"),
        )
    )


@pytest.fixture
def gate_settings(stack, release_worker):
    """The worker runs in this process: a minimum of invocations a short bake reaches."""
    with worker_settings(RELEASE_GATE_MIN_INVOCATIONS="10"):
        yield


def test_an_engineer_rolls_a_release_out_with_the_aws_cli(stack, gate_settings):
    # Given a target on version 1 behind both aliases, a new build published as version 2, and a
    # release of a fixed issue that moves the target to it
    function = make_target(stack, prefix="cli-target")
    new = publish_build(stack, function)
    issue = fixed_issue("reminders")
    version = fresh_version()
    releases.create_release(version, [issue], function_version=new, targets=[function], actor="alice")

    # When the engineer looks the state machine up as the README says
    arn = aws(
        stack,
        "stepfunctions",
        "list-state-machines",
        "--query",
        f"stateMachines[?name=='{MACHINE}'].stateMachineArn | [0]",
    )
    assert arn == stack.env["RELEASE_STATE_MACHINE_ARN"]

    # ... and starts staging, with traffic on the staging alias
    # (read before it starts: each AWS CLI call takes a while, and staging moves at once)
    assert alias_state(stack, function, "staging") == ("1", {})
    with traffic(stack, function, "staging"):
        started = aws(
            stack,
            "stepfunctions",
            "start-execution",
            "--state-machine-arn",
            arn,
            "--name",
            execution_name(version, "staging"),
            "--input",
            json.dumps(
                {"release": version, "environment": "staging", "bakeSeconds": 2, "requestedBy": "alice"}
            ),
        )
        staging, staging_seen = follow(stack, started["executionArn"], function, "staging")
    # Then staging ends verified, its alias on the new version
    assert staging["status"] == "SUCCEEDED", staging
    assert staging_seen[-1] == (new, {})
    assert release_store.get_release(version)["status"] == "staging_verified"

    # When production is started in two steps of 50 and 100 %, with traffic on the live alias
    clear_critical_alerts("cleared before the AWS CLI rollout test")
    assert alias_state(stack, function, "live") == ("1", {})
    with traffic(stack, function, "live"):
        started = aws(
            stack,
            "stepfunctions",
            "start-execution",
            "--state-machine-arn",
            arn,
            "--name",
            execution_name(version, "production"),
            "--input",
            json.dumps(
                {
                    "release": version,
                    "environment": "production",
                    "steps": [50, 100],
                    "bakeSeconds": 3,
                    "requestedBy": "alice",
                }
            ),
        )
        production, live_seen = follow(stack, started["executionArn"], function, "live")

    # Then get-alias showed half the traffic on the new version during the first step, then the new
    # version alone; the execution succeeded and the release and its issue are released
    assert production["status"] == "SUCCEEDED", production
    assert ("1", {new: 0.5}) in live_seen, live_seen
    assert live_seen[-1] == (new, {})
    record = release_store.get_release(version)
    assert record["status"] == "released" and record["trafficPercent"] == 100
    assert [e["arn"] for e in record["executions"]] == [staging["executionArn"], production["executionArn"]]
    assert issue_store.get_issue(issue).status == "released"
    # And the engineer's own name is in the history
    assert {h["actor"] for h in record["history"] if h.get("execution")} == {"alice"}
