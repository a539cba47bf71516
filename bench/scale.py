"""Cost follows the window, not the table (issue 10, section 3).

The same window content is measured twice: with 1,000 feedback items stored (plus alerts, health
snapshots and releases in proportion), then after 99,000 more items (and 100 times the rest) are
loaded outside every window the measured reads use. Loading goes straight into the tables with
BatchWriteItem, the items built by the capabilities' own record builders and the stores' models,
so they are shaped exactly as the API writes them.

For each read: DynamoDB items read (ScannedCount of each Query, what DynamoDB bills, summed), AWS
calls, wall time, the time spent waiting for AWS, and our time: the CPU time of a process of its own
that makes the reads (`measure_apart`), so that neither moto's threads nor its tables, which live in
this process, are in it. The local stack's moto answers a Query from the queried partition
(postlaunch/localstack.py, `_partition_queries`), as DynamoDB reads a key range; unpatched, moto
sorted the whole table for every Query and the wall time measured the table instead.

`run(ctx)` uses ctx.settings, and ctx.quick (100 and 1,000 items) and ctx.scale_large (the large
size) when present. Run alone: `python -m bench.scale [--quick] [--large N] [--json PATH]` (its
own moto). The full size takes about 5 minutes on a shared 2-core machine, most of it loading.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import AREAS, SEVERITIES, RoundTrips, local_context, payload

ROOT = Path(__file__).resolve().parent.parent
# Every window ends here. Fixed and in the past, so data other benches write at the wall clock's
# "now" into the same moto stays out of the windows measured.
AS_OF = datetime(2023, 6, 30, 12, 0, tzinfo=UTC)
# The widest window among the reads measured (the feedback list's default horizon, 366 days): the
# added items are all older, so every window holds the same items at both sizes.
OUTSIDE_FROM_DAYS = 368
WORKSPACES = tuple(f"ws-scale-{n}" for n in range(10))
TITLES = (
    "Add recurring appointment templates",
    "Reminder text is hard to read on phones",
    "Follow-up list loads slowly",
    "Export analytics to spreadsheet",
    "Portal login asks twice for the code",
    "Let patients reschedule from the reminder",
)
# Per 1,000 feedback items: alerts, health evaluations (a snapshot and a summary item each), releases.
ALERTS_PER_1000, EVALUATIONS_PER_1000, RELEASES_PER_1000 = 20, 50, 5


# ------------------------------------------------------------------------------ counting AWS calls
# The one counter (tests/roundtrips.py): calls per service:Operation and items read, from this
# thread and the threads it fans reads out to (chalicelib.parallel).


def _waited(trips: RoundTrips) -> float:
    """Seconds some AWS call of the read was in flight (overlapping calls count once)."""
    total, reach = 0.0, float("-inf")
    for call in sorted(trips.calls, key=lambda c: c.started):
        if call.ended > reach:
            total += call.ended - max(call.started, reach)
            reach = call.ended
    return total


# ------------------------------------------------------------------------------------- loading


def _spread(n: int, first_day: float, last_day: float, as_of: datetime) -> Iterator[datetime]:
    """n instants spread evenly over [first_day, last_day) days before as_of, newest first."""
    step = (last_day - first_day) / max(n, 1)
    for i in range(n):
        yield as_of - timedelta(days=first_day + step * i, seconds=i % 60)


def feedback_records(
    n: int, first_day: float, last_day: float, resolve_open_problems: bool, as_of: datetime = AS_OF
) -> list[dict]:
    """n feedback items built by the service's record builder (validation, redaction, lifecycle),
    over the given days. With `resolve_open_problems`, high and critical items are resolved through
    the lifecycle's own transitions (old problems get fixed; the open ones stay the window's)."""
    from chalicelib.auth import Principal, Role
    from chalicelib.feedback import lifecycle
    from chalicelib.feedback.service import new_record
    from chalicelib.feedback.windows import iso

    principals = [
        Principal(sub=f"scale-{ws}", workspace_id=ws, roles=frozenset({Role.STAFF})) for ws in WORKSPACES
    ]
    records = []
    for i, at in enumerate(_spread(n, first_day, last_day, as_of)):
        # Every severity (critical ones too: the lists and Phase 2 filter on them), titles that group.
        body = {
            **payload(i),
            "severity": SEVERITIES[(i // 5) % 4],
            "title": f"{TITLES[i % len(TITLES)]} ({i % 7})",
            "description": "A benchmark feedback item with enough text to be realistic about its size.",
        }
        record, _ = new_record(principals[i % len(principals)], body, now=at)
        record["notifyPending"] = None  # published when it came in
        if resolve_open_problems and record["severity"] in ("high", "critical"):
            for status, resolution in (("acknowledged", None), ("resolved", "Fixed in a release.")):
                if record["status"] == status:
                    continue
                change = lifecycle.plan_update(
                    record, actor="scale", now=iso(at), status=status, resolution=resolution, history_max=20
                )
                record.update(change.set)
                for name in change.remove:
                    record.pop(name, None)
        records.append(record)
    return records


def alert_records(
    n: int, first_day: float, last_day: float, active: int, settings, as_of: datetime = AS_OF
) -> list[dict]:
    """n alerts built by the engine's record builder, the first `active` of them firing, the rest
    resolved an hour after they fired (and notified: nothing pending)."""
    from chalicelib.alerts.engine import new_record, resolution_fields
    from chalicelib.alerts.model import Condition

    records = []
    for i, at in enumerate(_spread(n, first_day, last_day, as_of)):
        condition = Condition(
            "BenchScaleProbe",
            ("critical", "error", "warning", "info")[i % 4],
            f"Benchmark condition {i}",
            {"probe": f"scale-{as_of:%Y}-{first_day}-{i}"},
            value=float(i % 10),
            threshold=5.0,
        )
        record = new_record(condition, at, settings)
        if i >= active:
            record |= resolution_fields("scale", "condition cleared", at + timedelta(hours=1))
        record |= {"notifyPending": None, "notifyDueAt": None}
        records.append(record)
    return records


def release_records(
    n: int, first_day: float, last_day: float, tag: str, as_of: datetime = AS_OF
) -> list[dict]:
    from chalicelib.feedback.windows import iso
    from chalicelib.releases.model import new_record

    return [
        new_record(
            f"9.{tag}.{i}",
            [f"ISS-{i + 1}"],
            [AREAS[i % 6]],
            [
                {
                    "function": "patient-engagement-api",
                    "environment": env,
                    "alias": alias,
                    "fromVersion": "1",
                    "toVersion": "2",
                }
                for env, alias in (("staging", "staging"), ("production", "live"))
            ],
            actor="scale",
            now=iso(at),
        )
        for i, at in enumerate(_spread(n, first_day, last_day, as_of))
    ]


def health_items(
    n: int, first_day: float, last_day: float, report: dict, summary: dict, settings, as_of: datetime = AS_OF
):
    from chalicelib.store.health import snapshot_items

    for at in _spread(n, first_day, last_day, as_of):
        yield from snapshot_items(at, report, summary, settings=settings)


@dataclass
class Layout:
    """How many of each are loaded where: the window part (identical at both sizes) and the part
    outside every window (older than OUTSIDE_FROM_DAYS)."""

    feedback: int

    def counts(self) -> dict[str, int]:
        k = self.feedback / 1000
        return {
            "feedback": self.feedback,
            "alerts": round(ALERTS_PER_1000 * k),
            "healthItems": 2 * round(EVALUATIONS_PER_1000 * k),
            "releases": round(RELEASES_PER_1000 * k),
        }


def load_base(
    n: int, settings, report: dict, summary: dict, as_of: datetime = AS_OF, keep_open: bool = True
) -> dict[str, Any]:
    """The n-item table: 60% of the feedback in the 30 days before as_of (the summary's and the
    report's window), the rest over the year before; alerts, evaluations and releases likewise.
    The recent high and critical feedback stays open and a quarter of the recent alerts firing,
    unless not `keep_open` (a test sharing its tables with others leaves no open problem behind)."""
    from chalicelib.store import alerts as alert_store
    from chalicelib.store import feedback as feedback_store
    from chalicelib.store import health as health_store
    from chalicelib.store import releases as release_store

    counts = Layout(n).counts()
    parts = ((0, 30), (30, 366))  # (first day, last day) back from as_of: the recent part, the older
    recent = round(n * 0.6)
    for (first, last), size, resolve in zip(parts, (recent, n - recent), (not keep_open, True), strict=True):
        feedback_store.batch_put(feedback_records(size, first, last, resolve, as_of))
    alerts, evaluations, releases = counts["alerts"], counts["healthItems"] // 2, counts["releases"]
    for (first, last), share in zip(parts, (0.75, 0.25), strict=True):
        size = round(alerts * share)
        active = alerts // 4 if first == 0 and keep_open else 0
        alert_store.batch_put(alert_records(size, first, last, active, settings, as_of))
        size = round(evaluations * (0.6 if first == 0 else 0.4))
        health_store.batch_put(health_items(size, first, last, report, summary, settings, as_of))
        size = (releases + 1) // 2 if first == 0 else releases // 2
        release_store.batch_put(release_records(size, first, last, f"{as_of:%Y}{first}", as_of), settings)
    return counts


def load_outside(
    n: int, settings, report: dict, summary: dict, as_of: datetime = AS_OF, chunk: int = 5000
) -> dict[str, Any]:
    """n more feedback items (and the rest in proportion), all older than every window, over the
    three years before OUTSIDE_FROM_DAYS; in chunks, so the builders' lists stay small."""
    from chalicelib.store import alerts as alert_store
    from chalicelib.store import feedback as feedback_store
    from chalicelib.store import health as health_store
    from chalicelib.store import releases as release_store

    counts = Layout(n).counts()
    span = 3 * 365
    first, last = OUTSIDE_FROM_DAYS, OUTSIDE_FROM_DAYS + span
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        begin = first + span * start / n
        feedback_store.batch_put(feedback_records(size, begin, begin + span * size / n, True, as_of))
    alert_store.batch_put(alert_records(counts["alerts"], first, last, 0, settings, as_of))
    evaluations = counts["healthItems"] // 2
    health_store.batch_put(health_items(evaluations, first, last, report, summary, settings, as_of))
    tag = f"{as_of:%Y}x{n}"
    release_store.batch_put(release_records(counts["releases"], first, last, tag, as_of), settings)
    return counts


# ------------------------------------------------------------------------------------- measuring


# A read's cost is bound by its window (the same window content at both sizes: items read equal), or
# by its page (a list with no window reads at most `limit` items per partition: the small table may
# hold less than a page, the large one a full page, whatever it holds beyond).
WINDOW, PAGE = "window", "page"


def reads(settings, as_of: datetime = AS_OF) -> dict[str, tuple[str, Callable[[], Any]]]:
    """The reads measured, each as its route calls it, as of `as_of`: name -> (bound, read)."""
    from chalicelib.alerts import service as alerts
    from chalicelib.auth import Principal, Role
    from chalicelib.feedback import service as feedback
    from chalicelib.health import service as health
    from chalicelib.phase2.service import phase2_plan
    from chalicelib.reports.report import build_report
    from chalicelib.store import health as health_store

    engineer = Principal(sub="scale-engineer", workspace_id=None, roles=frozenset({Role.ENGINEER}))
    staff = Principal(sub="scale-staff", workspace_id=WORKSPACES[0], roles=frozenset({Role.STAFF}))
    critical_bugs = {"category": "bug_report", "severity": "critical"}

    class SnapshotHealth:
        """The route's usual answer: asked just after the newest stored snapshot (whoever stored
        it), found before the measured call."""

        at = as_of

        def prepare(self) -> None:
            latest = health_store.latest_snapshot(settings)
            self.at = latest.at + timedelta(seconds=5) if latest else as_of

        def __call__(self) -> Any:
            return health.current_health(now=self.at, settings=settings)

    return {
        "feedback summary (30 d, all workspaces)": (
            WINDOW,
            lambda: feedback.feedback_summary(engineer, {}, now=as_of, settings=settings),
        ),
        "feedback summary (30 d, one workspace)": (
            WINDOW,
            lambda: feedback.feedback_summary(staff, {}, now=as_of, settings=settings),
        ),
        "feedback list (first page)": (
            WINDOW,
            lambda: feedback.list_feedback(engineer, {}, now=as_of, settings=settings),
        ),
        "feedback list (critical bug reports)": (
            WINDOW,
            lambda: feedback.list_feedback(engineer, critical_bugs, now=as_of, settings=settings),
        ),
        "system health (evaluated)": (
            WINDOW,
            lambda: health.current_health(refresh=True, now=as_of, settings=settings),
        ),
        "system health (snapshot)": (WINDOW, SnapshotHealth()),
        "alerts list (active)": (PAGE, lambda: alerts.list_alerts({}, settings=settings)),
        "alerts list (all, critical)": (
            PAGE,
            lambda: alerts.list_alerts({"state": "all", "severity": "critical"}, settings=settings),
        ),
        "report (30 d)": (WINDOW, lambda: build_report(now=as_of, settings=settings)),
        "phase 2 plan (90 d)": (WINDOW, lambda: phase2_plan({}, now=as_of, settings=settings)),
    }


def measure(read: Callable[[], Any], repeat: int) -> dict[str, Any]:
    """Median of `repeat` runs: wall time, AWS wait, and our time, the CPU time of this process
    (every thread: the read's own and those it fans out to); items read and calls (the same each
    run, or itemsReadVaried says so). `measure_apart` runs it in a process that holds no moto."""
    runs = []
    if hasattr(read, "prepare"):
        read.prepare()
    for _ in range(repeat):
        with RoundTrips() as trips:
            started, cpu = time.perf_counter(), time.process_time()
            read()
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        runs.append((wall, cpu, trips))
    items = {t.items_read for _, _, t in runs}

    def ms(values) -> float:
        return round(statistics.median(values) * 1000, 1)

    return {
        "itemsRead": max(items),
        "itemsReadVaried": len(items) > 1,
        "calls": runs[-1][2].total,
        "byOperation": dict(sorted(runs[-1][2].by_operation().items())),
        "wallMs": ms(w for w, _, _ in runs),
        "awsMs": ms(_waited(t) for _, _, t in runs),
        "oursMs": ms(c for _, c, _ in runs),
        "oursWallMs": ms(w - _waited(t) for w, _, t in runs),
    }


def measure_apart(repeat: int) -> dict[str, dict[str, Any]]:
    """Every read of `reads`, measured in a fresh interpreter of its own against the same moto server
    (its address and the tables are in the environment): there, the process's CPU time is our code's
    alone, as on Lambda, where moto's threads and its tables (a gigabyte at 100,000 items, in this
    process) are not beside it."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--measure-apart", str(repeat)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=ROOT,
        timeout=1800,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"measuring the reads: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _measure_here(repeat: int) -> None:
    """The child of `measure_apart`: warm every read up, then measure each; JSON on stdout."""
    from chalicelib.config import get_settings, reset_settings
    from chalicelib.store.base import bind_models

    reset_settings()
    bind_models()
    read_fns = reads(get_settings())
    for _, read in read_fns.values():  # imports, clients, caches
        read()
    gc.collect()
    gc.freeze()
    print(json.dumps({name: measure(read, repeat) for name, (_, read) in read_fns.items()}))


def rss_mib() -> float:
    """Resident set of this process now (moto runs in it, so its tables are in here), MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ratio(large: float, small: float) -> float | None:
    return round(large / small, 2) if small else (1.0 if large == small else None)


def _settle() -> None:
    """Collect, then freeze what is alive: moto keeps the tables in this process, and without this
    the collector's full passes over them would be charged to whatever read runs next (a Lambda's
    heap holds no table)."""
    gc.collect()
    gc.freeze()


def run(ctx: Any) -> dict[str, Any]:
    """Load the small table, measure; load the rest outside the windows, measure again; print the
    table of both and their ratios, return the figures."""
    from chalicelib.health.evaluator import evaluate

    settings = ctx.settings
    quick = bool(getattr(ctx, "quick", False))
    small, large = (100, 1000) if quick else (1000, getattr(ctx, "scale_large", None) or 100_000)
    repeat = 1 if quick else 5
    # One real evaluation gives the snapshot payload and summary every loaded evaluation stores.
    sample = evaluate(AS_OF, settings=settings)
    report, summary = sample.report.model_dump(mode="json"), sample.summary

    print(f"3. Cost follows the window: {small:,} then {large:,} feedback items stored, same windows")
    started = time.perf_counter()
    loaded = {"small": load_base(small, settings, report, summary)}
    small_load = time.perf_counter() - started
    _settle()
    print(f"   loaded {loaded['small']} in {small_load:.1f} s; RSS {rss_mib():.0f} MiB")
    read_fns = reads(settings)
    before = measure_apart(repeat)

    started = time.perf_counter()
    loaded["added"] = load_outside(large - small, settings, report, summary)
    large_load = time.perf_counter() - started
    _settle()
    rate = loaded["added"]["feedback"] / large_load
    print(
        f"   added {loaded['added']} outside the windows in {large_load:.1f} s "
        f"({rate:,.0f} feedback items/s with the rest); RSS {rss_mib():.0f} MiB"
    )
    after = measure_apart(repeat)
    gc.unfreeze()

    print(
        f"   {'read':<40} {'bound':>6} {'items read':>17} {'ratio':>6} {'calls':>9} "
        f"{'wall ms':>17} {'ratio':>6} {'our CPU ms':>15} {'ratio':>6} {'AWS (moto) ms':>17} {'ratio':>6}"
    )
    rows = {}
    for name, (bound, _) in read_fns.items():
        b, a = before[name], after[name]
        row = {
            "bound": bound,
            "small": b,
            "large": a,
            "itemsReadRatio": _ratio(a["itemsRead"], b["itemsRead"]),
            "oursRatio": _ratio(a["oursMs"], b["oursMs"]),
            "awsRatio": _ratio(a["awsMs"], b["awsMs"]),
            "wallRatio": _ratio(a["wallMs"], b["wallMs"]),
        }
        rows[name] = row
        print(
            f"   {name:<40} {bound:>6} {b['itemsRead']:>8} {a['itemsRead']:>8} {row['itemsReadRatio']!s:>6} "
            f"{b['calls']:>4} {a['calls']:>4} {b['wallMs']:>8} {a['wallMs']:>8} {row['wallRatio']!s:>6} "
            f"{b['oursMs']:>7} {a['oursMs']:>7} {row['oursRatio']!s:>6} "
            f"{b['awsMs']:>8} {a['awsMs']:>8} {row['awsRatio']!s:>6}"
        )
    windowed = [r for r in rows.values() if r["bound"] == WINDOW]
    worst = max((r["itemsReadRatio"] or 0) for r in windowed)
    worst_ours = max((r["oursRatio"] or 0) for r in windowed)
    print(
        f"   window-bound reads: worst items-read ratio {worst}, worst our-time ratio {worst_ours} "
        "(goal <= 1.2). Page-bound reads (no window) read at most a page per partition.\n"
        "   Our CPU = the CPU time of a process of its own that makes the reads (no moto in it);\n"
        "   wall and AWS include moto, which reads the queried partition only (postlaunch/localstack.py)."
    )
    return {
        "asOf": AS_OF.isoformat(),
        "sizes": {"small": small, "large": large},
        "loaded": loaded,
        "loadSeconds": {"small": round(small_load, 1), "added": round(large_load, 1)},
        "rssMiB": round(rss_mib()),
        "repeat": repeat,
        "reads": rows,
        "worstItemsReadRatio": worst,
        "worstOursRatio": worst_ours,
        "worstWallRatio": max((r["wallRatio"] or 0) for r in windowed),
    }


def readme(figures: dict[str, Any], meta: dict[str, Any]) -> str:
    """The README's 1k / 100k table (between `<!-- scale:start -->` and `<!-- scale:end -->`)."""
    sizes, added = figures["sizes"], figures["loaded"]["added"]
    lines = [
        f"Measured {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs, Python {meta['python']}) by "
        f"`make bench`: {sizes['small']:,} then {sizes['large']:,} feedback items stored (the "
        f"{added['feedback']:,} added, with {added['alerts']:,} alerts, {added['healthItems']:,} health "
        f"items and {added['releases']:,} releases, loaded in {figures['loadSeconds']['added']:.0f} s); "
        f"medians of {figures['repeat']}; small / large:",
        "",
        "| read | bound | items read | ratio | calls | our CPU ms | ratio | wall ms | ratio |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]

    def pair(row: dict[str, Any], key: str, fmt: str) -> str:
        return f"{format(row['small'][key], fmt)} / {format(row['large'][key], fmt)}"

    for name, row in figures["reads"].items():
        calls = row["small"]["calls"], row["large"]["calls"]
        lines.append(
            f"| {name} | {row['bound']} | {pair(row, 'itemsRead', ',')} | **{row['itemsReadRatio']:.2f}** | "
            f"{calls[0] if calls[0] == calls[1] else f'{calls[0]} / {calls[1]}'} | "
            f"{pair(row, 'oursMs', ',.1f')} | {row['oursRatio']:.2f} | {pair(row, 'wallMs', ',.0f')} | "
            f"{row['wallRatio']:.2f} |"
        )
    lines += [
        "",
        f"Window-bound reads: worst items-read ratio {figures['worstItemsReadRatio']:.2f}, worst CPU ratio "
        f"{figures['worstOursRatio']:.2f}, worst wall ratio {figures['worstWallRatio']:.2f}; the process "
        f"held {figures['rssMiB']:,} MiB at the end (moto's tables live in it).",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ standalone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="100 and 1,000 items instead of 1,000 and 100,000"
    )
    parser.add_argument("--large", type=int, help="feedback items of the large table (default 100,000)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--measure-apart", type=int, help=argparse.SUPPRESS)  # the child: repeats
    args = parser.parse_args()
    if args.measure_apart:
        _measure_here(args.measure_apart)
        return
    with local_context(quick=args.quick, stack_name="post-launch-monitor-bench-scale") as ctx:
        ctx.scale_large = args.large  # type: ignore[attr-defined]
        figures = run(ctx)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
