"""Per-invocation CPU time of each route's handler, our code alone (section 5 of issue 10).

Each route is invoked in this process the way Lambda invokes the API function: Chalice's app object
called with an API Gateway proxy event (built outside the timing, by Chalice's own
LambdaEventConverter, the one `chalice local` uses). The AWS answers are recorded once against the
moto server, then replayed from the recording, so the time measured is ours: routing, auth, pydantic,
the domain code, PynamoDB and botocore serialising, signing and parsing, logging and EMF. moto runs
in this process too (the bench's LocalAws), so without the replay its CPU would be counted as ours.

Recording and replay sit on botocore's Endpoint, below every client (PynamoDB's own included):
`_do_get_response` notes which operation a thread is sending, `_send` (the HTTP send, after the
`before-send` event) records the answer or hands back the recorded one. A replayed answer is matched
by operation and request body when the body is the same as recorded, else by operation in recorded
order (a new item's id, a timestamp): parsing costs the same either way. An invocation whose
replayed status differs from the recorded one, or that leaves answers unused, is reported.

`python -m bench.capacity [--quick]` runs it alone on its own local stack.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
API_FUNCTION_MEMORY_MB = 1769  # .chalice/config.json lambda_memory_size (tests/infra check they agree)
FULL_VCPU_MB = 1769  # Lambda allots one full vCPU at 1,769 MB, and CPU in proportion below it


# ---- recording and replaying AWS answers
@dataclass
class Answer:
    operation: str  # "<service id>:<Operation>"
    request_body: bytes
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Tape:
    """The AWS answers of one invocation, in the order they came."""

    answers: list[Answer] = field(default_factory=list)

    @property
    def scanned(self) -> int:
        """Items DynamoDB read for the calls (ScannedCount of queries and scans, 1 per item got)."""
        total = 0
        for answer in self.answers:
            if not answer.operation.startswith("dynamodb:") or answer.status != 200:
                continue
            body = json.loads(answer.body or b"{}")
            total += body.get("ScannedCount", 1 if body.get("Item") else 0)
        return total

    @property
    def answer_bytes(self) -> int:
        return sum(len(answer.body) for answer in self.answers)

    @property
    def operations(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for answer in self.answers:
            counts[answer.operation] += 1
        return dict(counts)


class _Raw:
    """What AWSResponse reads a body from (urllib3's response, for a recorded body)."""

    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


_CURRENT = threading.local()
_MODE: dict[str, Any] = {"tape": None, "replay": None}
_LOCK = threading.Lock()
_PATCHED = False


def _body_bytes(request: Any) -> bytes:
    body = request.body
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return b""  # a stream: not used by the routes measured here


# The services the API's routes call. Others (SQS, Step Functions, Lambda: the release worker's, which
# a test session may be running in a thread meanwhile) are neither recorded nor replayed.
ROUTE_SERVICES = frozenset({"dynamodb", "cloudwatch", "sns", "ses", "comprehendmedical", "secrets-manager"})


def _install() -> None:
    """Wrap botocore's Endpoint once; the wrappers do nothing unless a tape is recording or playing."""
    global _PATCHED
    if _PATCHED:
        return
    import botocore.endpoint

    endpoint = botocore.endpoint.Endpoint
    do_get, send = endpoint._do_get_response, endpoint._send

    def do_get_response(self, request, operation_model, context):  # type: ignore[no-untyped-def]
        service = operation_model.service_model.service_id.hyphenize()
        _CURRENT.operation = f"{service}:{operation_model.name}"
        return do_get(self, request, operation_model, context)

    def send_or_replay(self, request):  # type: ignore[no-untyped-def]
        replay, tape = _MODE["replay"], _MODE["tape"]
        operation = getattr(_CURRENT, "operation", "?")
        if operation.split(":")[0] not in ROUTE_SERVICES:
            return send(self, request)
        if replay is not None:
            return replay.answer(operation, _body_bytes(request), request.url)
        response = send(self, request)
        if tape is not None:
            answer = Answer(
                operation,
                _body_bytes(request),
                response.status_code,
                dict(response.headers),
                response.content,
            )
            with _LOCK:
                tape.answers.append(answer)
        return response

    endpoint._do_get_response = do_get_response
    endpoint._send = send_or_replay
    _PATCHED = True


def _alike(recorded: bytes, asked: bytes) -> int:
    """How alike two request bodies are: the length of their common start plus their common end."""
    start = len(os.path.commonprefix([recorded, asked]))
    end = len(os.path.commonprefix([recorded[start:][::-1], asked[start:][::-1]]))
    return start + end


class _Replay:
    def __init__(self, tape: Tape):
        self.exact: dict[tuple[str, bytes], deque[Answer]] = defaultdict(deque)
        self.ordered: dict[str, deque[Answer]] = defaultdict(deque)
        for answer in tape.answers:
            self.exact[(answer.operation, answer.request_body)].append(answer)
            self.ordered[answer.operation].append(answer)
        self.missing: list[str] = []

    def answer(self, operation: str, request_body: bytes, url: str) -> Any:
        from botocore.awsrequest import AWSResponse

        with _LOCK:
            queue = self.exact.get((operation, request_body))
            found = queue.popleft() if queue else None
            if found is not None:
                self.ordered[operation].remove(found)
            elif self.ordered[operation]:
                # The request differs from every recorded one (a window's bounds follow the clock):
                # the recorded request most like it (same table, index and partition come first in
                # the body; the bounds differ in their last digits), not merely the next in order,
                # which for reads made side by side may be another partition's answer.
                found = max(self.ordered[operation], key=lambda a: _alike(a.request_body, request_body))
                self.ordered[operation].remove(found)
                self.exact[(found.operation, found.request_body)].remove(found)
            else:
                self.missing.append(operation)
                raise RuntimeError(f"replay: no recorded answer left for {operation}")
        return AWSResponse(url, found.status, found.headers, _Raw(found.body))

    @property
    def unused(self) -> int:
        return sum(len(q) for q in self.ordered.values())


@contextlib.contextmanager
def recording() -> Iterator[Tape]:
    _install()
    tape = Tape()
    _MODE["tape"] = tape
    try:
        yield tape
    finally:
        _MODE["tape"] = None


@contextlib.contextmanager
def replaying(tape: Tape) -> Iterator[_Replay]:
    _install()
    replay = _Replay(tape)
    _MODE["replay"] = replay
    try:
        yield replay
    finally:
        _MODE["replay"] = None


# ---- invoking a route as Lambda does
@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None


@dataclass
class Route:
    """One route of app.py, called as a client would: `request(state)` builds the call from what the
    setup created (ids, tokens)."""

    name: str
    request: Callable[[dict[str, Any]], Request]


class Invoker:
    """app.py's Chalice app, called with API Gateway proxy events (as the Lambda runtime calls it)."""

    def __init__(self, quiet: bool = True) -> None:
        from chalice.local import LambdaContext, LambdaEventConverter, RouteMatcher

        from postlaunch.devstack import load_app

        self.app = load_app().app
        self._converter = LambdaEventConverter(RouteMatcher(list(self.app.routes)))
        self._context = LambdaContext
        # Log lines and EMF are still written (their cost is real on Lambda too), to /dev/null.
        self._quiet = open(os.devnull, "w") if quiet else None  # noqa: SIM115 - for the bench's life
        if quiet:
            self._quiet_logs()

    def _quiet_logs(self) -> None:
        """Log lines are written (their cost is real on Lambda too), to /dev/null, not the terminal."""
        import logging

        for handler in logging.getLogger("post-launch-monitor").handlers + logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.stderr):
                handler.setStream(self._quiet)

    def event(self, request: Request) -> dict[str, Any]:
        headers = {"host": "bench.local", **request.headers}
        event = self._converter.create_lambda_event(request.method, request.path, headers, request.body)
        # API Gateway passes the body as text; LambdaEventConverter keeps the bytes it was given.
        if isinstance(event.get("body"), bytes):
            event["body"] = event["body"].decode()
        return event

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        context = self._context("api_handler", API_FUNCTION_MEMORY_MB, max_runtime_ms=60_000)
        if self._quiet is None:
            return self.app(event, context)
        with contextlib.redirect_stdout(self._quiet):  # EMF metrics are printed to stdout
            return self.app(event, context)


