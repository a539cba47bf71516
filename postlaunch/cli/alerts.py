"""`post-launch-monitor alerts` and `post-launch-monitor silence`: thin over chalicelib.alerts.service,
the functions GET/POST /api/monitoring/alerts and /api/monitoring/silences call.

`alerts` exits 1 while a critical alert is firing (whatever the filters shown), so automation can
gate on it; 0 otherwise. The CLI acts with the caller's AWS credentials, recorded as `cli:<user>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from chalicelib.schemas.alerts import ALERT_LIST_STATES, ALERT_SEVERITIES
from postlaunch.cli import (
    aws_settings,
    console,
    emit_json,
    err_console,
    json_option,
    print_fields,
    to_jsonable,
)
from postlaunch.cli.feedback import cli_principal

SEVERITY_STYLE = {"critical": "bold red", "error": "red", "warning": "yellow", "info": "cyan"}
OPTION_FOR_FIELD = {
    "state": "--state",
    "severity": "--severity",
    "rule": "--rule",
    "limit": "--limit",
    "reason": "--reason",
    "comment": "--comment",
    "endsAt": "--until",
    "alertId": "--until-resolved",
    "matchers": "--label",
}


def _call(fn: Callable[[], Any]) -> Any:
    """Run a service call; a refused input names the option, other domain errors are one line (exit 1)."""
    from chalicelib.errors import DomainError, ValidationFailed

    try:
        return fn()
    except ValidationFailed as error:
        first = error.fields[0] if error.fields else None
        if first is None:
            raise click.UsageError(error.message) from error
        name = first.field.split(".")[0]
        raise click.BadParameter(first.message, param_hint=OPTION_FOR_FIELD.get(name, first.field)) from error
    except DomainError as error:
        raise click.ClickException(error.message) from error


def _actor() -> str:
    return cli_principal().sub


def alerts_table(items: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in ("severity", "state", "rule", "first seen (UTC)", "count"):
        table.add_column(column, no_wrap=True)
    table.add_column("alert", overflow="fold")
    for alert in items:
        flags = [
            f for f, on in (("overdue", alert.get("overdue")), ("silenced", alert.get("silenced"))) if on
        ]
        labels = ", ".join(f"{k}={v}" for k, v in sorted((alert.get("labels") or {}).items()))
        detail = Text(" · ".join(part for part in (alert["id"], labels, *flags) if part), style="dim")
        table.add_row(
            Text(alert["severity"], style=SEVERITY_STYLE.get(alert["severity"], "")),
            alert["state"],
            alert["rule"],
            alert["firstSeen"][:16].replace("T", " "),
            str(alert.get("count", "")),
            # Text, not markup: a summary may hold "[REDACTED:phone]".
            Text.assemble(Text(alert.get("summary") or ""), "\n", detail),
        )
    return table


def _critical_firing(settings: Any) -> bool:
    from chalicelib.alerts import service

    return service.critical_firing(settings=settings)


@click.group("alerts", invoke_without_command=True)
@click.option("--state", type=click.Choice(ALERT_LIST_STATES), default="active", show_default=True)
@click.option("--severity", type=click.Choice(ALERT_SEVERITIES), help="Only this severity.")
@click.option("--rule", metavar="NAME", help="Only this rule (e.g. HighErrorRate).")
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(1, 100), help="How many, newest first."
)
@json_option
@click.pass_context
def alerts(
    ctx: click.Context, state: str, severity: str | None, rule: str | None, limit: int, as_json: bool
) -> None:
    """Alerts, newest first (active ones by default). Exits 1 while a critical alert is firing."""
    if ctx.invoked_subcommand is not None:
        return
    from chalicelib.alerts import service

    settings = aws_settings((ctx.obj or {}).get("stack"))
    query = {"state": state, "severity": severity, "rule": rule, "limit": limit}
    page = _call(
        lambda: service.list_alerts({k: v for k, v in query.items() if v is not None}, settings=settings)
    )
    critical = _call(lambda: _critical_firing(settings))
    if as_json:
        emit_json(to_jsonable({**page, "criticalFiring": critical}))
    elif page["items"]:
        console.print(alerts_table(page["items"], f"Alerts ({state})"))
        if page.get("nextCursor"):
            console.print(f"More than {limit}; raise --limit or narrow with --severity / --rule.")
    else:
        console.print(f"No alerts ({state}).")
    if critical:
        if not as_json:
            err_console.print("[bold red]A critical alert is firing.[/]")
        ctx.exit(1)


def _show_alert(alert: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        emit_json(to_jsonable(alert))
        return
    keys = ("id", "rule", "severity", "state", "summary", "acknowledgedBy", "acknowledgedAt", "resolvedBy")
    print_fields(title, {k: alert.get(k) for k in (*keys, "resolvedAt", "resolution")})


@alerts.command("ack")
@click.argument("alert_id")
@json_option
@click.pass_context
def ack(ctx: click.Context, alert_id: str, as_json: bool) -> None:
    """Acknowledge a firing alert (stops its escalation)."""
    from chalicelib.alerts import service

    settings = aws_settings((ctx.obj or {}).get("stack"))
    _show_alert(
        _call(lambda: service.acknowledge(alert_id, _actor(), settings=settings)), as_json, "Acknowledged"
    )


@alerts.command("resolve")
@click.argument("alert_id")
@click.option("--reason", required=True, help="Why it is resolved (kept on the alert).")
@json_option
@click.pass_context
def resolve(ctx: click.Context, alert_id: str, reason: str, as_json: bool) -> None:
    """Resolve an alert by hand, with a reason."""
    from chalicelib.alerts import service

    settings = aws_settings((ctx.obj or {}).get("stack"))
    alert = _call(lambda: service.resolve(alert_id, _actor(), {"reason": reason}, settings=settings))
    _show_alert(alert, as_json, "Resolved")


# ------------------------------------------------------------------------------------ silences


def silences_table(items: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in ("state", "ends (UTC)", "matchers", "created by"):
        table.add_column(column, no_wrap=True)
    table.add_column("silence", overflow="fold")
    for s in items:
        ends = "until resolved" if s["untilResolved"] else s["endsAt"][:16].replace("T", " ")
        matchers = ", ".join(f"{m['name']}={m['value']}" for m in s["matchers"])
        table.add_row(
            s["state"],
            ends,
            matchers,
            s["createdBy"],
            Text.assemble(Text(s["comment"]), "\n", Text(s["id"], style="dim")),
        )
    return table


@click.group("silence")
def silence() -> None:
    """Silences: stop notifications for the alerts some matchers select (docs/alerts.md)."""


@silence.command("create")
@click.option("--rule", required=True, metavar="NAME", help="The alert rule to silence.")
@click.option("--severity", type=click.Choice(ALERT_SEVERITIES), help="Only alerts of this severity.")
@click.option(
    "--label", "labels", multiple=True, metavar="KEY=VALUE", help="Only alerts with this label (repeatable)."
)
@click.option("--until", metavar="TIME", help="End: an ISO-8601 date-time (no zone means UTC).")
@click.option("--until-resolved", metavar="ALERT_ID", help="End when this alert resolves.")
@click.option("--comment", required=True, help="Why (required; patient details are redacted).")
@json_option
@click.pass_context
def create(
    ctx: click.Context,
    rule: str,
    severity: str | None,
    labels: tuple[str, ...],
    until: str | None,
    until_resolved: str | None,
    comment: str,
    as_json: bool,
) -> None:
    """Create a silence: --rule, optional --severity and --label, and --until or --until-resolved."""
    from chalicelib.alerts import service

    if (until is None) == (until_resolved is None):
        raise click.UsageError("give exactly one of --until TIME and --until-resolved ALERT_ID.")
    matchers = [{"name": "rule", "value": rule}]
    if severity:
        matchers.append({"name": "severity", "value": severity})
    for pair in labels:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE.", param_hint="--label")
        matchers.append({"name": f"label:{key}", "value": value})
    body: dict[str, Any] = {"matchers": matchers, "comment": comment}
    if until is not None:
        body["endsAt"] = until
    else:
        body |= {"untilResolved": True, "alertId": until_resolved}
    settings = aws_settings((ctx.obj or {}).get("stack"))
    record = _call(lambda: service.create_silence(body, _actor(), settings=settings))
    if as_json:
        emit_json(to_jsonable(record))
    else:
        console.print(silences_table([record], "Silence created"))


@silence.command("list")
@click.option("--all", "show_all", is_flag=True, help="Expired and ended ones too (newest 100).")
@json_option
@click.pass_context
def list_(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """The silences in force (--all: every silence)."""
    from chalicelib.alerts import service

    settings = aws_settings((ctx.obj or {}).get("stack"))
    query = {"state": "all", "limit": 100} if show_all else {"state": "active"}
    page = _call(lambda: service.list_silences(query, settings=settings))
    if as_json:
        emit_json(to_jsonable(page))
    elif page["items"]:
        console.print(silences_table(page["items"], "Silences" + (" (all)" if show_all else " in force")))
    else:
        console.print("No silences" + ("." if show_all else " in force."))


@silence.command("expire")
@click.argument("silence_id")
@json_option
@click.pass_context
def expire(ctx: click.Context, silence_id: str, as_json: bool) -> None:
    """Expire a silence now."""
    from chalicelib.alerts import service

    settings = aws_settings((ctx.obj or {}).get("stack"))
    record = _call(lambda: service.expire_silence(silence_id, _actor(), settings=settings))
    if as_json:
        emit_json(to_jsonable(record))
    else:
        console.print(silences_table([record], "Silence expired"))
