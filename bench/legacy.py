"""The first three benches (issue 3 and 5): summary items per window, health requests, summary memory.

1. Feedback summary: DynamoDB items read per window, and what happens to them when the table grows
   outside the window (ratio 1.00 means the cost follows the window, not the table).
2. Health evaluation: AWS requests per evaluation with 0 and with many stored feedback items.
3. Summary computation memory: tracemalloc peak for 1k vs 8k items in one window.
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from bench.common import AS_OF, Context, Requests, load, payload


def bench_summary(requests: Requests, per_day: int = 50) -> dict:
    from chalicelib.auth import Principal, Role
    from chalicelib.feedback.service import feedback_summary

    engineer = Principal(sub="bench-eng", workspace_id=None, roles=frozenset({Role.ENGINEER}))
    workspace = "ws-bench-summary"
    load(workspace, per_day * 60, first_day_back=0, days=60)

    def summary(days: int) -> dict:
        query = {
            "workspaceId": workspace,
            "startDate": (AS_OF - timedelta(days=days - 1)).date().isoformat(),
            "endDate": AS_OF.date().isoformat(),
        }
        started = time.perf_counter()
        with requests.measure() as trips:
            out = feedback_summary(engineer, query, now=AS_OF)
        return {**out, "requests": trips.total, "seconds": time.perf_counter() - started}

    print(f"1. Feedback summary: items read per window ({per_day} items a day, {per_day * 60} in the table)")
    print(f"   {'window':>8} {'in window':>10} {'items read':>11} {'read/in window':>15} {'requests':>9}")
    before = {}
    for days in (1, 7, 30, 60):
        out = summary(days)
        before[days] = out
        ratio = out["itemsRead"] / out["total"]
        print(f"   {days:>6} d {out['total']:>10} {out['itemsRead']:>11} {ratio:>15.2f} {out['requests']:>9}")
    load(workspace, per_day * 60, first_day_back=400, days=60)
    after = summary(7)
    ratio = after["itemsRead"] / before[7]["itemsRead"]
    print(f"   after adding {per_day * 60} items outside the window ({per_day * 120} in the table):")
    print(
        f"   7-day window items read {after['itemsRead']} vs {before[7]['itemsRead']} before: "
        f"ratio {ratio:.2f} (1.00 = cost independent of table size)"
    )
    return {
        "perDay": per_day,
        "itemsReadPerWindow": {f"{d}d": before[d]["itemsRead"] for d in before},
        "tableGrowthRatio7d": round(ratio, 2),
    }


def bench_health(requests: Requests, items: int = 2000) -> dict:
    from chalicelib.health.evaluator import evaluate

    as_of = datetime(2021, 9, 15, 12, 0, tzinfo=UTC)
    with requests.measure() as empty:
        evaluate(now=as_of)
    # Rated, low-severity items in the satisfaction window: stored feedback, not open problems (each
    # open critical or high item is a deduction the evaluation must list, so those are read).
    load("ws-bench-health", items, first_day_back=(AS_OF - as_of).days + 1, days=20, severity="low")
    with requests.measure() as loaded:
        rated = evaluate(now=as_of).report.quality.satisfactionResponses
    ratio = loaded.total / empty.total
    print("2. Health evaluation: AWS requests per evaluation")
    print(
        f"   0 feedback items: {empty.total}; {items} items ({rated} rated in the window): "
        f"{loaded.total}; ratio {ratio:.2f} "
        "(1.00: satisfaction comes from the daily ratings rollup, not the items)"
    )
    return {
        "items": items,
        "requestsEmpty": empty.total,
        "requestsLoaded": loaded.total,
        "ratio": round(ratio, 2),
    }


def bench_summary_memory(small_n: int = 1000, large_n: int = 8000) -> dict:
    from chalicelib.feedback.summary import compute_summary
    from chalicelib.feedback.windows import Window

    window = Window(AS_OF - timedelta(days=29), AS_OF)

    def items(n: int, resolved_share: int):
        """n items in the same 30-day window (spread evenly), every `resolved_share`-th resolved."""
        step = timedelta(days=29) / n
        for i in range(n):
            created = (AS_OF - step * i).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            record = {"createdAt": created, "status": "new", **payload(i)}
            if resolved_share and i % resolved_share == 0:
                record["status"], record["resolvedAt"] = "resolved", created
            yield record

    def peak(n: int, resolved_share: int) -> int:
        compute_summary(items(50, resolved_share), window)  # warm caches outside the measurement
        tracemalloc.start()
        compute_summary(items(n, resolved_share), window)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    print("3. Summary computation memory (tracemalloc peak, items streamed from the query)")
    out = {}
    for label, share in (("none resolved", 0), ("a third resolved", 3)):
        small, large = peak(small_n, share), peak(large_n, share)
        out[label] = round(large / small, 2)
        print(
            f"   {label:>16}: {small_n} items {small / 1024:.0f} KiB; "
            f"{large_n} items {large / 1024:.0f} KiB; "
            f"ratio {large / small:.2f} for {large_n // small_n}x the items"
        )
    print("   (per-day counters follow the window; exact median/p90 keep one float per resolved item)")
    return {"memoryRatio8x": out}


def run(ctx: Context) -> dict:
    return {
        "summary": bench_summary(ctx.requests, per_day=5 if ctx.quick else 50),
        "health": bench_health(ctx.requests, items=200 if ctx.quick else 2000),
        "summaryMemory": bench_summary_memory(*((100, 800) if ctx.quick else (1000, 8000))),
    }


def readme(figures: dict, meta: dict) -> str:
    """The README's block for these three (between `<!-- legacy:start -->` and `<!-- legacy:end -->`)."""
    summary, health, memory = figures["summary"], figures["health"], figures["summaryMemory"]["memoryRatio8x"]
    windows = ", ".join(f"{w} {n:,}" for w, n in summary["itemsReadPerWindow"].items())
    return "\n".join(
        [
            f"Measured {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs, Python {meta['python']}) "
            "by `make bench`:",
            "",
            f"- Feedback summary, {summary['perDay']} items a day over 60 days: items read per window "
            f"{windows} (exactly the items in the window); after as many items again outside it, "
            f"the 7-day window reads **{summary['tableGrowthRatio7d']:.2f}** times as many.",
            f"- Health evaluation: {health['requestsEmpty']} AWS requests with no feedback stored, "
            f"{health['requestsLoaded']} with {health['items']:,} rated items in its window "
            f"(ratio **{health['ratio']:.2f}**: satisfaction comes from the daily ratings rollup).",
            "- Summary computation memory (tracemalloc peak) for 8 times the items in one window: "
            + ", ".join(f"{label} **{ratio:.2f}**" for label, ratio in memory.items())
            + " (per-day counters; exact median and p90 resolution times keep one number per resolved item).",
        ]
    )


if __name__ == "__main__":
    from bench.common import local_context

    with local_context() as context:
        run(context)