# ---- the routes and their data
AS_OF = datetime.now(UTC).replace(microsecond=0)
WORKSPACE = "ws-bench-capacity"
FEEDBACK = {
    "category": "bug_report",
    "severity": "medium",
    "title": "Reminder arrives twice",
    "description": "The reminder for a recurring appointment is sent twice each morning.",
    "featureArea": "reminders",
    "browserInfo": "Chrome 118.0.0.0",
    "satisfactionRating": 3,
    "usabilityRating": 4,
}


def _json(method: str, path: str, token: str, body: dict[str, Any] | None = None, **headers: str) -> Request:
    h = {"authorization": f"Bearer {token}", **headers}
    if body is None:
        return Request(method, path, h)
    return Request(method, path, {**h, "content-type": "application/json"}, json.dumps(body).encode())


def _window(days: int) -> str:
    start = (AS_OF - timedelta(days=days - 1)).date().isoformat()
    return f"startDate={start}&endDate={AS_OF.date().isoformat()}"


ROUTES: list[Route] = [
    Route("GET ping", lambda s: Request("GET", "/api/monitoring/ping", {})),
    Route("GET whoami", lambda s: _json("GET", "/api/monitoring/whoami", s["staff"])),
    Route(
        "POST feedback",
        lambda s: _json(
            "POST", "/api/monitoring/feedback", s["staff"], FEEDBACK, **{"idempotency-key": str(uuid.uuid4())}
        ),
    ),
    Route("GET feedback (list)", lambda s: _json("GET", "/api/monitoring/feedback?limit=25", s["staff"])),
    Route(
        "GET feedback/summary (7 d)",
        lambda s: _json("GET", f"/api/monitoring/feedback/summary?{_window(7)}", s["staff"]),
    ),
    Route(
        "GET feedback/summary (30 d)",
        lambda s: _json("GET", f"/api/monitoring/feedback/summary?{_window(30)}", s["staff"]),
    ),
    Route(
        "GET feedback/{id}",
        lambda s: _json("GET", f"/api/monitoring/feedback/{s['feedback_id']}", s["staff"]),
    ),
    Route(
        "PATCH feedback/{id}",
        lambda s: _json(
            "PATCH",
            f"/api/monitoring/feedback/{s['feedback_id']}",
            s["engineer"],
            # A new assignee each time: an unchanged one would be answered without a write.
            {"assignee": f"dana-{uuid.uuid4().hex[:8]}"},
        ),
    ),
    Route("GET system-health", lambda s: _json("GET", "/api/monitoring/system-health", s["engineer"])),
    Route(
        "GET system-health/history",
        lambda s: _json("GET", "/api/monitoring/system-health/history", s["engineer"]),
    ),
    Route(
        "GET system-health/slo", lambda s: _json("GET", "/api/monitoring/system-health/slo", s["engineer"])
    ),
    Route("GET alerts", lambda s: _json("GET", "/api/monitoring/alerts?state=all", s["engineer"])),
    Route("GET silences", lambda s: _json("GET", "/api/monitoring/silences", s["engineer"])),
    Route("GET issues", lambda s: _json("GET", "/api/issues", s["engineer"])),
    Route("GET issues/{id}", lambda s: _json("GET", f"/api/issues/{s['issue_id']}", s["engineer"])),
    Route("GET releases", lambda s: _json("GET", "/api/releases", s["engineer"])),
    Route("GET phase2", lambda s: _json("GET", "/api/monitoring/phase2", s["engineer"])),
    Route(
        "GET report (7 d)",
        lambda s: _json(
            "GET",
            f"/api/monitoring/report?start={(AS_OF - timedelta(days=7)).date().isoformat()}"
            f"&end={AS_OF.date().isoformat()}",
            s["engineer"],
        ),
    ),
    Route("GET dashboard", lambda s: Request("GET", "/dashboard", {})),
]
ROUTES_BY_NAME = {route.name: route for route in ROUTES}


