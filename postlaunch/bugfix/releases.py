"""`bug-fix-manage create|deploy|promote|abort|rollback|status|restore`: semver bug-fix releases.

Thin over the functions the API and the state machine use: chalicelib.releases.service (create,
status of the record, restore) and chalicelib.releases.operator (start, promote, abort, rollback,
status). The CLI acts with the caller's AWS credentials, recorded in the history as `cli:<os user>`.

Exit codes: 0 done (with --wait: the release reached what was asked); 1 refused, or with --wait the
rollout ended elsewhere (rolled back, failed); 2 a usage error; with --wait, 3 the rollout paused for
an operator's decision that was not asked for (an inconclusive gate: promote or abort), 4 --timeout
passed while it still ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import click
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from postlaunch.cli import aws_settings, console, emit_json, fmt, json_option, print_fields, to_jsonable

OPTION_FOR_FIELD = {
    "version": "VERSION",
    "issues": "ISSUES",
    "functionVersion": "--function-version",
    "publish": "--publish",
    "targets": "--target",
    "environment": "ENVIRONMENT",
    "steps": "--steps",
    "rolloutPercentage": "--rollout-percentage",
    "bakeSeconds": "--bake-seconds",
    "reason": "--reason",
    "table": "--table",
    "into": "--into",
}
EXIT_PAUSED = 3
EXIT_TIMEOUT = 4
POLL_SECONDS = 1.0


def _actor() -> str:
    from postlaunch.cli.feedback import cli_principal

    return cli_principal().sub


def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a service function; a refused field names the option, other refusals are one line (exit 1)."""
    from chalicelib.errors import DomainError, ValidationFailed

    try:
        return fn(*args, **kwargs)
    except ValidationFailed as error:
        first, *rest = error.fields
        more = "; ".join(f"{OPTION_FOR_FIELD.get(f.field, f.field)}: {f.message}" for f in rest)
        raise click.BadParameter(
            first.message + (f" ({more})" if more else ""),
            param_hint=OPTION_FOR_FIELD.get(first.field, first.field),
        ) from error
    except DomainError as error:
        raise click.ClickException(error.message) from error


def _settings(ctx: click.Context) -> Any:
    return aws_settings((ctx.obj or {}).get("stack"))


