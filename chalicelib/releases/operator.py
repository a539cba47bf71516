"""What an operator does to a rollout: start it, promote it, abort it, roll it back, look at it.

The CLI (postlaunch/bugfix/releases.py) calls these; the state machine does the work. Starting checks
what it can before StartExecution (the release, its status, a lock held by a running execution), so
the usual refusals come back at once with a clear message; `prepare` checks all of it again inside
the execution, for executions started from the AWS CLI and for the race between two starts.

Promote and abort reach a running execution two ways: a paused one waits on a task token stored on
the release, answered here with the decision; a baking one reads `abortRequested` /
`promoteRequested` from the release at its next gate tick (RELEASE_TICK_SECONDS) or advance.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from chalicelib.config import Settings, get_settings
from chalicelib.errors import (
    Conflict,
    DomainError,
    FieldError,
    InvalidTransition,
    NotFound,
    RolloutLocked,
    TaskGone,
    ValidationFailed,
)
from chalicelib.integrations import lambda_aliases, stepfunctions
from chalicelib.releases import rollout
from chalicelib.store import releases as store

RUNNING_STATUSES = ("deploying", "paused")
RECENT = 20


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _get(version: str) -> dict[str, Any]:
    record = store.get_release(version)
    if record is None:
        raise NotFound(f"There is no release {version}.")
    return record


def execution_name(version: str, environment: str, action: str, now: datetime | None = None) -> str:
    """`1-0-2-production-deploy-20261127T071500`: what Step Functions allows in a name (80 characters
    of letters, digits, - and _), readable in the console's list."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", version)
    return f"{safe}-{environment}-{action}-{stamp}"[:80]


def _running_holder(
    record: dict[str, Any], environment: str, settings: Settings, sfn: Any
) -> tuple[str, dict[str, Any]] | None:
    for target in rollout.environment_targets(record, environment):
        holder = store.read_lock(target["function"])
        if holder and rollout.running(holder.get("executionArn"), settings, sfn):
            return target["function"], holder
    return None


def start(
    version: str,
    environment: str,
    *,
    action: str = "deploy",
    steps: list[int] | None = None,
    bake_seconds: float | None = None,
    rollout_percentage: int | None = None,
    reason: str | None = None,
    actor: str,
    dry_run: bool = False,
    settings: Settings | None = None,
    sfn: Any = None,
) -> dict[str, Any]:
    """Start a rollout execution (or, dry run, say what would start): {"executionArn", "name",
    "input", "dryRun"}. Refusals: NotFound, ValidationFailed naming the field, InvalidTransition for a
    release in the wrong status, RolloutLocked naming the running rollout of a target."""
    settings = store.bind(settings or get_settings())
    errors: list[FieldError] = []
    if environment not in rollout.ENVIRONMENTS:
        errors.append(FieldError("environment", "staging or production"))
    if action not in rollout.ACTIONS:
        errors.append(FieldError("action", "deploy or rollback"))
    if action == "rollback" and not (reason or "").strip():
        errors.append(
            FieldError("reason", "a rollback needs a reason (it goes into the history and the alert)")
        )
    if bake_seconds is not None and bake_seconds < 0:
        errors.append(FieldError("bakeSeconds", "0 or more seconds"))
    if not errors and action == "deploy":
        try:
            rollout.plan_steps(environment, steps, rollout_percentage, settings)
        except ValueError as exc:
            field, _, message = str(exc).partition(": ")
            errors.append(FieldError(field, message))
    if errors:
        raise ValidationFailed(errors)
    record = _get(version)
    why = rollout.refusal(record, environment, action)
    if why:
        raise InvalidTransition(why[0].upper() + why[1:] + ".")
    held = _running_holder(record, environment, settings, sfn)
    if held:
        raise RolloutLocked(held[1])

    execution_input: dict[str, Any] = {
        "release": version,
        "environment": environment,
        "action": action,
        "requestedBy": actor,
    }
    if steps is not None:
        execution_input["steps"] = list(steps)
    if bake_seconds is not None:
        execution_input["bakeSeconds"] = bake_seconds
    if rollout_percentage is not None:
        execution_input["rolloutPercentage"] = rollout_percentage
    if reason:
        execution_input["reason"] = reason
    name = execution_name(version, environment, action)
    if dry_run:
        return {"executionArn": None, "name": name, "input": execution_input, "dryRun": True}
    started = stepfunctions.start_execution(name, execution_input, settings=settings, client=sfn)
    return {
        "executionArn": started["executionArn"],
        "name": name,
        "input": execution_input,
        "dryRun": False,
        "startDate": started.get("startDate"),
    }