def load_feedback(n: int, days: int = 30) -> None:
    """n items over the last `days` days in the bench workspace, straight into the table (batches)."""
    from chalicelib.auth import Principal, Role
    from chalicelib.feedback.service import new_record
    from chalicelib.store.feedback import batch_put

    staff = Principal(sub="bench-loader", workspace_id=WORKSPACE, roles=frozenset({Role.STAFF}))
    categories = ("bug_report", "feature_request", "usability_issue", "performance_issue", "general_feedback")
    areas = ("appointments", "follow_ups", "reminders", "patient_portal", "analytics", "general")
    step = timedelta(days=days) / max(n, 1)
    records = []
    for i in range(n):
        body = {
            **FEEDBACK,
            "category": categories[i % 5],
            "severity": ("low", "medium")[i % 2],
            "featureArea": areas[i % 6],
            "title": f"Bench item {i % 40}: {areas[i % 6]} {categories[i % 5]}",
            "satisfactionRating": 1 + i % 5,
        }
        records.append(new_record(staff, body, now=AS_OF - step * (i + 1))[0])
    batch_put(records)  # the ratings rollup too


_SETUP: dict[int, dict[str, Any]] = {}


def feedback_items(quick: bool) -> int:
    """Feedback items over the last 30 days in the bench workspace: 100 a day (a 7-day summary
    reads about 700), or a few for a smoke run."""
    return 200 if quick else 3000