def _steps(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        raise click.BadParameter(
            "comma-separated whole percents, e.g. 10,25,50,100", param_hint="--steps"
        ) from exc


# ---------------------------------------------------------------- display


def targets_table(release: dict[str, Any]) -> Table:
    table = Table(title="Targets", title_justify="left", header_style="bold")
    for column in ("function", "environment", "alias", "from", "to"):
        table.add_column(column, no_wrap=True)
    for t in release.get("targets") or []:
        table.add_row(t["function"], t["environment"], t["alias"], fmt(t["fromVersion"]), fmt(t["toVersion"]))
    return table


def history_table(release: dict[str, Any]) -> Table:
    table = Table(title="History", title_justify="left", header_style="bold")
    for column in ("at (UTC)", "by", "what"):
        table.add_column(column, no_wrap=column != "what", overflow="fold")
    for entry in release.get("history") or []:
        what = entry.get("action", "")
        if entry.get("to"):
            what += f" {entry.get('from') or ''}→{entry['to']}"
        if entry.get("reason"):
            what += f": {entry['reason']}"
        table.add_row((entry.get("at") or "")[:19].replace("T", " "), fmt(entry.get("actor")), Text(what))
    return table


def gates_table(release: dict[str, Any]) -> Table:
    table = Table(title="Gate verdicts", title_justify="left", header_style="bold")
    for column in ("at (UTC)", "environment", "step", "verdict"):
        table.add_column(column, no_wrap=True)
    table.add_column("reasons", overflow="fold")
    for gate in release.get("gates") or []:
        table.add_row(
            (gate.get("at") or "")[:19].replace("T", " "),
            fmt(gate.get("environment")),
            f"{fmt(gate.get('percent'))} %",
            fmt(gate.get("verdict")),
            Text("; ".join(gate.get("reasons") or [])),
        )
    return table


def aliases_table(aliases: list[dict[str, Any]]) -> Table:
    table = Table(title="Aliases now (Lambda)", title_justify="left", header_style="bold")
    for column in ("function", "alias", "version", "extra weights"):
        table.add_column(column, no_wrap=True)
    for alias in aliases:
        weights = alias.get("additionalVersionWeights") or {}
        extra = ", ".join(f"v{v}: {w * 100:g} %" for v, w in weights.items()) or "—"
        table.add_row(
            alias["function"], alias["alias"], fmt(alias.get("functionVersion")), alias.get("error") or extra
        )
    return table


def _env_line(env: dict[str, Any]) -> str:
    return f"{env.get('state')} · {fmt(env.get('trafficPercent'))} % · {fmt(env.get('executionArn'))}"


def show_release(release: dict[str, Any]) -> None:
    envs = release.get("environments") or {}
    print_fields(
        f"Release {release['version']}  {release['status']}",
        {
            "issues": fmt(release.get("issues")),
            "feature areas": fmt(release.get("featureAreas") or None),
            "production traffic on new": f"{fmt(release.get('trafficPercent'))} %",
            **{name: _env_line(env) for name, env in envs.items()},
            "backups": fmt(
                [f"{b.get('table')} ({b.get('backupName')})" for b in release.get("backups") or []] or None
            ),
            "created": f"{release.get('createdAt')} by {release.get('createdBy')}",
            "revision": release.get("revision"),
        },
    )
    console.print(targets_table(release))


# ---------------------------------------------------------------- create


@click.command("create")
@click.argument("version")
@click.argument("issues", nargs=-1, required=True)
@click.option("--function-version", metavar="N", help="The published Lambda version to release.")
@click.option("--publish", is_flag=True, help="Publish $LATEST of each target as the new version.")
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="FN",
    help="A target function (repeat); default RELEASE_TARGETS.",
)
@click.option(
    "--dry-run", is_flag=True, help="Check everything and print the plan; write and publish nothing."
)
@json_option
@click.pass_context
def create(
    ctx: click.Context,
    version: str,
    issues: tuple[str, ...],
    function_version: str | None,
    publish: bool,
    targets: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Plan release VERSION of fixed ISSUES (e.g. create 1.0.2 BUG-001 BUG-003 --publish)."""
    from chalicelib.releases import service

    settings = _settings(ctx)
    record = _run(
        service.create_release,
        version,
        [i.upper() for i in issues],
        function_version=function_version,
        publish=publish,
        targets=list(targets) or None,
        dry_run=dry_run,
        actor=_actor(),
        settings=settings,
    )
    if as_json:
        emit_json(record)
        return
    if dry_run:
        console.print(f"[bold]Dry run[/]: release {version} would be created (nothing was written).")
        for entry in record.get("publish") or []:
            console.print(f"would publish $LATEST of {entry['function']} (code sha256 {entry['codeSha256']})")
    else:
        console.print(f"Release {version} created: planned.")
    show_release(record)


# ---------------------------------------------------------------- deploy [--wait]


def _outcome(
    record: dict[str, Any],
    execution: dict[str, Any] | None,
    environment: str,
    action: str,
    stop_at: int | None,
) -> tuple[int, str] | None:
    """(exit code, message) once the wait is over; None while it goes on."""
    status = record["status"]
    running = (execution or {}).get("status") == "RUNNING"
    env = (record.get("environments") or {}).get(environment) or {}
    last = next((h for h in reversed(record.get("history") or []) if h.get("action") == "pause"), {})
    if running and status == "paused":
        if (
            stop_at is not None
            and env.get("trafficPercent") == stop_at
            and not str(last.get("reason") or "").startswith("gate inconclusive")
        ):
            return 0, f"paused at {stop_at} % as asked: promote or abort it"
        return EXIT_PAUSED, f"paused for a decision ({last.get('reason')}): promote or abort it"
    if running:
        return None
    want = {"rollback": "rolled_back", "staging": "staging_verified", "production": "released"}
    expected = want["rollback"] if action == "rollback" else want[environment]
    ended = (execution or {}).get("status")
    if status == expected:
        return 0, f"{status} (execution {ended})"
    cause = (execution or {}).get("cause") or (execution or {}).get("error") or ""
    return 1, f"ended {status}, not {expected} (execution {ended}{': ' + str(cause)[:300] if cause else ''})"


def _progress(
    record: dict[str, Any], execution: dict[str, Any] | None, aliases: list[dict], environment: str
):
    env = (record.get("environments") or {}).get(environment) or {}
    head = Table.grid(padding=(0, 2))
    head.add_row(
        Text(f"release {record['version']}", style="bold"),
        f"{environment}: {env.get('state')}",
        f"status {record['status']}",
        f"step {fmt(env.get('step'))}",
        f"traffic on new {fmt(env.get('trafficPercent'))} %",
        f"execution {fmt((execution or {}).get('status'))}",
    )
    return Group(head, aliases_table(aliases))


def follow(
    version: str,
    execution_arn: str,
    environment: str,
    action: str,
    stop_at: int | None,
    settings: Any,
    *,
    quiet: bool = False,
    timeout: float | None = None,
    poll: float = POLL_SECONDS,
) -> tuple[int, str, dict[str, Any]]:
    """Poll the release, its execution and the aliases until the rollout ends or waits for an operator;
    a live display meanwhile, and a line per new history entry and gate verdict."""
    from chalicelib.integrations import stepfunctions
    from chalicelib.releases import operator
    from chalicelib.store import releases as store

    seen_history = seen_gates = 0
    started = time.monotonic()
    record: dict[str, Any] = {}
    display = nullcontext() if quiet else Live(console=console, refresh_per_second=4, transient=True)
    with display as live:
        while True:
            record = store.require_release(version)
            execution = _run(stepfunctions.describe_execution, execution_arn, settings=settings)
            history, gates = record.get("history") or [], record.get("gates") or []
            if seen_history == 0:
                # The history before this execution is not news.
                seen_history = next(
                    (i for i, h in enumerate(history) if h.get("execution") == execution_arn), len(history)
                )
            if not quiet:
                for entry in history[seen_history:]:
                    to = f" → {entry['to']}" if entry.get("to") else ""
                    reason = f": {entry['reason']}" if entry.get("reason") else ""
                    live.console.print(
                        Text(f"{entry.get('at', '')[11:19]} {entry.get('action')}{to}{reason}")
                    )
                for gate in gates[seen_gates:]:
                    reasons = "; ".join(gate.get("reasons") or [])
                    where = f"{gate.get('environment')} {gate.get('percent')} %"
                    live.console.print(Text(f"gate {where}: {gate.get('verdict')} {reasons}"))
                aliases = operator.aliases_now(
                    {"targets": [t for t in record["targets"] if t["environment"] == environment]}, settings
                )
                live.update(_progress(record, execution, aliases, environment))
            seen_history, seen_gates = len(history), len(gates)
            result = _outcome(record, execution, environment, action, stop_at)
            if result is not None:
                return result[0], result[1], record
            if timeout is not None and time.monotonic() - started > timeout:
                return EXIT_TIMEOUT, f"still running after {timeout:g} s (execution {execution_arn})", record
            time.sleep(poll)


@click.command("deploy")
@click.argument("version")
@click.argument("environment", type=click.Choice(["staging", "production"]))
@click.option("--rollout-percentage", type=int, metavar="N", help="Stop and pause at N % (production).")
@click.option("--steps", metavar="10,25,50,100", help="Traffic steps in percent, ending at 100 (production).")
@click.option(
    "--bake-seconds",
    type=float,
    metavar="S",
    help="Bake at each step this long (default RELEASE_BAKE_SECONDS).",
)
@click.option("--wait", is_flag=True, help="Follow the rollout until it ends (or pauses for a decision).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    metavar="S",
    help="With --wait: give up waiting after S seconds.",
)
@click.option("--dry-run", is_flag=True, help="Check and print the execution input; start nothing.")
@json_option
@click.pass_context
def deploy(
    ctx: click.Context,
    version: str,
    environment: str,
    rollout_percentage: int | None,
    steps: str | None,
    bake_seconds: float | None,
    wait: bool,
    timeout: float | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Start the rollout of VERSION to staging or production (the state machine); prints the execution ARN."""
    from chalicelib.releases import operator

    settings = _settings(ctx)
    started = _run(
        operator.start,
        version,
        environment,
        steps=_steps(steps),
        bake_seconds=bake_seconds,
        rollout_percentage=rollout_percentage,
        actor=_actor(),
        dry_run=dry_run,
        settings=settings,
    )
    if dry_run:
        if as_json:
            emit_json(started)
        else:
            console.print(f"[bold]Dry run[/]: would start execution {started['name']} with input:")
            console.print_json(data=to_jsonable(started["input"]))
        return
    if not wait:
        if as_json:
            emit_json(started)
        else:
            click.echo(started["executionArn"])
        return
    if not as_json:
        click.echo(started["executionArn"])
    stop_at = rollout_percentage if environment == "production" else None
    code, message, record = follow(
        version,
        started["executionArn"],
        environment,
        "deploy",
        stop_at,
        settings,
        quiet=as_json,
        timeout=timeout,
    )
    if as_json:
        emit_json({**started, "outcome": message, "exitCode": code, "release": record})
    else:
        console.print(f"Release {version} {environment}: {message}")
    ctx.exit(code)


# ---------------------------------------------------------------- operator commands


@click.command("promote")
@click.argument("version")
@click.option("--full", is_flag=True, help="Go to 100 % at once, skipping the remaining steps.")
@json_option
@click.pass_context
def promote(ctx: click.Context, version: str, full: bool, as_json: bool) -> None:
    """Move a paused rollout of VERSION on (to its next step; --full: to 100 %)."""
    from chalicelib.releases import operator

    answer = _run(operator.promote, version, full=full, actor=_actor(), settings=_settings(ctx))
    if as_json:
        emit_json(answer)
    else:
        console.print(f"Release {version}: {answer['action']} (status {answer['status']}).")


@click.command("abort")
@click.argument("version")
@click.option("--reason", required=True, help="Why (kept in the history and the alert).")
@json_option
@click.pass_context
def abort(ctx: click.Context, version: str, reason: str, as_json: bool) -> None:
    """Abort the running rollout of VERSION: the aliases go back to the previous version."""
    from chalicelib.releases import operator

    answer = _run(operator.abort, version, reason=reason, actor=_actor(), settings=_settings(ctx))
    if as_json:
        emit_json(answer)
    else:
        console.print(f"Release {version}: {answer['action']} (status {answer['status']}).")


@click.command("rollback")
@click.argument("version")
@click.option("--reason", required=True, help="Why (kept in the history and the alert).")
@click.option("--dry-run", is_flag=True, help="Say what would be done; do nothing.")
@json_option
@click.pass_context
def rollback(ctx: click.Context, version: str, reason: str, dry_run: bool, as_json: bool) -> None:
    """Back to the previous version: aborts a running rollout, or rolls a finished one back."""
    from chalicelib.releases import operator

    answer = _run(
        operator.rollback, version, reason=reason, actor=_actor(), dry_run=dry_run, settings=_settings(ctx)
    )
    if as_json:
        emit_json(answer)
        return
    prefix = "[bold]Dry run[/]: would " if dry_run else ""
    if answer["action"] == "rollback":
        where = f"{answer['environment']} execution {answer.get('executionArn') or answer['name']}"
        console.print(f"{prefix}roll release {version} back in {where}")
    else:
        console.print(f"{prefix}abort the running rollout of {version} ({answer.get('action')})")


@click.command("status")
@click.argument("version", required=False)
@json_option
@click.pass_context
def status(ctx: click.Context, version: str | None, as_json: bool) -> None:
    """A release's record, history, gates, live execution and alias weights (no VERSION: recent ones)."""
    from chalicelib.releases import operator

    answer = _run(operator.status, version, settings=_settings(ctx))
    if as_json:
        emit_json(answer)
        return
    if version is None:
        table = Table(title="Releases (newest first)", title_justify="left", header_style="bold")
        for column in ("version", "status", "traffic %", "issues", "created (UTC)"):
            table.add_column(column, no_wrap=column != "issues", overflow="fold")
        for r in answer["releases"]:
            table.add_row(
                r["version"], r["status"], fmt(r.get("trafficPercent")), fmt(r["issues"]), r["createdAt"][:16]
            )
        console.print(table)
        return
    release = answer["release"]
    show_release(release)
    execution = answer.get("execution")
    if execution:
        print_fields(
            "Execution",
            {
                "arn": execution.get("executionArn"),
                "status": execution.get("status"),
                "started": fmt(execution.get("startDate")),
                "stopped": fmt(execution.get("stopDate")),
                "error": fmt(execution.get("error") or execution.get("readError")),
                "cause": Text(str(execution.get("cause") or "—")[:500]),
            },
        )
    console.print(aliases_table(answer.get("aliases") or []))
    if release.get("gates"):
        console.print(gates_table(release))
    console.print(history_table(release))


@click.command("restore")
@click.argument("version")
@click.option("--table", required=True, metavar="T", help="The table whose backup to restore (as backed up).")
@click.option(
    "--into", required=True, metavar="NEW_TABLE", help="A new table to restore into (never an existing one)."
)
@json_option
@click.pass_context
def restore(ctx: click.Context, version: str, table: str, into: str, as_json: bool) -> None:
    """Restore the backup release VERSION took of table T into NEW_TABLE (live data is left as it is)."""
    from chalicelib.releases import service

    answer = _run(service.restore_backup, version, table, into, settings=_settings(ctx))
    if as_json:
        emit_json(answer)
        return
    console.print(
        f"Restoring {answer['from']['backupName']} ({table}, taken {answer['from'].get('at')}) into "
        f"{answer['table']}: {answer['status']}. Compare it with {table} and copy back what is needed."
    )