def _record_operator(version: str, actor: str, action: str, reason: str, build_changes) -> dict[str, Any]:
    """An operator's change with its history entry (operators' entries have no execution key)."""

    def build(current: dict[str, Any]):
        changes, remove = build_changes(current)
        entry = {
            "at": _now(),
            "actor": actor,
            "action": action,
            "from": current["status"],
            "to": changes.get("status", current["status"]),
            "reason": reason,
        }
        return changes, [entry], remove

    return rollout.update(version, build)


def _answer(token: str, output: dict[str, Any], settings: Settings, sfn: Any) -> bool:
    """Answer a paused execution; False when it no longer waits (timed out, stopped)."""
    try:
        stepfunctions.send_task_success(token, output, settings=settings, client=sfn)
    except TaskGone:
        return False
    return True


def _paused_env(record: dict[str, Any]) -> str:
    for name, env in (record.get("environments") or {}).items():
        if env.get("state") == "paused":
            return name
    return "production"


def promote(
    version: str, *, full: bool = False, actor: str, settings: Settings | None = None, sfn: Any = None
) -> dict[str, Any]:
    """A paused rollout goes on (to its next step, or with full to 100 % at once); a baking one with
    full skips the steps after the current one. InvalidTransition when there is nothing to promote."""
    settings = store.bind(settings or get_settings())
    record = _get(version)
    decision = "promote_full" if full else "promote"
    if record["status"] == "paused" and record.get("pendingToken"):
        token = record["pendingToken"]
        answered = _answer(token, {"decision": decision, "by": actor}, settings, sfn)
        environment = _paused_env(record)

        def changes(current: dict[str, Any]):
            if current.get("pendingToken") != token:
                return {}, []
            if not answered:
                return {}, ["pendingToken"]
            envs = rollout._env(current, environment, state="deploying")
            return {"status": "deploying", "environments": envs}, ["pendingToken", "statusReason"]

        what = "promoted in full" if full else "promoted"
        record = _record_operator(
            version,
            actor,
            "promote" if answered else "promote_refused",
            what if answered else "the paused execution no longer waits (timed out or stopped)",
            changes,
        )
        if not answered:
            raise InvalidTransition(
                f"Release {version}'s paused execution no longer waits for a decision (timed out or stopped)."
            )
        _clear_paused_alert(version, environment, settings)
        return {"release": version, "action": decision, "status": record["status"]}
    if record["status"] == "deploying" and full:
        request = {"by": actor, "full": True, "at": _now()}
        record = _record_operator(
            version,
            actor,
            "promote_requested",
            "promote in full: the steps after the current one are skipped",
            lambda current: ({"promoteRequested": request}, []),
        )
        return {"release": version, "action": "promote_full_requested", "status": record["status"]}
    raise InvalidTransition(
        f"Release {version} is {record['status']}: promote moves a paused rollout on "
        "(promote --full also skips the remaining steps of one that is running)."
    )


def _live_execution(record: dict[str, Any], settings: Settings, sfn: Any) -> dict[str, Any] | None:
    executions = record.get("executions") or []
    if not executions:
        return None
    arn = executions[-1]["arn"]
    try:
        return stepfunctions.describe_execution(arn, settings=settings, client=sfn)
    except DomainError as error:
        return {"executionArn": arn, "status": None, "readError": error.message}


