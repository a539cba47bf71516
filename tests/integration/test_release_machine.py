"""The rollout state machine itself (infra/release-rollout.asl.json) on the local stack's Step
Functions: its first states refuse a malformed execution input, naming the field, before anything is
touched; and driven by the real worker path (the gate queue, the dev stack's SQS bridge, app.py's
@app.on_sqs_message handler) it moves Lambda aliases, backs up tables, and rolls back.

The rollout steps themselves (chalicelib.releases.rollout) are ROLLOUT's and have their own tests
(tests/integration/test_release_rollout*.py); here a scripted stand-in answers them, so what is under
test is the machine and the worker protocol. Those runs use a state machine made from the same file
on a queue of their own, so the session's release worker never sees their messages.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import types
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from postlaunch.devstack import SqsBridge, SqsRoute, load_app
from postlaunch.localstack import create_release_target, load_template, local_definition

DEFAULT_TARGET = "patient-engagement-api"


def wait_for_end(sfn, arns: list[str], timeout: float = 60.0) -> dict[str, dict]:
    """describe_execution until every execution has stopped."""
    deadline = time.monotonic() + timeout
    ended: dict[str, dict] = {}
    while time.monotonic() < deadline and len(ended) < len(arns):
        for arn in arns:
            if arn not in ended:
                described = sfn.describe_execution(executionArn=arn)
                if described["status"] != "RUNNING":
                    ended[arn] = described
        time.sleep(0.2)
    assert len(ended) == len(arns), f"still running after {timeout}s"
    return ended


def aliases(lam, function: str) -> dict[str, tuple[str, dict]]:
    return {
        alias: (
            (answer := lam.get_alias(FunctionName=function, Name=alias))["FunctionVersion"],
            answer.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}),
        )
        for alias in ("staging", "live")
    }


# ---------------------------------------------------------------- malformed input

MALFORMED = [
    ("no release", {"environment": "staging"}, "release"),
    ("release not a string", {"release": 102, "environment": "staging"}, "release"),
    ("release not a version", {"release": "latest", "environment": "staging"}, "release"),
    ("no environment", {"release": "1.0.2"}, "environment"),
    ("unknown environment", {"release": "1.0.2", "environment": "prod"}, "environment"),
    ("unknown action", {"release": "1.0.2", "environment": "staging", "action": "redeploy"}, "action"),
    (
        "rollback without reason",
        {"release": "1.0.2", "environment": "production", "action": "rollback"},
        "reason",
    ),
    ("steps not a list", {"release": "1.0.2", "environment": "production", "steps": "10,25,50,100"}, "steps"),
    ("steps empty", {"release": "1.0.2", "environment": "production", "steps": []}, "steps"),
    (
        "a step not a number",
        {"release": "1.0.2", "environment": "production", "steps": [10, "25", 100]},
        "steps",
    ),
    ("a step above 100", {"release": "1.0.2", "environment": "production", "steps": [10, 250]}, "steps"),
    (
        "bakeSeconds not a number",
        {"release": "1.0.2", "environment": "staging", "bakeSeconds": "300"},
        "bakeSeconds",
    ),
    (
        "bakeSeconds negative",
        {"release": "1.0.2", "environment": "staging", "bakeSeconds": -5},
        "bakeSeconds",
    ),
    (
        "rolloutPercentage 0",
        {"release": "1.0.2", "environment": "production", "rolloutPercentage": 0},
        "rolloutPercentage",
    ),
    (
        "requestedBy not a string",
        {"release": "1.0.2", "environment": "staging", "requestedBy": 7},
        "requestedBy",
    ),
    ("input not an object", [1, 2], "release"),
]


@pytest.fixture(scope="module")
def malformed_runs(stack) -> dict[str, Any]:
    """Every malformed input started at once on the provisioned state machine, with the default
    target's aliases read before and after."""
    sfn, lam = stack.aws_client("stepfunctions"), stack.aws_client("lambda")
    before = aliases(lam, DEFAULT_TARGET)
    run = uuid.uuid4().hex[:8]
    arns = {
        case: sfn.start_execution(
            stateMachineArn=stack.env["RELEASE_STATE_MACHINE_ARN"],
            name=f"malformed-{run}-{i}",
            input=json.dumps(execution_input),
        )["executionArn"]
        for i, (case, execution_input, _) in enumerate(MALFORMED)
    }
    ended = wait_for_end(sfn, list(arns.values()))
    return {
        "ended": {case: ended[arn] for case, arn in arns.items()},
        "history": {
            case: [e["type"] for e in sfn.get_execution_history(executionArn=arn)["events"]]
            for case, arn in arns.items()
        },
        "before": before,
        "after": aliases(lam, DEFAULT_TARGET),
    }


