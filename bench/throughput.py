"""Throughput on this machine, and memory per route (section 4 of issue 10).

1. Concurrent clients against the local API (`chalice local`, as the dev stack runs it) posting
   feedback and reading the 7-day summary: requests/s and p50/p95 per kind. Beside it, the same
   DynamoDB calls made straight against the same moto server, at the same concurrency: the calls
   one request of each kind makes are recorded once (bench.capacity's botocore recorder, the app
   invoked in this process), then each client sends them with a boto3 client, a new feedback id and
   idempotency key per post. The ratio API / direct is what the API adds (HTTP, chalice local,
   auth, validation, our code, serialisation) over the database calls alone.
2. Memory: for each route, a fresh interpreter imports app.py, invokes the route once (the peak RSS
   of that first invocation is what a cold Lambda needs), then more times (what a warm one grows
   to), then once under tracemalloc (what one invocation allocates).

The posts go to one workspace and the summary reads another, so the summary reads the same items
all through the run. moto runs in this process (LocalAws); the clients of each half run in a driver
process of their own (`--drive`), so neither the HTTP clients nor the direct boto3 calls share moto's
interpreter, and chalice local is its own process. The tables are bench.capacity's own
(`own_tables`). Two cores shared with other work: read the ratios, not the milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench import capacity
from bench.common import local_context

POSTS_WORKSPACE = "ws-bench-throughput-posts"
POST, SUMMARY = "POST feedback", "GET summary (7 d)"


# ---- 1. throughput
def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def run_clients(clients: int, per_client: int, step: Callable[[int, int], tuple[str, float, bool]]) -> dict:
    """`clients` threads, each calling step(client, i) `per_client` times; step returns (kind,
    seconds, ok). Returns the rate and the latencies per kind."""
    samples: list[tuple[str, float, bool]] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)

    def client(n: int) -> None:
        mine = []
        start_gate.wait()
        for i in range(per_client):
            mine.append(step(n, i))
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    kinds = {}
    for kind in sorted({s[0] for s in samples}):
        latencies = [s[1] for s in samples if s[0] == kind]
        kinds[kind] = {
            "n": len(latencies),
            "failed": sum(1 for s in samples if s[0] == kind and not s[2]),
            "p50Ms": round(statistics.median(latencies) * 1000, 2),
            "p95Ms": round(percentile(latencies, 0.95) * 1000, 2),
        }
    return {
        "clients": clients,
        "requests": len(samples),
        "seconds": round(elapsed, 3),
        "perSecond": round(len(samples) / elapsed, 1),
        "kinds": kinds,
    }


def _post_body(i: int) -> dict[str, Any]:
    return {**capacity.FEEDBACK, "title": f"Throughput item {i}", "satisfactionRating": 1 + i % 5}


def api_step(
    url: str, staff: str, poster: str, summary_path: str
) -> Callable[[int, int], tuple[str, float, bool]]:
    import requests

    sessions: dict[int, requests.Session] = {}

    def step(client: int, i: int) -> tuple[str, float, bool]:
        session = sessions.setdefault(client, requests.Session())
        began = time.perf_counter()
        if i % 2 == 0:
            answer = session.post(
                f"{url}/api/monitoring/feedback",
                json=_post_body(i),
                headers={"Authorization": f"Bearer {poster}", "Idempotency-Key": str(uuid.uuid4())},
                timeout=60,
            )
            return POST, time.perf_counter() - began, answer.status_code == 201
        answer = session.get(url + summary_path, headers={"Authorization": f"Bearer {staff}"}, timeout=60)
        return SUMMARY, time.perf_counter() - began, answer.status_code == 200

    return step


def direct_step(endpoint: str, post_calls: list, old_id: str, old_key: str, summary_calls: list) -> Callable:
    """The recorded DynamoDB calls of each kind, sent with a boto3 client per client thread."""
    from botocore import xform_name

    from postlaunch.localstack import client as aws_client

    clients: dict[int, Any] = {}

    def send(ddb: Any, calls: list[tuple[str, str]], replace: dict[str, str]) -> bool:
        for operation, body in calls:
            for old, new in replace.items():
                body = body.replace(old, new)
            getattr(ddb, xform_name(operation.split(":", 1)[1]))(**json.loads(body))
        return True

    def step(client: int, i: int) -> tuple[str, float, bool]:
        ddb = clients.setdefault(client, aws_client("dynamodb", endpoint))
        began = time.perf_counter()
        if i % 2 == 0:
            replace = {old_id: str(uuid.uuid4()), old_key: uuid.uuid4().hex * 2}
            ok = send(ddb, post_calls, replace)
            return POST, time.perf_counter() - began, ok
        ok = send(ddb, summary_calls, {})
        return SUMMARY, time.perf_counter() - began, ok

    return step


def recorded_calls(invoke: capacity.Invoker, request: capacity.Request) -> tuple[list[tuple[str, str]], dict]:
    """The (operation, JSON body) of each AWS call one invocation makes, and its answer's body."""
    with capacity.recording() as tape:
        answer = invoke(invoke.event(request))
    if answer["statusCode"] >= 300:
        raise RuntimeError(
            f"recording {request.method} {request.path}: {answer['statusCode']} {answer['body']}"
        )
    calls = [(a.operation, a.request_body.decode()) for a in tape.answers]
    if any(not op.startswith("dynamodb:") for op, _ in calls):
        raise RuntimeError(f"not only DynamoDB calls: {[op for op, _ in calls]}")
    return calls, json.loads(answer["body"])


