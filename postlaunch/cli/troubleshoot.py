"""`post-launch-monitor db-check` and `post-launch-monitor logs`: the seed's troubleshooting guide
(`db:performance:check`, `tail -f app.log | grep ERROR`) for DynamoDB and Lambda. Thin over
chalicelib.ops; docs/troubleshooting.md says which command answers which symptom."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from postlaunch.cli import aws_settings, console, emit_json, fail, fmt, json_option, to_jsonable

_DURATION = re.compile(r"(\d+)\s*([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SINCE = timedelta(days=15)  # CloudWatch keeps one-minute metrics 15 days
LEVEL_STYLE = {"CRITICAL": "bold red", "ERROR": "red", "WARNING": "yellow", "INFO": "", "DEBUG": "dim"}


class Duration(click.ParamType):
    """1h, 30m, 2d, 90s, or combined: 1h30m."""

    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> timedelta:
        if isinstance(value, timedelta):
            return value
        text = str(value).strip().lower()
        parts = _DURATION.findall(text)
        if not parts or _DURATION.sub("", text).strip():
            self.fail(f"{value!r} is not a duration such as 30m, 1h, 2d or 1h30m.", param, ctx)
        since = timedelta(seconds=sum(int(n) * _UNIT_SECONDS[u] for n, u in parts))
        if since <= timedelta(0):
            self.fail("the duration must be longer than zero.", param, ctx)
        if since > MAX_SINCE:
            self.fail(f"at most {MAX_SINCE.days} days.", param, ctx)
        return since


def _stack(ctx: click.Context) -> str:
    from postlaunch.awsenv import DEFAULT_STACK, STACK_ENV

    return (ctx.obj or {}).get("stack") or os.environ.get(STACK_ENV) or DEFAULT_STACK


def _domain(fn: Any) -> Any:
    from chalicelib.errors import DomainError

    try:
        return fn()
    except DomainError as error:
        raise click.ClickException(error.message) from error


# ---------------------------------------------------------------- db-check


def _bytes(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _nodata(value: Any, suffix: str = "") -> str:
    return "no data" if value is None else f"{fmt(value)}{suffix}"


def _throttle_cell(t: dict[str, Any]) -> str:
    ops = {op: n for op, n in t["throttles"]["throttledRequests"].items() if n}
    read, write = t["throttles"]["readThrottleEvents"], t["throttles"]["writeThrottleEvents"]
    cell = f"read {_nodata(read)}\nwrite {_nodata(write)}"
    if ops:
        cell += "\n" + ", ".join(f"{op} {fmt(n)}" for op, n in ops.items())
    return cell


def _latency_cell(t: dict[str, Any]) -> str:
    rows = [
        f"{entry['operation']} {fmt(entry['averageMs'])}/{fmt(entry['maximumMs'])} ms "
        f"({fmt(entry['requests'])})"
        for entry in t["latency"]
        if entry["averageMs"] is not None
    ]
    return "\n".join(rows) if rows else "no data"


def _capacity_cell(t: dict[str, Any]) -> str:
    c = t["consumed"]
    cell = f"RCU {_nodata(c['readCapacityUnits']['total'])}\nWCU {_nodata(c['writeCapacityUnits']['total'])}"
    if t["provisioned"]:
        p = t["provisioned"]
        cell += f"\nprovisioned {p['readCapacityUnits']}/{p['writeCapacityUnits']} per s"
    elif t["billingMode"]:
        cell += "\non demand"
    return cell


def _recovery_cell(t: dict[str, Any]) -> str:
    pitr = t["pointInTimeRecovery"]
    if pitr["enabled"] is None:
        first = "PITR unknown"
    elif pitr["enabled"]:
        lag = pitr["lagMinutes"]
        first = "PITR on" + (f", {fmt(lag)} min behind" if lag is not None else "")
    else:
        first = "PITR off"
    latest = t["backups"]["latest"]
    second = (
        f"backup {latest['created'][:16].replace('T', ' ')} ({fmt(latest['ageHours'])} h ago)"
        if latest
        else ("no on-demand backup" if t["backups"]["count"] == 0 else "backups unknown")
    )
    return f"{first}\n{second}"


def _index_cell(t: dict[str, Any]) -> str:
    if t["status"] is None:
        return "—"
    if not t["indexes"]:
        return "none"
    return "\n".join(
        f"{i['name']} {i['status']}" + (" backfilling" if i["backfilling"] else "") for i in t["indexes"]
    )


def render_db_check(report: dict[str, Any]) -> None:
    """Three narrow tables rather than one wide one: a terminal of 80 columns shows them whole."""
    window = report["window"]
    console.print(
        f"[bold]DynamoDB check[/] at {report['checkedAt']}; metrics over the {window['description']} "
        f"({window['start']} .. {window['end']})"
    )
    tables = report["tables"]
    metrics = Table(title=f"Requests, {window['description']}", title_justify="left", header_style="bold")
    metrics.add_column("table", no_wrap=True)
    metrics.add_column("throttled", overflow="fold")
    metrics.add_column("latency avg/max (requests)", overflow="fold")
    metrics.add_column("consumed", overflow="fold")
    for t in tables:
        metrics.add_row(t["role"], _throttle_cell(t), _latency_cell(t), _capacity_cell(t))
    console.print(metrics)

    state = Table(title="State", title_justify="left", header_style="bold")
    state.add_column("table", overflow="fold")
    state.add_column("status", no_wrap=True)
    state.add_column("items / size", justify="right", no_wrap=True)
    state.add_column("recovery", overflow="fold")
    state.add_column("indexes", overflow="fold")
    for t in tables:
        state.add_row(
            Text.assemble(t["role"], "\n", (t["table"], "dim")),
            t["status"] or "—",
            f"{fmt(t['itemCount'])}\n{_bytes(t['sizeBytes'])}",
            _recovery_cell(t),
            _index_cell(t),
        )
    console.print(state)

    verdicts = Table(title="Verdict", title_justify="left", header_style="bold")
    verdicts.add_column("table", no_wrap=True)
    verdicts.add_column("verdict", overflow="fold")
    for t in tables:
        verdict = (
            Text("ok", style="green")
            if t["verdict"] == "ok"
            else Text("warn: " + "; ".join(t["reasons"]), style="yellow")
        )
        verdicts.add_row(t["role"], verdict)
    console.print(verdicts)
    for note in report["notes"]:
        console.print(f"[dim]note: {note}[/]")
    console.print(
        '[dim]"no data": CloudWatch holds no datapoint for the window (DynamoDB publishes a metric only '
        "for minutes with requests, throttle metrics only when throttling happened); never read as 0.[/]"
    )
    calls = ", ".join(f"{k} {v}" for k, v in report["calls"].items())
    console.print(f"[dim]calls: {calls} ({report['metricQueries']} metric queries)[/]")


@click.command("db-check")
@click.option(
    "--since",
    type=Duration(),
    default="1h",
    show_default=True,
    help="Metrics window, ending now: 30m, 1h, 1d, ... (at most 15 days).",
)
@json_option
@click.pass_context
def db_check(ctx: click.Context, since: timedelta, as_json: bool) -> None:
    """Each of our DynamoDB tables: throttling, latency, consumed capacity, point-in-time recovery
    and the latest backup, item count and size, indexes; ok or warn with the reasons."""
    from chalicelib.ops.dbcheck import run_db_check

    settings = aws_settings((ctx.obj or {}).get("stack"))
    report = _domain(lambda: run_db_check(since, settings=settings))
    if as_json:
        emit_json(to_jsonable(report))
        return
    render_db_check(report)


# ---------------------------------------------------------------- logs


def render_line(line: Any, function_width: int = 0) -> Text:
    """One event on one line, in columns: time (UTC), function, level, message, [correlation id].
    Lines rather than a table: a message wraps under itself, and --follow prints the same shape."""
    stamp = datetime.fromtimestamp(line.timestamp / 1000, UTC).strftime("%m-%d %H:%M:%S.%f")[:-3]
    level = line.level or ""
    parts: list[Any] = [
        (stamp + "  ", "dim"),
        (line.function.ljust(function_width) + "  ", "cyan"),
        (level.ljust(8) + " ", LEVEL_STYLE.get(level, "")),
        # Powertools lines show their message; other lines (Lambda's START/END/REPORT, tracebacks) raw.
        (line.message, "" if line.record is not None else "dim"),
    ]
    if line.correlation_id:
        parts.append((f"  [{line.correlation_id}]", "dim"))
    return Text.assemble(*parts)


@click.command("logs")
@click.option(
    "--errors", "errors_only", is_flag=True, help="ERROR/CRITICAL lines and Lambda's own errors only."
)
@click.option(
    "--since", type=Duration(), default="1h", show_default=True, help="How far back: 15m, 1h, 2d, ..."
)
@click.option(
    "--function", "function", metavar="NAME", help="One function: its name in app.py or its logical id."
)
@click.option("--follow", "-f", is_flag=True, help="Keep polling for new lines until Ctrl-C.")
@click.option(
    "--limit", type=click.IntRange(1, 10_000), default=200, show_default=True, help="Newest lines shown."
)
@click.option(
    "--log-group-prefix",
    metavar="PREFIX",
    help="Read the groups starting with PREFIX instead of /aws/lambda/<stack>- (docs/troubleshooting.md).",
)
@click.option("--interval", type=click.FloatRange(0.1, 300), default=5.0, hidden=True)
@click.option("--max-polls", type=click.IntRange(1), default=None, hidden=True)
@json_option
@click.pass_context
def logs(
    ctx: click.Context,
    errors_only: bool,
    since: timedelta,
    function: str | None,
    follow: bool,
    limit: int,
    log_group_prefix: str | None,
    interval: float,
    max_polls: int | None,
    as_json: bool,
) -> None:
    """Our Lambda functions' CloudWatch Logs, newest last: Powertools JSON lines in columns (time,
    function, level, message, correlation id), other lines raw. With --json, one JSON document (or,
    with --follow, one JSON object per line)."""
    from chalicelib.ops import logs as ops

    settings = aws_settings((ctx.obj or {}).get("stack"))
    query = ops.LogQuery(
        stack=_stack(ctx),
        since=since,
        errors_only=errors_only,
        function=function,
        limit=limit,
        group_prefix=log_group_prefix,
    )
    try:
        read = _domain(lambda: ops.read_logs(query, settings=settings))
    except ops.NoLogGroups as exc:
        fail(str(exc))
    if as_json and not follow:
        emit_json(to_jsonable(read.as_dict(query)))
        return
    if as_json:
        import json

        for line in read.lines:
            click.echo(json.dumps(to_jsonable(line.as_dict())))
    else:
        console.print(
            f"[bold]{len(read.lines)} line(s)[/] from {len(read.groups)} log group(s) of {query.stack}, "
            f"{'errors only, ' if errors_only else ''}since {read.start.isoformat(timespec='seconds')}"
        )
        width = max((len(line.function) for line in read.lines), default=0)
        for line in read.lines:
            console.print(render_line(line, width))
        for note in read.partial:
            console.print(f"[yellow]partial:[/] {note}")
    if not follow:
        return
    _follow(query, read, settings, interval, max_polls, as_json)


def _follow(
    query: Any, read: Any, settings: Any, interval: float, max_polls: int | None, as_json: bool
) -> None:
    import json

    from chalicelib.errors import UpstreamUnavailable
    from chalicelib.ops import logs as ops

    follower = ops.Follower(query, read.groups, int(read.end.timestamp() * 1000), settings=settings)
    follower.remember(read.lines)
    width = max((len(line.function) for line in read.lines), default=0)
    status = None if as_json else console.status("", spinner="dots")
    if status:
        status.start()
    try:
        while max_polls is None or follower.polls < max_polls:
            if status:
                status.update(
                    f"following {len(follower.groups)} log group(s) · {follower.polls} polls · "
                    f"next in {interval:g} s · Ctrl-C to stop"
                )
            time.sleep(interval)
            try:
                fresh = follower.poll()
            except UpstreamUnavailable as exc:
                # A throttled or failed poll is retried at the next one rather than ending the follow.
                if not as_json:
                    console.print(f"[yellow]poll failed, retrying:[/] {exc.message}")
                continue
            for line in fresh:
                if as_json:
                    click.echo(json.dumps(to_jsonable(line.as_dict())))
                else:
                    console.print(render_line(line, width))
            for note in follower.notes:
                if not as_json:
                    console.print(f"[yellow]partial:[/] {note}")
    except KeyboardInterrupt:
        pass
    finally:
        if status:
            status.stop()
