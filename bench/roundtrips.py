"""AWS round trips and DynamoDB items read, per route and per scheduled/SNS/SQS handler.

Every route of app.py is called in this process through Chalice's test client (the same app object
Lambda and `chalice local` load), with the app's botocore calls counted by tests/roundtrips.py:
all calls, the sequential ones (calls overlapping in time from a thread pool count once) and the
items read. The handlers are invoked the same way with the events AWS would send. The scenario
creates what each call needs (feedback, an issue, an alert, a silence, a release) through the API
itself where it can; setup calls are not counted.

`measure()` is shared with tests/integration/test_round_trips.py, which asserts the counts, and
`run(ctx)` prints the table `make bench` writes into README.md (`readme`).
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.roundtrips import RoundTrips

ROOT = Path(__file__).resolve().parent.parent
FEEDBACK = "/api/monitoring/feedback"
# The issue's targets: feedback POST at most 2 round trips; every read route at most 3 sequential.
POST_FEEDBACK_MAX = 2
READ_SEQUENTIAL_MAX = 3


@dataclass
class Row:
    kind: str  # "route" or "handler"
    name: str  # "GET /api/monitoring/feedback" or the handler's name
    case: str
    status: int | None
    total: int
    sequential: int
    items_read: int
    operations: dict[str, int] = field(default_factory=dict)

    @property
    def read_route(self) -> bool:
        return self.kind == "route" and self.name.split(" ", 1)[0] == "GET"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Scenario:
    """The app in this process, a Chalice test client on it, and the rows measured so far."""

    def __init__(self, rollout: str | None = None) -> None:
        from chalice.test import Client

        from chalicelib.config import get_settings
        from postlaunch.devstack import load_app

        self.module = load_app()
        self.app = self.module.app
        self.settings = get_settings()
        self.client = Client(self.app, stage_name="local", project_dir=str(ROOT))
        self.rows: list[Row] = []
        self.workspace = f"ws-rt-{uuid.uuid4().hex[:8]}"
        self._tokens: dict[tuple, str] = {}
        self.fired: list[str] = []
        self.rollout = rollout  # the stack's name, to find its gate queue

    def fire(self, rule: str, severity: str, **labels: str) -> dict:
        """An alert of the scenario's own (resolved again by `cleanup`), not counted."""
        from chalicelib.alerts import engine
        from chalicelib.alerts.model import Condition

        alert, _ = engine.fire(
            Condition(rule=rule, severity=severity, summary="round-trip bench", labels=labels)
        )
        self.fired.append(alert["id"])
        return alert

    def cleanup(self) -> None:
        """Resolve the scenario's alerts still active, so nothing it made keeps firing (the suite
        shares its tables across tests)."""
        from chalicelib.alerts import engine
        from chalicelib.errors import DomainError

        for alert_id in self.fired:
            try:
                engine.resolve(alert_id, actor="rt-bench", reason="round-trip bench done")
            except DomainError:
                pass  # resolved already

    def close(self) -> None:
        self.client.__exit__(None, None, None)

    # ---- calls
    def token(self, role: str, workspace: str | None = None) -> str:
        from chalicelib.auth import mint_dev_token

        key = (role, workspace)
        if key not in self._tokens:
            self._tokens[key] = mint_dev_token(
                self.settings, role=role, workspace_id=workspace, sub=f"rt-{role}"
            )
        return self._tokens[key]

    def http(
        self,
        method: str,
        path: str,
        role: str | None = None,
        *,
        workspace: str | None = None,
        body: Any = None,
        params: dict | None = None,
        headers: dict | None = None,
    ) -> tuple[int, Any, dict]:
        """One request, not counted: (status, parsed JSON or text, headers)."""
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if role:
            all_headers["Authorization"] = f"Bearer {self.token(role, workspace)}"
        url = path + (f"?{urlencode(params)}" if params else "")
        raw = json.dumps(body).encode() if body is not None else b""
        response = self.client.http.request(method, url, headers=all_headers, body=raw)
        text = response.body.decode() if response.body else ""
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return response.status_code, parsed, response.headers

    def route(
        self, route: str, case: str, method: str, path: str, role: str | None = None, expect: int = 200, **kw
    ) -> Any:
        """A counted request to `route` ("METHOD /template"); refuses an unexpected status."""
        with RoundTrips() as trips:
            status, parsed, _ = self.http(method, path, role, **kw)
        if status != expect:
            raise AssertionError(f"{route} ({case}): {status}, expected {expect}: {parsed}")
        self.rows.append(self._row("route", route, case, status, trips))
        return parsed

    def handler(self, name: str, case: str, event: Any) -> Any:
        with RoundTrips() as trips:
            out = self.client.lambda_.invoke(name, event).payload
        self.rows.append(self._row("handler", name, case, None, trips))
        return out

    @staticmethod
    def _row(kind: str, name: str, case: str, status: int | None, trips: RoundTrips) -> Row:
        return Row(
            kind,
            name,
            case,
            status,
            trips.total,
            trips.sequential,
            trips.items_read,
            dict(trips.by_operation()),
        )

    def cron(self) -> Any:
        return self.client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )

    # ---- coverage
    def routes(self) -> set[str]:
        """Every "METHOD /path" app.py declares (CORS preflight: one row for all)."""
        return {
            f"{method} {path}"
            for path, methods in self.app.routes.items()
            for method in methods
            if method != "OPTIONS"
        }

    def handlers(self) -> set[str]:
        return {source.name for source in self.app.event_sources}


