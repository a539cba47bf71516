"""`post-launch-monitor phase2`: the Phase 2 plan, from the same service function the API's
GET /api/monitoring/phase2 calls (docs/phase2.md). Reads as an engineer (all workspaces), with the
caller's AWS credentials."""

from __future__ import annotations

from typing import Any

import click

from postlaunch.cli import aws_settings, console, emit_json, fmt, json_option, print_fields, to_jsonable

OPTION_FOR_FIELD = {"start": "--start", "end": "--end", "limit": "--limit"}
SHORT = {
    "userImpact": "impact",
    "businessValue": "value",
    "technicalFeasibility": "feasible",
    "strategicAlignment": "aligned",
}


def _usage_error(error: Any) -> click.UsageError:
    fields = getattr(error, "fields", None) or []
    if not fields:
        return click.UsageError(error.message)
    first = fields[0]
    return click.BadParameter(first.message, param_hint=OPTION_FOR_FIELD.get(first.field, first.field))


def _counted(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def plan_table(items: list[dict[str, Any]]) -> Any:
    """rank | score | request (area, dates and other phrasings under the title) | asked by | points
    per component: narrow columns that never wrap, so the table reads in an 80-column terminal.
    Text objects, not markup: a redacted title holds "[REDACTED:phone]", which rich would take for
    a style tag."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Phase 2 plan, best first", title_justify="left", header_style="bold")
    table.add_column("#", no_wrap=True, justify="right")
    table.add_column("score", no_wrap=True, justify="right")
    table.add_column("request", overflow="fold", ratio=1)
    table.add_column("asked by", no_wrap=True)
    table.add_column("points", no_wrap=True)
    for item in items:
        evidence = item["evidence"]
        detail = f"{item['featureArea']}\n{evidence['firstAsked'][:10]} .. {evidence['lastAsked'][:10]}"
        if item["otherTitles"]:
            detail += "\nalso: " + "; ".join(item["otherTitles"])
        points = "\n".join(
            f"{SHORT[name]} {fmt(c['contribution'])}" for name, c in item["components"].items()
        )
        table.add_row(
            str(item["rank"]),
            fmt(item["score"]),
            Text.assemble(Text(item["title"], style="bold"), "\n", Text(detail, style="dim")),
            "\n".join(
                _counted(evidence[key], noun)
                for key, noun in (("workspaces", "workspace"), ("users", "user"), ("count", "request"))
            ),
            points,
        )
    return table


def render(plan: dict[str, Any]) -> None:
    window = plan["window"]
    coverage = "" if plan["complete"] else f"; read ceiling reached: covers items from {plan['coveredFrom']}"
    weights = ", ".join(f"{SHORT[name]} {fmt(w)}" for name, w in plan["method"]["weights"].items())
    print_fields(
        "Phase 2 plan",
        {
            "window": f"{window['start'][:10]} .. {window['end'][:10]} ({window['days']} days, UTC)"
            + coverage,
            "requests": f"{plan['requests']} feature requests and usability issues, {plan['groups']} groups",
            "read": f"{plan['itemsRead']} items in {plan['queries']} queries",
            "score": f"Σ points; points = 100 × value (0-1) × weight; weights {weights}",
            "alike titles": f"Jaccard of stemmed word sets >= {fmt(plan['method']['threshold'])}",
        },
    )
    if not plan["items"]:
        console.print("No feature requests or usability issues in this window.")
        return
    console.print(plan_table(plan["items"]))


@click.command("phase2")
@click.option(
    "--start",
    metavar="DATE",
    help="Window start: YYYY-MM-DD (UTC day) or ISO-8601 date-time. Default: 89 days before the end's day.",
)
@click.option(
    "--end", metavar="DATE", help="Window end: YYYY-MM-DD (that whole day) or date-time. Default: now."
)
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(1, 100), help="Plan items to show."
)
@json_option
@click.pass_context
def phase2(ctx: click.Context, start: str | None, end: str | None, limit: int, as_json: bool) -> None:
    """The Phase 2 plan: feature requests and usability feedback grouped by feature area and alike
    titles, scored with the prioritization framework (user impact, business value, technical
    feasibility, strategic alignment), best first, with the evidence behind each."""
    from chalicelib.errors import DomainError, ValidationFailed
    from chalicelib.phase2.service import phase2_plan

    query = {
        key: value for key, value in {"start": start, "end": end, "limit": limit}.items() if value is not None
    }
    settings = aws_settings((ctx.obj or {}).get("stack"))
    try:
        plan = phase2_plan(query, settings=settings)
    except ValidationFailed as error:
        raise _usage_error(error) from error
    except DomainError as error:
        raise click.ClickException(error.message) from error
    if as_json:
        emit_json(to_jsonable(plan))
        return
    render(plan)
