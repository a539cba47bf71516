"""What the benches share: one local AWS per run (`local_context`), the context each bench's
`run(ctx)` receives, the AWS request counter, and the feedback loader.

The counter is tests/roundtrips.py's `RoundTrips` (one counter for the suite and the benches):
`with ctx.requests.measure() as trips: ...` then `trips.total`, `trips.sequential`, `trips.items_read`,
`trips.by_operation()`.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from postlaunch.localstack import LocalAws, provision
from tests.roundtrips import RoundTrips, sequential_depth

__all__ = [
    "AREAS",
    "AS_OF",
    "Context",
    "Requests",
    "RoundTrips",
    "SEVERITIES",
    "load",
    "local_context",
    "machine",
    "payload",
    "sequential_depth",
]

AS_OF = datetime(2022, 3, 31, 12, 0, tzinfo=UTC)
CATEGORIES = ("bug_report", "feature_request", "usability_issue", "performance_issue", "general_feedback")
SEVERITIES = ("low", "medium", "high", "critical")
AREAS = ("appointments", "follow_ups", "reminders", "patient_portal", "analytics", "general")


class Requests:
    """Every AWS request botocore sends in this process, counted while a measurement is open."""

    def measure(self) -> RoundTrips:
        return RoundTrips()


@dataclass
class Context:
    """What a bench's `run(ctx)` gets: the moto endpoint, the app's settings and environment (already
    in os.environ, models bound), the request counter, and `quick` (small sizes, for tests)."""

    endpoint: str
    settings: Any
    env: dict[str, str]
    requests: Requests = field(default_factory=Requests)
    quick: bool = False
    stack_name: str = "post-launch-monitor-bench"


def machine() -> dict[str, Any]:
    """Where the figures came from (the README quotes it beside them)."""
    return {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


@contextmanager
def local_context(quick: bool = False, stack_name: str = "post-launch-monitor-bench") -> Iterator[Context]:
    """Start a moto server in this process, provision infra/template.json on it, point the app's
    settings and models at it, and yield the bench context. The environment is restored after."""
    aws = LocalAws().start()
    saved = dict(os.environ)
    try:
        provisioned = provision(aws.endpoint, stack_name=stack_name)
        env = aws.app_env(provisioned)
        os.environ.update(env)
        from chalicelib.config import get_settings, reset_settings
        from chalicelib.store.base import bind_models

        reset_settings()
        bind_models()
        yield Context(
            endpoint=aws.endpoint, settings=get_settings(), env=env, quick=quick, stack_name=stack_name
        )
    finally:
        aws.stop()
        os.environ.clear()
        os.environ.update(saved)


def payload(i: int) -> dict:
    """A feedback body; severities low/medium/high only, so loading raises no alerts."""
    return {
        "category": CATEGORIES[i % 5],
        "severity": SEVERITIES[(i // 5) % 3],
        "title": f"Benchmark item {i}",
        "description": "A benchmark feedback item with enough text to be realistic.",
        "featureArea": AREAS[i % 6],
        "satisfactionRating": 1 + i % 5,
    }


def load(
    workspace: str,
    n: int,
    first_day_back: int,
    days: int,
    severity: str | None = None,
    as_of: datetime = AS_OF,
    **overrides: Any,
) -> list[dict]:
    """Store n feedback items of one workspace, spread evenly over `days` days ending
    `first_day_back` days before `as_of`, straight into the table (BatchWriteItem); the records."""
    from chalicelib.auth import Principal, Role
    from chalicelib.feedback.service import new_record
    from chalicelib.store.feedback import batch_put

    staff = Principal(sub="bench", workspace_id=workspace, roles=frozenset({Role.STAFF}))
    per_day = max(1, n // days)
    records = []
    for i in range(n):
        at = as_of - timedelta(days=first_day_back + i // per_day, minutes=i % per_day)
        body = {**payload(i), **({"severity": severity} if severity else {}), **overrides}
        records.append(new_record(staff, body, now=at)[0])
    batch_put(records)
    return records