def abort(
    version: str, *, reason: str, actor: str, settings: Settings | None = None, sfn: Any = None
) -> dict[str, Any]:
    """Roll a running rollout back: a paused one at once, a baking one at its next gate tick (within
    RELEASE_TICK_SECONDS). InvalidTransition when nothing runs."""
    if not (reason or "").strip():
        raise ValidationFailed([FieldError("reason", "an abort needs a reason (history and alert)")])
    settings = store.bind(settings or get_settings())
    record = _get(version)
    if record["status"] not in RUNNING_STATUSES:
        raise InvalidTransition(f"Release {version} is {record['status']}: no rollout of it is running.")
    live = _live_execution(record, settings, sfn)
    if live and live.get("status") not in (None, "RUNNING"):
        raise InvalidTransition(
            f"Release {version}'s execution {live['executionArn']} is {live['status']}: "
            "nothing runs to abort."
        )
    request = {"by": actor, "reason": reason, "at": _now()}
    token = record.get("pendingToken") if record["status"] == "paused" else None
    # Recorded before a paused execution is answered, so rolled_back can say who aborted and why.
    record = _record_operator(
        version, actor, "abort_requested", reason, lambda current: ({"abortRequested": request}, [])
    )
    if token:
        answered = _answer(token, {"decision": "abort", "by": actor}, settings, sfn)
        _clear_paused_alert(version, _paused_env(record), settings)
        return {
            "release": version,
            "action": "aborted" if answered else "abort_requested",
            "status": record["status"],
        }
    return {"release": version, "action": "abort_requested", "status": record["status"]}


def rollback(
    version: str,
    *,
    reason: str,
    actor: str,
    dry_run: bool = False,
    settings: Settings | None = None,
    sfn: Any = None,
) -> dict[str, Any]:
    """Back to the previous version: a running rollout is aborted; a finished one (released, or
    staging verified) gets a rollback execution. Returns what was (dry run: would be) done."""
    if not (reason or "").strip():
        raise ValidationFailed([FieldError("reason", "a rollback needs a reason (history and alert)")])
    settings = store.bind(settings or get_settings())
    record = _get(version)
    status = record["status"]
    if status in RUNNING_STATUSES:
        if dry_run:
            return {"release": version, "action": "abort", "dryRun": True, "status": status}
        return {**abort(version, reason=reason, actor=actor, settings=settings, sfn=sfn), "dryRun": False}
    if status in ("released", "staging_verified"):
        environment = "production" if status == "released" else "staging"
        started = start(
            version,
            environment,
            action="rollback",
            reason=reason,
            actor=actor,
            dry_run=dry_run,
            settings=settings,
            sfn=sfn,
        )
        return {"release": version, "action": "rollback", "environment": environment, **started}
    raise InvalidTransition(f"Release {version} is {status}: there is nothing to roll back.")


def _clear_paused_alert(version: str, environment: str, settings: Settings) -> None:
    from chalicelib.alerts import engine
    from chalicelib.alerts.model import fingerprint
    from chalicelib.store import alerts as alerts_store

    try:
        alerts_store.bind(settings)
        active = alerts_store.get_active(
            fingerprint("ReleasePaused", {"release": version, "environment": environment})
        )
        if active is not None:
            engine.resolve(
                active["id"],
                actor="system",
                reason="the paused release was promoted or aborted",
                settings=settings,
            )
    except (Conflict, NotFound):
        pass  # resolved meanwhile


def aliases_now(
    record: dict[str, Any], settings: Settings, lambda_client: Any = None
) -> list[dict[str, Any]]:
    """Each target's alias as Lambda serves it now (what the record says is only what was asked)."""
    out = []
    for target in record.get("targets") or []:
        try:
            alias = lambda_aliases.alias_state(
                target["function"], target["alias"], settings=settings, client=lambda_client
            ).as_dict()
            out.append(
                {
                    "function": target["function"],
                    "environment": target["environment"],
                    "alias": target["alias"],
                    "functionVersion": str(alias["functionVersion"]),
                    "additionalVersionWeights": alias.get("additionalVersionWeights") or {},
                }
            )
        except DomainError as error:
            out.append({"function": target["function"], "alias": target["alias"], "error": error.message})
    return out


def status(
    version: str | None = None,
    *,
    settings: Settings | None = None,
    sfn: Any = None,
    lambda_client: Any = None,
) -> dict[str, Any]:
    """One release: its public record (history included), the live execution, the alias weights read
    from Lambda. Without a version: the recent releases."""
    from chalicelib.releases.model import public_view

    settings = store.bind(settings or get_settings())
    if version is None:
        items, cursor = store.list_releases(RECENT)
        return {"releases": [public_view(r) for r in items], "nextCursor": cursor}
    record = _get(version)
    return {
        "release": public_view(record),
        "execution": _live_execution(record, settings, sfn),
        "aliases": aliases_now(record, settings, lambda_client),
    }
