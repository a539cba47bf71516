"""Every list and summary request reads at most a configured number of items and partitions.

A second `chalice local` serves the same moto tables with small budgets (100 items, 2 partitions for
the list; 150 items for the summary), so the ceilings bite on a few hundred items. The items live in
2015, a year no other test writes to, so the engineers' month-by-month walk sees only them.

What DynamoDB did is counted on the moto side, independently of what the API reports: moto's
backend `query` is wrapped (the moto server runs in this process), recording each Query's index,
partition, Limit and ScannedCount (items evaluated before filters: what a Query is billed for).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from moto.dynamodb.models import DynamoDBBackend

from chalicelib.auth import Principal, Role
from chalicelib.config import Settings
from chalicelib.feedback.pagination import Cursor, encode_cursor
from chalicelib.feedback.service import feedback_summary, new_record, open_feedback
from chalicelib.feedback.windows import iso
from chalicelib.store import feedback as store
from chalicelib.store.issues import create_issue, open_issues, set_issue_status
from postlaunch.localstack import ChaliceLocal
from tests.conftest import Api

FEEDBACK = "/api/monitoring/feedback"
ITEMS = 400
FIRST = datetime(2015, 1, 1, 6, tzinfo=UTC)
STEP = timedelta(hours=21)  # 400 items from 2015-01-01 to 2015-12-18: every month of 2015
YEAR = {"startDate": "2015-01-01", "endDate": "2015-12-31"}
BUDGET = {
    "LIST_MAX_ITEMS_READ": 100,
    "LIST_MAX_PARTITIONS": 2,
    "SUMMARY_MAX_ITEMS_READ": 150,
    "HEALTH_OPEN_ITEMS_MAX": 2,
}
CATEGORIES = [
    "bug_report",
    "feature_request",
    "usability_issue",
    "performance_issue",
]  # never general_feedback


@dataclass
class Query:
    index: str | None
    partition: str
    limit: int | None
    scanned: int


@dataclass
class Queries:
    """Feedback-table Queries made while the context is open."""

    table: str
    seen: list[Query] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def scanned(self) -> int:
        return sum(q.scanned for q in self.seen)

    @property
    def partitions(self) -> list[str]:
        return list(dict.fromkeys(q.partition for q in self.seen))

    def clear(self) -> None:
        self.seen.clear()


@pytest.fixture
def queries(stack, monkeypatch) -> Queries:
    table = stack.settings().feedback_table
    counted = Queries(table)
    original = DynamoDBBackend.query

    def counting(backend, table_name, hash_key_dict, *args, **kwargs):
        items, scanned, last_key = original(backend, table_name, hash_key_dict, *args, **kwargs)
        if table_name == table:
            partition = next(iter((hash_key_dict or {}).values()), "")
            limit = args[2] if len(args) > 2 else kwargs.get("limit")
            with counted._lock:
                counted.seen.append(Query(kwargs.get("index_name"), partition, limit, scanned))
        return items, scanned, last_key

    monkeypatch.setattr(DynamoDBBackend, "query", counting)
    return counted


@dataclass
class Loaded:
    workspace: str
    records: list[dict]  # newest first
    budgeted: str  # the URL of the API with small budgets


@pytest.fixture(scope="module")
def loaded(stack, tmp_path_factory) -> Loaded:
    settings = stack.settings()
    store.bind(settings)
    workspace = f"ws-ceiling-{uuid.uuid4().hex[:8]}"
    staff = Principal(sub="ceiling-staff", workspace_id=workspace, roles=frozenset({Role.STAFF}))
    records = []
    for n in range(ITEMS):
        payload = {
            "category": CATEGORIES[n % 4],
            # Three open high feature requests: in the openBySeverity index, yet never counted by the
            # health score (feature requests are not faults), so other tests' scores are untouched.
            "severity": "high" if n in (1, 5, 9) else "low",
            "title": f"Ceiling item {n}",
            "description": "Loaded to measure what one request may read",
            # A sparse filter: every 37th item is about analytics (11 of them).
            "featureArea": "analytics" if n % 37 == 5 else "reminders",
        }
        # No ratings: the ratings rollup of 2015 stays empty.
        records.append(new_record(staff, payload, FIRST + n * STEP)[0])
    store.batch_put(records)
    env = {**stack.env, **{name: str(value) for name, value in BUDGET.items()}}
    log = open(tmp_path_factory.mktemp("budgeted") / "chalice.log", "w")
    server = ChaliceLocal(env, log=log).start()
    yield Loaded(workspace, sorted(records, key=lambda r: r["createdAt"], reverse=True), server.url)
    server.stop()
    log.close()


def client(stack, loaded: Loaded, role: str) -> Api:
    api = stack.client(role, loaded.workspace if role == "staff" else None)
    return Api(loaded.budgeted, api.session)


def walk(api: Api, params: dict, queries: Queries) -> tuple[list[dict], list[dict], list[int]]:
    """Follow nextCursor to the end: (items, pages, items DynamoDB read per request)."""
    items, pages, read, cursor = [], [], [], None
    while True:
        queries.clear()
        response = api.get(FEEDBACK, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        items += page["items"]
        read.append(queries.scanned)
        assert page["scanned"]["itemsRead"] == queries.scanned
        cursor = page["nextCursor"]
        if cursor is None:
            return items, pages, read
        assert len(pages) < 50, "the walk does not end"


def test_limit_one_with_a_filter_matching_nothing_reads_at_most_the_budget(stack, loaded, queries, capsys):
    # Given a workspace of 400 items and a filter none of them matches
    api = client(stack, loaded, "staff")
    params = {**YEAR, "limit": 1, "category": "general_feedback"}

    # When staff ask for one item
    response = api.get(FEEDBACK, params=params)

    # Then the request reads 100 items (the budget) in a few growing Queries, not hundreds of tiny ones,
    # and answers an empty page with a cursor: more is left to read
    assert response.status_code == 200
    page = response.json()
    assert page["items"] == [] and page["nextCursor"]
    assert queries.scanned == 100 and len(queries.seen) <= 5, queries.seen
    assert all(q.limit <= 100 for q in queries.seen)
    limits = [q.limit for q in queries.seen]
    assert page["scanned"] == {
        "itemsRead": 100,
        "queries": len(queries.seen),
        "partitions": 1,
        "stoppedEarly": True,
    }

    # And following the cursors reads every item exactly once, in requests of at most 100
    items, pages, read = walk(api, params, queries)
    assert items == [] and sum(read) == ITEMS and max(read) <= 100
    assert len(pages) in (4, 5)  # 400 / 100, and perhaps a last request that finds nothing more
    with capsys.disabled():
        print(
            f"\n[list ceiling] limit=1, filter matching none of {ITEMS}: first request made "
            f"{len(limits)} Queries (Limit {limits}) reading {page['scanned']['itemsRead']} items; "
            f"the whole walk took {len(pages)} requests reading {read} items"
        )


def test_following_cursors_returns_exactly_the_matching_items(stack, loaded, queries):
    # Given a sparse filter: 11 of the 400 items are about analytics
    api = client(stack, loaded, "staff")
    expected = [r["id"] for r in loaded.records if r["featureArea"] == "analytics"]
    assert len(expected) == 11

    # When staff page through it three at a time
    items, pages, read = walk(api, {**YEAR, "limit": 3, "featureArea": "analytics"}, queries)

    # Then every matching item comes once, newest first, with no gap; some pages are short or empty
    assert [i["id"] for i in items] == expected
    assert max(read) <= 100 and all(len(p["items"]) <= 3 for p in pages)
    assert any(p["scanned"]["stoppedEarly"] for p in pages)

    # And without a filter, full pages of 100 cover the workspace exactly
    everything, _, read = walk(api, {**YEAR, "limit": 100}, queries)
    assert [i["id"] for i in everything] == [r["id"] for r in loaded.records]
    assert max(read) <= 100


def test_the_engineers_month_walk_stops_at_the_partition_budget(stack, loaded, queries):
    # Given the engineers' view over 2015: twelve month partitions of about 34 items each
    api = client(stack, loaded, "engineer")
    params = {**YEAR, "limit": 5, "category": "general_feedback"}

    # When an engineer lists with a filter that matches nothing
    first = api.get(FEEDBACK, params=params).json()

    # Then one request queries two months (the budget), December and November, and hands back a
    # cursor to the start of October
    assert first["items"] == [] and first["scanned"]["partitions"] == 2
    assert queries.partitions == ["2015-12", "2015-11"]
    assert first["scanned"]["stoppedEarly"] is True

    # And following the cursors visits every month once and reads every item once
    items, pages, read = walk(api, params, queries)
    assert items == [] and sum(read) == ITEMS
    assert all(p["scanned"]["partitions"] <= 2 for p in pages)
    assert len(pages) == 6  # 12 months, 2 a request


@pytest.mark.parametrize("role", ["staff", "engineer"])
@pytest.mark.parametrize(
    ("start", "reason"),
    [("2000-01-01", "at most 366"), ("1900-01-01", "from 1970-01-01")],  # over the cap; before any date
)
def test_a_list_window_longer_than_the_cap_is_refused_before_any_read(
    stack, loaded, queries, role, start, reason
):
    api = client(stack, loaded, role)
    response = api.get(FEEDBACK, params={"startDate": start})
    assert response.status_code == 400
    error = response.json()["error"]
    assert [f["field"] for f in error["fields"]] == ["startDate"]
    assert reason in error["fields"][0]["message"]
    assert queries.seen == []


def test_forged_cursors_are_still_refused(stack, loaded, queries):
    api = client(stack, loaded, "staff")
    engineer = client(stack, loaded, "engineer")
    forged = [
        (api, Cursor("ws-someone-else")),  # another workspace's partition, no key
        (api, Cursor(loaded.workspace, "x", "2014-06-01T00:00:00.000000Z")),  # a key outside the window
        (engineer, Cursor("2014-12")),  # a month outside the window
        (engineer, Cursor(loaded.workspace)),  # a partition of the other index
    ]
    for who, cursor in forged:
        response = who.get(FEEDBACK, params={**YEAR, "cursor": encode_cursor(cursor)})
        assert response.status_code == 400, cursor
        assert [f["field"] for f in response.json()["error"]["fields"]] == ["cursor"]
    assert queries.seen == []


def test_the_summary_stops_at_its_budget_and_says_what_it_covers(stack, loaded, queries):
    # Given a window of 400 items and a summary budget of 150
    api = client(stack, loaded, "staff")

    # When staff ask for the summary of the year
    summary = api.get(FEEDBACK + "/summary", params=YEAR).json()

    # Then it reads 150 items, newest first, and its figures cover what follows the last item read
    assert queries.scanned == summary["itemsRead"] == 150
    boundary = loaded.records[149]["createdAt"]
    counted = [r for r in loaded.records if r["createdAt"] > boundary]
    assert summary["complete"] is False
    assert summary["coveredFrom"] == iso(datetime.fromisoformat(boundary) + timedelta(microseconds=1))
    assert summary["total"] == len(counted) == 149
    assert summary["byFeatureArea"]["analytics"] == sum(r["featureArea"] == "analytics" for r in counted)
    assert summary["window"] == {
        "start": "2015-01-01T00:00:00.000000Z",
        "end": "2015-12-31T23:59:59.999999Z",
        "days": 365,
    }
    assert summary["volumePerDay"][0]["date"] == summary["coveredFrom"][:10]
    assert sum(d["count"] for d in summary["volumePerDay"]) == 149

    # And the engineers' month walk stops the same way
    queries.clear()
    everywhere = client(stack, loaded, "engineer").get(FEEDBACK + "/summary", params=YEAR).json()
    assert queries.scanned == everywhere["itemsRead"] <= 150
    assert everywhere["complete"] is False and everywhere["total"] == sum(
        r["createdAt"] >= everywhere["coveredFrom"] for r in loaded.records
    )

    # And a window under the budget is complete and covers itself
    small = api.get(FEEDBACK + "/summary", params={"startDate": "2015-03-01", "endDate": "2015-03-31"}).json()
    assert small["complete"] is True and small["coveredFrom"] == small["window"]["start"]
    assert (
        small["total"] == small["itemsRead"] == sum(r["createdAt"][:7] == "2015-03" for r in loaded.records)
    )


def test_a_summary_budget_spent_at_a_month_end_covers_the_months_read(stack, loaded, queries):
    # Given a budget of exactly the items of December and November 2015
    newest_two = [r for r in loaded.records if r["createdAt"][:7] in ("2015-12", "2015-11")]
    settings = Settings.model_validate(
        {**stack.settings().model_dump(), "summary_max_items_read": len(newest_two)}
    )
    engineer = Principal(sub="ceiling-engineer", workspace_id=None, roles=frozenset({Role.ENGINEER}))

    # When an engineer's summary walks the months of 2015 newest first
    summary = feedback_summary(engineer, YEAR, settings=settings)

    # Then it stops after November, and covers exactly those two months
    assert queries.partitions == ["2015-12", "2015-11"] and queries.scanned == len(newest_two)
    assert summary["complete"] is False and summary["coveredFrom"] == "2015-11-01T00:00:00.000000Z"
    assert summary["total"] == len(newest_two)
    assert summary["volumePerDay"][0]["date"] == "2015-11-01"


def test_open_feedback_and_issues_for_the_health_score_are_capped_and_say_so(stack, loaded, queries):
    # Given at least 3 open high feedback items (ours) and 3 open high issues
    settings = Settings.model_validate({**stack.settings().model_dump(), "health_open_items_max": 2})
    issues = [create_issue(f"Ceiling issue {n}", "high", settings=settings) for n in range(3)]
    try:
        _capped_reads_are_reported(stack, loaded, queries, settings)
    finally:  # closed again, so no later test's health score counts them
        for issue in issues:
            set_issue_status(issue.id, "closed", settings=settings)


def _capped_reads_are_reported(stack, loaded, queries, settings):

    # When the health evaluator's source reads open critical and high feedback
    found = open_feedback(("critical", "high"), settings=settings)

    # Then it reads at most one more than the cap per severity and reports the truncation
    assert found.truncated is True and sum(f["severity"] == "high" for f in found) == 2
    assert all(q.index == "openBySeverity" and q.limit == 3 and q.scanned <= 3 for q in queries.seen)

    # And over HTTP (HEALTH_OPEN_ITEMS_MAX=2) the health report says its count is truncated
    queries.clear()
    health = client(stack, loaded, "engineer")
    report = health.get("/api/monitoring/system-health", params={"refresh": "true", "verbose": "true"})
    assert report.status_code == 200
    assert report.json()["details"]["feedback"]["openFeedback"]["truncated"] is True
    assert [q.limit for q in queries.seen if q.index == "openBySeverity"] == [3, 3]
    assert report.json()["details"]["feedback"]["issues"]["truncated"] is True
    capped = open_issues(("high",), settings=settings)
    assert capped.truncated is True and len(capped) == 2


@pytest.mark.slow
def test_the_finding_with_the_default_budgets(stack, queries, capsys):
    # Given the finding's workspace: 1,000 items (in 2014, apart from the others), on the main stack
    # with its default budget (LIST_MAX_ITEMS_READ=1000)
    settings = stack.settings()
    store.bind(settings)
    workspace = f"ws-finding-{uuid.uuid4().hex[:8]}"
    staff = Principal(sub="finding-staff", workspace_id=workspace, roles=frozenset({Role.STAFF}))
    payload = {"category": "bug_report", "severity": "low", "title": "Finding", "description": "Loaded item"}
    first = datetime(2014, 1, 1, tzinfo=UTC)
    store.batch_put(
        new_record(staff, {**payload, "featureArea": "reminders"}, first + n * timedelta(hours=8))[0]
        for n in range(1000)
    )
    api = stack.client("staff", workspace)

    # When staff ask for one item with a filter that matches nothing (it made 500 Queries before)
    queries.clear()
    window = {"startDate": "2014-01-01", "endDate": "2014-12-31"}
    page = api.get(FEEDBACK, params={**window, "limit": 1, "category": "general_feedback"}).json()

    # Then one request reads at most the default budget in a handful of Queries
    assert page["items"] == [] and queries.scanned <= settings.list_max_items_read
    assert len(queries.seen) <= 5
    with capsys.disabled():
        print(
            f"\n[list ceiling] defaults, 1000 items, limit=1, filter matching none: "
            f"{len(queries.seen)} Queries (Limit {[q.limit for q in queries.seen]}), "
            f"{queries.scanned} items read, nextCursor {'set' if page['nextCursor'] else 'null'}"
        )