def feedback_body(i: int, **overrides: Any) -> dict:
    from bench.common import payload

    return {**payload(i), **overrides}


@contextmanager
def _slack() -> Iterator[str]:
    """A stand-in Slack webhook for the notifiers (the settings read SLACK_WEBHOOK_URL)."""
    from chalicelib.config import reset_settings
    from tests.slack_stub import FakeSlack

    slack = FakeSlack()
    saved = os.environ.get("SLACK_WEBHOOK_URL")
    os.environ["SLACK_WEBHOOK_URL"] = slack.url
    reset_settings()
    try:
        yield slack.url
    finally:
        if saved is None:
            os.environ.pop("SLACK_WEBHOOK_URL", None)
        else:
            os.environ["SLACK_WEBHOOK_URL"] = saved
        reset_settings()
        slack.stop()


def load_sparse(workspace: str, now: datetime) -> None:
    """Feedback as a launch leaves it: 60 items in the last two weeks, then one item in each of a
    few older months, so a filtered engineers' list over the horizon meets mostly empty months."""
    from bench.common import load

    load(workspace, 60, first_day_back=0, days=14, as_of=now)
    for months_back in (4, 8, 11):
        load(
            workspace,
            1,
            first_day_back=30 * months_back,
            days=1,
            as_of=now,
            category="bug_report",
            featureArea="analytics",
        )


@contextmanager
def _quiet() -> Iterator[None]:
    """The app's request logs and metric lines (stdout) are not the bench's output."""
    from chalicelib.observability import logger

    level = logger.log_level
    logger.setLevel("WARNING")
    try:
        with redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def measure(rollout: str | None = None) -> list[Row]:
    """Call every route and handler once (some several ways) and count; the rows. With `rollout`, the
    local stack's name, also each step of a staging rollout (the bench; the suite's session has its
    own release worker polling the gate queue)."""
    with _slack(), _quiet():
        scenario = Scenario(rollout)
        try:
            _feedback(scenario)
            _health(scenario)
            _alerts(scenario)
            _issues_and_releases(scenario)
            _reports_and_pages(scenario)
        finally:
            scenario.cleanup()
            scenario.close()
    measured_routes = {r.name for r in scenario.rows if r.kind == "route"}
    measured_handlers = {r.name for r in scenario.rows if r.kind == "handler"}
    missing = (scenario.routes() - measured_routes) | (scenario.handlers() - measured_handlers)
    if missing:
        raise AssertionError(f"not measured: {sorted(missing)}")
    return scenario.rows