@pytest.mark.parametrize(("case", "field"), [(case, field) for case, _, field in MALFORMED])
def test_a_malformed_input_fails_the_execution_naming_the_field(malformed_runs, case, field):
    # Given an execution started with a malformed input, When it ends
    ended = malformed_runs["ended"][case]
    # Then it failed with InvalidInput and a cause that names the field
    assert (ended["status"], ended["error"]) == ("FAILED", "InvalidInput"), ended
    assert ended["cause"].startswith(f"{field}: "), ended["cause"]
    # And no task ran: nothing was sent to the worker, no alias call was made
    history = malformed_runs["history"][case]
    assert not [e for e in history if e.startswith("Task")], history


def test_malformed_inputs_touch_no_alias(malformed_runs):
    assert malformed_runs["after"] == malformed_runs["before"]
    assert malformed_runs["before"] == {"staging": ("1", {}), "live": ("1", {})}


def test_make_run_provisions_the_default_target_and_the_machine(stack):
    sfn = stack.aws_client("stepfunctions")
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    assert machines["post-launch-monitor-local-release-rollout"] == stack.env["RELEASE_STATE_MACHINE_ARN"]
    versions = stack.aws_client("lambda").list_versions_by_function(FunctionName=DEFAULT_TARGET)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


# ---------------------------------------------------------------- the worker path, scripted


class StepFailed(Exception):
    def __init__(self, error: str, cause: str):
        super().__init__(error, cause)
        self.error, self.cause = error, cause


class Script:
    """What the stand-in rollout answers, per op, for one execution; records what it was sent."""

    def __init__(self, lam, function: str, answers: dict[str, Any]):
        self.lam, self.function, self.answers = lam, function, answers
        self.seen: list[tuple[str, dict]] = []
        self.aliases_at_gate: list[dict] = []
        self.token: str | None = None

    def handle(self, message: dict) -> Any:
        op = message["op"]
        self.seen.append((op, message))
        if op == "gate":
            self.aliases_at_gate.append(aliases(self.lam, self.function))
        if op == "pause":
            self.token = message["token"]
        answer = self.answers[op]
        if isinstance(answer, list):
            answer = answer.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def ops(self) -> list[str]:
        return [op for op, _ in self.seen]


@pytest.fixture(scope="module")
def scripted(stack) -> Iterator[Callable[..., Any]]:
    """A state machine from infra/release-rollout.asl.json on a queue of its own, the app's worker
    handler behind the dev stack's SQS bridge, and a stand-in chalicelib.releases.rollout whose
    answers each test scripts. Yields run(input, script) -> the ended execution."""
    sqs, sfn, iam = (stack.aws_client(s) for s in ("sqs", "stepfunctions", "iam"))
    name = f"machine-test-{uuid.uuid4().hex[:8]}"
    queue_url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    resource = load_template()["Resources"]["ReleaseRolloutStateMachine"]
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    machine = sfn.create_state_machine(
        name=name,
        definition=local_definition(resource, {"ReleaseGateQueue": queue_url}, stack.aws.endpoint),
        roleArn=role,
    )["stateMachineArn"]

    scripts: dict[str, Script] = {}
    stand_in = types.ModuleType("chalicelib.releases.rollout")
    stand_in.StepFailed = StepFailed
    stand_in.handle = lambda message: scripts[message["execution"]].handle(message)
    saved = sys.modules.get(stand_in.__name__)
    sys.modules[stand_in.__name__] = stand_in

    module = load_app()
    route = SqsRoute(
        name="release_worker",
        handler_string="app.release_worker",
        queue=name,
        batch_size=1,
        handler=module.release_worker,
    )
    bridge = SqsBridge([route], sqs).resolve()
    stopping = threading.Event()

    def poll() -> None:
        while not stopping.is_set():
            bridge.poll(wait_seconds=1)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()

    def run(execution_input: dict, script: Script, answer_pause: Callable[[str], None] | None = None) -> dict:
        arn = f"{machine.replace(':stateMachine:', ':execution:')}:{uuid.uuid4().hex[:12]}"
        scripts[arn] = script
        started = time.monotonic()
        sfn.start_execution(
            stateMachineArn=machine, name=arn.rsplit(":", 1)[1], input=json.dumps(execution_input)
        )
        if answer_pause:
            deadline = time.monotonic() + 30
            while script.token is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert script.token, script.ops
            answer_pause(script.token)
        [ended] = wait_for_end(sfn, [arn]).values()
        ended["seconds"] = time.monotonic() - started
        return ended

    try:
        yield run
    finally:
        stopping.set()
        thread.join(timeout=10)
        if saved is None:
            sys.modules.pop(stand_in.__name__, None)
        else:
            sys.modules[stand_in.__name__] = saved
        assert route.failures == 0, route.last_error


