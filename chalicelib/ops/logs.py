"""`logs`: our Lambda functions' CloudWatch Logs, filtered, newest last (the seed's
`tail -f app.log | grep ERROR`).

Which groups: `chalice package` gives each function of app.py (the API handler, every @app.schedule
and @app.on_sns_message handler) a CloudFormation logical id, its name in CamelCase (APIHandler,
EvaluateHealth, NotifySlackPaging, ...), and sets no FunctionName, so CloudFormation names the
function `<stack>-<LogicalId>-<random suffix>` and Lambda logs to `/aws/lambda/<that name>`. The
groups are found by that prefix (DescribeLogGroups), so a function added to app.py needs no list
kept in step here.

Errors (`errors_only`): the server-side filter pattern keeps events holding any of the terms
ERROR, CRITICAL, "Task timed out" or "Runtime exited with error"; then each line is judged here:
a Powertools JSON line counts when its `level` is ERROR or CRITICAL (an INFO line whose message
merely contains the word ERROR does not), any other line when it holds one of those terms (Lambda's
own "[ERROR] ..." unhandled-exception lines, "Task timed out after 30.00 seconds", "Runtime exited
with error: signal: killed" when a function runs out of memory).

Bounded: at most `limit` events are returned (the newest), read with at most `max_calls`
FilterLogEvents calls; a window holding more than that is read backwards in slices from its end,
so what is returned is always the newest part, and a partial read says how far back it got.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.config import Settings, get_settings
from chalicelib.errors import NotFound
from chalicelib.integrations import logs as logs_api

LAMBDA_PREFIX = "/aws/lambda/"
ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})
ERROR_FILTER_PATTERN = '?ERROR ?CRITICAL ?"Task timed out" ?"Runtime exited with error"'
_RAW_ERROR = re.compile(r"\bERROR\b|\bCRITICAL\b|Task timed out|Runtime exited with error")
# Pages read for one slice of the window before it is judged too busy and read in a shorter slice.
SLICE_PAGES = 3
# --follow re-reads this far behind its newest event: CloudWatch Logs may ingest an event a little
# after events with later timestamps (ids already shown are skipped).
FOLLOW_OVERLAP_MS = 60_000


def group_prefix(stack: str) -> str:
    return f"{LAMBDA_PREFIX}{stack}-"


def cfn_name(name: str) -> str:
    """A Chalice function name as `chalice package` turns it into a logical id (snake_case and
    kebab-case words to CamelCase, as chalice.utils.to_cfn_resource_name does; a unit test checks
    they agree for every function of app.py)."""
    for separator in ("-", "_"):
        name = "".join(part[0].upper() + part[1:] for part in name.split(separator) if part)
    return re.sub(r"[^A-Za-z0-9]+", "", name)


def function_of(group: str, prefix: str) -> str:
    """The logical id in `/aws/lambda/<stack>-<LogicalId>-<suffix>` (logical ids hold no hyphen)."""
    rest = group[len(prefix) :] if group.startswith(prefix) else group.rsplit("/", 1)[-1]
    return rest.split("-", 1)[0] or rest


def matches_function(label: str, wanted: str) -> bool:
    """`--function` takes the name in app.py (evaluate_health) or the logical id (EvaluateHealth)."""
    return label.lower() in {wanted.lower(), cfn_name(wanted).lower()}


@dataclass(frozen=True)
class LogLine:
    timestamp: int
    function: str
    group: str
    stream: str
    event_id: str
    raw: str
    record: dict[str, Any] | None  # the parsed Powertools line, None for other lines

    @property
    def level(self) -> str | None:
        if self.record is not None:
            level = self.record.get("level")
            return str(level).upper() if level is not None else None
        return "ERROR" if _RAW_ERROR.search(self.raw) else None

    @property
    def message(self) -> str:
        if self.record is not None:
            message = self.record.get("message")
            text = message if isinstance(message, str) else json.dumps(message, default=str)
            if self.record.get("exception_name"):
                text += f" [{self.record['exception_name']}]"
            return text
        return self.raw.rstrip("\n")

    @property
    def correlation_id(self) -> str | None:
        if self.record is None:
            return None
        value = self.record.get("correlation_id")
        return None if value is None else str(value)

    def is_error(self) -> bool:
        if self.record is not None:
            return self.level in ERROR_LEVELS
        return bool(_RAW_ERROR.search(self.raw))

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": datetime.fromtimestamp(self.timestamp / 1000, UTC).isoformat(timespec="milliseconds"),
            "timestamp": self.timestamp,
            "function": self.function,
            "level": self.level,
            "message": self.message,
            "correlationId": self.correlation_id,
            "json": self.record is not None,
            "record": self.record,
            "raw": self.raw,
            "logGroup": self.group,
            "logStream": self.stream,
            "eventId": self.event_id,
        }


def parse_record(message: str) -> dict[str, Any] | None:
    """A Powertools Logger line is one JSON object with `level` and `message`; anything else is raw."""
    text = message.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and "level" in value and "message" in value else None


def to_line(event: logs_api.LogEvent, prefix: str) -> LogLine:
    return LogLine(
        timestamp=event.timestamp,
        function=function_of(event.group, prefix),
        group=event.group,
        stream=event.stream,
        event_id=event.event_id,
        raw=event.message,
        record=parse_record(event.message),
    )


@dataclass
class LogQuery:
    stack: str
    since: timedelta = timedelta(hours=1)
    errors_only: bool = False
    function: str | None = None
    limit: int = 200
    max_calls: int = 100
    # Where CloudFormation had to shorten the function names (at most 64 characters) or the functions
    # were named otherwise, the groups' common prefix can be given instead of derived from the stack.
    group_prefix: str | None = None

    @property
    def prefix(self) -> str:
        return self.group_prefix or group_prefix(self.stack)

    @property
    def pattern(self) -> str:
        return ERROR_FILTER_PATTERN if self.errors_only else ""

    def keep(self, line: LogLine) -> bool:
        return line.is_error() if self.errors_only else True


@dataclass
class LogRead:
    lines: list[LogLine]
    groups: list[str]
    start: datetime
    end: datetime
    calls: dict[str, int] = field(default_factory=dict)
    partial: list[str] = field(default_factory=list)

    def as_dict(self, query: LogQuery) -> dict[str, Any]:
        return {
            "stack": query.stack,
            "logGroupPrefix": query.prefix,
            "logGroups": self.groups,
            "window": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "filter": {
                "errorsOnly": query.errors_only,
                "pattern": query.pattern or None,
                "function": query.function,
                "limit": query.limit,
            },
            "count": len(self.lines),
            "partial": self.partial,
            "calls": self.calls,
            "events": [line.as_dict() for line in self.lines],
        }


class NoLogGroups(Exception):
    """No group to read; the message says why and what to check."""


def discover_groups(
    query: LogQuery, *, client: Any = None, settings: Settings | None = None
) -> tuple[list[str], int]:
    groups, calls = logs_api.log_groups(query.prefix, client=client, settings=settings)
    if not groups:
        raise NoLogGroups(
            f"no log groups start with {query.prefix}. Lambda creates a function's group at its first "
            "invocation; check the stack name (--stack / PLM_STACK). The local stack runs the app "
            "in-process with `chalice local`, whose log is the output of `make run`."
        )
    if query.function:
        chosen = [g for g in groups if matches_function(function_of(g, query.prefix), query.function)]
        if not chosen:
            known = ", ".join(sorted({function_of(g, query.prefix) for g in groups}))
            raise NoLogGroups(
                f"no function {query.function!r} among the log groups of {query.stack} ({known})."
            )
        groups = chosen
    return groups, calls


class _Budget:
    def __init__(self, max_calls: int):
        self.left = max_calls
        self.used = 0

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        self.used += 1
        return True


def _read_slice(
    group: str, lo: int, hi: int, query: LogQuery, budget: _Budget, client: Any, settings: Settings
) -> list[logs_api.LogEvent] | None:
    """Every event of [lo, hi], or None when it takes more than SLICE_PAGES pages (or the budget ends)."""
    events: list[logs_api.LogEvent] = []
    token: str | None = None
    for _ in range(SLICE_PAGES):
        if not budget.take():
            return None
        page = logs_api.filter_events(
            group, lo, hi, pattern=query.pattern, next_token=token, client=client, settings=settings
        )
        events += page.events
        token = page.next_token
        if not token:
            return events
    return None


def _newest_of_group(
    group: str, start: int, end: int, query: LogQuery, budget: _Budget, client: Any, settings: Settings
) -> tuple[list[LogLine], int | None]:
    """The newest `limit` kept lines of one group; and, if the budget ran out first, the time down
    to which the group was read."""
    kept: deque[LogLine] = deque()
    hi, size = end, end - start  # the whole window first: one call when it is quiet
    while hi >= start and len(kept) < query.limit:
        lo = max(start, hi - size)
        events = _read_slice(group, lo, hi, query, budget, client, settings)
        if events is None:
            if budget.left <= 0:
                return list(kept), hi
            size = max(1000, size // 8)  # too busy: a shorter slice ending at the same place
            continue
        lines = [line for line in (to_line(e, query.prefix) for e in events) if query.keep(line)]
        kept.extendleft(reversed(sorted(lines, key=lambda line: line.timestamp)))
        hi, size = lo - 1, size * 2  # end is inclusive, so step below the slice just read
    newest = sorted(kept, key=lambda line: (line.timestamp, line.event_id))[-query.limit :]
    return newest, None


def read_logs(
    query: LogQuery, *, now: datetime | None = None, client: Any = None, settings: Settings | None = None
) -> LogRead:
    """The newest `query.limit` lines of the window across our functions' groups, oldest first."""
    settings = settings or get_settings()
    end = now or datetime.now(UTC)
    start = end - query.since
    groups, describe_calls = discover_groups(query, client=client, settings=settings)
    budget = _Budget(query.max_calls)
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    lines: list[LogLine] = []
    partial: list[str] = []
    for group in groups:
        newest, stopped = _newest_of_group(group, start_ms, end_ms, query, budget, client, settings)
        lines += newest
        if stopped is not None:
            reached = datetime.fromtimestamp(stopped / 1000, UTC).isoformat(timespec="seconds")
            partial.append(
                f"{group}: the FilterLogEvents budget ({query.max_calls} calls) ran out; "
                f"read back to {reached} only"
            )
    lines.sort(key=lambda line: (line.timestamp, line.event_id))
    return LogRead(
        lines=lines[-query.limit :],
        groups=groups,
        start=start,
        end=end,
        calls={"logs:DescribeLogGroups": describe_calls, "logs:FilterLogEvents": budget.used},
        partial=partial,
    )