def _feedback(s: Scenario) -> None:
    from chalicelib.feedback.windows import utcnow

    now = utcnow()
    load_sparse(s.workspace, now)
    ws = s.workspace
    s.route("GET /api/monitoring/ping", "liveness", "GET", "/api/monitoring/ping")
    s.route(
        "GET /api/monitoring/whoami", "token check", "GET", "/api/monitoring/whoami", "staff", workspace=ws
    )
    s.route(
        "OPTIONS (every route)",
        "CORS preflight",
        "OPTIONS",
        FEEDBACK,
        expect=204,
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    post = f"POST {FEEDBACK}"
    body = feedback_body(1)
    body.pop("satisfactionRating")
    s.route(post, "no rating, no key", "POST", FEEDBACK, "staff", expect=201, workspace=ws, body=body)
    created = s.route(
        post,
        "rated, Idempotency-Key",
        "POST",
        FEEDBACK,
        "staff",
        expect=201,
        workspace=ws,
        body=feedback_body(2),
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    s.route(
        post,
        "critical (alert published)",
        "POST",
        FEEDBACK,
        "staff",
        expect=201,
        workspace=ws,
        body=feedback_body(3, severity="critical", category="feature_request"),
    )
    get = f"GET {FEEDBACK}"
    s.route(get, "staff, own workspace, 25", "GET", FEEDBACK, "staff", workspace=ws, params={"limit": 25})
    s.route(get, "engineer, every workspace, 25", "GET", FEEDBACK, "engineer", params={"limit": 25})
    sparse = {"category": "bug_report", "featureArea": "analytics", "limit": 10}
    s.route(get, "engineer, sparse filter over the horizon", "GET", FEEDBACK, "engineer", params=sparse)
    s.route(
        f"GET {FEEDBACK}/summary",
        "staff, 30 days",
        "GET",
        FEEDBACK + "/summary",
        "staff",
        workspace=ws,
        params={
            "startDate": (now - timedelta(days=29)).date().isoformat(),
            "endDate": now.date().isoformat(),
        },
    )
    for days in (90, 366):
        window = {
            "startDate": (now - timedelta(days=days - 1)).date().isoformat(),
            "endDate": now.date().isoformat(),
        }
        s.route(
            f"GET {FEEDBACK}/summary",
            f"engineer, every workspace, {days} days",
            "GET",
            FEEDBACK + "/summary",
            "engineer",
            params=window,
        )
    item = f"{FEEDBACK}/{created['id']}"
    s.route(f"GET {FEEDBACK}/{{feedback_id}}", "one item", "GET", item, "staff", workspace=ws)
    s.route(
        f"PATCH {FEEDBACK}/{{feedback_id}}",
        "triage",
        "PATCH",
        item,
        "engineer",
        body={"status": "acknowledged", "assignee": "rt-engineer"},
    )
    s.handler("retry_feedback_notifications", "nothing pending", s.cron())


def _health(s: Scenario) -> None:
    from chalicelib.feedback.windows import utcnow

    health = "/api/monitoring/system-health"
    s.handler("evaluate_health", "snapshot", s.cron())
    s.route(f"GET {health}", "latest snapshot", "GET", health, "engineer")
    s.route(f"GET {health}", "refresh=true", "GET", health, "engineer", params={"refresh": "true"})
    s.route(f"GET {health}/history", "last 24 h", "GET", health + "/history", "engineer")
    s.route(f"GET {health}/slo", "30 days", "GET", health + "/slo", "engineer")
    batch = {"metrics": [{"name": "RemindersSent", "value": 40, "timestamp": _iso(utcnow())}]}
    s.route(
        "POST /api/monitoring/metrics",
        "one metric",
        "POST",
        "/api/monitoring/metrics",
        "ingest",
        body=batch,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )


def _alerts(s: Scenario) -> None:
    from chalicelib.alerts import delivery

    s.handler("evaluate_alerts", "every rule", s.cron())
    rule = f"rt_bench_{uuid.uuid4().hex[:6]}"
    first, second = s.fire(rule, "warning", n="1"), s.fire(rule, "warning", n="2")
    s.handler("dispatch_alerts", "one group ready", s.cron())
    alerts, silences = "/api/monitoring/alerts", "/api/monitoring/silences"
    s.route(f"GET {alerts}", "active, 25", "GET", alerts, "engineer")
    s.route(f"GET {alerts}/{{alert_id}}", "one alert", "GET", f"{alerts}/{first['id']}", "engineer")
    s.route(
        f"POST {alerts}/{{alert_id}}/acknowledge",
        "firing",
        "POST",
        f"{alerts}/{first['id']}/acknowledge",
        "engineer",
    )
    s.route(
        f"POST {alerts}/{{alert_id}}/resolve",
        "by hand",
        "POST",
        f"{alerts}/{second['id']}/resolve",
        "engineer",
        body={"reason": "round-trip bench"},
    )
    silence = s.route(
        f"POST {silences}",
        "one matcher",
        "POST",
        silences,
        "engineer",
        expect=201,
        body={
            "matchers": [{"name": "rule", "value": rule}],
            "comment": "round-trip bench",
            "endsAt": _iso(datetime.now(UTC) + timedelta(hours=1)),
        },
    )
    s.route(f"GET {silences}", "in force", "GET", silences, "engineer")
    s.route(
        f"DELETE {silences}/{{silence_id}}", "expire", "DELETE", f"{silences}/{silence['id']}", "engineer"
    )
    from chalicelib.store import alerts as alert_store

    settings = s.settings
    for name, severity in (("notify_slack_paging", "critical"), ("notify_slack_warning", "warning")):
        alert = s.fire(rule, severity, route=name)
        message = delivery.group_message(
            rule, name, [(alert_store.get(alert["id"]), "firing")], alert_now(), settings
        )
        s.handler(name, "alert group to Slack", s.client.events.generate_sns_event(json.dumps(message)))
    alert = s.fire(rule, "info", d="1")
    message = delivery.group_message(
        rule, "digest", [(alert_store.get(alert["id"]), "firing")], alert_now(), settings
    )
    s.handler(
        "notify_slack_digest", "alert group to Slack", s.client.events.generate_sns_event(json.dumps(message))
    )


def alert_now() -> datetime:
    from chalicelib.feedback.windows import utcnow

    return utcnow()


def _issues_and_releases(s: Scenario) -> None:
    issues = "/api/issues"
    ws = s.workspace
    fb = s.http(
        "POST",
        FEEDBACK,
        "staff",
        workspace=ws,
        body=feedback_body(7, severity="high", category="feature_request"),
    )[1]
    issue = s.route(
        f"POST {issues}",
        "with one feedback item",
        "POST",
        issues,
        "engineer",
        expect=201,
        body={"title": "Reminder sent twice", "severity": "high", "feedbackIds": [fb["id"]]},
    )
    s.route(f"GET {issues}", "open, 25", "GET", issues, "engineer")
    s.route(f"GET {issues}/{{issue_id}}", "one issue", "GET", f"{issues}/{issue['id']}", "engineer")
    s.route(
        f"PATCH {issues}/{{issue_id}}",
        "status",
        "PATCH",
        f"{issues}/{issue['id']}",
        "engineer",
        body={"status": "triaged"},
    )
    fb2 = s.http(
        "POST",
        FEEDBACK,
        "staff",
        workspace=ws,
        body=feedback_body(8, severity="high", category="feature_request"),
    )[1]
    s.route(
        f"POST {FEEDBACK}/{{feedback_id}}/issue",
        "new issue",
        "POST",
        f"{FEEDBACK}/{fb2['id']}/issue",
        "engineer",
        expect=201,
    )
    _releases(s)


def _releases(s: Scenario) -> None:
    from chalicelib.store import issues as issue_store
    from chalicelib.store import releases as release_store
    from postlaunch.localstack import _zip, client, create_release_target

    endpoint = s.settings.endpoint_url
    iam = client("iam", endpoint)
    role = iam.create_role(
        RoleName=f"rt-target-{uuid.uuid4().hex[:8]}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    target = f"rt-target-{uuid.uuid4().hex[:8]}"
    lam = client("lambda", endpoint)
    create_release_target(lam, role, target, ("staging", "live"))
    code = 'def handler(event, context):\n    return {"build": 2}\n'
    lam.update_function_code(FunctionName=target, ZipFile=_zip({"handler.py": code}))
    new = lam.publish_version(FunctionName=target)["Version"]
    fixed = issue_store.create_issue(
        "Round-trip bench fix", "high", status="fixed", feature_areas=("reminders",)
    )
    highest = release_store.max_version()
    major = int(highest.split(".")[0]) + 1 if highest else 1
    version = f"{major}.0.0"
    body = {"version": version, "issues": [fixed.id], "targets": [target], "functionVersion": new}
    releases = "/api/releases"
    s.route(f"POST {releases}", "dry run", "POST", releases, "admin", body={**body, "dryRun": True})
    s.route(f"POST {releases}", "planned", "POST", releases, "admin", expect=201, body=body)
    s.route(f"GET {releases}", "newest, 25", "GET", releases, "engineer")
    s.route(f"GET {releases}/{{version}}", "one release", "GET", f"{releases}/{version}", "engineer")
    if s.rollout:
        _rollout(s, version)
        return
    # The rollout state machine's first step, as its gate-queue message (docs/releases.md, "Worker
    # protocol"), with a token of no execution (moto takes the answer all the same).
    execution = f"arn:aws:states:us-east-1:123456789012:execution:rt-rollout:{uuid.uuid4().hex[:12]}"
    message = {
        "op": "prepare",
        "token": "rt-bench-token-" + uuid.uuid4().hex,
        "execution": execution,
        "input": {"release": version, "environment": "staging", "action": "deploy", "requestedBy": "rt"},
    }
    event = s.client.events.generate_sqs_event([json.dumps(message)], queue_name="release-gate")
    s.handler("release_worker", "prepare (locks, aliases, plan)", event)


def _rollout(s: Scenario, version: str, seconds: float = 60.0) -> None:
    """A staging rollout through the state machine (moto runs it): each step's gate-queue message is
    received here and handed to the release worker through the test client, and counted, until the
    execution ends or waits for an operator (then it is stopped). Each step is one row."""
    import time

    from chalicelib.releases import operator
    from postlaunch.devstack import queue_name
    from postlaunch.localstack import client

    endpoint = s.settings.endpoint_url
    sqs, sfn = client("sqs", endpoint), client("stepfunctions", endpoint)
    name = queue_name(s.settings.release_gate_queue, s.rollout)
    queue = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    started = operator.start(version, "staging", bake_seconds=0, actor="rt-bench")
    arn, ops_seen = started["executionArn"], set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
            break
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=1)
        for message in received.get("Messages", []):
            body = message["Body"]
            op = json.loads(body).get("op")
            event = s.client.events.generate_sqs_event([body], queue_name="release-gate")
            case = f"{op} (staging rollout)" + ("" if op not in ops_seen else ", again")
            s.handler("release_worker", case, event)
            ops_seen.add(op)
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        if "pause" in ops_seen:
            break  # the execution waits for an operator now (no traffic: the gate was inconclusive)
    if sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        sfn.stop_execution(executionArn=arn, error="RoundTripBench", cause="the bench measured its steps")


def _reports_and_pages(s: Scenario) -> None:
    from chalicelib.feedback.windows import utcnow

    now = utcnow()
    week = {"start": (now - timedelta(days=7)).date().isoformat(), "end": now.date().isoformat()}
    s.route("GET /api/monitoring/phase2", "default window", "GET", "/api/monitoring/phase2", "engineer")
    s.route(
        "GET /api/monitoring/report", "last 7 days", "GET", "/api/monitoring/report", "engineer", params=week
    )
    s.handler("daily_report", "yesterday", s.cron())
    s.handler("retry_report_deliveries", "nothing due", s.cron())
    s.route("GET /", "redirect", "GET", "/", expect=302)
    s.route("GET /dashboard", "page", "GET", "/dashboard")
    s.route("GET /dashboard/{asset}", "script", "GET", "/dashboard/app.js")


# ---- bench
def table(rows: list[Row]) -> str:
    """The Markdown table (README and stdout)."""
    lines = [
        "| Route or handler | Case | AWS calls | Sequential | Items read | Calls |",
        "|---|---|--:|--:|--:|---|",
    ]
    for r in rows:
        calls = ", ".join(f"{name} {n}" for name, n in sorted(r.operations.items())) or "none"
        lines.append(f"| `{r.name}` | {r.case} | {r.total} | {r.sequential} | {r.items_read} | {calls} |")
    return "\n".join(lines)


def verdicts(rows: list[Row]) -> list[str]:
    """The targets the rows miss (empty: all met)."""
    missed = []
    for r in rows:
        if r.name == f"POST {FEEDBACK}" and r.total > POST_FEEDBACK_MAX:
            missed.append(f"{r.name} ({r.case}): {r.total} round trips > {POST_FEEDBACK_MAX}")
        if r.read_route and r.sequential > READ_SEQUENTIAL_MAX:
            missed.append(f"{r.name} ({r.case}): {r.sequential} sequential > {READ_SEQUENTIAL_MAX}")
    return missed


def run(ctx: Any) -> dict:
    rows = measure(rollout=ctx.stack_name)
    print(table(rows))
    missed = verdicts(rows)
    print("targets met" if not missed else "targets missed:\n  " + "\n  ".join(missed))
    return {"rows": [asdict(r) for r in rows], "missed": missed}


def readme(figures: dict, meta: dict) -> str:
    rows = [Row(**r) for r in figures["rows"]]
    return (
        f"Measured {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs, Python {meta['python']}) "
        "by `make bench` against the local moto stack.\n\n" + table(rows)
    )


if __name__ == "__main__":
    from bench.common import local_context

    with local_context() as context:
        run(context)
