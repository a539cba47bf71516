"""`make run`: the whole system on this machine, no AWS account and no Docker.

Starts an in-process moto server as the local AWS (Step Functions execution on), provisions
infra/template.json on it, serves app.py with `chalice local`, runs the app's scheduled jobs on a
timer in this process (as Lambda would call them), and prints the API URL, the exports another
terminal needs, and how to get a token. `DEMO=1` first loads a month of demo data, with a progress
bar and a summary line per kind of data (postlaunch.demo_load; `--verbose` or LOG_LEVEL=DEBUG shows
the app's JSON logs instead). Ctrl-C or SIGTERM stops everything it started and exits 0.

Environment: API_PORT (8000), API_HOST (127.0.0.1), MOTO_PORT (5000), PLM_STACK
(post-launch-monitor-local), DEMO (unset), SCHEDULE_SPEEDUP (1: divide every rate() period by it),
LOCAL_SCHEDULE_SECONDS (unset: when set, every job runs at this period instead of its schedule).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from postlaunch.localstack import REGION, ROOT, ChaliceLocal, LocalAws, Provisioned, provision

log = logging.getLogger("plm.devstack")

DEFAULT_STACK = "post-launch-monitor-local"
LOCAL_ACCOUNT = "123456789012"  # moto's default account id


# ---------------------------------------------------------------- schedules


_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$", re.IGNORECASE)
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}
_DAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split(), start=1)}  # AWS: 1 = Sunday


def expression_string(expression: Any) -> str:
    """Chalice keeps either a string or a Rate/Cron object; both render to EventBridge syntax."""
    return expression if isinstance(expression, str) else expression.to_string()


def rate_seconds(expression: str) -> float | None:
    """Seconds between runs for `rate(N unit)`, None for anything else."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    unit = match.group(2).lower().rstrip("s")
    return int(match.group(1)) * _UNIT_SECONDS[unit]


def _cron_field(text: str, low: int, high: int, names: Mapping[str, int] | None = None) -> set[int] | None:
    """Values an EventBridge cron field allows; None means "any" (`*` or `?`)."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _cron_value(a, names), _cron_value(b, names)
        else:
            start = _cron_value(part, names)
            end = high if "/" in text else start
        values.update(range(start, end + 1, step))
    return values


def _cron_value(text: str, names: Mapping[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        # L, W and # need a calendar; the local timer does not emulate them.
        raise ValueError(f"cron token {text!r} is not supported by the local scheduler")
    return int(text)


@dataclass(frozen=True)
class CronSpec:
    """An EventBridge cron expression (minutes hours day-of-month month day-of-week year), in UTC."""

    minutes: set[int] | None
    hours: set[int] | None
    days: set[int] | None
    months: set[int] | None
    weekdays: set[int] | None
    years: set[int] | None

    @classmethod
    def parse(cls, expression: str) -> CronSpec:
        match = re.match(r"^cron\((.*)\)$", expression.strip(), re.IGNORECASE)
        if not match:
            raise ValueError(f"not a cron expression: {expression}")
        parts = match.group(1).split()
        if len(parts) != 6:
            raise ValueError(f"a cron expression has 6 fields: {expression}")
        return cls(
            minutes=_cron_field(parts[0], 0, 59),
            hours=_cron_field(parts[1], 0, 23),
            days=_cron_field(parts[2], 1, 31),
            months=_cron_field(parts[3], 1, 12, _MONTHS),
            weekdays=_cron_field(parts[4], 1, 7, _DAYS),
            years=_cron_field(parts[5], 1970, 2199),
        )

    def matches(self, when: datetime) -> bool:
        weekday = (when.isoweekday() % 7) + 1  # Monday=1..Sunday=7 -> Sunday=1..Saturday=7
        checks = (
            (self.minutes, when.minute),
            (self.hours, when.hour),
            (self.days, when.day),
            (self.months, when.month),
            (self.weekdays, weekday),
            (self.years, when.year),
        )
        return all(allowed is None or value in allowed for allowed, value in checks)


@dataclass
class ScheduledJob:
    """One `@app.schedule` handler, found on the Chalice app object."""

    name: str
    handler_string: str
    expression: str
    handler: Callable[[dict[str, Any], Any], Any]
    period: float | None = None  # seconds between runs (rate, or the local override)
    cron: CronSpec | None = None
    runs: int = 0
    failures: int = 0
    last_error: str | None = None

    def describe(self) -> str:
        if self.period is not None:
            return f"{self.name} every {self.period:g} s ({self.expression})"
        return f"{self.name} at {self.expression} UTC"


def discover_jobs(
    app_obj: Any,
    module: Any,
    *,
    speedup: float = 1.0,
    fixed_period: float | None = None,
) -> list[ScheduledJob]:
    """The scheduled handlers of a Chalice app, generically: Chalice records each `@app.schedule` as a
    ScheduledEventConfig in `app.event_sources` (name, handler_string "app.<function>", expression),
    so jobs added later are picked up without touching this file.
    """
    from chalice.app import ScheduledEventConfig

    jobs: list[ScheduledJob] = []
    for source in getattr(app_obj, "event_sources", []):
        if not isinstance(source, ScheduledEventConfig):
            continue
        expression = expression_string(source.schedule_expression)
        handler = getattr(module, source.handler_string.rsplit(".", 1)[-1])
        job = ScheduledJob(
            name=source.name, handler_string=source.handler_string, expression=expression, handler=handler
        )
        seconds = rate_seconds(expression)
        if fixed_period:
            job.period = fixed_period
        elif seconds is not None:
            job.period = max(seconds / speedup, 1.0)
        else:
            try:
                job.cron = CronSpec.parse(expression)
            except ValueError as exc:
                log.warning("scheduled job %s (%s) will not run locally: %s", job.name, expression, exc)
                continue
        jobs.append(job)
    return jobs


def scheduled_event(job: ScheduledJob, when: datetime, region: str = REGION) -> dict[str, Any]:
    """The event EventBridge hands a scheduled Lambda."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{LOCAL_ACCOUNT}:rule/post-launch-monitor-local-{job.name}"],
        "detail": {},
    }


