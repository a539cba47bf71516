"""The rollout end to end on the local stack: the real state machine (infra/release-rollout.asl.json on
moto's Step Functions), the real worker (app.py's @app.on_sqs_message handler behind the dev stack's
SQS bridge, the `release_worker` fixture) running chalicelib.releases.rollout, the gate reading the
AWS/Lambda metrics the traffic simulator writes. Alias weights are read through the Lambda API while
each execution runs: what a caller of the alias would have been routed to, step by step.

Each test has its own target function (v1 behind both aliases, v2 the fix) and its own fixed issue
and release, so tests sharing the session's moto never see each other's metrics or locks.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.errors import NotFound
from chalicelib.releases import operator
from chalicelib.releases import service as releases
from chalicelib.store import issues as issue_store
from chalicelib.store import releases as release_store
from postlaunch.lambda_traffic import Traffic, TrafficThread
from tests import release_helpers as helpers

pytestmark = pytest.mark.slow

# The gate judges a step on at least this many calls of the new version: 100 calls/s for a 2 s bake
# gives the 10 % step 20.
MIN_INVOCATIONS = "10"
RATE = 100
BAKE = 2


# ------------------------------------------------------------------------------------------ helpers


def make_target(stack) -> tuple[str, str, str]:
    """A fresh function: v1 behind `staging` and `live`, then a new build published as v2."""
    function = helpers.make_target(stack, "rollout")
    return function, "1", helpers.publish_build(stack, function)


def new_release(function: str, to_version: str, *, area: str = "reminders") -> tuple[str, list[str]]:
    issues = [helpers.fixed_issue(area)]
    version = helpers.fresh_version()
    releases.create_release(version, issues, function_version=to_version, targets=[function], actor="test")
    return version, issues


def alias_state(lam, function: str, alias: str) -> tuple[str, dict[str, float]]:
    found = lam.get_alias(FunctionName=function, Name=alias)
    weights = (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return found["FunctionVersion"], {k: float(v) for k, v in weights.items()}


class AliasWatch:
    """Reads an alias through the Lambda API every 50 ms while a rollout runs; keeps each distinct
    state in the order seen."""

    def __init__(self, lam, function: str, alias: str):
        self.lam, self.function, self.alias = lam, function, alias
        self.seen: list[tuple[str, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            state = alias_state(self.lam, self.function, self.alias)
            if not self.seen or self.seen[-1] != state:
                self.seen.append(state)
            self._stop.wait(0.05)

    def __enter__(self) -> AliasWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def percents(self) -> list[int]:
        """Traffic on the new version per state seen (100 when the alias serves it alone)."""
        first = self.seen[0][0]
        return [
            100 if version != first else round(sum(weights.values()) * 100) for version, weights in self.seen
        ]


def wait_for(predicate, timeout: float = 60.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout}s")


def wait_end(stack, arn: str, timeout: float = 90.0) -> dict:
    sfn = stack.aws_client("stepfunctions")
    return wait_for(
        lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d, timeout
    )


def release(version: str) -> dict:
    return release_store.get_release(version)


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


@pytest.fixture
def rollout(stack, release_worker) -> Iterator[None]:
    """The worker's settings for these tests (it runs in this process): a lower invocation minimum."""
    with helpers.worker_settings(RELEASE_GATE_MIN_INVOCATIONS=MIN_INVOCATIONS):
        yield


def through_staging(stack, function: str, version: str) -> dict:
    """Deploy to staging with traffic on the staging alias; the release ends staging_verified."""
    with traffic(stack, function, "staging"):
        started = operator.start(version, "staging", bake_seconds=BAKE, actor="alice")
        ended = wait_end(stack, started["executionArn"])
    assert ended["status"] == "SUCCEEDED", ended
    assert release(version)["status"] == "staging_verified"
    return ended


# -------------------------------------------------------------------------------------------- tests


