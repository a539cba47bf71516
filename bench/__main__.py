"""Benchmarks, run on demand (`make bench`). They print ratios, not verdicts: the machines are shared
and noisy, so what matters is how cost scales, not how many milliseconds a run took.

1. Feedback summary: DynamoDB items read per window, and what happens to them when the table grows
   outside the window (ratio 1.00 means the cost follows the window, not the table).
2. Health evaluation: AWS requests per evaluation with 0 and with many stored feedback items.
3. Summary computation memory: tracemalloc peak for 1k vs 8k items in one window.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import botocore.endpoint

from postlaunch.localstack import LocalAws, provision

AS_OF = datetime(2022, 3, 31, 12, 0, tzinfo=UTC)
CATEGORIES = ("bug_report", "feature_request", "usability_issue", "performance_issue", "general_feedback")
SEVERITIES = ("low", "medium", "high", "critical")
AREAS = ("appointments", "follow_ups", "reminders", "patient_portal", "analytics", "general")


class Requests:
    """Counts every HTTP request botocore sends (all clients, PynamoDB's included)."""

    def __init__(self) -> None:
        self.count = 0
        original = botocore.endpoint.Endpoint.make_request

        def counting(endpoint, *args, **kwargs):
            self.count += 1
            return original(endpoint, *args, **kwargs)

        botocore.endpoint.Endpoint.make_request = counting

    @contextmanager
    def measure(self):
        before = self.count
        box = {}
        yield box
        box["requests"] = self.count - before


def payload(i: int) -> dict:
    return {
        "category": CATEGORIES[i % 5],
        "severity": SEVERITIES[(i // 5) % 3],  # low/medium/high: no alerts during loading
        "title": f"Benchmark item {i}",
        "description": "A benchmark feedback item with enough text to be realistic.",
        "featureArea": AREAS[i % 6],
        "satisfactionRating": 1 + i % 5,
    }


def load(workspace: str, n: int, first_day_back: int, days: int, severity: str | None = None) -> None:
    from chalicelib.auth import Principal, Role
    from chalicelib.feedback.service import new_record
    from chalicelib.store.feedback import batch_put

    staff = Principal(sub="bench", workspace_id=workspace, roles=frozenset({Role.STAFF}))
    per_day = max(1, n // days)
    records = []
    for i in range(n):
        at = AS_OF - timedelta(days=first_day_back + i // per_day, minutes=i % per_day)
        body = payload(i) if severity is None else {**payload(i), "severity": severity}
        records.append(new_record(staff, body, now=at)[0])
    batch_put(records)


def bench_summary(requests: Requests) -> None:
    from chalicelib.auth import Principal, Role
    from chalicelib.feedback.service import feedback_summary

    engineer = Principal(sub="bench-eng", workspace_id=None, roles=frozenset({Role.ENGINEER}))
    workspace, per_day = "ws-bench-summary", 50
    load(workspace, per_day * 60, first_day_back=0, days=60)

    def summary(days: int) -> dict:
        query = {
            "workspaceId": workspace,
            "startDate": (AS_OF - timedelta(days=days - 1)).date().isoformat(),
            "endDate": AS_OF.date().isoformat(),
        }
        started = time.perf_counter()
        with requests.measure() as m:
            out = feedback_summary(engineer, query, now=AS_OF)
        return {**out, "requests": m["requests"], "seconds": time.perf_counter() - started}

    print("1. Feedback summary: items read per window (50 items a day, 3000 in the table)")
    print(f"   {'window':>8} {'in window':>10} {'items read':>11} {'read/in window':>15} {'requests':>9}")
    before = {}
    for days in (1, 7, 30, 60):
        out = summary(days)
        before[days] = out
        ratio = out["itemsRead"] / out["total"]
        print(f"   {days:>6} d {out['total']:>10} {out['itemsRead']:>11} {ratio:>15.2f} {out['requests']:>9}")
    load(workspace, per_day * 60, first_day_back=400, days=60)
    after = summary(7)
    print("   after adding 3000 items outside the window (6000 in the table):")
    print(
        f"   7-day window items read {after['itemsRead']} vs {before[7]['itemsRead']} before: "
        f"ratio {after['itemsRead'] / before[7]['itemsRead']:.2f} (1.00 = cost independent of table size)"
    )


def bench_health(requests: Requests) -> None:
    from chalicelib.health.evaluator import evaluate

    as_of = datetime(2021, 9, 15, 12, 0, tzinfo=UTC)
    with requests.measure() as empty:
        evaluate(now=as_of)
    # Rated, low-severity items in the satisfaction window: stored feedback, not open problems (each
    # open critical or high item is a deduction the evaluation must list, so those are read).
    load("ws-bench-health", 2000, first_day_back=(AS_OF - as_of).days + 1, days=20, severity="low")
    with requests.measure() as loaded:
        rated = evaluate(now=as_of).report.quality.satisfactionResponses
    print("2. Health evaluation: AWS requests per evaluation")
    print(
        f"   0 feedback items: {empty['requests']}; 2000 items ({rated} rated in the window): "
        f"{loaded['requests']}; "
        f"ratio {loaded['requests'] / empty['requests']:.2f} "
        "(1.00: satisfaction comes from the daily ratings rollup, not the items)"
    )


def bench_summary_memory() -> None:
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
    for label, share in (("none resolved", 0), ("a third resolved", 3)):
        small, large = peak(1000, share), peak(8000, share)
        print(
            f"   {label:>16}: 1000 items {small / 1024:.0f} KiB; 8000 items {large / 1024:.0f} KiB; "
            f"ratio {large / small:.2f} for 8x the items"
        )
    print("   (per-day counters follow the window; exact median/p90 keep one float per resolved item)")


def main() -> None:
    aws = LocalAws().start()
    try:
        provisioned = provision(aws.endpoint, stack_name="post-launch-monitor-bench")
        os.environ.update(aws.app_env(provisioned))
        from chalicelib.config import reset_settings
        from chalicelib.store.base import bind_models

        reset_settings()
        bind_models()
        requests = Requests()
        bench_summary(requests)
        bench_health(requests)
        bench_summary_memory()
    finally:
        aws.stop()


if __name__ == "__main__":
    main()