class LambdaContext:
    """The attributes of the Lambda context object that Powertools and handlers read."""

    def __init__(
        self, function_name: str, timeout_s: float = 60.0, memory_mb: int = 512, region: str = REGION
    ):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = datetime.now(UTC).strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def run_job(job: ScheduledJob, when: datetime | None = None) -> bool:
    """Call the handler as Lambda would. Failures are logged and counted, never raised."""
    when = when or datetime.now(UTC)
    context = LambdaContext(f"post-launch-monitor-local-{job.name}")
    started = time.monotonic()
    job.runs += 1
    try:
        result = job.handler(scheduled_event(job, when), context)
    except Exception as exc:  # noqa: BLE001 - a failing job must not stop the timer
        job.failures += 1
        job.last_error = f"{type(exc).__name__}: {exc}"
        log.error("scheduled job %s failed: %s\n%s", job.name, job.last_error, traceback.format_exc())
        return False
    # The SNS/SQS bridges poll every second and answer how many messages they handed over: an empty
    # poll is not news (debug), or the terminal would scroll two lines a second.
    level = logging.DEBUG if result == 0 and not isinstance(result, bool) else logging.INFO
    log.log(level, "scheduled job %s ran in %.2f s", job.name, time.monotonic() - started)
    return True


class Scheduler(threading.Thread):
    """Runs the jobs on a timer: rate jobs first at start, then every period; cron jobs on each
    matching UTC minute. One job at a time, so handlers need not be thread-safe among themselves."""

    def __init__(self, jobs: list[ScheduledJob], tick: float = 0.5):
        super().__init__(name="plm-scheduler", daemon=True)
        self.jobs = jobs
        self.tick = tick
        self._stop_event = threading.Event()
        # Next run per rate job, on the monotonic clock; a job not yet seen is due at once.
        self._due: dict[str, float] = {}
        self._last_minute: dict[str, str] = {}

    def stop(self, timeout: float = 30.0) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.run_due(time.monotonic(), datetime.now(UTC))
            self._stop_event.wait(self.tick)

    def run_due(self, monotonic_now: float, wall_now: datetime) -> list[str]:
        """Run every job that is due now; returns their names (the unit tests drive this directly)."""
        ran = []
        for job in self.jobs:
            if self._stop_event.is_set():
                break
            if job.period is not None:
                if monotonic_now >= self._due.setdefault(job.name, monotonic_now):
                    self._due[job.name] = monotonic_now + job.period
                    run_job(job, wall_now)
                    ran.append(job.name)
            elif job.cron is not None:
                minute = wall_now.strftime("%Y-%m-%dT%H:%M")
                if self._last_minute.get(job.name) != minute and job.cron.matches(wall_now):
                    self._last_minute[job.name] = minute
                    run_job(job, wall_now)
                    ran.append(job.name)
        return ran