def test_clean_rollout_staging_then_production_10_25_50_100_releases_the_issues(stack, rollout):
    # Given a fix (v2) of a fixed issue, released as a new version of its own target
    function, v1, v2 = make_target(stack)
    version, issues = new_release(function, v2)
    lam = stack.aws_client("lambda")
    helpers.clear_critical_alerts()
    t0 = time.monotonic()

    # When it goes through staging, then production with traffic on the production alias
    with AliasWatch(lam, function, "staging") as staging_watch:
        through_staging(stack, function, version)
    staging_seconds = time.monotonic() - t0
    with traffic(stack, function, "live"), AliasWatch(lam, function, "live") as watch:
        started = operator.start(version, "production", bake_seconds=BAKE, actor="alice")
        ended = wait_end(stack, started["executionArn"])
    seconds = time.monotonic() - t0

    # Then the staging alias moved to v2 alone, and the production alias through 10/25/50/100 %
    assert ended["status"] == "SUCCEEDED", ended
    assert staging_watch.seen == [(v1, {}), (v2, {})]
    assert watch.seen == [
        (v1, {}),
        (v1, {v2: 0.1}),
        (v1, {v2: 0.25}),
        (v1, {v2: 0.5}),
        (v2, {}),
    ], watch.seen
    assert watch.percents == [0, 10, 25, 50, 100]
    # And the release is released at 100 %, its issues released, a gate verdict per step kept
    record = release(version)
    assert (record["status"], record["trafficPercent"]) == ("released", 100)
    assert record["environments"]["production"]["state"] == "released"
    assert record["environments"]["staging"]["state"] == "verified"
    assert [g["verdict"] for g in record["gates"] if g["environment"] == "production"] == ["pass"] * 5
    assert [g["percent"] for g in record["gates"] if g["environment"] == "production"] == [0, 10, 25, 50, 100]
    assert all(g["inputs"] for g in record["gates"])
    assert len(record["backups"]) == len(stack.settings().stack_tables)
    assert [e["environment"] for e in record["executions"]] == ["staging", "production"]
    actions = [h["action"] for h in record["history"]]
    assert actions == [
        "create",
        "deploy_started",
        "shift",
        "complete",
        "finish",
        "deploy_started",
        "backups",
        "shift",
        "shift",
        "shift",
        "shift",
        "complete",
        "finish",
    ], actions
    assert all(issue_store.get_issue(i).status == "released" for i in issues)
    # And an info alert said the deployment finished; the locks are gone
    from chalicelib.alerts.model import fingerprint
    from chalicelib.store import alerts as alert_store

    deployed = alert_store.get_active(
        fingerprint("ReleaseDeployed", {"release": version, "environment": "production"})
    )
    assert deployed and deployed["severity"] == "info"
    assert release_store.read_lock(function) is None
    print(f"\nclean rollout: staging {staging_seconds:.1f}s, staging+production {seconds:.1f}s")


def test_a_failing_gate_rolls_production_back(stack, rollout):
    # Given a release verified in staging whose v2 fails one call in two in production
    function, v1, v2 = make_target(stack)
    version, issues = new_release(function, v2)
    lam = stack.aws_client("lambda")
    through_staging(stack, function, version)
    helpers.clear_critical_alerts()
    t0 = time.monotonic()

    # When production rolls out under that traffic
    with traffic(stack, function, "live", errors={v2: 0.5}), AliasWatch(lam, function, "live") as watch:
        started = operator.start(version, "production", bake_seconds=BAKE, actor="alice")
        ended = wait_end(stack, started["executionArn"])
    seconds = time.monotonic() - t0

    # Then the execution failed as RolledBack, having moved 10 % and no further: the alias is back on v1
    assert (ended["status"], ended["error"]) == ("FAILED", "RolledBack"), ended
    assert "error rate" in ended["cause"]
    assert watch.seen == [(v1, {}), (v1, {v2: 0.1}), (v1, {})], watch.seen
    assert alias_state(lam, function, "live") == (v1, {})
    # And the release is rolled_back with why in its history, the failing verdict with its inputs
    record = release(version)
    assert (record["status"], record["trafficPercent"]) == ("rolled_back", 0)
    last = record["history"][-1]
    assert last["action"] == "rolled_back" and last["reason"].startswith("gate failed: ")
    assert "error rate" in last["reason"]
    failing = record["gates"][-1]
    assert failing["verdict"] == "fail" and failing["percent"] == 10
    assert failing["inputs"]["metrics"]["functions"][function]["new"]["errors"] > 0
    # And a critical alert went out; the issue is free for another release
    assert_rolled_back_alert(version, "critical")
    assert issue_store.get_issue(issues[0]).active_release is None
    assert release_store.read_lock(function) is None
    print(f"\nfailing gate: production rolled back in {seconds:.1f}s")