def drive(plan: dict[str, Any]) -> dict[str, Any]:
    """The load driver (a child process, for both halves alike, so that neither the clients nor the
    DynamoDB client code share the interpreter that runs moto): warm, then measure."""
    if plan["mode"] == "api":
        step = api_step(plan["url"], plan["staff"], plan["poster"], plan["summaryPath"])
    else:
        step = direct_step(
            plan["endpoint"], plan["postCalls"], plan["oldId"], plan["oldKey"], plan["summaryCalls"]
        )
    run_clients(plan["clients"], 2, step)  # every connection and client made, the app warm
    return run_clients(plan["clients"], plan["perClient"], step)


def _child(args: list[str], stdin: Any, env: dict[str, str], timeout: float, what: str) -> dict[str, Any]:
    """Run `python -m bench.throughput ARGS` with JSON on stdin; the JSON of its last output line."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.throughput", *args],
        input=json.dumps(stdin),
        capture_output=True,
        text=True,
        env=env,
        cwd=capacity.ROOT,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{what}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _driver(plan: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    return _child(["--drive"], plan, env, 1800, f"load driver ({plan['mode']})")


def throughput(ctx: Any, state: dict[str, Any], levels: tuple[int, ...], per_client: int) -> dict[str, Any]:
    """At each concurrency level: the API's rate and latencies, then the direct calls'."""
    from chalicelib.auth import mint_dev_token
    from chalicelib.config import get_settings
    from chalicelib.store.idempotency import scoped_key
    from postlaunch.localstack import ChaliceLocal

    poster = mint_dev_token(get_settings(), role="staff", workspace_id=POSTS_WORKSPACE, sub="bench-poster")
    invoke = capacity.Invoker()
    key = str(uuid.uuid4())
    post_request = capacity._json(
        "POST", "/api/monitoring/feedback", poster, _post_body(0), **{"idempotency-key": key}
    )
    post_calls, created = recorded_calls(invoke, post_request)
    summary_path = f"/api/monitoring/feedback/summary?{capacity._window(7)}"
    summary_calls, summary = recorded_calls(invoke, capacity._json("GET", summary_path, state["staff"]))
    env = {**os.environ, **ctx.env}
    # The idempotency record is keyed by a hash of caller and key: that hash is what to replace.
    plan_direct = {"mode": "direct", "endpoint": ctx.endpoint, "postCalls": post_calls}
    plan_direct |= {"oldId": created["id"], "oldKey": scoped_key("bench-poster", key)}
    plan_direct |= {"summaryCalls": summary_calls}
    calls = {POST: [op for op, _ in post_calls], SUMMARY: [op for op, _ in summary_calls]}
    print(
        f"   half POST feedback, half GET summary ({summary['itemsRead']} items read), {per_client} requests "
        "per client; the API's clients and the direct calls each from their own driver process"
    )
    for kind, ops in calls.items():
        print(f"   {kind} makes: {', '.join(ops)}")
    print(
        f"   {'clients':>7} {'':<18} {'API req/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'direct/s':>8} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'API/direct p50':>14}"
    )
    results = []
    with open(os.devnull, "w") as log:
        api = ChaliceLocal(ctx.env, log=log).start()
        try:
            plan_api = {"mode": "api", "url": api.url, "staff": state["staff"], "poster": poster}
            plan_api |= {"summaryPath": summary_path}
            through_api = {
                n: _driver({"clients": n, "perClient": per_client, **plan_api}, env) for n in levels
            }
        finally:
            api.stop()
    for n in levels:
        straight = _driver({"clients": n, "perClient": per_client, **plan_direct}, env)
        a = through_api[n]
        print(
            f"   {n:>7} {'all':<18} {a['perSecond']:>9.1f} {'':>7} {'':>7} {straight['perSecond']:>8.1f} "
            f"{'':>7} {'':>7} {'rate ' + format(a['perSecond'] / straight['perSecond'], '.2f'):>14}"
        )
        for kind, k in a["kinds"].items():
            d = straight["kinds"][kind]
            print(
                f"   {'':>7} {kind:<18} {'':>9} {k['p50Ms']:>7.1f} {k['p95Ms']:>7.1f} {'':>8} "
                f"{d['p50Ms']:>7.1f} {d['p95Ms']:>7.1f} {k['p50Ms'] / d['p50Ms']:>14.2f}"
            )
        failed = sum(k["failed"] for k in a["kinds"].values())
        if failed:
            print(f"   (!) {failed} API requests failed")
        results.append(
            {
                "clients": n,
                "api": a,
                "direct": straight,
                "rateRatio": round(a["perSecond"] / straight["perSecond"], 3),
            }
        )
    return {"levels": results, "dynamodbCalls": calls, "summaryItemsRead": summary["itemsRead"]}


# ---- 2. memory
def _rss_kib() -> int:
    """Peak resident set size of this process so far, KiB: VmHWM of /proc/self/status. Not
    getrusage's ru_maxrss, which in a child started by this (large) process reports the parent's
    peak, carried over the fork."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # elsewhere: the best there is