@pytest.fixture
def target(stack) -> dict[str, str]:
    """A function of this test's own: v1 behind staging and live, then a new build published as v2."""
    lam, iam = stack.aws_client("lambda"), stack.aws_client("iam")
    function = f"machine-target-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(RoleName=function, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    create_release_target(lam, role, function, ("staging", "live"))
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return 2\n")
    lam.update_function_code(FunctionName=function, ZipFile=buffer.getvalue())
    assert lam.publish_version(FunctionName=function)["Version"] == "2"
    return {"function": function, "old": "1", "new": "2"}


def update(function: str, alias: str, version: str, weights: dict | None = None) -> dict:
    return {
        "FunctionName": function,
        "Name": alias,
        "FunctionVersion": version,
        "RoutingConfig": {"AdditionalVersionWeights": weights or {}},
    }


def plan(target: dict, environment: str, alias: str, **extra) -> dict:
    f = target["function"]
    return {
        "environment": environment,
        "steps": [100] if environment == "staging" else [10, 100],
        "stopAt": 100,
        "bakeSeconds": 1,
        "tickSeconds": 1,
        "tables": [],
        "rollback": [update(f, alias, target["old"])],
        "final": [update(f, alias, target["new"])],
        **extra,
    }


@pytest.mark.slow
def test_staging_moves_the_alias_bakes_through_the_gate_and_finishes(stack, scripted, target):
    lam, f = stack.aws_client("lambda"), target["function"]
    # Given a worker that shifts staging to the new version, bakes two ticks and passes the gate
    script = Script(
        lam,
        f,
        {
            "prepare": plan(target, "staging", "staging"),
            "advance": [
                {"action": "shift", "percent": 100, "aliases": [update(f, "staging", "2")], "startedAt": "t"},
                {"action": "complete", "percent": 100, "aliases": [], "startedAt": "t"},
            ],
            "gate": [{"verdict": "continue", "reason": ""}, {"verdict": "pass", "reason": "healthy"}],
            "finish": {"status": "staging_verified"},
        },
    )
    # When the execution runs
    ended = scripted({"release": "1.0.2", "environment": "staging"}, script)
    # Then it succeeded through the protocol's steps, the gate saw staging on the new version
    assert ended["status"] == "SUCCEEDED", ended
    assert script.ops == ["prepare", "advance", "gate", "gate", "advance", "finish"]
    assert script.aliases_at_gate[0] == {"staging": ("2", {}), "live": ("1", {})}
    assert aliases(lam, f) == {"staging": ("2", {}), "live": ("1", {})}
    # And every step got the original input, the plan and the current step
    prepare, gate = script.seen[0][1], script.seen[2][1]
    assert prepare["input"] == {"release": "1.0.2", "environment": "staging"}
    assert gate["plan"]["environment"] == "staging" and gate["step"]["percent"] == 100