def assert_rolled_back_alert(version: str, severity: str) -> None:
    from chalicelib.alerts.model import fingerprint
    from chalicelib.store import alerts as alert_store

    alert = alert_store.get_active(
        fingerprint("ReleaseRolledBack", {"release": version, "environment": "production"})
    )
    assert alert is not None and alert["severity"] == severity, alert


def test_critical_feedback_in_the_release_area_rolls_it_back(stack, rollout, workspace):
    # Given a reminders fix verified in staging, baking in production for 30 s, with clean traffic
    function, v1, v2 = make_target(stack)
    version, _ = new_release(function, v2, area="reminders")
    lam = stack.aws_client("lambda")
    through_staging(stack, function, version)
    helpers.clear_critical_alerts()

    with traffic(stack, function, "live"), AliasWatch(lam, function, "live") as watch:
        started = operator.start(version, "production", steps=[10, 100], bake_seconds=30, actor="alice")
        wait_for(lambda: alias_state(lam, function, "live") == (v1, {v2: 0.1}))
        # When a pharmacist reports a critical problem with reminders mid-bake
        from tests.payloads import SEED_FEEDBACK

        report = stack.client("staff", workspace).post(
            "/api/monitoring/feedback",
            json={**SEED_FEEDBACK, "severity": "critical", "featureArea": "reminders"},
        )
        assert report.status_code == 201, report.text
        reported = time.monotonic()
        ended = wait_end(stack, started["executionArn"])
    seconds = time.monotonic() - reported

    # Then the rollout stopped without waiting for the bake: the alias is back on v1 at 100 %
    assert (ended["status"], ended["error"]) == ("FAILED", "RolledBack"), ended
    assert seconds < 15, seconds  # half the 30 s bake: it did not wait for the bake's end
    assert watch.seen == [(v1, {}), (v1, {v2: 0.1}), (v1, {})], watch.seen
    # And the history says why: the report, by id
    record = release(version)
    assert record["status"] == "rolled_back"
    assert "reminders" in record["history"][-1]["reason"]
    assert report.json()["id"] in record["gates"][-1]["inputs"]["feedback"]["ids"]
    assert_rolled_back_alert(version, "critical")
    print(f"\ncritical feedback: rolled back {seconds:.1f}s after the report")


def test_an_inconclusive_gate_pauses_until_promoted(stack, rollout):
    # Given a release verified in staging, and no traffic at all in production
    function, v1, v2 = make_target(stack)
    version, issues = new_release(function, v2)
    lam = stack.aws_client("lambda")
    through_staging(stack, function, version)
    helpers.clear_critical_alerts()
    t0 = time.monotonic()

    started = operator.start(version, "production", steps=[50, 100], bake_seconds=BAKE, actor="alice")
    # When the 50 % step ends with too few calls to judge
    paused = wait_for(lambda: (r := release(version))["status"] == "paused" and r)

    # Then the rollout waits at 50 % for an operator, saying why, with a warning alert
    assert alias_state(lam, function, "live") == (v1, {v2: 0.5})
    assert paused["history"][-1]["action"] == "pause"
    assert paused["history"][-1]["reason"].startswith("gate inconclusive at 50%")
    assert paused["gates"][-1]["verdict"] == "inconclusive"
    assert paused["environments"]["production"]["state"] == "paused"
    assert paused["statusReason"].startswith("gate inconclusive at 50%")
    assert operator.status(version)["execution"]["status"] == "RUNNING"
    assert "pendingToken" not in operator.status(version)["release"]

    # When an operator promotes it, and traffic flows
    with traffic(stack, function, "live"):
        answer = operator.promote(version, actor="bob")
        assert answer["action"] == "promote"
        ended = wait_end(stack, started["executionArn"])

    # Then it goes on to 100 % and is released
    assert ended["status"] == "SUCCEEDED", ended
    assert alias_state(lam, function, "live") == (v2, {})
    record = release(version)
    assert record["status"] == "released"
    assert "statusReason" not in record
    promote = next(h for h in record["history"] if h["action"] == "promote")
    assert promote["actor"] == "bob"
    assert all(issue_store.get_issue(i).status == "released" for i in issues)
    print(f"\ninconclusive then promote: {time.monotonic() - t0:.1f}s")


