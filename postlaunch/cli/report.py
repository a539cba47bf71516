"""`post-launch-monitor report`: the report the API's GET /api/monitoring/report gives (the same
build), rendered for people, as JSON (--json), written to a file (--output: JSON, or the email's HTML
when the name ends in .html), or emailed now (--email, stored and recorded like the daily one:
docs/reports.md, "Delivery"). Reads with the caller's AWS credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.text import Text

from postlaunch.cli import aws_settings, console, emit_json, fmt, make_table, print_fields, to_jsonable

STATUS_STYLE = {"healthy": "bold green", "degraded": "bold yellow", "critical": "bold red"}


def _usage_error(error: Any) -> click.UsageError:
    fields = getattr(error, "fields", None) or []
    if not fields:
        return click.UsageError(error.message)
    first = fields[0]
    return click.BadParameter(first.message, param_hint=f"--{first.field}")


def _entries(title: str, entries: list[dict[str, Any]]) -> None:
    if not entries:
        console.print(Text(f"{title}: none", style="dim"))
        return
    console.print(Text(title, style="bold"))
    for entry in entries:
        # Text, not markup: a redacted "[REDACTED:phone]" would read as a style tag.
        line = Text("  • ") + Text(str(entry.get("text")))
        if entry.get("reason"):
            line += Text(f" ({entry['reason']})", style="dim")
        console.print(line)


def render(report: dict[str, Any]) -> None:
    from chalicelib.reports import mail

    summary = report.get("summary") or {}
    status = summary.get("status", "unknown")
    console.print(
        Text.assemble(
            (mail.title(report), "bold"), "  status ", (status.upper(), STATUS_STYLE.get(status, "bold"))
        )
    )
    console.print(Text(f"{report['period']['start']} .. {report['period']['end']} (UTC)", style="dim"))
    for title, key in (
        ("Highlights", "highlights"),
        ("Critical issues", "criticalIssues"),
        ("Recommendations", "recommendations"),
    ):
        _entries(title, summary.get(key) or [])
    health, alerts = report.get("health") or {}, report.get("alerts") or {}
    now, period = health.get("now") or {}, health.get("period") or {}
    print_fields(
        "Health and alerts",
        {
            "health now": f"{fmt(now.get('score'))} ({now.get('band') or 'no data'})",
            "health in the period": f"lowest {fmt(period.get('lowest'))}, mean {fmt(period.get('mean'))}, "
            f"{fmt(period.get('points'))} points",
            "alerts": f"{fmt(alerts.get('raised'))} raised, {fmt(alerts.get('active'))} active, "
            f"{fmt(alerts.get('overdue'))} overdue",
            "time to acknowledge": mail.seconds(alerts.get("meanTimeToAcknowledgeSeconds")),
            "time to resolve": mail.seconds(alerts.get("meanTimeToResolveSeconds")),
            "releases": fmt((report.get("releases") or {}).get("count")),
        },
    )
    console.print(
        make_table(
            "Success metrics",
            ["metric", "value", "target", "met", "source"],
            [
                (
                    m.get("name"),
                    "no data" if m.get("value") is None else m.get("value"),
                    m.get("target"),
                    {True: "yes", False: "no"}.get(m.get("met"), "—"),
                    m.get("source") + (f": {m['reason']}" if m.get("reason") else ""),
                )
                for m in report.get("successMetrics") or []
            ],
            wrap=["source"],
        )
    )
    roi = report.get("roi") or {}
    print_fields("ROI", {label: mail.number(roi.get(key)) for label, key in mail.ROI_ROWS})


def _write(path: Path, report: dict[str, Any]) -> None:
    from chalicelib.reports import mail

    text = mail.render_html(report) if path.suffix.lower() in (".html", ".htm") else mail.report_json(report)
    path.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")


def _delivery_lines(state: dict[str, Any]) -> list[str]:
    lines = []
    for recipient, outcome in state["recipients"].items():
        line = f"{recipient}: {outcome['outcome']} (attempt {outcome['attempts']})"
        if outcome.get("error"):
            line += f": {outcome['error']}"
        lines.append(line)
    if state["pendingRecipients"]:
        lines.append(f"retried by the schedule from {state['nextAttemptAt']}")
    return lines


@click.command("report")
@click.option(
    "--start",
    metavar="DATE",
    help="Period start: YYYY-MM-DD (UTC day) or ISO-8601 date-time. Default: as the API's "
    "(REPORT_DEFAULT_DAYS days before the end, today included).",
)
@click.option(
    "--end", metavar="DATE", help="Period end: YYYY-MM-DD (that whole day) or date-time. Default: now."
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the report to FILE: JSON, or the email's HTML when FILE ends in .html.",
)
@click.option(
    "--email",
    "emails",
    metavar="ADDR",
    multiple=True,
    help="Email the report to ADDR now (repeatable); stored and recorded like the daily report.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON only.")
@click.pass_context
def report(
    ctx: click.Context,
    start: str | None,
    end: str | None,
    output: Path | None,
    emails: tuple[str, ...],
    as_json: bool,
) -> None:
    """The monitoring report: executive summary, health, feedback, alerts, releases, success metrics
    and ROI, every figure from stored data."""
    from chalicelib.errors import DomainError, ValidationFailed
    from chalicelib.reports import delivery

    settings = aws_settings((ctx.obj or {}).get("stack"))
    try:
        built = delivery.build(start, end, settings=settings)
    except ValidationFailed as error:
        raise _usage_error(error) from error
    except DomainError as error:
        raise click.ClickException(error.message) from error
    built = to_jsonable(built)
    state = None
    if emails:
        try:
            state = delivery.email_now(built, list(emails), settings=settings)
        except DomainError as error:
            raise click.ClickException(error.message) from error
    if output:
        _write(output, built)
    if as_json:
        emit_json(built if state is None else built | {"delivery": state})
    else:
        render(built)
        if output:
            console.print(f"Written to {output}")
        if state is not None:
            print_fields("Email", {"delivery": "\n".join(_delivery_lines(state))})
    if state is not None and any(o["outcome"] != "delivered" for o in state["recipients"].values()):
        ctx.exit(1)
