"""AWS round trips per route and handler, counted in this process from botocore (tests/roundtrips.py)
while app.py answers through Chalice's test client on the moto stack (bench/roundtrips.py, the same
scenario `make bench` tabulates in the README). Counts only: they do not depend on the machine.

Targets (issue 10): feedback POST at most 2 round trips; every read route at most 3 sequential ones
(calls in flight together count once). A filtered feedback list over sparse months made 13 Queries
one after another; it now makes its Queries in at most LIST_MAX_ROUNDS (3) rounds.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.roundtrips import POST_FEEDBACK_MAX, READ_SEQUENTIAL_MAX, Row, Scenario, measure
from chalicelib.auth import Principal, Role
from chalicelib.feedback.service import list_feedback, new_record
from chalicelib.store import feedback as store
from tests.roundtrips import RoundTrips

FEEDBACK = "/api/monitoring/feedback"


@pytest.fixture(scope="module")
def rows(stack) -> list[Row]:
    return measure()


def by_name(rows: list[Row], name: str) -> list[Row]:
    found = [r for r in rows if r.name == name]
    assert found, name
    return found


def test_every_route_and_handler_is_measured(stack, rows):
    scenario = Scenario()
    try:
        expected = scenario.routes() | scenario.handlers()
    finally:
        scenario.close()
    assert expected <= {r.name for r in rows}
    assert {"GET /api/monitoring/report", "GET /api/monitoring/phase2", "GET /dashboard"} <= expected
    assert {"evaluate_health", "release_worker", "notify_slack_digest", "daily_report"} <= expected


def test_feedback_post_makes_at_most_two_round_trips(rows):
    posts = by_name(rows, f"POST {FEEDBACK}")
    assert len(posts) == 3
    for row in posts:
        assert row.total <= POST_FEEDBACK_MAX, row
    # One write each: a plain PutItem, or one transaction with the rating rollup and the idempotency claim.
    assert [r.operations for r in posts] == [
        {"dynamodb:PutItem": 1},
        {"dynamodb:TransactWriteItems": 1},
        {"dynamodb:TransactWriteItems": 1},
    ]


def test_every_read_route_makes_at_most_three_sequential_round_trips(rows):
    reads = [r for r in rows if r.read_route]
    over = [(r.name, r.case, r.sequential, r.operations) for r in reads if r.sequential > READ_SEQUENTIAL_MAX]
    assert over == []


def test_the_sparse_filtered_list_is_two_rounds_not_a_query_per_month(rows):
    [sparse] = [r for r in by_name(rows, f"GET {FEEDBACK}") if "sparse" in r.case]
    # 13 month partitions over the default horizon, all read, in flight together after the first.
    assert sparse.operations["dynamodb:Query"] >= 13
    assert sparse.sequential <= READ_SEQUENTIAL_MAX


def test_reads_of_one_item_are_one_round_trip(rows):
    for name in (
        f"GET {FEEDBACK}/{{feedback_id}}",
        "GET /api/monitoring/alerts/{alert_id}",
        "GET /api/issues/{issue_id}",
        "GET /api/releases/{version}",
    ):
        [row] = by_name(rows, name)
        assert row.total == row.sequential == row.items_read == 1, row
    for name in ("GET /api/monitoring/ping", "GET /dashboard", "GET /dashboard/{asset}", "GET /"):
        assert by_name(rows, name)[0].total == 0


# A year no other test writes to, with matching items in four months out of twelve.
YEAR = {"startDate": "2013-01-01", "endDate": "2013-12-31"}
SPARSE = [("2013-12", 1), ("2013-09", 2), ("2013-05", 2), ("2013-01", 1)]


def test_a_filtered_list_over_sparse_months_pages_in_order_within_three_round_trips(stack):
    # Given feedback in 2013: a few items about analytics in four months, the rest of the months empty
    store.bind(stack.settings())
    workspace = "ws-rt-sparse"
    staff = Principal(sub="rt-staff", workspace_id=workspace, roles=frozenset({Role.STAFF}))
    records = []
    for month, count in SPARSE:
        year, number = map(int, month.split("-"))
        for day in range(count):
            at = datetime(year, number, 20 - day, 9, tzinfo=UTC)
            body = {
                "category": "bug_report",
                "severity": "low",
                "title": f"Sparse item {month} {day}",
                "description": "A rare report about analytics",
                "featureArea": "analytics",
            }
            records.append(new_record(staff, body, now=at)[0])
        # and one item a month that the filter leaves out
        other = {**body, "featureArea": "reminders", "title": f"Other item {month}"}
        records.append(new_record(staff, other, now=datetime(year, number, 2, tzinfo=UTC))[0])
    store.batch_put(records)
    expected = [
        r["id"]
        for r in sorted(records, key=lambda r: r["createdAt"], reverse=True)
        if r["featureArea"] == "analytics"
    ]
    engineer = Principal(sub="rt-engineer", workspace_id=None, roles=frozenset({Role.ENGINEER}))

    # When an engineer pages through the year, filtered, three at a time
    query = {**YEAR, "featureArea": "analytics", "category": "bug_report", "limit": 3}
    seen, cursor, requests = [], None, []
    while True:
        with RoundTrips() as trips:
            page = list_feedback(engineer, {**query, **({"cursor": cursor} if cursor else {})})
        requests.append((trips.sequential, trips.count("dynamodb:Query"), page["scanned"]))
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
        assert len(requests) < 10, requests

    # Then every matching item comes once, newest first, and no request waits on more than 3 rounds
    assert seen == expected, requests
    assert all(sequential <= READ_SEQUENTIAL_MAX for sequential, _, _ in requests), requests
    # and the first request read the twelve months of 2013 in two rounds, not one after another:
    # December alone, then (its one match over 31 days promising no full page from November) the
    # eleven others side by side
    first_sequential, first_queries, first_scanned = requests[0]
    assert first_queries == first_scanned["queries"] == 12 and first_sequential == 2, requests
    assert first_scanned["partitions"] == 12


def test_an_unfiltered_list_crossing_into_a_dense_month_reads_that_month_alone(stack):
    # Given three items on the first two days of December 2012 and forty in November
    store.bind(stack.settings())
    staff = Principal(sub="rt-staff", workspace_id="ws-rt-dense", roles=frozenset({Role.STAFF}))
    body = {
        "category": "general_feedback",
        "severity": "low",
        "title": "Dense month item",
        "description": "An item of a busy month",
        "featureArea": "reminders",
    }
    moments = [datetime(2012, 12, 2, 12 - i, tzinfo=UTC) for i in range(3)]
    moments += [datetime(2012, 11, 30 - i % 29, 10, i, tzinfo=UTC) for i in range(40)]
    store.batch_put([new_record(staff, body, now=at)[0] for at in moments])
    engineer = Principal(sub="rt-engineer", workspace_id=None, roles=frozenset({Role.ENGINEER}))

    # When an engineer lists ten items over the two months, unfiltered
    with RoundTrips() as trips:
        page = list_feedback(engineer, {"startDate": "2012-11-01", "endDate": "2012-12-02", "limit": 10})

    # Then December's three items say November fills the page alone: two Queries, one after the other,
    # reading the three and the eight more the page (and the one beyond it) needs, no other month
    assert len(page["items"]) == 10 and page["nextCursor"]
    assert page["scanned"] == {"itemsRead": 11, "queries": 2, "partitions": 2, "stoppedEarly": False}
    assert trips.count("dynamodb:Query") == 2 and trips.sequential == 2