def test_rollout_percentage_25_pauses_there_then_promote_finishes(stack, rollout):
    # Given a release verified in staging, with traffic on production
    function, v1, v2 = make_target(stack)
    version, _ = new_release(function, v2)
    lam = stack.aws_client("lambda")
    through_staging(stack, function, version)
    helpers.clear_critical_alerts()
    t0 = time.monotonic()

    with traffic(stack, function, "live"), AliasWatch(lam, function, "live") as watch:
        # When it rolls out with --rollout-percentage 25
        started = operator.start(
            version, "production", rollout_percentage=25, bake_seconds=BAKE, actor="alice"
        )
        paused = wait_for(lambda: (r := release(version))["status"] == "paused" and r)
        # Then it holds at 25 % after the 10 and 25 % gates passed
        assert alias_state(lam, function, "live") == (v1, {v2: 0.25})
        assert paused["trafficPercent"] == 25
        assert paused["history"][-1]["reason"] == "rollout percentage 25% reached"
        time.sleep(1.5)
        assert release(version)["status"] == "paused"

        # When an operator promotes it
        operator.promote(version, actor="bob")
        ended = wait_end(stack, started["executionArn"])

    # Then the remaining steps run and the release is released
    assert ended["status"] == "SUCCEEDED", ended
    assert watch.percents == [0, 10, 25, 50, 100], watch.seen
    assert release(version)["status"] == "released"
    print(f"\npause at 25 then promote: {time.monotonic() - t0:.1f}s")


def test_abort_mid_bake_returns_the_alias_within_seconds(stack, rollout):
    # Given a production rollout baking 30 s at its first step
    function, v1, v2 = make_target(stack)
    version, issues = new_release(function, v2)
    lam = stack.aws_client("lambda")
    through_staging(stack, function, version)
    helpers.clear_critical_alerts()
    started = operator.start(version, "production", steps=[10, 100], bake_seconds=30, actor="alice")
    wait_for(lambda: alias_state(lam, function, "live") == (v1, {v2: 0.1}))
    time.sleep(1)

    # When an operator aborts it
    t0 = time.monotonic()
    answer = operator.abort(version, reason="pharmacies report slow reminders", actor="carol")
    wait_for(lambda: alias_state(lam, function, "live") == (v1, {}), timeout=15, every=0.05)
    back = time.monotonic() - t0
    ended = wait_end(stack, started["executionArn"])

    # Then the alias is back on v1 alone mid-bake, not at the end of the 30 s bake (the bound is half
    # the bake, as the machine is shared and noisy; the figure is printed: 1.3-1.8 s when quiet)
    assert answer["action"] == "abort_requested"
    assert back < 15, back
    assert (ended["status"], ended["error"]) == ("FAILED", "RolledBack"), ended
    record = release(version)
    assert record["status"] == "rolled_back"
    assert record["history"][-1]["reason"] == "aborted by carol: pharmacies report slow reminders"
    assert record["statusReason"] == record["history"][-1]["reason"]
    assert record["gates"][-1]["verdict"] == "abort"
    assert "abortRequested" not in record
    assert_rolled_back_alert(version, "critical")
    print(f"\nabort mid-bake: alias back {back:.1f}s after the abort")