@pytest.mark.slow
def test_production_backs_up_shifts_weights_and_a_failing_gate_rolls_back(stack, scripted, target):
    lam, ddb, f = stack.aws_client("lambda"), stack.aws_client("dynamodb"), target["function"]
    table = stack.env["FEEDBACK_TABLE"]
    backup_name = f"release-1-0-3-{uuid.uuid4().hex[:6]}"
    script = Script(
        lam,
        f,
        {
            "prepare": plan(
                target, "production", "live", tables=[{"table": table, "backupName": backup_name}]
            ),
            "predeploy": {"ok": True},
            "backups": {},
            "advance": {
                "action": "shift",
                "percent": 10,
                "aliases": [update(f, "live", "1", {"2": 0.1})],
                "startedAt": "t",
            },
            "gate": {"verdict": "fail", "reason": "error rate of version 2 is 12.0 % (threshold 1.0 %)"},
            "rolled_back": {"status": "rolled_back"},
        },
    )
    ended = scripted({"release": "1.0.3", "environment": "production", "bakeSeconds": 1}, script)
    # Then the run took a backup, moved 10 % to the new version, and rolled back on the gate's verdict
    assert script.ops == ["prepare", "predeploy", "backups", "advance", "gate", "rolled_back"]
    [backup] = dict(script.seen)["backups"]["backups"]
    assert (backup["table"], backup["backupName"]) == (table, backup_name)
    described = ddb.describe_backup(BackupArn=backup["backupArn"])["BackupDescription"]["BackupDetails"]
    assert described["BackupName"] == backup_name
    assert script.aliases_at_gate == [{"staging": ("1", {}), "live": ("1", {"2": 0.1})}]
    # And the alias is back on the old version at 100 %, the execution failed saying why
    assert aliases(lam, f) == {"staging": ("1", {}), "live": ("1", {})}
    assert (ended["status"], ended["error"]) == ("FAILED", "RolledBack")
    assert ended["cause"] == "error rate of version 2 is 12.0 % (threshold 1.0 %)"
    assert dict(script.seen)["rolled_back"]["error"] == {"Error": "GateFailed", "Cause": ended["cause"]}


@pytest.mark.slow
def test_a_refused_prepare_abandons_without_touching_an_alias(stack, scripted, target):
    lam, f = stack.aws_client("lambda"), target["function"]
    script = Script(
        lam,
        f,
        {
            "prepare": StepFailed("RolloutRefused", "1.0.1 production holds the target"),
            # the real abandon answers the reason the record holds (moto drops SendTaskFailure's cause)
            "abandon": {"cause": "1.0.1 production holds the target"},
        },
    )
    ended = scripted({"release": "1.0.4", "environment": "production"}, script)
    assert script.ops == ["prepare", "abandon"]
    assert dict(script.seen)["abandon"]["error"]["Error"] == "RolloutRefused"
    assert (ended["status"], ended["error"]) == ("FAILED", "RolloutRefused")
    assert ended["cause"] == "1.0.1 production holds the target"
    assert aliases(lam, f) == {"staging": ("1", {}), "live": ("1", {})}


@pytest.mark.slow
def test_a_hold_pauses_until_the_stored_token_is_answered(stack, scripted, target):
    from chalicelib.integrations import stepfunctions

    lam, f = stack.aws_client("lambda"), target["function"]
    sfn = stack.aws_client("stepfunctions")
    script = Script(
        lam,
        f,
        {
            "prepare": plan(target, "production", "live", pauseTimeoutSeconds=60),
            "predeploy": {"ok": True},
            "backups": {},
            "advance": [
                {"action": "hold", "percent": 25, "aliases": [], "startedAt": "t"},
                {"action": "complete", "percent": 100, "aliases": [], "startedAt": "t"},
            ],
            "pause": None,
            "finish": {"status": "released"},
        },
    )
    # When the operator promotes after the pause (the token the pause step stored)
    ended = scripted(
        {"release": "1.0.5", "environment": "production", "rolloutPercentage": 25},
        script,
        answer_pause=lambda token: stepfunctions.send_task_success(
            token, {"decision": "promote"}, client=sfn
        ),
    )
    # Then the next advance got the decision, and the release finished on the new version
    assert ended["status"] == "SUCCEEDED", ended
    assert script.ops == ["prepare", "predeploy", "backups", "advance", "pause", "advance", "finish"]
    advances = [m for op, m in script.seen if op == "advance"]
    assert [a["decision"] for a in advances] == [None, {"decision": "promote"}]
    assert aliases(lam, f) == {"staging": ("1", {}), "live": ("2", {})}