# ---------------------------------------------------------------- SNS -> Lambda


def topic_arn(topic: str, stack_name: str, region: str = REGION, account: str = LOCAL_ACCOUNT) -> str:
    """The ARN an `@app.on_sns_message(topic=...)` handler is subscribed to, as `chalice package`
    resolves it: an ARN stays; a name goes into Fn::Sub "arn:aws:sns:<region>:<account>:<name>", so
    ${AWS::StackName} and friends in it resolve too."""
    if topic.startswith("arn:"):
        return topic
    name = (
        topic.replace("${AWS::StackName}", stack_name)
        .replace("${AWS::Region}", region)
        .replace("${AWS::AccountId}", account)
    )
    return f"arn:aws:sns:{region}:{account}:{name}"


@dataclass
class SnsRoute:
    """One `@app.on_sns_message` handler and the SQS queue standing in for its Lambda subscription."""

    name: str
    handler_string: str
    topic_arn: str
    handler: Callable[[dict[str, Any], Any], Any]
    queue_url: str = ""
    subscription_arn: str = ""
    delivered: int = 0
    failures: int = 0
    last_error: str | None = None


def sns_event(envelope: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """The event Lambda hands an SNS-subscribed function, from the notification SNS put on SQS."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": envelope.get("Type", "Notification"),
                    "MessageId": envelope.get("MessageId"),
                    "TopicArn": envelope.get("TopicArn"),
                    "Subject": envelope.get("Subject"),
                    "Message": envelope.get("Message"),
                    "Timestamp": envelope.get("Timestamp"),
                    "SignatureVersion": envelope.get("SignatureVersion", "1"),
                    "Signature": envelope.get("Signature", ""),
                    "SigningCertUrl": envelope.get("SigningCertURL", ""),
                    "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
                    "MessageAttributes": envelope.get("MessageAttributes", {}),
                },
            }
        ]
    }


class SnsBridge:
    """SNS cannot invoke Lambda code on the local stack, so each `@app.on_sns_message` handler gets an
    SQS queue subscribed to its topic on moto; `poll()` hands every queued notification to the handler
    in the SNS event shape, as Lambda would. A handler that raises leaves its message on the queue
    (visible again after the visibility timeout), as Lambda's async retry would try it again.
    """

    def __init__(self, routes: list[SnsRoute], sqs: Any, sns: Any, visibility_timeout: int = 30):
        self.routes = routes
        self._sqs = sqs
        self._sns = sns
        self._visibility = visibility_timeout

    @classmethod
    def discover(cls, app_obj: Any, module: Any, endpoint: str, stack_name: str) -> SnsBridge:
        """The app's SNS handlers (Chalice records each as an SNSEventConfig in app.event_sources)."""
        from chalice.app import SNSEventConfig

        from postlaunch.localstack import client

        routes = [
            SnsRoute(
                name=source.name,
                handler_string=source.handler_string,
                topic_arn=topic_arn(source.topic, stack_name),
                handler=getattr(module, source.handler_string.rsplit(".", 1)[-1]),
            )
            for source in getattr(app_obj, "event_sources", [])
            if isinstance(source, SNSEventConfig)
        ]
        return cls(routes, client("sqs", endpoint), client("sns", endpoint))

    def subscribe(self) -> SnsBridge:
        for route in self.routes:
            route.queue_url = self._sqs.create_queue(
                QueueName=f"local-sns-{route.name}",
                Attributes={"VisibilityTimeout": str(self._visibility)},
            )["QueueUrl"]
            queue_arn = self._sqs.get_queue_attributes(QueueUrl=route.queue_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            route.subscription_arn = self._sns.subscribe(
                TopicArn=route.topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True
            )["SubscriptionArn"]
        return self

    def poll(self, wait_seconds: int = 0) -> int:
        """Deliver what is queued now; returns how many messages the handlers took."""
        handled = 0
        for route in self.routes:
            while True:
                messages = self._sqs.receive_message(
                    QueueUrl=route.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
                ).get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    event = sns_event(json.loads(message["Body"]), route.subscription_arn)
                    context = LambdaContext(f"post-launch-monitor-local-{route.name}")
                    try:
                        route.handler(event, context)
                    except Exception as exc:  # noqa: BLE001 - one failing message must not stop the rest
                        route.failures += 1
                        route.last_error = f"{type(exc).__name__}: {exc}"
                        log.error(
                            "SNS handler %s failed: %s\n%s",
                            route.name,
                            route.last_error,
                            traceback.format_exc(),
                        )
                        continue
                    self._sqs.delete_message(QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"])
                    route.delivered += 1
                    handled += 1
        return handled

    def as_job(self, period: float = 1.0) -> ScheduledJob:
        """The bridge as one more job on the dev stack's timer (one job at a time, like the rest)."""
        return ScheduledJob(
            name="sns_to_lambda",
            handler_string="postlaunch.devstack.SnsBridge.poll",
            expression=f"SQS poll for {len(self.routes)} SNS handler(s), local only",
            handler=lambda _event, _context: self.poll(),
            period=period,
        )


# ---------------------------------------------------------------- SQS -> Lambda


def queue_name(queue: str, stack_name: str, region: str = REGION, account: str = LOCAL_ACCOUNT) -> str:
    """The queue an `@app.on_sqs_message(queue=...)` handler reads, as `chalice package` resolves it:
    a name goes into Fn::Sub "arn:...:<account>:<name>" (so ${AWS::StackName} resolves); an ARN's
    last part is the name."""
    if queue.startswith("arn:"):
        return queue.rsplit(":", 1)[-1]
    return (
        queue.replace("${AWS::StackName}", stack_name)
        .replace("${AWS::Region}", region)
        .replace("${AWS::AccountId}", account)
    )


@dataclass
class SqsRoute:
    """One `@app.on_sqs_message` handler and the queue its Lambda event source mapping reads."""

    name: str
    handler_string: str
    queue: str
    batch_size: int
    handler: Callable[[dict[str, Any], Any], Any]
    queue_url: str = ""
    queue_arn: str = ""
    delivered: int = 0
    failures: int = 0
    last_error: str | None = None


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """The event Lambda's SQS event source hands a function, from ReceiveMessage's messages."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class SqsBridge:
    """Lambda's SQS event source mapping, locally: `poll()` receives from each `@app.on_sqs_message`
    handler's queue (which the template created) and calls the handler with a batch in the SQS event
    shape. As on Lambda, a batch the handler took is deleted; one it raised on stays, visible again
    after the queue's visibility timeout, until the queue's redrive policy moves it to its DLQ.
    """

    def __init__(self, routes: list[SqsRoute], sqs: Any):
        self.routes = routes
        self._sqs = sqs

    @classmethod
    def discover(cls, app_obj: Any, module: Any, endpoint: str, stack_name: str) -> SqsBridge:
        """The app's SQS handlers (Chalice records each as an SQSEventConfig in app.event_sources)."""
        from chalice.app import SQSEventConfig

        from postlaunch.localstack import client

        routes = [
            SqsRoute(
                name=source.name,
                handler_string=source.handler_string,
                queue=queue_name(source.queue_arn or source.queue or "", stack_name),
                batch_size=source.batch_size,
                handler=getattr(module, source.handler_string.rsplit(".", 1)[-1]),
            )
            for source in getattr(app_obj, "event_sources", [])
            if isinstance(source, SQSEventConfig)
        ]
        return cls(routes, client("sqs", endpoint))

    def resolve(self) -> SqsBridge:
        """Find each route's queue; a route whose queue does not exist is left out, with a warning."""
        for route in list(self.routes):
            try:
                route.queue_url = self._sqs.get_queue_url(QueueName=route.queue)["QueueUrl"]
            except Exception as exc:  # noqa: BLE001 - one missing queue must not stop the others
                log.warning("SQS handler %s will not run locally: queue %s: %s", route.name, route.queue, exc)
                self.routes.remove(route)
                continue
            route.queue_arn = self._sqs.get_queue_attributes(
                QueueUrl=route.queue_url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
        return self

    def poll(self, wait_seconds: int = 0) -> int:
        """Deliver what is queued now, one batch per call of a handler; returns the messages taken."""
        handled = 0
        for route in self.routes:
            while True:
                messages = self._sqs.receive_message(
                    QueueUrl=route.queue_url,
                    MaxNumberOfMessages=min(max(route.batch_size, 1), 10),
                    WaitTimeSeconds=wait_seconds,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not messages:
                    break
                context = LambdaContext(f"post-launch-monitor-local-{route.name}")
                try:
                    route.handler(sqs_event(messages, route.queue_arn), context)
                except Exception as exc:  # noqa: BLE001 - one failing batch must not stop the rest
                    route.failures += 1
                    route.last_error = f"{type(exc).__name__}: {exc}"
                    log.error(
                        "SQS handler %s failed: %s\n%s", route.name, route.last_error, traceback.format_exc()
                    )
                    continue
                for message in messages:
                    self._sqs.delete_message(QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"])
                route.delivered += len(messages)
                handled += len(messages)
        return handled

    def as_job(self, period: float = 1.0) -> ScheduledJob:
        """The bridge as one more job on the dev stack's timer (one job at a time, like the rest)."""
        return ScheduledJob(
            name="sqs_to_lambda",
            handler_string="postlaunch.devstack.SqsBridge.poll",
            expression=f"SQS poll for {len(self.routes)} SQS handler(s), local only",
            handler=lambda _event, _context: self.poll(),
            period=period,
        )


# ---------------------------------------------------------------- the stack


def chalice_stage_env(stage: str = "local", project_dir: Path = ROOT) -> dict[str, str]:
    """The environment variables `chalice local --stage <stage>` gives the app (.chalice/config.json)."""
    from chalice.config import Config

    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    return dict(Config(chalice_stage=stage, config_from_disk=config).environment_variables)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on the port now. SO_REUSEADDR as the servers themselves set
    it, so connections still in TIME_WAIT from a stack just stopped do not count as "in use"."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def load_app(project_dir: Path = ROOT) -> Any:
    """Import app.py (the same module `chalice local` and Lambda load)."""
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    return importlib.import_module("app")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_float(name: str, default: float | None) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = float(raw)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw}")
    return value


@dataclass
class DevStack:
    api_port: int = 8000
    moto_port: int = 5000
    host: str = "127.0.0.1"
    stack_name: str = DEFAULT_STACK
    demo: bool = False
    verbose: bool = False
    speedup: float = 1.0
    fixed_period: float | None = None
    out: Any = field(default=sys.stdout)

    aws: LocalAws | None = None
    api: ChaliceLocal | None = None
    scheduler: Scheduler | None = None
    env: dict[str, str] = field(default_factory=dict)
    demo_loaded_at: datetime | None = None
    provisioned: Provisioned | None = None

    @classmethod
    def from_env(cls, verbose: bool = False) -> DevStack:
        from postlaunch.demo_load import verbose_requested

        return cls(
            verbose=verbose_requested(verbose),
            api_port=int(os.environ.get("API_PORT") or 8000),
            moto_port=int(os.environ.get("MOTO_PORT") or 5000),
            host=os.environ.get("API_HOST") or "127.0.0.1",
            stack_name=os.environ.get("PLM_STACK") or DEFAULT_STACK,
            demo=_env_flag("DEMO"),
            speedup=_env_float("SCHEDULE_SPEEDUP", 1.0) or 1.0,
            fixed_period=_env_float("LOCAL_SCHEDULE_SECONDS", None),
        )

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def start(self) -> None:
        for name, port, host in (
            ("MOTO_PORT", self.moto_port, "127.0.0.1"),
            ("API_PORT", self.api_port, self.host),
        ):
            if not port_free(port, host):
                raise RuntimeError(f"{host}:{port} is already in use; pick another with {name}=<port>.")
        self.say(f"Starting the local AWS (moto) on 127.0.0.1:{self.moto_port} ...")
        self.aws = LocalAws(self.moto_port).start()
        provisioned = self.provisioned = provision(self.aws.endpoint, stack_name=self.stack_name)
        # The app env as chalice local sees it: ours first, then .chalice/config.json's local stage on
        # top (chalice applies its config over the inherited environment).
        self.env = {**self.aws.app_env(provisioned), **chalice_stage_env("local")}
        if self.demo:
            from postlaunch.demo import DEMO_REPORT_INPUTS

            # The report's assumed inputs (baseline, ROI), each only where nothing else sets it.
            self.env.update({k: v for k, v in DEMO_REPORT_INPUTS.items() if k not in os.environ | self.env})
        os.environ.update(self.env)
        from chalicelib.config import reset_settings

        reset_settings()
        # Import the app (and with it every model) before any service call binds models to the
        # settings, so the demo loader and the scheduled jobs see the provisioned tables.
        module = load_app()
        if self.demo:
            self.load_demo()
        self.say(f"Starting chalice local on {self.host}:{self.api_port} ...")
        self.api = ChaliceLocal(self.env, port=self.api_port, host=self.host, log=sys.stdout).start()
        jobs = discover_jobs(module.app, module, speedup=self.speedup, fixed_period=self.fixed_period)
        bridge = SnsBridge.discover(module.app, module, self.aws.endpoint, self.stack_name).subscribe()
        if bridge.routes:
            jobs.append(bridge.as_job())
        # The release worker answers the state machine's task tokens: a short period keeps a rollout
        # step's latency near a second, as Lambda's event source mapping would.
        queues = SqsBridge.discover(module.app, module, self.aws.endpoint, self.stack_name).resolve()
        if queues.routes:
            jobs.append(queues.as_job(period=1.0))
        if self.demo:
            jobs.append(self.demo_producer())
        self.scheduler = Scheduler(jobs)
        self.scheduler.start()
        self.print_banner(module.app, jobs)

    def load_demo(self) -> None:
        """DEMO=1: a realistic month of data through the same services the API uses."""
        from postlaunch.demo_load import load_with_progress

        self.say("Loading the DEMO month of data through the services (this takes a while) ...")
        started = time.monotonic()
        self.demo_loaded_at = datetime.now(UTC)
        load_with_progress(self.out, now=self.demo_loaded_at, verbose=self.verbose)
        self.say(f"  demo data loaded in {time.monotonic() - started:.1f} s")

    def demo_producer(self) -> ScheduledJob:
        """DEMO=1: keep publishing the module's metric series while the stack runs, as the Patient
        Engagement module would, so live health readings do not run dry after the loaded month."""
        from postlaunch import demo_health

        # The loaded month already runs HEAD past its load time; continue from there, never over it
        # (a count written twice for one minute would be summed twice).
        written_until = [(self.demo_loaded_at or datetime.now(UTC)) + demo_health.HEAD]

        def produce(_event: dict[str, Any], _context: Any) -> str:
            written_until[0] = demo_health.top_up(datetime.now(UTC), written_until[0])
            return written_until[0].isoformat()

        period = self.fixed_period or 300 / self.speedup
        return ScheduledJob(
            name="demo_metrics_producer",
            handler_string="postlaunch.demo_health.top_up",
            expression="rate(5 minutes), DEMO only",
            handler=produce,
            period=period,
        )

    def print_banner(self, app_obj: Any, jobs: list[ScheduledJob]) -> None:
        from chalicelib.auth import mint_dev_token
        from chalicelib.config import get_settings

        url = f"http://{self.host}:{self.api_port}"
        assert self.aws is not None
        token = mint_dev_token(get_settings(), role="engineer", workspace_id="ws-demo")
        paths = set(app_obj.routes)
        example = next(
            (p for p in ("/api/monitoring/feedback/summary", "/api/monitoring/whoami") if p in paths),
            "/api/monitoring/ping",
        )
        venv_bin = Path(sys.executable).parent
        exports = (
            f"export AWS_ENDPOINT_URL={self.aws.endpoint} AWS_ACCESS_KEY_ID=testing "
            f"AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing AWS_DEFAULT_REGION={REGION} "
            f"AWS_REGION={REGION} PLM_STACK={self.stack_name}"
        )
        lines = [
            "",
            "Post-Launch Monitor is running locally.",
            f"  API: {url}",
            f"  Dashboard: {url}/dashboard (sign in with the token below)",
            f"  Local AWS: {self.aws.endpoint} (moto; CloudFormation stack {self.stack_name})",
            "  Scheduled jobs: " + ("; ".join(job.describe() for job in jobs) if jobs else "none yet"),
            *self.release_lines(),
            "",
            "In another terminal, point the CLI and the AWS CLI at the local stack:",
            f"  {exports}",
            f"  export PATH={venv_bin}:$PATH",
            "",
            "Get a token (roles: staff, engineer, admin, ingest):",
            "  TOKEN=$(post-launch-monitor dev-token --role engineer --workspace ws-demo)",
            "",
            "Try it (this token is valid for 12 hours):",
            f'  curl -s -H "Authorization: Bearer {token}" {url}{example}',
            "",
            "Ctrl-C stops everything.",
            "",
        ]
        for line in lines:
            self.say(line)

    def release_lines(self) -> list[str]:
        """What a newcomer needs to release at once: the state machine and the target(s)."""
        if self.provisioned is None:
            return []
        machine = self.env.get("RELEASE_STATE_MACHINE_ARN") or "not created"
        targets = "; ".join(
            f"{function} ({', '.join(f'{alias} -> version {v}' for alias, v in aliases.items())})"
            for function, aliases in self.provisioned.release_targets.items()
        )
        return [
            f"  Releases: state machine {machine}",
            f'    target {targets or "none"} (docs/releases.md; README "Start a release from the AWS CLI")',
        ]

    def api_alive(self) -> bool:
        return bool(self.api and self.api.process and self.api.process.poll() is None)

    def stop(self) -> None:
        """Stop what was started, newest first; safe to call twice."""
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self.api is not None:
            self.api.stop()
            self.api = None
        if self.aws is not None:
            self.aws.stop()
            self.aws = None


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (`plm-devstack`, what `make run` runs)."""
    import argparse

    parser = argparse.ArgumentParser(prog="plm-devstack", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--verbose", action="store_true", help="DEMO=1: show the app's logs while loading, not progress bars"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("botocore", "pynamodb", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack = DevStack.from_env(verbose=args.verbose)
    except ValueError as exc:
        print(f"plm-devstack: {exc}", file=sys.stderr)
        sys.exit(2)
    code = 0
    try:
        stack.start()
        while not stopping.is_set():
            # Ctrl-C reaches the chalice child too (same process group): give our own handler a moment
            # before calling its exit unexpected.
            if not stack.api_alive() and not stopping.wait(1.0):
                print("plm-devstack: chalice local exited; stopping.", file=sys.stderr)
                code = 1
                break
            stopping.wait(0.5)
    except Exception as exc:  # noqa: BLE001 - report one line, clean up, exit non-zero
        if not stopping.is_set():
            print(f"plm-devstack: {exc}", file=sys.stderr)
            code = 1
    finally:
        print("Stopping ...", flush=True)
        stack.stop()
    sys.exit(code)


if __name__ == "__main__":
    main()