class Follower:
    """Polls the groups for events newer than those already shown (for `logs --follow`).

    Each group keeps its own cursor, the newest event read from it. A poll re-reads FOLLOW_OVERLAP_MS
    behind it and skips event ids already shown, so an event ingested late is still shown once; a
    group with more new events than `pages_per_poll` pages continues where it stopped at the next
    poll. New groups (a function's first run) are picked up every `rediscover_every` polls; a group
    deleted meanwhile is dropped.
    """

    def __init__(
        self,
        query: LogQuery,
        groups: list[str],
        since_ms: int,
        *,
        client: Any = None,
        settings: Settings | None = None,
        rediscover_every: int = 12,
        pages_per_poll: int = 5,
    ):
        self.query = query
        self.since_ms = since_ms
        self.cursors: dict[str, int] = {group: since_ms for group in groups}
        self.seen: dict[str, int] = {}
        self.client = client
        self.settings = settings or get_settings()
        self.rediscover_every = rediscover_every
        self.pages_per_poll = pages_per_poll
        self.polls = 0
        self.calls = 0
        self.notes: list[str] = []

    @property
    def groups(self) -> list[str]:
        return sorted(self.cursors)

    def remember(self, lines: Iterable[LogLine]) -> None:
        for line in lines:
            self.seen[line.event_id] = line.timestamp
            if line.group in self.cursors:
                self.cursors[line.group] = max(self.cursors[line.group], line.timestamp)

    def _rediscover(self, now_ms: int) -> None:
        try:
            found, calls = discover_groups(self.query, client=self.client, settings=self.settings)
        except NoLogGroups:
            return
        self.calls += calls
        for group in found:
            # A group that appears now holds only events newer than the follow's start.
            self.cursors.setdefault(group, self.since_ms)

    def _poll_group(self, group: str, now_ms: int) -> list[LogLine]:
        lo = max(0, self.cursors[group] - FOLLOW_OVERLAP_MS)
        fresh: list[LogLine] = []
        token: str | None = None
        for _ in range(self.pages_per_poll):
            self.calls += 1
            page = logs_api.filter_events(
                group,
                lo,
                now_ms,
                pattern=self.query.pattern,
                next_token=token,
                client=self.client,
                settings=self.settings,
            )
            for event in page.events:
                # Every event read moves the cursor, kept or not (an --errors follow skips INFO lines).
                self.cursors[group] = max(self.cursors[group], event.timestamp)
                if event.event_id in self.seen:
                    continue
                self.seen[event.event_id] = event.timestamp
                line = to_line(event, self.query.prefix)
                if self.query.keep(line):
                    fresh.append(line)
            token = page.next_token
            if not token:
                return fresh
        self.notes.append(
            f"{group}: more than {self.pages_per_poll} pages of new events; the rest at the next poll"
        )
        return fresh

    def poll(self, now: datetime | None = None) -> list[LogLine]:
        now_ms = int((now or datetime.now(UTC)).timestamp() * 1000)
        self.polls += 1
        self.notes = []
        if self.polls % self.rediscover_every == 0:
            self._rediscover(now_ms)
        fresh: list[LogLine] = []
        for group in self.groups:
            try:
                fresh += self._poll_group(group, now_ms)
            except NotFound:
                del self.cursors[group]
                self.notes.append(f"{group} no longer exists; no longer followed")
        fresh.sort(key=lambda line: (line.timestamp, line.event_id))
        # Ids older than every group's overlap can no longer come back: forget them (bounded memory).
        floor = min(self.cursors.values(), default=now_ms) - FOLLOW_OVERLAP_MS
        self.seen = {eid: ts for eid, ts in self.seen.items() if ts >= floor}
        return fresh
