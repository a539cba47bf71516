"""The daily ratings rollup moves with the items, in the same transaction: a replayed or refused
submission adds nothing, and a transaction cancelled by a concurrent one is retried and counted once."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from chalicelib.auth import Principal, Role
from chalicelib.errors import RequestInProgress
from chalicelib.feedback.service import submit_feedback
from chalicelib.store import feedback as store
from chalicelib.store.rollups import ratings_between

FEEDBACK = "/api/monitoring/feedback"


def body(rating: int | None, title: str = "Reminder screen freezes") -> dict:
    out = {
        "category": "usability_issue",
        "severity": "low",
        "title": title,
        "description": "The reminder screen freezes after saving a follow-up.",
        "featureArea": "reminders",
    }
    if rating is not None:
        out["satisfactionRating"] = rating
        out["usabilityRating"] = rating
    return out


def today() -> dict:
    day = datetime.now(UTC).date().isoformat()
    return ratings_between(day, day)


def test_rollup_counts_each_stored_rating_once(stack, workspace):
    api = stack.client("staff", workspace)
    before = today()
    key = str(uuid.uuid4())
    first = api.post(FEEDBACK, json=body(2), headers={"Idempotency-Key": key})
    replay = api.post(FEEDBACK, json=body(2), headers={"Idempotency-Key": key})
    reused = api.post(FEEDBACK, json=body(5, "Another title here"), headers={"Idempotency-Key": key})
    invalid = api.post(FEEDBACK, json={**body(4), "satisfactionRating": 9})
    unrated = api.post(FEEDBACK, json=body(None))
    plain = api.post(FEEDBACK, json=body(5))
    assert [r.status_code for r in (first, replay, reused, invalid, unrated, plain)] == [
        201,
        201,
        422,
        400,
        201,
        201,
    ]
    assert replay.json()["id"] == first.json()["id"]
    after = today()
    assert after["satisfaction"]["count"] - before["satisfaction"]["count"] == 2
    assert after["satisfaction"]["sum"] - before["satisfaction"]["sum"] == 7
    assert after["usability"]["count"] - before["usability"]["count"] == 2
    assert after["performance"] == before["performance"]


class InjectedConflicts:
    """Answers the first `n` TransactWriteItems calls as DynamoDB does when two transactions touch
    one item at once (TransactionCanceledException, reason TransactionConflict), through botocore's
    own error path. moto never produces this (it has no concurrency control), so it is injected at
    the client; everything after it is real: PynamoDB's parsing, our retry, moto's write."""

    def __init__(self, client, n: int):
        self.client, self.left = client, n

    def __enter__(self):
        self.client.meta.events.register(
            "before-call.dynamodb.TransactWriteItems", self, unique_id="inject-transaction-conflict"
        )
        return self

    def __exit__(self, *exc):
        self.client.meta.events.unregister(
            "before-call.dynamodb.TransactWriteItems", unique_id="inject-transaction-conflict"
        )

    def __call__(self, **_):
        if self.left == 0:
            return None
        self.left -= 1
        response = {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}],
            "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}},
        }
        return SimpleNamespace(status_code=400, headers={}, content=b""), response


def staff(workspace: str) -> Principal:
    return Principal(sub=f"rollup-{workspace}", workspace_id=workspace, roles=frozenset({Role.STAFF}))


def test_a_transaction_conflict_on_the_days_rollup_is_retried_and_counted_once(stack, workspace):
    before = today()["satisfaction"]
    with InjectedConflicts(store.botocore_client(), 2) as conflicts:
        record, replayed = submit_feedback(staff(workspace), body(4))
    assert (conflicts.left, replayed) == (0, False)
    assert store.get(record["id"])["satisfactionRating"] == 4
    after = today()["satisfaction"]
    assert (after["count"] - before["count"], after["sum"] - before["sum"]) == (1, 4)


def test_lasting_contention_is_a_409_and_writes_nothing(stack, workspace):
    before = today()
    with InjectedConflicts(store.botocore_client(), 100), pytest.raises(RequestInProgress):
        submit_feedback(staff(workspace), body(3))
    assert today() == before
    assert store.DateQuery("byWorkspace", workspace, "2000", "9999").read_page(100)[0] == []


def test_concurrent_rated_submissions_over_http_all_count(stack, workspace):
    api = stack.client("staff", workspace)
    before = today()["satisfaction"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda n: api.post(FEEDBACK, json=body(1 + n % 5)).status_code, range(8)))
    assert statuses == [201] * 8
    after = today()["satisfaction"]
    assert (after["count"] - before["count"], after["sum"] - before["sum"]) == (
        8,
        sum(1 + n % 5 for n in range(8)),
    )
