"""The daily ratings rollup moves with the items, in the same transaction: a replayed or refused
submission adds nothing, concurrent submissions all count, and health reads satisfaction from it."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

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


def test_concurrent_rated_submissions_all_count(stack, workspace):
    api = stack.client("staff", workspace)
    before = today()["satisfaction"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda n: api.post(FEEDBACK, json=body(1 + n % 5)).status_code, range(8)))
    assert statuses == [201] * 8
    after = today()["satisfaction"]
    assert after["count"] - before["count"] == 8
    assert after["sum"] - before["sum"] == sum(1 + n % 5 for n in range(8))
