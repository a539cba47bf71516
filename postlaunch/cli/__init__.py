"""`post-launch-monitor`: the engineers' CLI, thin commands over the same chalicelib logic the API runs.

Commands call the services directly (not the HTTP API) with AWS clients pointed by the environment:
`AWS_ENDPOINT_URL` for the local stack, or a real account's credentials. Resource names come from the
environment or from the CloudFormation stack named by PLM_STACK (postlaunch.awsenv).

Capabilities plug in by module: every module of this package (feedback, health, ...) is imported
when the group is built and each click command it *defines* is added to the group. A new capability
adds a module here and nothing else. Read commands take `--json` (machine-readable output only);
humans get rich tables.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
err_console = Console(stderr=True)


# ---------------------------------------------------------------- output helpers (shared by modules)


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "model_dump"):  # pydantic models
        return value.model_dump(mode="json", by_alias=True)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_jsonable(data: Any) -> Any:
    """Plain JSON types for pydantic models, datetimes, Decimals and enums (round trip through json)."""
    return json.loads(json.dumps(data, default=_json_default))


def emit_json(data: Any) -> None:
    """Print `data` as JSON and nothing else on stdout (what `--json` promises)."""
    click.echo(json.dumps(data, default=_json_default, indent=2, ensure_ascii=False))


def json_option(fn: F) -> F:
    """The `--json` flag every read command takes; the command receives `as_json`."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print machine-readable JSON only (no tables)."
    )(fn)


def fmt(value: Any, missing: str = "—") -> str:
    """A cell: numbers without noise, None as a dash."""
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def make_table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    wrap: Sequence[str] = (),
    show_header: bool = True,
) -> Table:
    """A rich table; only the columns named in `wrap` may wrap (the others keep ids and dates whole)."""
    table = Table(title=title, title_justify="left", header_style="bold", show_header=show_header)
    for column in columns:
        table.add_column(
            column, no_wrap=column not in wrap, overflow="fold" if column in wrap else "ellipsis"
        )
    for row in rows:
        table.add_row(*(fmt(cell) for cell in row))
    return table


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    console.print(make_table(title, columns, rows))


def print_counts(title: str, counts: Mapping[str, Any], label: str = "value") -> None:
    """A two-column table of a count map (by category, by severity, ...), largest first."""
    rows = sorted(
        counts.items(), key=lambda kv: (-(kv[1] or 0) if isinstance(kv[1], (int, float)) else 0, kv[0])
    )
    print_table(title, [label, "count"], rows)


def print_fields(title: str, fields: Mapping[str, Any]) -> None:
    """A two-column key/value table."""
    console.print(make_table(title, ["field", "value"], fields.items(), wrap=["value"], show_header=False))


def app_logs_to_stderr() -> None:
    """The services the commands call log JSON lines (Powertools) to stdout, as Lambda wants. At a
    terminal stdout is the command's answer (`--json` promises nothing else there), so the app's log
    lines go to stderr, warnings and errors only unless LOG_LEVEL asks for more. Called by the console
    scripts' entry points only (not in-process test runners, whose logger stays as the app set it)."""
    import logging

    from chalicelib.observability import logger

    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.__stdout__):
            handler.setStream(sys.stderr)
    logger.setLevel(os.environ.get("LOG_LEVEL") or "WARNING")


def fail(message: str) -> None:
    """Stop with exit code 1 and a one-line reason on stderr."""
    raise click.ClickException(message)


def aws_settings(stack: str | None = None) -> Any:
    """Point the app's settings at the resources of the current stack and return them.

    Resource variables already in the environment win; the rest come from the stack (awsenv).
    """
    from postlaunch.awsenv import AwsEnvError, apply_env

    try:
        resolved = apply_env(stack_name=stack)
    except AwsEnvError as exc:
        raise click.ClickException(str(exc)) from exc
    if resolved.missing:
        err_console.print(
            f"[yellow]note:[/] stack {resolved.stack_name} has no resource for "
            f"{', '.join(resolved.missing)}; the defaults from chalicelib.config apply."
        )
    return checked_settings()


def checked_settings() -> Any:
    """The app's settings; a configuration they refuse (chalicelib.config) is a one-line error."""
    from pydantic import ValidationError

    from chalicelib.config import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        fail("settings: " + "; ".join(err["msg"].removeprefix("Value error, ") for err in exc.errors()))


