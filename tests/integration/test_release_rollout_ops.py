"""The rollout's worker ops called directly with the messages the state machine sends (crafted here),
against the local stack's tables and Lambda: deep validation, locks, and idempotency under SQS
redelivery (the same message handled twice writes once and answers the same)."""

from __future__ import annotations

import uuid

import pytest

from chalicelib.errors import InvalidTransition, ValidationFailed
from chalicelib.releases import operator, rollout
from chalicelib.releases.rollout import StepFailed, handle, next_step, plan_steps
from chalicelib.store import issues as issue_store
from chalicelib.store import releases as release_store
from tests.integration.test_release_rollout import make_target, new_release

MACHINE = "arn:aws:states:us-east-1:123456789012:execution:post-launch-monitor-local-release-rollout"


def message(op: str, execution: str, release: str, environment: str = "staging", **extra) -> dict:
    body = {"op": op, "token": f"token-{uuid.uuid4().hex}", "execution": execution}
    body["input"] = {
        "release": release,
        "environment": environment,
        "bakeSeconds": 0,
        **extra.pop("input", {}),
    }
    return {**body, **extra}


@pytest.fixture
def planned(stack) -> dict:
    function, v1, v2 = make_target(stack)
    version, issues = new_release(function, v2)
    return {
        "function": function,
        "v1": v1,
        "v2": v2,
        "version": version,
        "issues": issues,
        "execution": f"{MACHINE}:unit-{uuid.uuid4().hex[:10]}",
        "settings": stack.settings(),
    }


def history(version: str) -> list[str]:
    return [h["action"] for h in release_store.get_release(version)["history"]]


def test_prepare_twice_records_once_and_answers_the_same_plan(planned):
    # Given a planned release, When prepare for staging is delivered twice
    first = message("prepare", planned["execution"], planned["version"])
    plan = handle(first, planned["settings"])
    again = handle(first, planned["settings"])

    # Then both answer the same plan: one step at 100 %, the staging alias back to v1 on rollback
    assert again == plan
    assert (plan["steps"], plan["stopAt"], plan["tables"]) == ([100], 100, [])
    assert plan["rollback"] == [
        {
            "FunctionName": planned["function"],
            "Name": "staging",
            "FunctionVersion": planned["v1"],
            "RoutingConfig": {"AdditionalVersionWeights": {}},
        }
    ]
    # And the release records one start, one execution, and its lock
    record = release_store.get_release(planned["version"])
    assert history(planned["version"]) == ["create", "deploy_started"]
    assert [e["arn"] for e in record["executions"]] == [planned["execution"]]
    assert record["status"] == "deploying"
    assert release_store.read_lock(planned["function"])["executionArn"] == planned["execution"]


def test_advance_and_gate_redelivered_decide_once(planned):
    settings = planned["settings"]
    plan = handle(message("prepare", planned["execution"], planned["version"]), settings)
    advance = message(
        "advance", planned["execution"], planned["version"], plan=plan, step=None, decision=None
    )

    # When the first advance is delivered twice
    step = handle(advance, settings)
    assert handle(advance, settings) == step
    # Then one shift to 100 % is recorded, with the staging alias to v2 alone
    assert (step["action"], step["percent"]) == ("shift", 100)
    assert step["aliases"][0]["FunctionVersion"] == planned["v2"]
    assert history(planned["version"]).count("shift") == 1

    # When the gate at the end of a bake with no traffic is delivered twice
    gate = message("gate", planned["execution"], planned["version"], plan=plan, step=step)
    verdict = handle(gate, settings)
    assert handle(gate, settings) == verdict
    # Then it is inconclusive (no calls), kept once with its inputs
    assert verdict["verdict"] == "inconclusive", verdict
    gates = release_store.get_release(planned["version"])["gates"]
    assert len(gates) == 1 and gates[0]["inputs"]["metrics"]


