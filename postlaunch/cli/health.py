"""`post-launch-monitor health` and `post-launch-monitor metrics`: thin over chalicelib.health.

`health` is what GET /api/monitoring/system-health answers (the latest snapshot while fresh, else a
new evaluation, which is stored); `metrics` reads the CloudWatch metrics alone (no score, nothing
stored). Both reach the AWS the environment points at (AWS_ENDPOINT_URL for the local stack).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click

from postlaunch.cli import (
    aws_settings,
    console,
    emit_json,
    fmt,
    json_option,
    make_table,
    print_table,
    to_jsonable,
)

SPARK = "▁▂▃▄▅▆▇█"
BAND_STYLE = {"healthy": "green", "warning": "yellow", "critical": "red", "emergency": "bold red"}
UNITS = {
    "apiResponseTime": "ms",
    "apiResponseTimeP95": "ms",
    "databaseResponseTime": "ms",
    "lambdaDuration": "ms",
    "memoryUsage": "%",
    "cpuUsage": "%",
    "diskUsage": "%",
    "errorRate": "%",
    "dailyActiveUserRatio": "%",
    "appointmentCompletionRate": "%",
    "followUpCompletionRate": "%",
    "reminderDeliverySuccessRate": "%",
    "noShowRate": "%",
    "userSatisfactionScore": "of 5",
}


def _fail_on_domain_error(fn: Any) -> Any:
    from chalicelib.errors import DomainError

    try:
        return fn()
    except DomainError as error:
        raise click.ClickException(error.message) from error


def section_table(title: str, values: dict[str, Any], missing: dict[str, str], prefix: str) -> Any:
    """metric | value | why missing: the first two never wrap, the reason folds."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("metric", no_wrap=True)
    table.add_column("value", no_wrap=True, justify="right")
    table.add_column("why missing", overflow="fold", style="dim")
    for name, value in values.items():
        if name == "problems":
            continue
        shown = fmt(value) + (f" {UNITS[name]}" if value is not None and name in UNITS else "")
        table.add_row(name, shown, Text(missing.get(f"{prefix}.{name}", "")))
    return table


def deductions_table(deductions: list[dict[str, Any]]) -> Any:
    rows = [
        (
            d["rule"],
            d["value"] if d["item"] is None else f"{d['item'].get('kind')} {d['value']}",
            "" if d["threshold"] is None else f"{fmt(d['threshold'])} {d['unit'] or ''}".strip(),
            d["points"],
        )
        for d in deductions
    ]
    return make_table("Deductions", ["rule", "value", "threshold", "points"], rows)


def windows_table(windows: dict[str, dict[str, Any]]) -> None:
    def short(stamp: str) -> str:
        return stamp[5:16].replace("T", " ")

    print_table(
        "Windows (UTC)",
        ["window", "from", "to", "what"],
        [(k, short(w["start"]), short(w["end"]), w["description"]) for k, w in windows.items()],
    )


def sparkline(values: list[int | None]) -> str:
    return "".join(
        " " if v is None else SPARK[min(len(SPARK) - 1, round(v / 100 * (len(SPARK) - 1)))] for v in values
    )


