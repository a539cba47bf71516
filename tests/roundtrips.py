"""Counting AWS round trips and DynamoDB items read, for the suite and for the benches (bench.common
re-exports it: there is one counter).

`RoundTrips` is a context manager that sees every AWS operation botocore performs while it is open,
from any client (boto3's, PynamoDB's, clients created before it opened), made by the code it wraps:
on the thread that opened it and on threads running in a copy of that thread's context, which is how
chalicelib.parallel runs a request's side-by-side reads. Another thread's calls meanwhile (a test
session's background worker polling a queue) are not the request's and are left out;
`RoundTrips(all_threads=True)` counts them too. It wraps
`botocore.client.BaseClient._make_api_call`, which every client operation passes through (it emits
`before-call`, then the endpoint sends the request, botocore's retries beneath it: a retried call
counts once).

For each call it records the service and operation (`dynamodb:Query`), when it was made and when
it returned, the thread, and the items it read:
- Query/Scan: `ScannedCount` (the items DynamoDB evaluated before filters, what the call is billed for);
- GetItem: 1 when an item came back; BatchGetItem and TransactGetItems: the items in `Responses`;
- anything else (writes, other services, errors): 0.

Sequential round trips (`sequential`), counted by thread-parallel groups: calls whose times overlap,
directly or through other calls in flight meanwhile, form one group; a group costs as many round
trips as the most calls any one thread made in it (a thread's own calls are always one after
another). So a request that makes three calls in turn costs 3, one that puts 13 Queries in flight on
13 threads at once costs 1 for them, and a pool of 4 threads working through 13 Queries costs 4.
Grouping by overlap rather than by strict pairwise overlap keeps the figure independent of thread
scheduling: in one Python process the first thread's call may return before the last thread has sent
its own, while the others are still in flight.

Nothing here imports chalicelib, so any test (unit or integration) can use it.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import botocore.client

_LOCK = threading.Lock()
_ACTIVE: list[RoundTrips] = []
_ORIGINAL = None
# The counters open in this context (ids): a thread running in a copy of it carries them along.
_SCOPE: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "roundtrips_scope", default=frozenset()
)


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    started: float
    ended: float
    thread: int
    items_read: int

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"


def items_read(operation: str, parsed: dict[str, Any]) -> int:
    """DynamoDB items a response says were read (0 for other services and for writes)."""
    if not isinstance(parsed, dict):
        return 0
    if operation in ("Query", "Scan"):
        return int(parsed.get("ScannedCount", parsed.get("Count", 0)))
    if operation == "GetItem":
        return 1 if parsed.get("Item") else 0
    if operation == "BatchGetItem":
        return sum(len(items) for items in (parsed.get("Responses") or {}).values())
    if operation == "TransactGetItems":
        return sum(1 for r in parsed.get("Responses") or [] if r.get("Item"))
    return 0


_THREADS = threading.local()
_SERIALS = iter(range(1, 1 << 62))


def _thread_serial() -> int:
    """A number for the calling thread never given to another (thread idents are reused)."""
    serial = getattr(_THREADS, "serial", None)
    if serial is None:
        serial = _THREADS.serial = next(_SERIALS)
    return serial


def _counting(client, operation_name, api_params):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    parsed: Any = {}
    try:
        parsed = _ORIGINAL(client, operation_name, api_params)
        return parsed
    finally:
        ended = time.perf_counter()
        service = client.meta.service_model.service_name
        call = Call(
            service=service,
            operation=operation_name,
            started=started,
            ended=ended,
            thread=_thread_serial(),
            items_read=items_read(operation_name, parsed) if service == "dynamodb" else 0,
        )
        scope = _SCOPE.get()
        with _LOCK:
            for counter in _ACTIVE:
                if counter.all_threads or id(counter) in scope:
                    counter.calls.append(call)


def groups(calls: list[Call]) -> list[list[Call]]:
    """Calls joined by overlapping times (directly or through calls in flight meanwhile), in order."""
    found: list[list[Call]] = []
    group_end = float("-inf")
    for call in sorted(calls, key=lambda c: c.started):
        if found and call.started < group_end:
            found[-1].append(call)
            group_end = max(group_end, call.ended)
        else:
            found.append([call])
            group_end = call.ended
    return found


def sequential_depth(calls: list[Call]) -> int:
    """Round trips one after another: per group of overlapping calls, the most calls one thread made."""
    return sum(max(Counter(c.thread for c in group).values()) for group in groups(calls))


@dataclass(eq=False)  # identity: nested counters are told apart
class RoundTrips:
    """AWS calls made while open: `with RoundTrips() as trips: ...; trips.total, trips.sequential`."""

    all_threads: bool = False
    calls: list[Call] = field(default_factory=list)
    _token: Any = field(default=None, repr=False)

    def __enter__(self) -> RoundTrips:
        global _ORIGINAL
        self._token = _SCOPE.set(_SCOPE.get() | {id(self)})
        with _LOCK:
            if not _ACTIVE:
                _ORIGINAL = botocore.client.BaseClient._make_api_call
                botocore.client.BaseClient._make_api_call = _counting
            _ACTIVE.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _SCOPE.reset(self._token)
        with _LOCK:
            _ACTIVE.remove(self)
            if not _ACTIVE:
                botocore.client.BaseClient._make_api_call = _ORIGINAL

    def clear(self) -> None:
        with _LOCK:
            self.calls.clear()

    @property
    def total(self) -> int:
        return len(self.calls)

    @property
    def sequential(self) -> int:
        return sequential_depth(list(self.calls))

    @property
    def items_read(self) -> int:
        return sum(c.items_read for c in self.calls)

    def by_operation(self) -> Counter[str]:
        return Counter(c.name for c in self.calls)

    def count(self, name: str) -> int:
        """Calls of one `service:Operation` (or of a whole service: `dynamodb`)."""
        return sum(1 for c in self.calls if c.name == name or c.service == name)

    def summary(self) -> dict[str, Any]:
        """JSON-able figures: total, sequential, items read, calls per operation."""
        return {
            "total": self.total,
            "sequential": self.sequential,
            "itemsRead": self.items_read,
            "operations": dict(sorted(self.by_operation().items())),
        }