def setup(items: int) -> dict[str, Any]:
    """Data for the routes (feedback, a health snapshot, an issue) and the callers' tokens; once per
    process (bench.throughput and this module share it)."""
    if items in _SETUP:
        return _SETUP[items]
    from chalicelib.auth import mint_dev_token
    from chalicelib.config import get_settings
    from chalicelib.health import service as health

    settings = get_settings()
    state = {
        "staff": mint_dev_token(settings, role="staff", workspace_id=WORKSPACE, sub="bench-staff"),
        "engineer": mint_dev_token(settings, role="engineer", workspace_id=None, sub="bench-engineer"),
    }
    invoke = Invoker()  # first: it sends the app's log lines to /dev/null
    load_feedback(items)
    with contextlib.redirect_stdout(io.StringIO()):
        health.run_scheduled_evaluation()
    created = invoke(invoke.event(ROUTES_BY_NAME["POST feedback"].request(state)))
    state["feedback_id"] = json.loads(created["body"])["id"]
    issue = _json(
        "POST", "/api/issues", state["engineer"], {"title": "Reminders sent twice", "severity": "medium"}
    )
    answer = invoke(invoke.event(issue))
    if answer["statusCode"] != 201:
        raise RuntimeError(
            f"bench setup: creating an issue answered {answer['statusCode']}: {answer['body']}"
        )
    state["issue_id"] = json.loads(answer["body"])["id"]
    _SETUP[items] = state
    return state


