"""The reads whose cost is bound by a window read the same number of DynamoDB items however much is
stored outside it: the feedback summary and list, the health evaluation, the report and the Phase 2
plan, counted from DynamoDB's own ScannedCount/Count (what it bills), with 0, 50 and 500 feedback
items (and alerts, evaluations and releases in proportion) added older than every window.

The data is loaded as bench/scale.py loads it (the capabilities' record builders, BatchWriteItem),
as of an instant in 2007, a year no other test writes to; the windows end there.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.scale import WINDOW, load_base, load_outside, measure, reads

AS_OF = datetime(2007, 6, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def loaded(stack):
    from chalicelib.health.evaluator import evaluate

    settings = stack.settings()
    sample = evaluate(AS_OF, settings=settings)
    # No open problem is left behind: other tests' health evaluations read every open item (capped,
    # oldest first), and these would be the oldest.
    report, summary = sample.report.model_dump(mode="json"), sample.summary
    counts = load_base(400, settings, report, summary, as_of=AS_OF, keep_open=False)
    return settings, sample, counts


def items_read(settings) -> dict[str, int]:
    """Items read by each window-bound read, as its route makes it."""
    window_reads = {name: read for name, (bound, read) in reads(settings, AS_OF).items() if bound == WINDOW}
    return {name: measure(read, repeat=1)["itemsRead"] for name, read in window_reads.items()}


def test_items_read_do_not_grow_with_items_outside_the_windows(stack, loaded):
    from chalicelib.auth import Principal, Role
    from chalicelib.feedback.service import feedback_summary

    settings, sample, counts = loaded
    report, summary = sample.report.model_dump(mode="json"), sample.summary
    engineer = Principal(sub="cost-window", workspace_id=None, roles=frozenset({Role.ENGINEER}))
    assert counts == {"feedback": 400, "alerts": 8, "healthItems": 40, "releases": 2}

    # Given the 400-item table's windows, each read reading something
    before = items_read(settings)
    assert all(before.values()), before

    # When 50, then 450 more, feedback items (and the rest in proportion) are stored outside them
    load_outside(50, settings, report, summary, as_of=AS_OF)
    after_50 = items_read(settings)
    load_outside(450, settings, report, summary, as_of=AS_OF)
    after_500 = items_read(settings)

    # Then every read reads what it read before
    assert after_50 == before
    assert after_500 == before
    # (and the added items are there: a summary over the years they span reads all 500)
    older = feedback_summary(
        engineer,
        {"startDate": "2003-06-01", "endDate": "2006-06-28"},
        now=AS_OF,
        settings=settings.model_copy(update={"summary_max_days": 2000}),
    )
    assert older["itemsRead"] == older["total"] == 500