def test_pause_keeps_the_token_once_and_an_abort_answers_a_late_pause(planned):
    settings = planned["settings"]
    plan = handle(message("prepare", planned["execution"], planned["version"]), settings)
    step = {"action": "shift", "percent": 100, "startedAt": "2026-01-01T00:00:00Z", "aliases": []}
    gate = {"verdict": "inconclusive", "reason": "too few calls"}
    pause = message("pause", planned["execution"], planned["version"], plan=plan, step=step, gate=gate)

    # When the pause is delivered twice
    assert handle(pause, settings) is None
    assert handle(pause, settings) is None

    # Then the release is paused once, holding the token, hidden from its public view
    record = release_store.get_release(planned["version"])
    assert record["status"] == "paused" and record["pendingToken"] == pause["token"]
    assert history(planned["version"]).count("pause") == 1
    assert "pendingToken" not in operator.status(planned["version"])["release"]

    # And a pause that arrives after an abort was asked is answered at once
    record = release_store.update_release(
        planned["version"],
        record["revision"],
        {"status": "deploying", "abortRequested": {"by": "carol", "reason": "r", "at": "now"}},
    )
    later = message(
        "pause", planned["execution"], planned["version"], plan=plan, step={**step, "percent": 50}, gate=gate
    )
    assert handle(later, settings) == {"decision": "abort"}


def test_finish_and_rolled_back_redelivered_write_once_and_release_the_lock(planned):
    settings = planned["settings"]
    plan = handle(message("prepare", planned["execution"], planned["version"]), settings)
    finish = message("finish", planned["execution"], planned["version"], plan=plan)

    # When finish for staging is delivered twice
    assert handle(finish, settings) == {"status": "staging_verified"}
    assert handle(finish, settings) == {"status": "staging_verified"}

    # Then one finish entry, the staging environment verified, the lock released
    record = release_store.get_release(planned["version"])
    assert history(planned["version"]).count("finish") == 1
    assert record["environments"]["staging"]["state"] == "verified"
    assert release_store.read_lock(planned["function"]) is None

    # When a rollback of staging (action rollback) ends, delivered twice
    execution = f"{MACHINE}:unit-rb-{uuid.uuid4().hex[:8]}"
    rb = message("prepare", execution, planned["version"], input={"action": "rollback", "reason": "bad copy"})
    assert release_store.get_release(planned["version"])["status"] == "staging_verified"
    # (the staging alias must serve the new version for a rollback: as the machine's Final left it)
    from chalicelib.integrations.aws import aws_client

    aws_client("lambda", settings).update_alias(
        FunctionName=planned["function"], Name="staging", FunctionVersion=planned["v2"]
    )
    plan = handle(rb, settings)
    error = {"Error": "RollbackRequested", "Cause": "bad copy"}
    done = message("rolled_back", execution, planned["version"], plan=plan, error=error, input=rb["input"])
    assert handle(done, settings) == {"status": "rolled_back"}
    assert handle(done, settings) == {"status": "rolled_back"}

    # Then one rolled_back entry saying why, the issue free again, the lock gone
    record = release_store.get_release(planned["version"])
    assert history(planned["version"]).count("rolled_back") == 1
    assert record["history"][-1]["reason"] == "rollback requested by stepfunctions: bad copy"
    assert issue_store.get_issue(planned["issues"][0]).active_release is None
    assert release_store.read_lock(planned["function"]) is None


def test_prepare_refuses_production_before_staging_and_bad_steps(planned):
    settings = planned["settings"]
    # When production is asked of a planned release
    with pytest.raises(StepFailed) as refused:
        handle(message("prepare", planned["execution"], planned["version"], "production"), settings)
    # Then it is refused, recorded, and no lock is taken
    assert refused.value.error == "RolloutRefused"
    assert "production needs staging verified first" in refused.value.cause
    assert history(planned["version"])[-1] == "refused"
    assert release_store.read_lock(planned["function"]) is None

    # And an unknown release, or steps out of order, are invalid input
    with pytest.raises(StepFailed) as unknown:
        handle(message("prepare", planned["execution"], "999.0.0", "staging"), settings)
    assert (unknown.value.error, unknown.value.cause) == (
        "InvalidInput",
        "release: there is no release 999.0.0",
    )
    with pytest.raises(StepFailed) as steps:
        handle(
            message(
                "prepare",
                planned["execution"],
                planned["version"],
                "production",
                input={"steps": [50, 10, 100]},
            ),
            settings,
        )
    assert steps.value.cause == "steps: percentages must be strictly ascending"