# ---- the measurement
def cpu_per_route(
    invoke: Invoker, state: dict[str, Any], repeats: int, tapes: dict[str, Tape] | None = None
) -> list[dict[str, Any]]:
    rows = []
    for route in ROUTES:
        event = invoke.event(route.request(state))
        live = invoke(event)  # warm: first-call imports and client creation are not per-invocation
        event = invoke.event(route.request(state))
        with recording() as tape:
            recorded = invoke(event)
        if tapes is not None:
            tapes[route.name] = tape
        samples, statuses, problems = [], set(), set()
        for _ in range(repeats):
            event = invoke.event(route.request(state))
            with replaying(tape) as replay:
                cpu, wall = time.process_time(), time.perf_counter()
                answer = invoke(event)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            samples.append((cpu, wall))
            statuses.add(answer["statusCode"])
            if replay.unused or replay.missing:
                problems.add(f"{replay.unused} unused, {len(replay.missing)} missing answers")
        if statuses != {recorded["statusCode"]}:
            problems.add(f"replayed status {sorted(statuses)} vs recorded {recorded['statusCode']}")
        cpus = sorted(s[0] for s in samples)
        rows.append(
            {
                "route": route.name,
                "status": recorded["statusCode"],
                "warmStatus": live["statusCode"],
                "awsCalls": len(tape.answers),
                "operations": tape.operations,
                "itemsRead": tape.scanned,
                "answerBytes": tape.answer_bytes,
                "cpuMsMedian": round(statistics.median(cpus) * 1000, 2),
                "cpuMsP95": round(cpus[min(len(cpus) - 1, int(len(cpus) * 0.95))] * 1000, 2),
                "wallMsMedian": round(statistics.median(s[1] for s in samples) * 1000, 2),
                "repeats": repeats,
                "problems": sorted(problems),
            }
        )
    return rows


