"""`bug-fix-manage list` and `bug-fix-manage issue create|update|show`: BUG-### issues, through the
same service functions the API's /api/issues routes call (chalicelib.issues.service).

The CLI talks to DynamoDB with the caller's AWS credentials, so those are its authority: it acts as
an engineer, recorded in the history as `cli:<os user>`.
"""

from __future__ import annotations

from typing import Any

import click

from chalicelib.issues.lifecycle import PRIORITIES, SEVERITIES, STATUSES
from chalicelib.schemas.feedback import FEATURE_AREAS
from postlaunch.cli import aws_settings, console, emit_json, fmt, json_option, print_fields, to_jsonable

# API field name -> the option that sets it, so a refused value names the option the user typed.
OPTION_FOR_FIELD = {
    "title": "--title",
    "description": "--description",
    "severity": "--severity",
    "priority": "--priority",
    "featureAreas": "--feature-area",
    "assignee": "--assignee",
    "estimateHours": "--estimate",
    "feedbackIds": "--feedback",
    "status": "--status",
    "reason": "--reason",
    "If-Match": "--if-match",
    "version": "--if-match",
    "limit": "--limit",
}
DEFAULT_LIST = 50


def _principal() -> Any:
    from postlaunch.cli.feedback import cli_principal

    return cli_principal()


def _run(fn, *args, **kwargs) -> Any:
    """Call a service function; its refusals become one-line CLI errors naming the option."""
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
        raise click.ClickException(f"{error.message}") from error


def issues_table(items: list[dict[str, Any]], title: str) -> Any:
    """Issues, one a row; text objects, not markup (a redacted title holds "[REDACTED:name]")."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", header_style="bold")
    for column in ("id", "sev", "prio", "status", "assignee", "release"):
        table.add_column(column, no_wrap=True)
    table.add_column("title", overflow="fold")
    for item in items:
        areas = ", ".join(item["featureAreas"]) or "no area"
        detail = Text(f"{areas} · {item['reach']['feedback']} reports", style="dim")
        table.add_row(
            item["id"],
            item["severity"],
            item["priority"],
            item["status"],
            fmt(item["assignee"]),
            fmt(item["activeRelease"]),
            Text.assemble(Text(item["title"], style="bold"), "\n", detail),
        )
    return table


def show_issue(issue: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    print_fields(
        f"{issue['id']}  {issue['status']}",
        {
            "title": Text(issue["title"]),
            "severity / priority": f"{issue['severity']} / {issue['priority']} ({issue['prioritySource']})",
            "feature areas": fmt(issue["featureAreas"] or None),
            "assignee": fmt(issue["assignee"]),
            "estimate (h)": fmt(issue["estimateHours"]),
            "linked feedback": fmt(issue["feedbackIds"] or None),
            "reach": f"{issue['reach']['feedback']} reports from {issue['reach']['workspaces']} workspaces",
            "active release": fmt(issue["activeRelease"]),
            "created": f"{issue['createdAt']} by {fmt(issue['createdBy'])}",
            "version (ETag)": issue["version"],
            "description": Text(issue["description"] or "—"),
        },
    )
    history = Table(title="History", title_justify="left", header_style="bold")
    for column in ("at (UTC)", "by", "what"):
        history.add_column(column, no_wrap=column != "what", overflow="fold")
    for entry in issue["history"]:
        what = entry["action"]
        if entry.get("to"):
            what += f" {entry.get('from') or ''}→{entry['to']}"
        if entry.get("changes"):
            what += " " + ", ".join(entry["changes"])
        if entry.get("feedbackId"):
            what += f" feedback {entry['feedbackId']}"
        if entry.get("reason"):
            what += f": {entry['reason']}"
        history.add_row(entry["at"][:19].replace("T", " "), entry["by"], Text(what))
    console.print(history)
    if issue["historyDropped"]:
        console.print(f"({issue['historyDropped']} older entries dropped)")


def _emit(issue: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(to_jsonable(issue))
    else:
        show_issue(issue)


@click.command("list")
@click.option("--severity", type=click.Choice(SEVERITIES), help="Only this severity.")
@click.option("--status", type=click.Choice(STATUSES), help="Only this status.")
@click.option("--feature-area", type=click.Choice(FEATURE_AREAS), help="Only issues touching this area.")
@click.option(
    "--limit",
    default=DEFAULT_LIST,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many issues at most (newest first).",
)
@json_option
@click.pass_context
def list_issues(
    ctx: click.Context,
    severity: str | None,
    status: str | None,
    feature_area: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """BUG-### issues, newest first, filtered by severity, status and feature area."""
    from chalicelib.issues import service

    settings = aws_settings((ctx.obj or {}).get("stack"))
    query: dict[str, Any] = {"severity": severity, "status": status, "featureArea": feature_area}
    query = {k: v for k, v in query.items() if v is not None}
    items: list[dict[str, Any]] = []
    cursor = None
    while len(items) < limit:
        page = _run(
            service.list_issues,
            {**query, "limit": min(100, limit - len(items)), **({"cursor": cursor} if cursor else {})},
            settings=settings,
        )
        items += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    if as_json:
        emit_json(to_jsonable({"items": items, "nextCursor": cursor}))
        return
    filters = ", ".join(f"{k}={v}" for k, v in query.items()) or "none"
    if not items:
        console.print(f"No issues (filters: {filters}).")
        return
    console.print(issues_table(items, f"{len(items)} issues (filters: {filters})"))
    if cursor is not None:
        console.print(f"More match: raise --limit (now {limit}).")


