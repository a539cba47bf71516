"""The summary's DynamoDB cost follows its date window, not the table's size.

Thousands of items are loaded straight through the repository (BatchWriteItem), then the summary
is computed in-process while botocore's events count every Query's ScannedCount (the items
DynamoDB read, before filters: what a query is billed for) and every operation called, so a Scan
would show. The items live in their own workspace and in 2019, a year no other test writes to:
counts are exact for the workspace view and bounded (with margins a scan would break) for the
all-workspaces view.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.auth import Principal, Role
from chalicelib.config import Settings
from chalicelib.feedback.service import feedback_summary, new_record
from chalicelib.feedback.windows import iso
from chalicelib.store import feedback as store

PER_DAY = 50
DAYS = 60
FIRST = datetime(2019, 1, 1, tzinfo=UTC)  # the 60 days run 2019-01-01 .. 2019-03-01
SMALL = {"startDate": "2019-02-10", "endDate": "2019-02-12"}
LARGE = {"startDate": "2019-01-01", "endDate": "2019-03-01"}
CATEGORIES = ["bug_report", "feature_request", "usability_issue", "performance_issue", "general_feedback"]
SEVERITIES = ["low", "medium", "high", "critical"]
AREAS = ["appointments", "follow_ups", "reminders", "patient_portal", "analytics", "general"]

# About 15-20 s on moto, whose Query serialisation is slow for thousands of items.
pytestmark = pytest.mark.slow


@dataclass
class Loaded:
    settings: Settings
    workspace: str
    staff: Principal
    engineer: Principal
    items: int
    load_seconds: float


class DynamoDbCalls:
    """Counts the operations and the Query ScannedCount on the botocore client PynamoDB uses."""

    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()
        self.scanned = 0
        self._events = None

    def _before(self, model, **kwargs) -> None:
        self.operations[model.name] += 1

    def _after_query(self, parsed, **kwargs) -> None:
        self.scanned += parsed.get("ScannedCount", 0)

    def __enter__(self) -> DynamoDbCalls:
        self._events = store.botocore_client().meta.events
        self._events.register("before-call.dynamodb", self._before)
        self._events.register("after-call.dynamodb.Query", self._after_query)
        return self

    def __exit__(self, *exc) -> None:
        self._events.unregister("before-call.dynamodb", self._before)
        self._events.unregister("after-call.dynamodb.Query", self._after_query)


def _records(staff: Principal, first: datetime, days: int, per_day: int, offset: int = 0) -> list[dict]:
    """Deterministic variety: categories, severities, areas and ratings cycle; every 10th item
    was resolved some hours after it arrived."""
    out = []
    for day in range(days):
        for k in range(per_day):
            n = offset + day * per_day + k
            at = first + timedelta(days=day, minutes=k * (1400 // per_day))
            payload = {
                "category": CATEGORIES[n % 5],
                "severity": SEVERITIES[n % 4 if n % 4 != 3 else 0],  # no critical: nothing to publish
                "title": f"Load test item {n}",
                "description": "Generated to measure what the summary reads",
                "featureArea": AREAS[n % 6],
                "satisfactionRating": 1 + n % 5,
            }
            record, _ = new_record(staff, payload, at)
            if n % 10 == 0:
                record |= {"status": "resolved", "resolvedAt": iso(at + timedelta(hours=1 + n % 48))}
                record.pop("openSeverity")
            out.append(record)
    return out


@pytest.fixture(scope="module")
def loaded(stack) -> Loaded:
    settings = stack.settings()
    store.bind(settings)
    workspace = f"ws-cost-{uuid.uuid4().hex[:8]}"
    staff = Principal(sub="load-staff", workspace_id=workspace, roles=frozenset({Role.STAFF}))
    engineer = Principal(sub="load-engineer", workspace_id=None, roles=frozenset({Role.ENGINEER}))
    records = _records(staff, FIRST, DAYS, PER_DAY)
    started = time.perf_counter()
    count = store.batch_put(records)
    return Loaded(settings, workspace, staff, engineer, count, time.perf_counter() - started)


def measure(loaded: Loaded, who: Principal, window: dict) -> tuple[dict, DynamoDbCalls, float]:
    store.bind(loaded.settings)  # the same settings object: the client we hook is the one used
    with DynamoDbCalls() as calls:
        started = time.perf_counter()
        summary = feedback_summary(who, window, settings=loaded.settings)
        elapsed = time.perf_counter() - started
    return summary, calls, elapsed


def test_workspace_summary_reads_only_its_window(loaded, capsys):
    assert loaded.items == DAYS * PER_DAY == 3000

    small, small_calls, small_s = measure(loaded, loaded.staff, SMALL)
    large, large_calls, large_s = measure(loaded, loaded.staff, LARGE)

    # Exactly the window's items are read: 3 days x 50 and 60 days x 50.
    assert small["total"] == small["itemsRead"] == small_calls.scanned == 3 * PER_DAY
    assert large["total"] == large["itemsRead"] == large_calls.scanned == DAYS * PER_DAY
    assert small["complete"] and large["complete"]  # 3000 items: under SUMMARY_MAX_ITEMS_READ
    assert small_calls.scanned / large_calls.scanned == pytest.approx(3 / 60)
    for calls in (small_calls, large_calls):
        assert set(calls.operations) == {"Query"}, calls.operations
    assert [d["count"] for d in small["volumePerDay"]] == [PER_DAY] * 3
    assert large["resolutionTime"]["count"] == DAYS * PER_DAY // 10
    with capsys.disabled():
        print(
            f"\n[summary cost] loaded {loaded.items} items in {loaded.load_seconds:.1f}s; workspace view: "
            f"3-day window read {small_calls.scanned} items in {small_calls.operations['Query']} queries "
            f"({small_s * 1000:.0f} ms), 60-day window read {large_calls.scanned} in "
            f"{large_calls.operations['Query']} queries ({large_s * 1000:.0f} ms)"
        )


def test_all_workspaces_summary_reads_only_the_windows_months(loaded, capsys):
    small, small_calls, _ = measure(loaded, loaded.engineer, SMALL)
    large, large_calls, _ = measure(loaded, loaded.engineer, LARGE)

    # Other tests write no 2019 items; the margins would still fail on a scan of the table.
    assert 3 * PER_DAY <= small_calls.scanned < 2 * 3 * PER_DAY
    assert DAYS * PER_DAY <= large_calls.scanned < 2 * DAYS * PER_DAY
    assert small["itemsRead"] == small_calls.scanned and large["itemsRead"] == large_calls.scanned
    assert small["queries"] == 1 and large["queries"] == 3  # February; January to March
    assert set(small_calls.operations) == set(large_calls.operations) == {"Query"}
    with capsys.disabled():
        print(
            f"\n[summary cost] all workspaces: 3-day window read {small_calls.scanned} items, "
            f"60-day window read {large_calls.scanned}"
        )


def test_reads_do_not_grow_with_items_outside_the_window(loaded, capsys):
    before, before_calls, _ = measure(loaded, loaded.staff, SMALL)
    # More feedback, all of it after the windows: the table grows by half.
    later = _records(loaded.staff, FIRST + timedelta(days=DAYS), 30, PER_DAY, offset=DAYS * PER_DAY)
    store.batch_put(later)
    after, after_calls, _ = measure(loaded, loaded.staff, SMALL)

    assert after_calls.scanned == before_calls.scanned == 3 * PER_DAY
    assert after == before
    with capsys.disabled():
        print(
            f"\n[summary cost] after loading {len(later)} more items outside the window "
            f"({loaded.items + len(later)} in the workspace): 3-day window read {after_calls.scanned}"
        )
