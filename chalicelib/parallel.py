"""Independent AWS reads of one request, in flight together.

A Lambda invocation serves one request at a time and spends most of it waiting on DynamoDB and
CloudWatch, so reads that do not depend on each other are made side by side: the request then waits
for the slowest of them, not for their sum (README, "Round trips per route"). Each call runs on a
thread of its own, started for the occasion: a shared pool could hand two reads to one thread (one
after the other) or make one request wait for another's, and starting a thread costs far less than
a round trip. botocore clients are thread-safe; PynamoDB keeps one client per model. Each thread
runs in a copy of the caller's context (contextvars), as the caller's own code would: what the
request set there (a counter of its AWS calls in the tests, tests/roundtrips.py) follows its reads.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from typing import Any

_START_TIMEOUT = 5.0


def run_all(calls: Sequence[Callable[[], Any]], *, return_exceptions: bool = False) -> list[Any]:
    """Call each function on its own thread and wait for all; their results, in order. An exception
    is returned in its place with `return_exceptions`, else the first one (in order) is raised once
    every call has ended. A single call runs on the caller's thread."""
    if len(calls) == 1 and not return_exceptions:
        return [calls[0]()]
    results: list[Any] = [None] * len(calls)
    # The calls leave together, once every thread is up: started one by one on a busy interpreter,
    # the first thread's read could otherwise be over before the last thread has sent its own.
    ready = threading.Barrier(len(calls))

    def run(i: int, call: Callable[[], Any], context: contextvars.Context) -> None:
        try:
            ready.wait(timeout=_START_TIMEOUT)
        except threading.BrokenBarrierError:
            pass  # a thread did not start in time: go anyway
        try:
            results[i] = context.run(call)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            results[i] = _Failed(exc)

    threads = [
        threading.Thread(
            target=run, args=(i, call, contextvars.copy_context()), name=f"parallel-{i}", daemon=True
        )
        for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if return_exceptions:
        return [r.exc if isinstance(r, _Failed) else r for r in results]
    for result in results:
        if isinstance(result, _Failed):
            raise result.exc
    return results


class _Failed:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException):
        self.exc = exc
