"""The rollout's Python steps: what the state machine asks the worker, one op per message.

infra/release-rollout.asl.json sends each step to the gate queue with a task token; the worker
(chalicelib.releases.worker) calls `handle(message)` and answers the token with what it returns, or
fails the task when it raises `StepFailed(error, cause)`. The ops and their outputs are the worker
protocol (docs/releases.md). The machine moves the aliases itself (SDK tasks with the UpdateAlias
parameters the ops hand it); the ops decide, and record on the release what happened and why.

Every op is idempotent under SQS redelivery: a message handled twice must not append history twice
or move a step twice. Each write is keyed on execution + op + step (`key` on the history entry or
gate verdict it writes); a redelivered op finds its key and answers what the first delivery decided
(the gate's stored verdict, the advance's recorded start time) without writing again. Side effects
outside the record (issues, alerts, locks) are themselves repeatable and come before the keyed write,
so a crash between them is completed by the redelivery.

No boto3 here: the store, the Lambda alias reads, Step Functions and the gate are called through
their modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.alerts import engine as alerts
from chalicelib.alerts.model import Condition
from chalicelib.config import Settings, get_settings
from chalicelib.errors import Conflict, DomainError, NotFound, RolloutLocked
from chalicelib.integrations import lambda_aliases, stepfunctions
from chalicelib.observability import logger
from chalicelib.releases import gate
from chalicelib.store import releases as store

ENVIRONMENTS = ("staging", "production")
ACTIONS = ("deploy", "rollback")
DEFAULT_ACTOR = "stepfunctions"
# What an op's reason may carry into the machine's state (Cause limit 32768; the state data 256 KiB).
REASON_MAX = 2000
_RETRIES = 8
# Errors the machine routes to Rollback that are decisions, not failures: the release ends
# rolled_back. Anything else (a task that failed, a Lambda error, the worker down) ends it failed.
DELIBERATE = frozenset({"GateFailed", "Aborted", "RollbackRequested"})


class StepFailed(Exception):
    """Fail the waiting task with `error` (the name the machine's Catch sees) and `cause`."""

    def __init__(self, error: str, cause: str):
        super().__init__(error, cause)
        self.error, self.cause = error, cause[:REASON_MAX]


# ------------------------------------------------------------------------------------------ helpers


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def execution_name(execution: str) -> str:
    return execution.rsplit(":", 1)[-1]


def _actor(message: Mapping[str, Any]) -> str:
    requested = (message.get("input") or {}).get("requestedBy")
    return requested if isinstance(requested, str) and requested else DEFAULT_ACTOR


def _key(message: Mapping[str, Any], op: str, step: Any = None) -> str:
    key = f"{execution_name(message['execution'])}:{op}"
    return key if step is None else f"{key}:{step}"


def _entry(record: Mapping[str, Any], key: str, field: str = "history") -> dict[str, Any] | None:
    return next((e for e in record.get(field) or [] if e.get("key") == key), None)


def _history(actor: str, action: str, before: Any, after: Any, reason: str, key: str, execution: str) -> dict:
    return {
        "at": _now(),
        "actor": actor,
        "action": action,
        "from": before,
        "to": after,
        "reason": reason[:REASON_MAX],
        "execution": execution,
        "key": key,
    }


def _release(version: str) -> dict[str, Any]:
    record = store.get_release(version)
    if record is None:
        raise StepFailed("InvalidInput", f"release: there is no release {version}")
    return record


Change = tuple[dict[str, Any], list[dict[str, Any]], list[str]]


def update(version: str, build: Callable[[dict[str, Any]], Change | None]) -> dict[str, Any]:
    """Read the release, let `build` say what changes (None: nothing), write it conditional on the
    revision read; on a concurrent change (an operator's abort, another step) read and decide again."""
    for _ in range(_RETRIES):
        record = _release(version)
        change = build(record)
        if change is None:
            return record
        changes, history, remove = change
        try:
            return store.update_release(version, record["revision"], changes, history=history, remove=remove)
        except Conflict:
            continue
    raise Conflict(f"Release {version} kept changing while a rollout step was recorded; SQS retries it.")


def environment_targets(record: Mapping[str, Any], environment: str) -> list[dict[str, Any]]:
    return [dict(t) for t in record.get("targets") or [] if t.get("environment") == environment]


def _env(record: Mapping[str, Any], environment: str, **changes: Any) -> dict[str, Any]:
    """The release's environments map with `environment` changed."""
    envs = {k: dict(v) for k, v in (record.get("environments") or {}).items()}
    envs[environment] = {**envs.get(environment, {}), **changes}
    return envs


def alias_params(function: str, alias: str, version: str, weights: Mapping[str, float] | None = None) -> dict:
    """Lambda UpdateAlias parameters, exactly as the machine's SDK task passes them on."""
    return {
        "FunctionName": function,
        "Name": alias,
        "FunctionVersion": str(version),
        "RoutingConfig": {"AdditionalVersionWeights": {str(k): v for k, v in (weights or {}).items()}},
    }


def shift_params(targets: Sequence[Mapping[str, Any]], percent: int) -> list[dict[str, Any]]:
    """Every alias with `percent` % on the new version: a weight below 100, the new version alone at 100."""
    if percent >= 100:
        return [alias_params(t["function"], t["alias"], t["toVersion"]) for t in targets]
    return [
        alias_params(t["function"], t["alias"], t["fromVersion"], {t["toVersion"]: round(percent / 100, 4)})
        for t in targets
    ]


# ------------------------------------------------------------------------------------- validation


def validate_steps(steps: Any) -> list[int]:
    """Percentages 1..100, strictly ascending, ending at 100; ValueError naming what is wrong."""
    if not isinstance(steps, list) or not steps:
        raise ValueError("steps: a non-empty list of percentages ending at 100, e.g. [10, 25, 50, 100]")
    if any(isinstance(s, bool) or not isinstance(s, int | float) or s != int(s) for s in steps):
        raise ValueError("steps: every step must be a whole percentage")
    out = [int(s) for s in steps]
    if any(not 1 <= s <= 100 for s in out):
        raise ValueError("steps: every step must be a percentage from 1 to 100")
    if out != sorted(set(out)):
        raise ValueError("steps: percentages must be strictly ascending")
    if out[-1] != 100:
        raise ValueError("steps: the last step must be 100")
    return out


def plan_steps(
    environment: str, steps: Any, rollout_percentage: Any, settings: Settings
) -> tuple[list[int], int]:
    """(steps, stopAt) of a deploy. Staging is one step at 100 % (its alias is not shared with users);
    a rollout percentage not among the steps becomes one, so the rollout can stop there."""
    if environment == "staging":
        return [100], 100
    out = validate_steps(steps) if steps is not None else settings.release_step_list
    stop = 100
    if rollout_percentage is not None:
        if (
            isinstance(rollout_percentage, bool)
            or not isinstance(rollout_percentage, int | float)
            or rollout_percentage != int(rollout_percentage)
            or not 1 <= rollout_percentage <= 100
        ):
            raise ValueError("rolloutPercentage: a whole percentage from 1 to 100")
        stop = int(rollout_percentage)
        out = sorted({*out, stop})
    return out, stop


def refusal(record: Mapping[str, Any], environment: str, action: str) -> str | None:
    """Why `action` in `environment` cannot start for this release now (None: it can)."""
    version, status = record["version"], record["status"]
    if action == "rollback":
        expected = "released" if environment == "production" else "staging_verified"
        if status != expected:
            return (
                f"release {version} is {status}: a {environment} rollback needs it {expected} "
                "(a running rollout is aborted instead)"
            )
        return None
    if environment == "staging":
        if status != "planned":
            return f"release {version} is {status}: staging deploys a planned release"
        return None
    if status != "staging_verified":
        return f"release {version} is {status}: production needs staging verified first"
    return None


def lock_message(holder: Mapping[str, Any] | None, function: str) -> str:
    holder = holder or {}
    return (
        f"{function} is being rolled out by release {holder.get('release')} in {holder.get('environment')} "
        f"(execution {holder.get('executionArn')}, since {holder.get('since')})"
    )


def running(execution_arn: str | None, settings: Settings | None = None, sfn: Any = None) -> bool:
    """Whether the execution that holds a lock still runs (an unknown one does not)."""
    if not execution_arn:
        return False
    try:
        return (
            stepfunctions.describe_execution(execution_arn, settings=settings, client=sfn)["status"]
            == "RUNNING"
        )
    except NotFound:
        return False


# ---------------------------------------------------------------------------------------- the plan


def _backup_name(table: str, version: str, started_at: str) -> str:
    # DynamoDB backup names: [a-zA-Z0-9_.-]{3,255}; the execution's start makes each run's names unique.
    stamp = "".join(ch for ch in started_at if ch.isdigit())[:14]
    return f"{table}-release-{version}-{stamp}"[:255]


def build_plan(
    record: Mapping[str, Any], execution_input: Mapping[str, Any], started_at: str, settings: Settings
) -> dict:
    """What the machine runs for this execution, from the record as prepare left it (so a redelivered
    prepare answers the same plan)."""
    environment = execution_input["environment"]
    action = execution_input.get("action") or "deploy"
    targets = environment_targets(record, environment)
    plan: dict[str, Any] = {
        "environment": environment,
        "action": action,
        "steps": [],
        "stopAt": 100,
        "bakeSeconds": execution_input.get("bakeSeconds", settings.release_bake_seconds),
        "tickSeconds": settings.release_tick_seconds,
        "pauseTimeoutSeconds": settings.release_pause_timeout_seconds,
        "tables": [],
        "rollback": [alias_params(t["function"], t["alias"], t["fromVersion"]) for t in targets],
        "final": [alias_params(t["function"], t["alias"], t["toVersion"]) for t in targets],
        "targets": [{k: t[k] for k in ("function", "alias", "fromVersion", "toVersion")} for t in targets],
    }
    if action == "deploy":
        plan["steps"], plan["stopAt"] = plan_steps(
            environment, execution_input.get("steps"), execution_input.get("rolloutPercentage"), settings
        )
        if environment == "production":
            plan["tables"] = [
                {"table": table, "backupName": _backup_name(table, record["version"], started_at)}
                for table in settings.stack_tables
            ]
    # The bake never waits less than a tick: a tick longer than the bake is cut to it.
    plan["tickSeconds"] = max(1, min(int(plan["tickSeconds"]), int(plan["bakeSeconds"]) or 1))
    return plan


# ---------------------------------------------------------------------------------------- the ops


def prepare(message: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """Deep validation, the target locks, the aliases re-read; the plan."""
    execution_input = message.get("input") or {}
    version, environment = execution_input.get("release"), execution_input.get("environment")
    action = execution_input.get("action") or "deploy"
    if environment not in ENVIRONMENTS or action not in ACTIONS:
        raise StepFailed("InvalidInput", "environment/action: not one of staging|production, deploy|rollback")
    record = _release(str(version))
    key = _key(message, "prepare")
    done = _entry(record, key)
    if done is not None:
        return build_plan(record, execution_input, done["at"], settings)
    try:
        return _prepare(message, settings, record, key)
    except StepFailed as refused:
        _record_refusal(message, str(version), refused)
        raise


def _record_refusal(message: Mapping[str, Any], version: str, refused: StepFailed) -> None:
    """A refusal goes into the release's history as well as the task failure's cause: `status` shows
    it with the rest of the release's story."""
    key = _key(message, "refused")
    entry = _history(
        _actor(message), "refused", None, None, f"{refused.error}: {refused.cause}", key, message["execution"]
    )

    def build(current: dict[str, Any]) -> Change | None:
        if _entry(current, key) is not None:
            return None
        return {}, [{**entry, "from": current["status"], "to": current["status"]}], []

    update(version, build)


def _prepare(
    message: Mapping[str, Any], settings: Settings, record: dict[str, Any], key: str
) -> dict[str, Any]:
    execution_input = message.get("input") or {}
    execution = message["execution"]
    version, environment = execution_input["release"], execution_input["environment"]
    action = execution_input.get("action") or "deploy"
    if action == "deploy":
        try:
            plan_steps(
                environment, execution_input.get("steps"), execution_input.get("rolloutPercentage"), settings
            )
        except ValueError as exc:
            raise StepFailed("InvalidInput", str(exc)) from exc
    why = refusal(record, environment, action)
    if why:
        raise StepFailed("RolloutRefused", why)
    targets = environment_targets(record, environment)
    if not targets:
        raise StepFailed("InvalidInput", f"release: {version} has no {environment} targets")

    # The aliases now: a deploy starts from what they serve; a rollback needs them on the new version.
    for target in targets:
        alias = lambda_aliases.alias_state(target["function"], target["alias"], settings=settings).as_dict()
        weights = alias.get("additionalVersionWeights") or {}
        serving = str(alias["functionVersion"])
        where = f"{target['function']}:{target['alias']}"
        if weights:
            raise StepFailed(
                "RolloutRefused", f"{where} is mid-shift (weights {weights}): finish or undo that first"
            )
        if action == "deploy":
            if serving == str(target["toVersion"]):
                raise StepFailed("RolloutRefused", f"{where} already serves version {serving}")
            target["fromVersion"] = serving
        elif serving != str(target["toVersion"]):
            raise StepFailed(
                "RolloutRefused",
                f"{where} serves version {serving}, not {target['toVersion']}: "
                "a rollback would undo another change",
            )

    acquire_locks(record, environment, execution, settings)
    started_at = _now()
    actor = _actor(message)
    before = record["status"]
    after = "deploying" if action == "deploy" else before
    reason = execution_input.get("reason") or (
        f"{action} in {environment} started ({execution_name(execution)})"
    )

    def build(current: dict[str, Any]) -> Change | None:
        if _entry(current, key) is not None:
            return None
        # fromVersion as read now (a deploy starts from what the alias serves, not from what it served
        # when the release was created).
        read_now = {t["function"]: t["fromVersion"] for t in targets}
        new_targets = [
            {**t, "fromVersion": read_now[t["function"]]}
            if t.get("environment") == environment and t["function"] in read_now
            else dict(t)
            for t in current.get("targets") or []
        ]
        envs = _env(current, environment, executionArn=execution, startedAt=started_at, finishedAt=None)
        if action == "deploy":
            envs = _env({"environments": envs}, environment, state="deploying", trafficPercent=0, step=None)
        changes = {
            "status": after,
            "targets": new_targets,
            "environments": envs,
            "executions+": [
                {
                    "arn": execution,
                    "environment": environment,
                    "action": action,
                    "startedAt": started_at,
                    "input": dict(execution_input),
                }
            ],
        }
        entry = _history(actor, f"{action}_started", before, after, reason, key, execution)
        entry["at"] = started_at
        return changes, [entry], ["abortRequested", "promoteRequested", "pendingToken", "statusReason"]

    try:
        record = update(str(version), build)
    except Exception:
        release_locks(record, environment, execution, settings)
        raise
    return build_plan(record, execution_input, started_at, settings)


def acquire_locks(record: Mapping[str, Any], environment: str, execution: str, settings: Settings) -> None:
    """One lock per target function; a lock whose execution no longer runs is taken over."""
    holder = {
        "release": record["version"],
        "environment": environment,
        "executionArn": execution,
        "since": _now(),
    }
    taken: list[str] = []
    for target in environment_targets(record, environment):
        function = target["function"]
        try:
            try:
                store.acquire_lock(function, holder)
            except RolloutLocked as locked:
                current = store.read_lock(function) or getattr(locked, "holder", None) or {}
                if running(current.get("executionArn"), settings):
                    raise StepFailed("RolloutRefused", lock_message(current, function)) from locked
                # Its execution ended without releasing it (stopped by hand, a failed rollback).
                logger.warning(
                    "taking over a stale rollout lock", extra={"function": function, "holder": current}
                )
                store.force_release_lock(function, current.get("executionArn"))
                store.acquire_lock(function, holder)
        except Exception:
            for name in taken:
                store.release_lock(name, execution)
            raise
        taken.append(function)


def release_locks(record: Mapping[str, Any], environment: str, execution: str, settings: Settings) -> None:
    for target in environment_targets(record, environment):
        store.release_lock(target["function"], execution)


def predeploy(message: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """Health and critical alerts before production moves; the verdict is kept with its inputs."""
    version = message["input"]["release"]
    key = _key(message, "predeploy")
    found = _entry(_release(version), key, "gates")
    if found is None:
        result = gate.predeploy_check(settings=settings)
        verdict = {
            "environment": message["plan"]["environment"],
            "step": "predeploy",
            "percent": 0,
            "verdict": "pass" if result["ok"] else "fail",
            "reasons": result["reasons"],
            "inputs": result["inputs"],
            "at": _now(),
            "execution": message["execution"],
            "key": key,
        }
        update(version, lambda r: None if _entry(r, key, "gates") else ({"gates+": [verdict]}, [], []))
        found = verdict
    if found["verdict"] != "pass":
        raise StepFailed("PreDeployCheckFailed", "pre-deploy check failed: " + "; ".join(found["reasons"]))
    return {"ok": True}


def backups(message: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The on-demand backups the machine took, on the release (restore reads them)."""
    version = message["input"]["release"]
    key = _key(message, "backups")
    at = _now()
    taken = [
        {
            "table": b.get("table"),
            "backupArn": b.get("backupArn"),
            "backupName": b.get("backupName"),
            "at": at,
            "execution": message["execution"],
        }
        for b in message.get("backups") or []
    ]
    entry = _history(
        _actor(message),
        "backups",
        None,
        None,
        f"{len(taken)} table backup(s) before production moved: " + ", ".join(str(b["table"]) for b in taken),
        key,
        message["execution"],
    )
    update(version, lambda r: None if _entry(r, key) else ({"backups+": taken}, [entry], []))
    return {}


def next_step(
    plan: Mapping[str, Any], previous: Mapping[str, Any] | None, decision: str | None, full: bool
) -> tuple[str, int]:
    """(action, percent) after `previous`: pure, so a redelivered advance decides the same."""
    steps, stop = list(plan["steps"]), int(plan["stopAt"])
    if previous is None:
        return ("complete", 100) if full or not steps else ("shift", steps[0])
    percent = int(previous["percent"])
    if full or decision == "promote_full":
        return "complete", 100
    if previous.get("action") == "shift" and percent == stop and percent < 100 and decision is None:
        return "hold", percent
    later = [s for s in steps if s > percent]
    return ("shift", later[0]) if later else ("complete", 100)


def advance(message: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The next step: a shift with its alias weights, a hold at the rollout percentage, or complete."""
    plan, execution = message["plan"], message["execution"]
    version, environment = message["input"]["release"], plan["environment"]
    previous = message.get("step") or None
    decision = (message.get("decision") or {}).get("decision")
    record = _release(version)
    requested = record.get("promoteRequested") or {}
    full = bool(requested.get("full")) and previous is not None
    action, percent = next_step(plan, previous, decision, full)
    key = _key(message, "advance", f"{action}:{percent}")
    done = _entry(record, key)
    started_at = done["at"] if done else _now()
    output = {
        "action": action,
        "percent": percent,
        "aliases": shift_params(plan["targets"], percent) if action == "shift" else [],
        "startedAt": started_at,
        "bakeSeconds": plan["bakeSeconds"],
    }
    if action == "hold" or done is not None:
        return output
    was = int(previous["percent"]) if previous else 0
    if action == "shift":
        why = (
            "first step"
            if previous is None
            else (f"promoted by an operator ({decision})" if decision else f"gate passed at {was}%")
        )
    else:
        why = (
            f"promoted in full by {requested.get('by')}"
            if full or decision == "promote_full"
            else "every step passed"
        )
    entry = _history(_actor(message), action, f"{was}%", f"{percent}%", why, key, execution)
    entry["at"] = started_at

    def build(current: dict[str, Any]) -> Change | None:
        if _entry(current, key) is not None:
            return None
        step = {"percent": percent, "startedAt": started_at, "bakeSeconds": plan["bakeSeconds"]}
        changes: dict[str, Any] = {
            "environments": _env(current, environment, trafficPercent=percent, step=step)
        }
        if environment == "production":
            changes["trafficPercent"] = percent
        remove = ["promoteRequested"] if action == "complete" and current.get("promoteRequested") else []
        return changes, [entry], remove

    update(version, build)
    return output


def gate_step(message: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """An operator's abort, else the gate's verdict on the step; final verdicts are kept."""
    plan, step = message["plan"], message.get("step") or {}
    version, environment = message["input"]["release"], plan["environment"]
    percent = step.get("percent")
    key = _key(message, "gate", percent)
    record = _release(version)
    stored = _entry(record, key, "gates")
    if stored is not None:
        return {"verdict": stored["verdict"], "reason": "; ".join(stored.get("reasons") or [])[:REASON_MAX]}
    requested = record.get("abortRequested")
    if requested:
        reason = f"aborted by {requested.get('by')}: {requested.get('reason')}"
        verdict = {
            "verdict": "abort",
            "reasons": [reason],
            "inputs": {"abortRequested": requested},
            "at": _now(),
        }
    else:
        verdict = gate.evaluate(
            record,
            environment,
            {"percent": percent, "startedAt": step.get("startedAt"), "bakeSeconds": plan.get("bakeSeconds")},
            settings=settings,
        )
        if verdict["verdict"] == gate.CONTINUE:
            return {"verdict": gate.CONTINUE, "reason": verdict["reason"][:REASON_MAX]}
    kept = {
        "environment": environment,
        "step": percent,
        "percent": percent,
        "verdict": verdict["verdict"],
        "reasons": verdict["reasons"],
        "inputs": verdict["inputs"],
        "at": verdict["at"],
        "execution": message["execution"],
        "key": key,
    }
    update(version, lambda r: None if _entry(r, key, "gates") else ({"gates+": [kept]}, [], []))
    return {"verdict": verdict["verdict"], "reason": "; ".join(verdict["reasons"])[:REASON_MAX]}


def pause(message: Mapping[str, Any], settings: Settings) -> dict[str, Any] | None:
    """Keep the task token for an operator; None: the answer comes later (operator.promote/abort)."""
    plan, step = message["plan"], message.get("step") or {}
    version, environment = message["input"]["release"], plan["environment"]
    percent = step.get("percent")
    verdict = (message.get("gate") or {}) if step.get("action") == "shift" else {}
    why = "inconclusive" if verdict.get("verdict") == gate.INCONCLUSIVE else "hold"
    key = _key(message, "pause", f"{why}:{percent}")
    record = _release(version)
    if _entry(record, key) is not None:
        return None
    # An operator who decided before the pause was recorded is answered now.
    if record.get("abortRequested"):
        return {"decision": "abort"}
    if (record.get("promoteRequested") or {}).get("full"):
        return {"decision": "promote_full"}
    reason = (
        f"gate inconclusive at {percent}%: {verdict.get('reason')}"
        if why == "inconclusive"
        else f"rollout percentage {percent}% reached"
    )
    entry = _history(_actor(message), "pause", record["status"], "paused", reason, key, message["execution"])

    def build(current: dict[str, Any]) -> Change | None:
        if _entry(current, key) is not None:
            return None
        return (
            {
                "status": "paused",
                "pendingToken": message["token"],
                "statusReason": reason[:REASON_MAX],
                "environments": _env(current, environment, state="paused"),
            },
            [entry],
            [],
        )

    update(version, build)
    alerts.fire(
        Condition(
            "ReleasePaused",
            "warning",
            f"Release {version} paused in {environment} at {percent}%: {reason[:300]}. "
            f"Promote or abort it (bug-fix-manage promote|abort {version}).",
            {"release": version, "environment": environment},
            source="event",
        ),
        settings=settings,
    )
    return None


def _issue_status(issue_id: str) -> tuple[str | None, str | None]:
    from chalicelib.store import issues

    try:
        found = issues.get_issue(issue_id)
    except NotFound:
        return None, None
    return found.status, found.active_release


def finish(message: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """Staging verified, or production released: issues released, the info alert; locks released."""
    plan, execution = message["plan"], message["execution"]
    version, environment = message["input"]["release"], plan["environment"]
    key = _key(message, "finish")
    record = _release(version)
    if _entry(record, key) is None:
        status = "staging_verified" if environment == "staging" else "released"
        if environment == "production":
            store.set_issues_released(version, list(record.get("issues") or []))
            alerts.notify_info(
                "ReleaseDeployed",
                f"Release {version} is live: {', '.join(record.get('issues') or [])} at 100 % in production.",
                {"release": version, "environment": environment},
                settings=settings,
            )
        now = _now()
        reason = (
            "staging alias on the new version; the gate passed"
            if environment == "staging"
            else "every step passed; the production alias serves the new version alone"
        )
        entry = _history(_actor(message), "finish", record["status"], status, reason, key, execution)

        def build(current: dict[str, Any]) -> Change | None:
            if _entry(current, key) is not None:
                return None
            envs = _env(
                current,
                environment,
                state="verified" if environment == "staging" else "released",
                finishedAt=now,
                trafficPercent=100,
            )
            changes: dict[str, Any] = {"status": status, "environments": envs}
            if environment == "production":
                changes["trafficPercent"] = 100
            present = [
                f
                for f in ("abortRequested", "promoteRequested", "pendingToken", "statusReason")
                if f in current
            ]
            return changes, [entry], present

        record = update(version, build)
    release_locks(record, environment, execution, settings)
    return {"status": record["status"]}


def _rollback_reason(
    message: Mapping[str, Any], record: Mapping[str, Any], settings: Settings
) -> tuple[str, str]:
    """(status, reason) from the error the machine caught."""
    error = message.get("error") or {}
    name, cause = str(error.get("Error") or "Unknown"), str(error.get("Cause") or "")
    requested = record.get("abortRequested") or {}
    if name == "Aborted":
        who = f"aborted by {requested.get('by')}: {requested.get('reason')}" if requested else cause
        return "rolled_back", who
    if name == "GateFailed":
        return "rolled_back", f"gate failed: {cause}"
    if name == "RollbackRequested":
        return "rolled_back", f"rollback requested by {_actor(message)}: {cause}"
    if name == "States.Timeout" and record.get("status") == "paused":
        return (
            "rolled_back",
            f"no operator decision within {settings.release_pause_timeout_seconds} s of the pause",
        )
    return "failed", f"{name}: {cause}" if cause else name


def rolled_back(message: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The aliases are back: the release rolled_back (or failed), why, issues detached, the alert."""
    execution = message["execution"]
    execution_input = message.get("input") or {}
    version = execution_input["release"]
    environment = (message.get("plan") or {}).get("environment") or execution_input["environment"]
    key = _key(message, "rolled_back")
    record = _release(version)
    if _entry(record, key) is None:
        status, reason = _rollback_reason(message, record, settings)
        issue_ids = list(record.get("issues") or [])
        if record.get("status") == "released":
            # The fix is no longer live: its issues go back to fixed (the lifecycle's release-only move).
            for issue_id in issue_ids:
                current, active = _issue_status(issue_id)
                if current == "released" and active == version:
                    from chalicelib.store import issues

                    issues.set_issue_status(
                        issue_id, "fixed", reason=f"release {version} rolled back: {reason}"
                    )
        store.detach_issues(version, issue_ids)
        severity = "critical" if environment == "production" else "error"
        alerts.fire(
            Condition(
                "ReleaseRolledBack",
                severity,
                f"Release {version} {status.replace('_', ' ')} in {environment}: {reason[:500]}",
                {"release": version, "environment": environment},
                source="event",
            ),
            settings=settings,
        )
        now = _now()
        entry = _history(_actor(message), status, record["status"], status, reason, key, execution)
        entry["error"] = (message.get("error") or {}).get("Error")

        def build(current: dict[str, Any]) -> Change | None:
            if _entry(current, key) is not None:
                return None
            envs = _env(
                current,
                environment,
                state="rolled_back" if status == "rolled_back" else "failed",
                finishedAt=now,
                trafficPercent=0,
            )
            changes: dict[str, Any] = {
                "status": status,
                "environments": envs,
                "statusReason": reason[:REASON_MAX],
            }
            if environment == "production":
                changes["trafficPercent"] = 0
            present = [f for f in ("abortRequested", "promoteRequested", "pendingToken") if f in current]
            return changes, [entry], present

        record = update(version, build)
    release_locks(record, environment, execution, settings)
    return {"status": record["status"]}


def abandon(message: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """Refused or pre-deploy failed before any alias moved: the release as it was, locks released."""
    execution = message["execution"]
    execution_input = message.get("input") or {}
    version, environment = execution_input.get("release"), execution_input.get("environment")
    if not isinstance(version, str):
        return {}
    record = store.get_release(version)
    error = message.get("error") or {}
    cause = error.get("Cause")
    if record is None:
        # Nothing to record on; say why (prepare's refusal, whose cause moto drops) all the same.
        return {"cause": cause or f"release: there is no release {version}"[:REASON_MAX]}
    if environment not in ENVIRONMENTS:
        return {"cause": cause} if cause else {}
    prepared = _entry(record, _key(message, "prepare"))
    refused = _entry(record, _key(message, "refused"))
    if not cause:
        # moto 5.2.5's SendTaskFailure drops the cause (AWS keeps it). The record says why: the
        # refusal prepare wrote, or this execution's pre-deploy verdict. The answer carries it back
        # to the machine, whose Fail state names it (describe-execution shows who holds a target).
        verdict = _entry(record, _key(message, "predeploy"), "gates")
        if verdict:
            cause = "; ".join(verdict["reasons"])
        elif refused:
            cause = str(refused["reason"]).removeprefix(f"{error.get('Error')}: ")
    reason = f"{error.get('Error')}: {cause}" if cause else str(error.get("Error"))
    key = _key(message, "abandon")
    if _entry(record, key) is None and (prepared is not None or refused is None):
        before = prepared["from"] if prepared else record["status"]
        entry = _history(
            _actor(message),
            "abandoned" if prepared else "refused",
            record["status"],
            before,
            reason,
            key,
            execution,
        )

        def build(current: dict[str, Any]) -> Change | None:
            if _entry(current, key) is not None:
                return None
            changes: dict[str, Any] = {}
            if prepared is not None:
                changes["status"] = before
                if (execution_input.get("action") or "deploy") == "deploy":
                    changes["environments"] = _env(current, environment, state="pending", finishedAt=_now())
            return changes, [entry], []

        record = update(version, build)
    release_locks(record, environment, execution, settings)
    return {"cause": cause[:REASON_MAX]} if cause else {}


OPS: dict[str, Callable[[Mapping[str, Any], Settings], dict[str, Any] | None]] = {
    "prepare": prepare,
    "predeploy": predeploy,
    "backups": backups,
    "advance": advance,
    "gate": gate_step,
    "pause": pause,
    "finish": finish,
    "rolled_back": rolled_back,
    "abandon": abandon,
}


def handle(message: dict[str, Any], settings: Settings | None = None) -> dict[str, Any] | None:
    """One worker step (the op in `message`); its output for SendTaskSuccess, or None (pause)."""
    settings = settings or get_settings()
    store.bind(settings)
    op = OPS.get(str(message.get("op")))
    if op is None:
        raise StepFailed("UnknownOp", f"op: {message.get('op')!r} is not a rollout step")
    if not message.get("execution"):
        raise StepFailed("InvalidInput", "execution: the message carries no execution id")
    try:
        return op(message, settings)
    except StepFailed:
        raise
    except DomainError as error:
        # A refusal the domain states (a lock, a transition) fails the step by name; anything else is
        # left to SQS's retries.
        if isinstance(error, RolloutLocked):
            raise StepFailed("RolloutRefused", error.message) from error
        raise