# ---------------------------------------------------------------- the group and command discovery


@click.group(name="post-launch-monitor", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--stack",
    envvar="PLM_STACK",
    default=None,
    metavar="NAME",
    help="CloudFormation stack whose resources to use when FEEDBACK_TABLE etc. are not set "
    "(env PLM_STACK; default post-launch-monitor-local).",
)
@click.pass_context
def cli(ctx: click.Context, stack: str | None) -> None:
    """Post-launch monitoring of the Patient Engagement module: feedback, health and more.

    Reaches the AWS the API uses: the local stack when AWS_ENDPOINT_URL points at it (`make run`
    prints the exports), or a real account.
    """
    ctx.ensure_object(dict)
    ctx.obj["stack"] = stack


ROLE_NAMES = ("staff", "engineer", "admin", "ingest")


@cli.command("dev-token")
@click.option("--role", required=True, type=click.Choice(ROLE_NAMES), help="Role the token carries.")
@click.option(
    "--workspace",
    default=None,
    metavar="WS",
    help="Workspace id claim (custom:workspace_id). Staff tokens need one.",
)
@click.option("--sub", default=None, help="Subject (user id); default dev-<role>-<workspace>.")
@click.option(
    "--ttl",
    default=12 * 3600,
    show_default=True,
    type=click.IntRange(60, 7 * 24 * 3600),
    metavar="SECONDS",
    help="Lifetime of the token in seconds.",
)
def dev_token(role: str, workspace: str | None, sub: str | None, ttl: int) -> None:
    """Print an HS256 bearer token the local stack accepts (AUTH_MODE=hs256 only).

    Example: TOKEN=$(post-launch-monitor dev-token --role engineer --workspace ws-demo)
    """
    from chalicelib.auth import mint_dev_token
    from chalicelib.config import reset_settings

    if role == "staff" and not workspace:
        raise click.UsageError("a staff token needs --workspace (staff act within one workspace).")
    reset_settings()
    settings = checked_settings()
    if settings.auth_mode != "hs256":
        fail(
            "dev tokens exist only for the local stage (AUTH_MODE=hs256); "
            f"here AUTH_MODE={settings.auth_mode}. "
            "Sign in through the identity provider (Cognito) to get a token for this stage."
        )
    if not os.environ.get("AWS_ENDPOINT_URL") and not os.environ.get("AUTH_MODE"):
        # Not pointed at the local stack: say so on stderr (stdout stays the bare token).
        err_console.print(
            "[yellow]note:[/] AWS_ENDPOINT_URL is not set; this token is accepted only by a stack "
            "running AUTH_MODE=hs256 with the same DEV_TOKEN_SECRET (the local stage)."
        )
    click.echo(mint_dev_token(settings, role=role, workspace_id=workspace, sub=sub, ttl_seconds=ttl))


# Modules of this package that failed to import, with the reason (shown on stderr, checked by tests).
load_errors: dict[str, str] = {}


def commands_in(module: Any) -> list[click.Command]:
    """The click commands a module defines (not ones it merely imports, such as the group itself)."""
    found = []
    # A group's subcommands (`alerts ack`) belong under the group, not at the top level.
    nested = {
        id(sub)
        for value in vars(module).values()
        if isinstance(value, click.Group)
        for sub in value.commands.values()
    }
    for value in vars(module).values():
        if isinstance(value, click.Command) and value is not cli and id(value) not in nested:
            callback = value.callback
            if callback is not None and getattr(callback, "__module__", None) == module.__name__:
                found.append(value)
    return found


def register(group: click.Group, module_names: Iterable[str]) -> None:
    """Import each module and add the commands it defines to `group`.

    A module that fails to import costs its own commands, not the whole CLI: a broken health module
    must not stop an engineer from reading feedback during an incident. The reason goes to stderr.
    """
    for name in module_names:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any import failure disables only that module
            load_errors[name] = f"{type(exc).__name__}: {exc}"
            continue
        for command in commands_in(module):
            group.add_command(command)


def capability_modules() -> list[str]:
    return sorted(
        f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")
    )


register(cli, capability_modules())


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (`post-launch-monitor`)."""
    app_logs_to_stderr()
    for name, reason in load_errors.items():
        print(f"post-launch-monitor: commands of {name} are unavailable ({reason})", file=sys.stderr)
    cli.main(args=argv, prog_name="post-launch-monitor")