def measure_route_memory(route_name: str, state: dict[str, Any], warm: int) -> dict[str, Any]:
    """In a fresh interpreter (the child): import app.py, invoke one route cold, warm, traced."""
    import tracemalloc

    baseline = _rss_kib()
    invoke = capacity.Invoker()
    imported = _rss_kib()
    route = capacity.ROUTES_BY_NAME[route_name]
    status = invoke(invoke.event(route.request(state)))["statusCode"]
    cold = _rss_kib()
    for _ in range(warm):
        invoke(invoke.event(route.request(state)))
    warmed = _rss_kib()
    tracemalloc.start()
    invoke(invoke.event(route.request(state)))
    _, allocated = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "route": route_name,
        "status": status,
        "interpreterMiB": round(baseline / 1024, 1),
        "importedMiB": round(imported / 1024, 1),
        "firstInvocationPeakMiB": round(cold / 1024, 1),
        "afterWarmPeakMiB": round(warmed / 1024, 1),
        "warmInvocations": warm,
        "allocatedPeakKiB": round(allocated / 1024, 1),
    }


def memory(ctx: Any, state: dict[str, Any], warm: int) -> dict[str, Any]:
    rows = []
    env = {**os.environ, **ctx.env, "PYTHONDONTWRITEBYTECODE": "1"}
    for route in capacity.ROUTES:
        args = ["--memory-route", route.name, "--warm", str(warm)]
        rows.append(_child(args, state, env, 300, f"memory of {route.name}"))
    top = max(rows, key=lambda r: r["afterWarmPeakMiB"])
    print(
        f"   peak RSS per route, each in a fresh interpreter (MiB; {warm} warm invocations after the first)"
    )
    print(f"   {'route':<28} {'status':>6} {'imported':>8} {'1st call':>8} {'warm':>6} {'allocated KiB':>13}")
    for row in rows:
        print(
            f"   {row['route']:<28} {row['status']:>6} {row['importedMiB']:>8.1f} "
            f"{row['firstInvocationPeakMiB']:>8.1f} {row['afterWarmPeakMiB']:>6.1f} "
            f"{row['allocatedPeakKiB']:>13.1f}"
        )
    memory_mb = capacity.API_FUNCTION_MEMORY_MB
    print(
        f"   largest: {top['route']} {top['afterWarmPeakMiB']:.0f} MiB = "
        f"{100 * top['afterWarmPeakMiB'] * 1.048576 / memory_mb:.0f} % of the {memory_mb} MB the functions "
        "get (.chalice/config.json lambda_memory_size; the seed's limit is 80 % under normal load)"
    )
    return {
        "routes": rows,
        "largestMiB": top["afterWarmPeakMiB"],
        "largestRoute": top["route"],
        "memoryMb": memory_mb,
    }