def score_trend(days: int, settings: Any) -> dict[str, Any]:
    """Daily lowest score over the last `days` from the stored summaries (all pages)."""
    from chalicelib.health.service import health_history
    from chalicelib.schemas.health import HistoryQuery

    end = datetime.now(UTC)
    start = end - timedelta(days=days)
    points: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = health_history(
            HistoryQuery(start=start, end=end, limit=settings.health_history_max_points, cursor=cursor),
            settings=settings,
        )
        points += page["points"]
        cursor = page["nextCursor"]
        if not cursor:
            break
    daily: list[int | None] = []
    for day in range(days):
        lo = (start + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%S")
        hi = (start + timedelta(days=day + 1)).strftime("%Y-%m-%dT%H:%M:%S")
        scores = [p["healthScore"] for p in points if lo <= p["at"] < hi and p["healthScore"] is not None]
        daily.append(min(scores) if scores else None)
    scored = [p for p in points if p["healthScore"] is not None]
    lowest = min(scored, key=lambda p: p["healthScore"]) if scored else None
    return {"days": days, "snapshots": len(points), "dailyLowest": daily, "lowest": lowest}


def render_health(report: dict[str, Any], *, verbose: bool, performance: bool, trend: dict | None) -> None:
    band = report["overallHealth"]
    fresh = report.get("freshness") or {}
    source = (
        f"snapshot {fmt(fresh.get('ageSeconds'))} s old"
        if fresh.get("source") == "snapshot"
        else "evaluated now"
    )
    inputs = report["scoreInputs"]
    # A 100 from 2 of 7 inputs must not read as a clean bill of health.
    caveat = (
        f" [bold yellow]— insufficient data ({inputs['available']} of {inputs['total']} inputs)[/]"
        if report.get("sufficientData") is False
        else ""
    )
    console.print(
        f"[bold]System health[/] [{BAND_STYLE.get(band, 'bold')}]{report['healthScore']}/100 {band}[/]"
        f"{caveat}  (at {report['evaluatedAt']}, {source})"
    )
    console.print(
        f"Data completeness {round(report['completeness'] * 100)} % "
        f"({inputs['available']} of {inputs['total']} score inputs)"
    )
    missing = {m["field"]: m["reason"] for m in report["missing"]}
    deductions = report["deductions"]
    if performance:
        deductions = [d for d in deductions if d["input"] in ("apiResponseTime", "errorRate")]
        console.print(section_table("Performance", report["performance"], missing, "performance"))
        window = report["windows"]["performance"]
        console.print(f"window: {window['description']} ({window['start']} .. {window['end']})")
    if deductions:
        console.print(deductions_table(deductions))
    else:
        console.print("No deductions.")
    if performance:
        return
    if verbose:
        for title, key in (("Performance", "performance"), ("Adoption", "adoption"), ("Quality", "quality")):
            console.print(section_table(title, report[key], missing, key))
        stability = report["stability"]
        console.print(
            section_table(
                "Stability",
                {k: v for k, v in stability.items() if k != "problems"},
                missing,
                "stability",
            )
        )
        if stability["problems"]:
            print_table(
                "Open problems counted",
                ["counts as", "kind", "id", "severity", "title / category"],
                [
                    (p["counts"], p["kind"], p["id"], p["severity"], p.get("title") or p.get("category"))
                    for p in stability["problems"]
                ],
            )
        windows_table(report["windows"])
        if trend:
            lowest = trend["lowest"]
            console.print(
                f"Last {trend['days']} days, lowest score per day: {sparkline(trend['dailyLowest'])}  "
                f"({trend['snapshots']} snapshots"
                + (
                    f"; lowest {lowest['healthScore']} {lowest['overallHealth']} at {lowest['at'][:16]}"
                    if lowest
                    else ""
                )
                + ")"
            )
        calls = (report.get("details") or {}).get("cloudwatch", {}).get("calls")
        if calls is not None:
            console.print(f"CloudWatch GetMetricData calls for this evaluation: {calls}")
    else:
        gaps = [(m["field"], m["reason"]) for m in report["missing"] if m["scoreInput"]]
        if gaps:
            print_table("Score inputs missing (no deduction made)", ["input", "why"], gaps)


@click.command("health")
@click.option(
    "--verbose", is_flag=True, help="Every metric, the open problems counted, windows, 30-day trend."
)
@click.option("--performance", is_flag=True, help="Performance metrics and their deductions only.")
@click.option("--refresh", is_flag=True, help="Evaluate anew instead of answering from a fresh snapshot.")
@json_option
@click.pass_context
def health(ctx: click.Context, verbose: bool, performance: bool, refresh: bool, as_json: bool) -> None:
    """System health: the seed's score (0-100) and band, each deduction with its rule, input and
    threshold, and which inputs were missing."""
    from chalicelib.health.service import current_health

    settings = aws_settings((ctx.obj or {}).get("stack"))
    report = _fail_on_domain_error(
        lambda: current_health(verbose=verbose, refresh=refresh, settings=settings)
    )
    trend = _fail_on_domain_error(lambda: score_trend(30, settings)) if verbose and not performance else None
    if as_json:
        if performance:
            perf_inputs = ("apiResponseTime", "errorRate")
            report = {
                "healthScore": report["healthScore"],
                "overallHealth": report["overallHealth"],
                "evaluatedAt": report["evaluatedAt"],
                "performance": report["performance"],
                "deductions": [d for d in report["deductions"] if d["input"] in perf_inputs],
                "missing": [m for m in report["missing"] if m["field"].startswith("performance.")],
                "windows": {"performance": report["windows"]["performance"]},
            }
        elif trend is not None:
            report = {**report, "trend": trend}
        emit_json(to_jsonable(report))
        return
    render_health(report, verbose=verbose, performance=performance, trend=trend)


@click.command("metrics")
@json_option
@click.pass_context
def metrics(ctx: click.Context, as_json: bool) -> None:
    """Performance, adoption and quality metrics straight from CloudWatch (no score, nothing stored)."""
    from chalicelib.health.evaluator import read_metrics

    settings = aws_settings((ctx.obj or {}).get("stack"))
    data = _fail_on_domain_error(lambda: read_metrics(settings=settings))
    if as_json:
        emit_json(to_jsonable(data))
        return
    missing = {m["field"]: m["reason"] for m in data["missing"]}
    source = data["source"]
    console.print(
        f"[bold]Metrics[/] at {data['evaluatedAt']} from API {source['apiName']}, "
        f"namespace {source['adoptionNamespace']} ({data['cloudwatchCalls']} GetMetricData calls)"
    )
    for title, key in (("Performance", "performance"), ("Adoption", "adoption"), ("Quality", "quality")):
        console.print(section_table(title, data[key], missing, key))
    windows_table(data["windows"])