@click.group("issue")
def issue() -> None:
    """Create, update and show one BUG-### issue."""


@issue.command("create")
@click.option("--title", required=True, help="What is wrong, in a line (5-200 characters).")
@click.option("--severity", required=True, type=click.Choice(SEVERITIES))
@click.option("--description", default=None, help="Details (redacted of patient identifiers).")
@click.option("--priority", type=click.Choice(PRIORITIES), help="Set it; default: from severity and reach.")
@click.option("--feature-area", "feature_areas", multiple=True, type=click.Choice(FEATURE_AREAS))
@click.option("--assignee", default=None)
@click.option("--estimate", type=float, default=None, metavar="HOURS", help="Work estimate in hours.")
@click.option("--feedback", "feedback_ids", multiple=True, metavar="ID", help="Link this feedback item.")
@json_option
@click.pass_context
def create(
    ctx: click.Context,
    title: str,
    severity: str,
    description: str | None,
    priority: str | None,
    feature_areas: tuple[str, ...],
    assignee: str | None,
    estimate: float | None,
    feedback_ids: tuple[str, ...],
    as_json: bool,
) -> None:
    """File a new issue (open); --feedback links items both ways."""
    from chalicelib.issues import service

    settings = aws_settings((ctx.obj or {}).get("stack"))
    body: dict[str, Any] = {
        "title": title,
        "severity": severity,
        "description": description,
        "priority": priority,
        "featureAreas": list(feature_areas) or None,
        "assignee": assignee,
        "estimateHours": estimate,
        "feedbackIds": list(feedback_ids) or None,
    }
    body = {k: v for k, v in body.items() if v is not None}
    _emit(_run(service.create_issue, _principal(), body, settings=settings), as_json)


@issue.command("update")
@click.argument("issue_id", metavar="BUG-ID")
@click.option("--status", type=click.Choice(STATUSES), help="Move along the lifecycle.")
@click.option("--reason", default=None, help="Why (with --status; kept in the history).")
@click.option("--title", default=None)
@click.option("--description", default=None)
@click.option("--severity", type=click.Choice(SEVERITIES))
@click.option(
    "--priority",
    type=click.Choice([*PRIORITIES, "derived"]),
    help="Set it, or `derived` to follow severity and reach.",
)
@click.option(
    "--feature-area",
    "feature_areas",
    multiple=True,
    type=click.Choice(FEATURE_AREAS),
    help="Replace the areas.",
)
@click.option("--assignee", default=None, help="Assign (--unassign clears).")
@click.option("--unassign", is_flag=True)
@click.option("--estimate", type=float, default=None, metavar="HOURS")
@click.option(
    "--if-match", "if_match", default=None, metavar="VERSION", help="Refuse if the issue moved past it."
)
@json_option
@click.pass_context
def update(
    ctx: click.Context,
    issue_id: str,
    status: str | None,
    reason: str | None,
    title: str | None,
    description: str | None,
    severity: str | None,
    priority: str | None,
    feature_areas: tuple[str, ...],
    assignee: str | None,
    unassign: bool,
    estimate: float | None,
    if_match: str | None,
    as_json: bool,
) -> None:
    """Edit an issue or move it: open → triaged → assigned → in_progress → fixed (released comes
    from a release) → verified → closed; wont_fix / closed; reopen to open."""
    from chalicelib.issues import service

    if unassign and assignee:
        raise click.UsageError("--assignee and --unassign exclude each other.")
    settings = aws_settings((ctx.obj or {}).get("stack"))
    body: dict[str, Any] = {
        "status": status,
        "reason": reason,
        "title": title,
        "description": description,
        "severity": severity,
        "featureAreas": list(feature_areas) or None,
        "assignee": assignee,
        "estimateHours": estimate,
    }
    body = {k: v for k, v in body.items() if v is not None}
    if priority is not None:
        body["priority"] = None if priority == "derived" else priority
    if unassign:
        body["assignee"] = None
    issue_id = issue_id.upper()
    _emit(_run(service.update_issue, _principal(), issue_id, body, if_match, settings=settings), as_json)


@issue.command("show")
@click.argument("issue_id", metavar="BUG-ID")
@json_option
@click.pass_context
def show(ctx: click.Context, issue_id: str, as_json: bool) -> None:
    """One issue with its history."""
    from chalicelib.issues import service

    settings = aws_settings((ctx.obj or {}).get("stack"))
    _emit(_run(service.get_issue, issue_id.upper(), settings=settings), as_json)