def test_a_second_concurrent_rollout_of_a_target_is_refused(stack, rollout):
    # Given two releases of one function, the first rolling out in staging with a long bake
    function, v1, v2 = make_target(stack)
    lam = stack.aws_client("lambda")
    v3 = helpers.publish_build(stack, function)
    first, _ = new_release(function, v2)
    second, _ = new_release(function, v3)
    running = operator.start(first, "staging", bake_seconds=60, actor="alice")
    wait_for(lambda: release_store.read_lock(function))

    # When the second is started by the CLI: refused before any execution starts, naming the first
    from chalicelib.errors import InvalidTransition, RolloutLocked

    with pytest.raises(RolloutLocked) as refused:
        operator.start(second, "staging", bake_seconds=1, actor="bob")
    assert first in refused.value.message and running["executionArn"] in refused.value.message
    # And the same release twice is refused by its status
    with pytest.raises(InvalidTransition):
        operator.start(first, "staging", actor="bob")

    # When the second is started from the AWS CLI, past the operator's check
    sfn = stack.aws_client("stepfunctions")
    import json

    arn = sfn.start_execution(
        stateMachineArn=stack.env["RELEASE_STATE_MACHINE_ARN"],
        name=f"second-{uuid.uuid4().hex[:8]}",
        input=json.dumps({"release": second, "environment": "staging", "bakeSeconds": 1}),
    )["executionArn"]
    ended = wait_end(stack, arn)

    # Then prepare refuses it, naming the running one; the first keeps its lock and its alias
    assert (ended["status"], ended["error"]) == ("FAILED", "RolloutRefused"), ended
    assert first in ended["cause"] and running["executionArn"] in ended["cause"]
    # And the refusal is in the second release's history too
    refusal = release(second)["history"][-1]
    assert refusal["action"] == "refused", refusal
    assert first in refusal["reason"] and running["executionArn"] in refusal["reason"]
    assert release_store.read_lock(function)["executionArn"] == running["executionArn"]
    assert alias_state(lam, function, "staging") == (v2, {})
    assert release(second)["status"] == "planned"

    # Cleanup: abort the first
    operator.abort(first, reason="test over", actor="alice")
    assert wait_end(stack, running["executionArn"])["status"] == "FAILED"
    assert release_store.read_lock(function) is None


def test_promote_full_mid_bake_skips_the_remaining_steps_then_rollback_returns_the_old_version(
    stack, rollout
):
    # Given a production rollout baking its 10 % step, with clean traffic
    function, v1, v2 = make_target(stack)
    version, issues = new_release(function, v2)
    lam = stack.aws_client("lambda")
    through_staging(stack, function, version)
    helpers.clear_critical_alerts()
    with traffic(stack, function, "live"), AliasWatch(lam, function, "live") as watch:
        started = operator.start(version, "production", bake_seconds=3, actor="alice")
        wait_for(lambda: alias_state(lam, function, "live") == (v1, {v2: 0.1}))

        # When an operator promotes it in full
        answer = operator.promote(version, full=True, actor="bob")
        ended = wait_end(stack, started["executionArn"])

    # Then the 10 % step is judged, and the rollout goes straight to 100 %
    assert answer["action"] == "promote_full_requested"
    assert ended["status"] == "SUCCEEDED", ended
    assert watch.percents == [0, 10, 100], watch.seen
    record = release(version)
    assert record["status"] == "released"
    assert [g["percent"] for g in record["gates"] if g["environment"] == "production"] == [0, 10]
    assert record["history"][-2]["reason"] == "promoted in full by bob"

    # When the finished release is rolled back
    back = operator.rollback(version, reason="reminders sent twice", actor="carol")
    ended = wait_end(stack, back["executionArn"])

    # Then production serves v1 alone again, the release is rolled_back, its issues fixed and free
    assert back["environment"] == "production" and ended["status"] == "SUCCEEDED", ended
    assert alias_state(lam, function, "live") == (v1, {})
    record = release(version)
    assert record["status"] == "rolled_back"
    assert record["history"][-1]["reason"] == "rollback requested by carol: reminders sent twice"
    issue = issue_store.get_issue(issues[0])
    assert (issue.status, issue.active_release) == ("fixed", None)
    assert_rolled_back_alert(version, "critical")


def test_an_unknown_release_is_refused_and_nothing_is_written(stack, rollout):
    # Given a version no release has
    unknown = helpers.fresh_version()
    # When an operator deploys it, it is refused before any execution starts
    with pytest.raises(NotFound):
        operator.start(unknown, "staging", actor="alice")
    # And when it is started straight through Step Functions (as from the AWS CLI)
    sfn = stack.aws_client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.env["RELEASE_STATE_MACHINE_ARN"],
        name=f"unknown-{uuid.uuid4().hex[:12]}",
        input=json.dumps({"release": unknown, "environment": "staging"}),
    )["executionArn"]
    ended = wait_end(stack, arn)
    # Then the execution fails naming the release, and no release record appeared
    assert (ended["status"], ended["error"]) == ("FAILED", "InvalidInput"), ended
    assert ended["cause"] == f"release: there is no release {unknown}"
    assert release_store.get_release(unknown) is None