def test_a_stale_lock_of_an_ended_execution_is_taken_over(planned):
    # Given a lock left by an execution that no longer exists
    release_store.acquire_lock(
        planned["function"],
        {"release": "0.0.1", "environment": "production", "executionArn": f"{MACHINE}:gone", "since": "x"},
    )
    # When prepare runs
    handle(message("prepare", planned["execution"], planned["version"]), planned["settings"])
    # Then it holds the lock
    assert release_store.read_lock(planned["function"])["executionArn"] == planned["execution"]


def test_operator_refusals_and_dry_run(planned):
    version = planned["version"]
    # A dry run says what would start and starts nothing
    dry = operator.start(version, "staging", bake_seconds=5, actor="alice", dry_run=True)
    assert dry["dryRun"] is True and dry["executionArn"] is None
    assert dry["input"] == {
        "release": version,
        "environment": "staging",
        "action": "deploy",
        "requestedBy": "alice",
        "bakeSeconds": 5,
    }
    assert dry["name"].startswith(version.replace(".", "-") + "-staging-deploy-")
    assert release_store.get_release(version)["executions"] == []
    # Bad input names the field; nothing to promote, abort or roll back in a planned release
    with pytest.raises(ValidationFailed) as bad:
        operator.start(version, "production", steps=[10, 50], actor="alice")
    assert [f.field for f in bad.value.fields] == ["steps"]
    with pytest.raises(InvalidTransition):
        operator.start(version, "production", actor="alice")
    with pytest.raises(InvalidTransition):
        operator.promote(version, actor="bob")
    with pytest.raises(InvalidTransition):
        operator.abort(version, reason="r", actor="bob")
    with pytest.raises(InvalidTransition):
        operator.rollback(version, reason="r", actor="bob")


@pytest.mark.parametrize(
    ("previous", "decision", "full", "expected"),
    [
        (None, None, False, ("shift", 10)),
        ({"action": "shift", "percent": 10}, None, False, ("shift", 25)),
        ({"action": "shift", "percent": 25}, None, False, ("hold", 25)),
        ({"action": "hold", "percent": 25}, "promote", False, ("shift", 50)),
        ({"action": "shift", "percent": 25}, "promote", False, ("shift", 50)),
        ({"action": "shift", "percent": 10}, None, True, ("complete", 100)),
        ({"action": "hold", "percent": 25}, "promote_full", False, ("complete", 100)),
        ({"action": "shift", "percent": 100}, None, False, ("complete", 100)),
    ],
)
def test_next_step(previous, decision, full, expected):
    plan = {"steps": [10, 25, 50, 100], "stopAt": 25}
    assert next_step(plan, previous, decision, full) == expected


def test_plan_steps(stack):
    settings = stack.settings()
    assert plan_steps("production", None, None, settings) == ([10, 25, 50, 100], 100)
    assert plan_steps("production", None, 30, settings) == ([10, 25, 30, 50, 100], 30)
    assert plan_steps("staging", [10, 100], 25, settings) == ([100], 100)
    with pytest.raises(ValueError, match="the last step must be 100"):
        plan_steps("production", [10, 50], None, settings)
    assert rollout.shift_params(
        [{"function": "f", "alias": "live", "fromVersion": "1", "toVersion": "2"}], 25
    ) == [
        {
            "FunctionName": "f",
            "Name": "live",
            "FunctionVersion": "1",
            "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}},
        }
    ]
