"""Counting AWS round trips and DynamoDB items read, for the suite and for the benches (bench.common
re-exports it: there is one counter).

`RoundTrips` is a context manager that sees every request botocore sends while it is open, from any
client in the process (boto3's, PynamoDB's, clients created before it opened), on any thread. It
wraps `botocore.endpoint.Endpoint.make_request`, the one place every client's operation passes
through after its `before-call` event and before `before-send`; a call retried by botocore counts once.

For each call it records the service and operation (`dynamodb:Query`), when it started and ended,
the thread, and the items it read:
- Query/Scan: `ScannedCount` (the items DynamoDB evaluated before filters, what the call is billed for);
- GetItem: 1 when an item came back; BatchGetItem and TransactGetItems: the items in `Responses`;
- anything else: 0.

Sequential round trips (`sequential`) are the longest chain of calls each of which started after the
previous one ended (interval scheduling by earliest end). Calls that overlap in time, such as those
a thread pool makes side by side, are counted once; calls on one thread are always a chain. It is a
measured figure: a pool smaller than its work shows as the extra steps it really takes.

Nothing here imports chalicelib, so any test (unit or integration) can use it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import botocore.endpoint

_LOCK = threading.Lock()
_ACTIVE: list[RoundTrips] = []
_ORIGINAL = None


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


def _counting(endpoint, operation_model, request_dict):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    response = None
    try:
        response = _ORIGINAL(endpoint, operation_model, request_dict)
        return response
    finally:
        ended = time.perf_counter()
        parsed = response[1] if response is not None else {}
        service = operation_model.service_model.service_name
        call = Call(
            service=service,
            operation=operation_model.name,
            started=started,
            ended=ended,
            thread=threading.get_ident(),
            items_read=items_read(operation_model.name, parsed) if service == "dynamodb" else 0,
        )
        with _LOCK:
            for counter in _ACTIVE:
                counter.calls.append(call)


def sequential_depth(calls: list[Call]) -> int:
    """The longest chain of calls in which each starts after the one before it ended."""
    depth, chain_end = 0, float("-inf")
    for call in sorted(calls, key=lambda c: c.ended):
        if call.started >= chain_end:
            depth, chain_end = depth + 1, call.ended
    return depth


@dataclass(eq=False)  # identity: nested counters are told apart
class RoundTrips:
    """AWS calls made while open: `with RoundTrips() as trips: ...; trips.total, trips.sequential`."""

    calls: list[Call] = field(default_factory=list)

    def __enter__(self) -> RoundTrips:
        global _ORIGINAL
        with _LOCK:
            if not _ACTIVE:
                _ORIGINAL = botocore.endpoint.Endpoint.make_request
                botocore.endpoint.Endpoint.make_request = _counting
            _ACTIVE.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with _LOCK:
            _ACTIVE.remove(self)
            if not _ACTIVE:
                botocore.endpoint.Endpoint.make_request = _ORIGINAL

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