def run(ctx: Any, quick: bool = False) -> dict[str, Any]:
    quick = quick or bool(getattr(ctx, "quick", False))
    items = capacity.feedback_items(quick)
    levels, per_client, warm = ((1, 4), 10, 2) if quick else ((1, 8), 40, 20)
    print(
        "throughput: concurrent clients through the local API vs the same DynamoDB calls direct "
        f"({items} feedback items)"
    )
    with capacity.own_tables(ctx) as own:
        state = capacity.setup(items)
        figures = {"throughput": throughput(own, state, levels, per_client)}
        print("memory:")
        figures["memory"] = memory(own, state, warm)
    return figures


def readme(figures: dict[str, Any], meta: dict[str, Any]) -> str:
    """The README's throughput and memory tables (between `<!-- throughput:start/end -->`)."""
    run, mem = figures["throughput"], figures["memory"]
    lines = [
        f"Measured {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs, Python {meta['python']}) by "
        f"`make bench`. Throughput: half the requests post feedback, half read the 7-day summary "
        f"({run['summaryItemsRead']:,} items read), through `chalice local` and, beside it, the same "
        "DynamoDB calls straight to the same moto server, each from a driver process of its own:",
        "",
        f"| clients | API req/s | direct req/s | API / direct rate | {POST} p50 ms, API / direct | "
        f"{SUMMARY} p50 ms, API / direct |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for level in run["levels"]:
        api, direct = level["api"], level["direct"]

        def p50(kind: str, api: dict = api, direct: dict = direct) -> str:
            a, d = api["kinds"][kind]["p50Ms"], direct["kinds"][kind]["p50Ms"]
            return f"{a:,.0f} / {d:,.0f} ({a / d:.2f})"

        lines.append(
            f"| {level['clients']} | {api['perSecond']:.1f} | {direct['perSecond']:.1f} | "
            f"**{level['rateRatio']:.2f}** | {p50(POST)} | {p50(SUMMARY)} |"
        )
    lines += [
        "",
        f"Memory, peak RSS of each route's invocation in a fresh interpreter (`VmHWM`), MiB; "
        f"{mem['routes'][0]['warmInvocations']} warm invocations after the first:",
        "",
        "| route | after import | first call | after the warm calls | allocated by one call (KiB) |",
        "|---|--:|--:|--:|--:|",
    ]
    for row in mem["routes"]:
        lines.append(
            f"| {row['route']} | {row['importedMiB']:.1f} | {row['firstInvocationPeakMiB']:.1f} | "
            f"{row['afterWarmPeakMiB']:.1f} | {row['allocatedPeakKiB']:,.0f} |"
        )
    lines += [
        "",
        f"Largest: {mem['largestRoute']}, {mem['largestMiB']:.0f} MiB of the {mem['memoryMb']} MB the "
        "functions get (`lambda_memory_size`, .chalice/config.json).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--memory-route", help=argparse.SUPPRESS)  # the child of memory(): state on stdin
    parser.add_argument("--warm", type=int, default=20, help=argparse.SUPPRESS)
    parser.add_argument(
        "--drive", action="store_true", help=argparse.SUPPRESS
    )  # the load driver: plan on stdin
    args = parser.parse_args()
    if args.drive:
        print(json.dumps(drive(json.loads(sys.stdin.read()))))
        return
    if args.memory_route:
        state = json.loads(sys.stdin.read())
        print(json.dumps(measure_route_memory(args.memory_route, state, args.warm)))
        return
    with local_context() as ctx:
        run(ctx, quick=args.quick)


if __name__ == "__main__":
    main()