def dynamodb_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for an attribute value in its wire form ({"S": ...}, {"N": ...}, ...):
    strings by UTF-8 length, numbers about one byte per two digits plus one, 3 bytes of overhead per
    list or map plus one per element (the rules of the developer guide's "Item sizes")."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return len(inner.strip("-").replace(".", "")) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + dynamodb_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + dynamodb_size(v) for k, v in inner.items())
    if kind in ("SS", "NS"):
        return sum(len(v.encode()) for v in inner)
    return len(json.dumps(inner))


def item_bytes(tape: Tape) -> int | None:
    """Size of the new item the first write of a tape puts (a POST's feedback item, as stored)."""
    for answer in tape.answers:
        body = json.loads(answer.request_body or b"{}")
        puts = [t["Put"] for t in body.get("TransactItems", []) if "Put" in t]
        item = puts[0]["Item"] if puts else body.get("Item") if answer.operation.endswith("PutItem") else None
        if item:
            return sum(len(name.encode()) + dynamodb_size(v) for name, v in item.items())
    return None


def print_table(rows: list[dict[str, Any]]) -> None:
    scale = FULL_VCPU_MB / API_FUNCTION_MEMORY_MB
    print(
        f"   {'route':<28} {'status':>6} {'AWS calls':>9} {'CPU ms p50':>10} {'p95':>7} "
        f"{'at ' + str(API_FUNCTION_MEMORY_MB) + ' MB':>10}"
    )
    for row in rows:
        flag = "  (!) " + "; ".join(row["problems"]) if row["problems"] else ""
        print(
            f"   {row['route']:<28} {row['status']:>6} {row['awsCalls']:>9} {row['cpuMsMedian']:>10.2f} "
            f"{row['cpuMsP95']:>7.2f} {row['cpuMsMedian'] * scale:>10.1f}{flag}"
        )
    print(
        f"   (CPU ms with AWS answers replayed; 'at {API_FUNCTION_MEMORY_MB} MB' scales the median by "
        f"{FULL_VCPU_MB}/{API_FUNCTION_MEMORY_MB}, Lambda's CPU share at that memory, taking this "
        "machine's core as one Lambda vCPU)"
    )


# ---- the capacity model (docs/performance.md): measured CPU and calls, stated assumptions
# Prices: us-east-1, on-demand / pay-per-request, x86, first tiers (sources and date: docs/performance.md,
# "The capacity model"): DynamoDB after the 1 Nov 2024 on-demand reduction, Lambda, API Gateway REST.
PRICES = {
    "dynamodbPerMillionWrites": 0.625,
    "dynamodbPerMillionReads": 0.125,
    "lambdaPerGbSecond": 0.0000166667,
    "lambdaPerMillionRequests": 0.20,
    "apiGatewayPerMillionRequests": 3.50,
}
SECONDS_PER_MONTH = 730 * 3600
# Wall time an AWS call adds to an invocation (an assumption: DynamoDB answers in single-digit ms
# inside a region; CloudWatch GetMetricData is slower).
MS_PER_CALL = {"dynamodb": 10.0, "cloudwatch": 50.0}
# What one open dashboard asks, per second (web/src/main.js: every 30 s the health, its history, six
# 30-day summaries (all, then one per category), the alerts and the releases; the report every 300 s).
DASHBOARD_PER_SECOND = {
    "GET system-health": 1 / 30,
    "GET system-health/history": 1 / 30,
    "GET feedback/summary (30 d)": 6 / 30,
    "GET alerts": 1 / 30,
    "GET releases": 1 / 30,
    "GET report (7 d)": 1 / 300,
}
PARTITION_READS, PARTITION_WRITES = 3000, 1000  # per partition (and per item) per second


def _duration_ms(row: dict[str, Any], memory_mb: int) -> float:
    cpu = row["cpuMsMedian"] * max(1.0, FULL_VCPU_MB / memory_mb)
    calls = sum(MS_PER_CALL.get(op.split(":")[0], 10.0) * n for op, n in row["operations"].items())
    return cpu + calls


def _read_units(row: dict[str, Any], item: int) -> float:
    """Eventually consistent reads (queries of indexes): half a unit per 4 KB read."""
    return math.ceil(row["itemsRead"] * item / 4096) * 0.5


def post_write_units(item: int) -> dict[str, float]:
    """Write units of one feedback POST: the transaction (item, idempotency claim, ratings rollup),
    each transactional write 2 units per KB, and the index copies of the item (byMonth, byWorkspace:
    all attributes; openBySeverity: keys and three short ones)."""
    kb = math.ceil(item / 1024)
    return {"item": 2 * kb, "claim": 2, "rollup": 2, "byMonth": kb, "byWorkspace": kb, "openBySeverity": 1}


def scenario(
    name: str, per_route_rps: dict[str, float], rows: dict[str, dict], item: int, memory_mb: int
) -> dict:
    rps = sum(per_route_rps.values())
    concurrency = sum(r * _duration_ms(rows[k], memory_mb) / 1000 for k, r in per_route_rps.items())
    gb_seconds = sum(
        r * _duration_ms(rows[k], memory_mb) / 1000 * memory_mb / 1024 for k, r in per_route_rps.items()
    )
    reads = sum(r * _read_units(rows[k], item) for k, r in per_route_rps.items() if not k.startswith("POST"))
    writes = per_route_rps.get("POST feedback", 0) * sum(post_write_units(item).values())
    month = SECONDS_PER_MONTH / 1e6  # millions of seconds: per-second rates to millions a month
    cost = {
        "dynamodbReads": reads * month * PRICES["dynamodbPerMillionReads"],
        "dynamodbWrites": writes * month * PRICES["dynamodbPerMillionWrites"],
        "lambda": rps * month * PRICES["lambdaPerMillionRequests"]
        + gb_seconds * SECONDS_PER_MONTH * PRICES["lambdaPerGbSecond"],
        "apiGateway": rps * month * PRICES["apiGatewayPerMillionRequests"],
    }
    summary_rps = per_route_rps.get("GET feedback/summary (30 d)", 0)
    return {
        "scenario": name,
        "rps": round(rps, 1),
        "lambdaConcurrency": round(concurrency, 1),
        "readUnitsPerSecond": round(reads),
        "writeUnitsPerSecond": round(writes),
        "monthlyUsd": {k: round(v) for k, v in cost.items()},
        "monthlyUsdTotal": round(sum(cost.values())),
        # One partition: the month of byMonth (engineers' summaries) or one workspace's.
        "summaryPartitionReadShare": round(
            summary_rps * _read_units(rows["GET feedback/summary (30 d)"], item) / PARTITION_READS, 2
        ),
        # One item: the day's ratings rollup, in every rated POST's transaction.
        "rollupItemWriteShare": round(per_route_rps.get("POST feedback", 0) * 2 / PARTITION_WRITES, 2),
        "byMonthWriteShare": round(
            per_route_rps.get("POST feedback", 0) * post_write_units(item)["byMonth"] / PARTITION_WRITES, 2
        ),
    }


def capacity_model(rows: list[dict[str, Any]], item: int, memory_mb: int) -> list[dict[str, Any]]:
    by_name = {row["route"]: row for row in rows}
    users = 1000
    dashboard = {k: users * v for k, v in DASHBOARD_PER_SECOND.items()}
    scale = 500 / sum(dashboard.values())
    scenarios = [
        scenario(f"{users} open dashboards", dashboard, by_name, item, memory_mb),
        scenario(
            "500 RPS, the dashboard's mix",
            {k: v * scale for k, v in dashboard.items()},
            by_name,
            item,
            memory_mb,
        ),
        scenario("500 RPS of feedback POSTs", {"POST feedback": 500.0}, by_name, item, memory_mb),
    ]
    print(
        f"   capacity model ({memory_mb} MB; {MS_PER_CALL['dynamodb']:.0f} ms a DynamoDB call; "
        f"a feedback item {item} B; us-east-1 on-demand prices; docs/performance.md)"
    )
    print(
        f"   {'scenario':<32} {'RPS':>5} {'Lambda conc.':>12} {'RRU/s':>7} {'WRU/s':>6} {'$/month':>8} "
        f"{'summary partition':>17} {'rollup item':>11} {'byMonth writes':>14}"
    )
    for s in scenarios:
        print(
            f"   {s['scenario']:<32} {s['rps']:>5.0f} {s['lambdaConcurrency']:>12.1f} "
            f"{s['readUnitsPerSecond']:>7} {s['writeUnitsPerSecond']:>6} {s['monthlyUsdTotal']:>8} "
            f"{s['summaryPartitionReadShare']:>16.2f}x {s['rollupItemWriteShare']:>10.2f}x "
            f"{s['byMonthWriteShare']:>13.2f}x"
        )
    print(
        "   (x: share of the per-partition limit, 3000 reads or 1000 writes a second; above 1 it throttles)"
    )
    return scenarios


# ---- tables of their own
_OWN_ENV: dict[str, str] = {}
OWN_STACK = "post-launch-monitor-capacity"


@contextlib.contextmanager
def own_tables(ctx: Any) -> Iterator[Any]:
    """The bench's context on tables of this module's own (a second stack from infra/template.json
    on the same moto server, made once per process), so that what the benches before it loaded
    (bench.scale's 100,000 items) neither counts in these figures nor slows moto, whose queries
    walk a whole table and whose transactions copy the tables they touch. The app's environment
    points there inside the block, and back where it was after it."""
    from types import SimpleNamespace

    from chalicelib.config import get_settings, reset_settings
    from chalicelib.store.base import bind_models
    from postlaunch.localstack import provision

    if not _OWN_ENV:
        _OWN_ENV.update({**ctx.env, **provision(ctx.endpoint, stack_name=OWN_STACK).env})
    saved = dict(os.environ)
    os.environ.update(_OWN_ENV)
    reset_settings()
    bind_models()
    try:
        yield SimpleNamespace(
            endpoint=ctx.endpoint,
            env=dict(_OWN_ENV),
            settings=get_settings(),
            quick=getattr(ctx, "quick", False),
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_settings()
        bind_models()


def run(ctx: Any, quick: bool = False) -> dict[str, Any]:
    """CPU per invocation of each route, AWS answers replayed. ctx: bench.common's context (endpoint,
    env); the app's settings come from the environment it set."""
    quick = quick or bool(getattr(ctx, "quick", False))
    items, repeats = feedback_items(quick), (5 if quick else 30)
    print(
        f"capacity: CPU per invocation, our code alone (AWS answers replayed; {items} feedback items, "
        f"{repeats} invocations per route)"
    )
    with own_tables(ctx):
        state = setup(items)
        invoke = Invoker()
        tapes: dict[str, Tape] = {}
        rows = cpu_per_route(invoke, state, repeats, tapes)
    print_table(rows)
    size = item_bytes(tapes["POST feedback"])
    print(f"   a new feedback item (the bench's payload, as POST stores it): {size} bytes in DynamoDB")
    model = capacity_model(rows, size or 1024, API_FUNCTION_MEMORY_MB)
    return {
        "feedbackItems": items,
        "repeats": repeats,
        "memoryMb": API_FUNCTION_MEMORY_MB,
        "feedbackItemBytes": size,
        "routes": rows,
        "assumptions": {
            "prices": PRICES,
            "msPerCall": MS_PER_CALL,
            "dashboardPerSecond": DASHBOARD_PER_SECOND,
        },
        "model": model,
    }


def readme(figures: dict[str, Any], meta: dict[str, Any]) -> str:
    """The README's CPU-per-route and capacity tables (between `<!-- capacity:start/end -->`)."""
    memory_mb, scale = figures["memoryMb"], FULL_VCPU_MB / figures["memoryMb"]
    lines = [
        f"Measured {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs, Python {meta['python']}) by "
        f"`make bench`. CPU time of one invocation, our code alone (the route's AWS answers recorded "
        f"once, then replayed), median and p95 of {figures['repeats']}; the last column scales the "
        f"median to Lambda's CPU share at {memory_mb} MB:",
        "",
        f"| route | AWS calls | items read | CPU ms p50 | p95 | at {memory_mb} MB |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for row in figures["routes"]:
        flag = " (!) " + "; ".join(row["problems"]) if row["problems"] else ""
        lines.append(
            f"| {row['route']}{flag} | {row['awsCalls']} | {row['itemsRead']:,} | {row['cpuMsMedian']:.2f} | "
            f"{row['cpuMsP95']:.2f} | {row['cpuMsMedian'] * scale:.1f} |"
        )
    lines += [
        "",
        f"The model from these (docs/performance.md; a feedback item {figures['feedbackItemBytes']} bytes; "
        f"{MS_PER_CALL['dynamodb']:.0f} ms a DynamoDB call; us-east-1 on-demand prices):",
        "",
        "| scenario | RPS | Lambda concurrency | read units/s | write units/s | $ a month | "
        "summary partition | rollup item |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in figures["model"]:
        lines.append(
            f"| {s['scenario']} | {s['rps']:,.0f} | {s['lambdaConcurrency']:.0f} | "
            f"{s['readUnitsPerSecond']:,} | {s['writeUnitsPerSecond']:,} | {s['monthlyUsdTotal']:,} | "
            f"{s['summaryPartitionReadShare']:.2f}× | {s['rollupItemWriteShare']:.2f}× |"
        )
    lines += [
        "",
        "The last two columns are shares of one partition's limit (3,000 reads, 1,000 writes a second): "
        "above 1 it throttles.",
    ]
    return "\n".join(lines)


# ---- running alone
def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    from bench.common import local_context

    with local_context() as ctx:
        figures = run(ctx, quick=args.quick)
    print(json.dumps({"capacity": figures})[:200] + " ...")


if __name__ == "__main__":
    main()
