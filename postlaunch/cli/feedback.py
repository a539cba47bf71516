"""`post-launch-monitor feedback`: the feedback summary and the newest items, from the same service
functions the API's GET /api/monitoring/feedback/summary and GET /api/monitoring/feedback call.

The CLI talks to DynamoDB directly with the caller's AWS credentials, so those credentials are its
authority: it reads as an engineer (all workspaces), narrowed by --workspace.
"""

from __future__ import annotations

import getpass
from typing import Any

import click

from chalicelib.schemas.feedback import CATEGORIES, FEATURE_AREAS, SEVERITIES, STATUSES
from postlaunch.cli import (
    aws_settings,
    console,
    emit_json,
    fmt,
    json_option,
    make_table,
    print_fields,
    to_jsonable,
)

# API field name -> the option that sets it, so a refused value names the option the user typed.
OPTION_FOR_FIELD = {
    "category": "--category",
    "severity": "--severity",
    "status": "--status",
    "featureArea": "--feature-area",
    "startDate": "--start-date",
    "endDate": "--end-date",
    "workspaceId": "--workspace",
    "limit": "--limit",
}
SPARK = "▁▂▃▄▅▆▇█"


def cli_principal() -> Any:
    from chalicelib.auth import Principal, Role

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        user = "unknown"
    return Principal(sub=f"cli:{user}", workspace_id=None, roles=frozenset({Role.ENGINEER}))


def _usage_error(error: Any) -> click.UsageError:
    """A ValidationFailed from the service as a click usage error (exit 2) naming the option."""
    fields = getattr(error, "fields", None) or []
    if not fields:
        return click.UsageError(error.message)
    first = fields[0]
    messages = "; ".join(
        f"{OPTION_FOR_FIELD.get(f.field, f.field)}: {f.message}" for f in fields if f is not first
    )
    text = first.message + (f" ({messages})" if messages else "")
    return click.BadParameter(text, param_hint=OPTION_FOR_FIELD.get(first.field, first.field))


def sparkline(counts: list[int]) -> str:
    top = max(counts, default=0)
    if top == 0:
        return SPARK[0] * len(counts)
    return "".join(SPARK[min(len(SPARK) - 1, round(c / top * (len(SPARK) - 1)))] for c in counts)


def _counts_table(title: str, counts: dict[str, int]) -> Any:
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return make_table(title, [title.split(" ")[-1], "count"], rows)


def render(summary: dict[str, Any], page: dict[str, Any]) -> None:
    """Tables for a human reader."""
    from rich.columns import Columns

    window = summary["window"]
    scope = (summary.get("scope") or {}).get("workspaceId") or "all workspaces"
    filters = ", ".join(f"{k}={v}" for k, v in (summary.get("filters") or {}).items()) or "none"
    volume = [day["count"] for day in summary["volumePerDay"]]
    trend = summary["ratingsTrend"]
    resolution = summary["resolutionTime"]
    print_fields(
        "Feedback summary",
        {
            "window": f"{window['start'][:10]} .. {window['end'][:10]} ({window['days']} days, UTC)"
            + (
                ""
                if summary.get("complete", True)
                else f"; read ceiling reached: figures cover items from {summary['coveredFrom']}"
            ),
            "scope": scope,
            "filters": filters,
            "items": summary["total"],
            "per day": f"{sparkline(volume)}  (max {max(volume, default=0)})",
            "open critical / high": f"{summary['openCritical']} / {summary['openHigh']}",
            "resolution time (h)": (
                f"median {fmt(resolution['medianHours'])}, p90 {fmt(resolution['p90Hours'])} "
                f"over {resolution['count']} resolved"
            ),
            "satisfaction trend": (
                f"{trend['direction']}"
                + ("" if trend["slopePerDay"] is None else f" (slope {trend['slopePerDay']:+.3f}/day)")
            ),
        },
    )
    console.print(
        Columns(
            [
                _counts_table("By category", summary["byCategory"]),
                _counts_table("By severity", summary["bySeverity"]),
                _counts_table("By status", summary["byStatus"]),
                _counts_table("By feature area", summary["byFeatureArea"]),
            ]
        )
    )
    ratings = summary["ratings"]
    console.print(
        make_table(
            "Ratings (1-5)",
            ["rating", "average", "count"],
            [(name, values["average"], values["count"]) for name, values in ratings.items()],
        )
    )
    items = page["items"]
    if not items:
        console.print("No feedback items in this window.")
        return
    console.print(items_table(items))


def items_table(items: list[dict[str, Any]]) -> Any:
    """Newest items: the short fields in columns, the rest stacked under the title, so the table
    still reads in an 80-column terminal. Text objects, not markup: a redacted title holds
    "[REDACTED:phone]", which rich would otherwise take for a style tag."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"Newest {len(items)} items", title_justify="left", header_style="bold")
    for column in ("created (UTC)", "severity", "status"):
        table.add_column(column, no_wrap=True)
    table.add_column("item", overflow="fold")
    for item in items:
        detail = Text(
            f"{item['category']} · {item['featureArea']} · {item['workspaceId']}\n{item['id']}", style="dim"
        )
        table.add_row(
            item["createdAt"][5:16].replace("T", " "),
            item["severity"],
            item["status"],
            Text.assemble(Text(item["title"], style="bold"), "\n", detail),
        )
    return table


@click.command("feedback")
@click.option("--category", type=click.Choice(CATEGORIES), help="Only this category.")
@click.option("--severity", type=click.Choice(SEVERITIES), help="Only this severity.")
@click.option("--status", type=click.Choice(STATUSES), help="Only this status.")
@click.option("--feature-area", type=click.Choice(FEATURE_AREAS), help="Only this feature area.")
@click.option(
    "--start-date",
    metavar="DATE",
    help="Window start: YYYY-MM-DD (UTC day) or ISO-8601 date-time. Default: 30 days before the end.",
)
@click.option(
    "--end-date", metavar="DATE", help="Window end: YYYY-MM-DD (that whole day) or date-time. Default: now."
)
@click.option("--workspace", metavar="ID", help="Only this workspace (default: all).")
@click.option(
    "--limit",
    default=10,
    show_default=True,
    type=click.IntRange(1, 100),
    help="How many of the newest items to show.",
)
@json_option
@click.pass_context
def feedback(
    ctx: click.Context,
    category: str | None,
    severity: str | None,
    status: str | None,
    feature_area: str | None,
    start_date: str | None,
    end_date: str | None,
    workspace: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Feedback summary (volume, distributions, ratings and trend, resolution times, open critical
    and high) and the newest items, over a date window."""
    from chalicelib.errors import DomainError, ValidationFailed
    from chalicelib.feedback import service

    filters = {
        "category": category,
        "severity": severity,
        "status": status,
        "featureArea": feature_area,
        "startDate": start_date,
        "endDate": end_date,
        "workspaceId": workspace,
    }
    filters = {key: value for key, value in filters.items() if value is not None}
    settings = aws_settings((ctx.obj or {}).get("stack"))
    principal = cli_principal()
    try:
        summary = service.feedback_summary(principal, filters, settings=settings)
        # The newest items of the same window the summary covers.
        window = {"startDate": summary["window"]["start"], "endDate": summary["window"]["end"]}
        page = service.list_feedback(principal, {**filters, **window, "limit": limit}, settings=settings)
    except ValidationFailed as error:
        raise _usage_error(error) from error
    except DomainError as error:
        raise click.ClickException(error.message) from error
    if as_json:
        emit_json(to_jsonable({"summary": summary, "items": page["items"], "nextCursor": page["nextCursor"]}))
        return
    render(summary, page)
