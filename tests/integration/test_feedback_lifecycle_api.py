"""Triage over HTTP: the lifecycle, optimistic locking (If-Match / version) and a real race."""

from __future__ import annotations

import threading

import pytest

FEEDBACK = "/api/monitoring/feedback"
PAYLOAD = {
    "category": "bug_report",
    "severity": "high",
    "title": "Follow-up list shows wrong dates",
    "description": "Follow-ups due tomorrow are listed under next week",
    "featureArea": "follow_ups",
}


@pytest.fixture
def item(stack, workspace) -> dict:
    response = stack.client("staff", workspace).post(FEEDBACK, json=PAYLOAD)
    assert response.status_code == 201
    return response.json()


def patch(api, item_id: str, body: dict, version: int | str | None = None):
    headers = {} if version is None else {"If-Match": f'"{version}"' if isinstance(version, int) else version}
    return api.patch(f"{FEEDBACK}/{item_id}", json=body, headers=headers)


def test_the_whole_lifecycle_with_history_and_etags(stack, item):
    engineer = stack.client("engineer", sub="eng-dana")
    path = f"{FEEDBACK}/{item['id']}"

    acknowledged = patch(engineer, item["id"], {"status": "acknowledged", "assignee": "dana"}, 1)
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.headers["ETag"] == '"2"'
    body = acknowledged.json()
    assert body["status"] == "acknowledged" and body["assignee"] == "dana" and body["acknowledgedAt"]

    assert patch(engineer, item["id"], {"status": "in_progress"}, 2).status_code == 200
    resolved = patch(
        engineer, item["id"], {"status": "resolved", "resolution": "Fixed the timezone offset in 1.4.2"}, 3
    ).json()
    assert resolved["status"] == "resolved" and resolved["resolvedAt"] and resolved["version"] == 4
    assert resolved["resolution"] == "Fixed the timezone offset in 1.4.2"

    closed = patch(engineer, item["id"], {"status": "closed", "version": 4}).json()
    assert closed["status"] == "closed" and closed["resolvedAt"] == resolved["resolvedAt"]

    reopened = patch(engineer, item["id"], {"status": "acknowledged", "reason": "Still wrong on Sundays"}, 5)
    assert reopened.status_code == 200
    body = reopened.json()
    assert body["status"] == "acknowledged" and body["resolvedAt"] is None and body["resolution"] is None
    assert [(h["from"], h["to"], h["by"]) for h in body["history"]] == [
        ("new", "acknowledged", "eng-dana"),
        ("acknowledged", "in_progress", "eng-dana"),
        ("in_progress", "resolved", "eng-dana"),
        ("resolved", "closed", "eng-dana"),
        ("closed", "acknowledged", "eng-dana"),
    ]
    assert body["history"][2]["reason"] == "Fixed the timezone offset in 1.4.2"
    assert stack.client("engineer").get(path).json() == body


def test_invalid_transition_is_409_with_a_reason(stack, item):
    response = patch(stack.client("engineer"), item["id"], {"status": "closed"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_transition"
    assert error["from"] == "new" and error["to"] == "closed" and error["allowed"] == ["acknowledged"]


def test_resolving_without_resolution_names_the_field(stack, item):
    engineer = stack.client("engineer")
    patch(engineer, item["id"], {"status": "acknowledged"})
    response = patch(engineer, item["id"], {"status": "resolved"})
    assert response.status_code == 400
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["resolution"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"status": "done"}, "status"),
        ({"assignee": ""}, "assignee"),
        ({"status": "acknowledged", "version": "1"}, "version"),
        ({"status": "acknowledged", "priority": "p1"}, "priority"),
    ],
)
def test_bad_patch_bodies_are_named(stack, item, body, field):
    response = patch(stack.client("engineer"), item["id"], body)
    assert response.status_code == 400
    assert [f["field"] for f in response.json()["error"]["fields"]] == [field]


def test_bad_if_match_is_named(stack, item):
    response = patch(stack.client("engineer"), item["id"], {"status": "acknowledged"}, "version-one")
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["field"] == "If-Match"


def test_stale_version_is_409_and_changes_nothing(stack, item):
    engineer = stack.client("engineer")
    assert patch(engineer, item["id"], {"assignee": "lee"}, 1).status_code == 200
    stale = patch(engineer, item["id"], {"status": "acknowledged"}, 1)
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "conflict" and stale.json()["error"]["currentVersion"] == 2
    assert engineer.get(f"{FEEDBACK}/{item['id']}").status_code == 200


def test_redaction_applies_to_resolution_text(stack, item):
    engineer = stack.client("engineer")
    patch(engineer, item["id"], {"status": "acknowledged"})
    body = patch(
        engineer, item["id"], {"status": "resolved", "resolution": "Called the patient on 555-123-4567"}
    ).json()
    assert body["resolution"] == "Called the patient on [REDACTED:phone]"
    assert body["redactions"] == ["phone"]


def test_redaction_applies_to_the_reason_kept_in_the_history(stack, item):
    from chalicelib.store import feedback as store

    # Given an engineer who writes identifiers into a status change's reason and the resolution
    engineer = stack.client("engineer")
    reason = "Pt. Robert Chen (DOB 3/4/56) called from 646\u200b555\u200b0163"
    acknowledged = patch(engineer, item["id"], {"status": "acknowledged", "reason": reason})
    assert acknowledged.status_code == 200, acknowledged.text
    resolved = patch(
        engineer, item["id"], {"status": "resolved", "resolution": "Merged MR# 00981234 into the right chart"}
    )
    assert resolved.status_code == 200, resolved.text

    # Then neither the history nor the resolution keeps them, in the answer or in the table
    body = resolved.json()
    assert (
        body["history"][0]["reason"]
        == "Pt. [REDACTED:name] (DOB [REDACTED:dob]) called from [REDACTED:phone]"
    )
    assert body["resolution"] == "Merged MR# [REDACTED:mrn] into the right chart"
    assert body["history"][1]["reason"] == body["resolution"]
    assert body["redactions"] == ["dob", "mrn", "name", "phone"]
    store.bind(stack.settings())
    stored = str(store.get(item["id"]))
    for typed in ("Robert", "Chen", "3/4/56", "0163", "00981234"):
        assert typed not in stored, typed


def test_two_concurrent_updates_with_the_same_if_match_one_wins(stack, item):
    """Both requests read version 1 and race to write; the conditional write lets exactly one in."""
    barrier = threading.Barrier(2)
    results: dict[str, int] = {}

    def update(name: str, body: dict) -> None:
        api = stack.client("engineer", sub=name)
        barrier.wait()
        results[name] = patch(api, item["id"], body, 1).status_code

    threads = [
        threading.Thread(target=update, args=("eng-a", {"assignee": "alice"})),
        threading.Thread(target=update, args=("eng-b", {"assignee": "bob"})),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(results.values()) == [200, 409]
    winner = "alice" if results["eng-a"] == 200 else "bob"
    final = stack.client("engineer").get(f"{FEEDBACK}/{item['id']}").json()
    assert final["assignee"] == winner and final["version"] == 2


WIDE = "\U0001f600"  # 4 bytes in UTF-8


def test_more_cycles_than_the_history_cap_all_succeed_and_the_item_stays_bounded(stack, item):
    """Given long 4-byte resolutions and reasons (about 10 KB of history per resolve/reopen cycle,
    so 45 cycles would pass 400 KB unbounded), when an item is resolved and reopened 45 times,
    then every PATCH succeeds, the history holds the newest `cap` entries and historyDropped the rest."""
    cap = stack.settings().feedback_history_max
    engineer = stack.client("engineer", sub="eng-cycles")
    resolution, reason = WIDE * 2000, WIDE * 500
    assert patch(engineer, item["id"], {"status": "acknowledged"}).status_code == 200
    cycles = 45
    for n in range(cycles):
        resolved = patch(
            engineer, item["id"], {"status": "resolved", "resolution": f"{n} {resolution}"[:2000]}
        )
        assert resolved.status_code == 200, resolved.text
        reopened = patch(engineer, item["id"], {"status": "acknowledged", "reason": f"{n} {reason}"[:500]})
        assert reopened.status_code == 200, reopened.text
    closed = patch(engineer, item["id"], {"status": "resolved", "resolution": resolution})
    assert closed.status_code == 200, closed.text
    assert patch(engineer, item["id"], {"status": "closed"}).status_code == 200

    body = stack.client("engineer").get(f"{FEEDBACK}/{item['id']}").json()
    entries = 1 + 2 * cycles + 2
    assert body["status"] == "closed"
    assert len(body["history"]) == cap
    assert body["historyDropped"] == entries - cap
    # The newest entries are the ones kept, in order.
    assert [h["to"] for h in body["history"][-3:]] == ["acknowledged", "resolved", "closed"]
    assert body["history"][-3]["reason"] == f"{cycles - 1} {reason}"[:500]


def test_an_item_past_the_size_limit_gets_a_clear_422_not_a_500(stack, item):
    """Defense in depth: an item made huge outside the API (here, straight in the table) cannot be
    grown further; DynamoDB's refusal is answered as item_too_large (moto's limit is 405,000 bytes
    by its own count; it may keep part of a refused update, which DynamoDB does not, so the item's
    fields are not compared here)."""
    ddb = stack.aws_client("dynamodb")
    ddb.update_item(
        TableName=stack.env["FEEDBACK_TABLE"],
        Key={"id": {"S": item["id"]}},
        UpdateExpression="SET description = :d",
        ExpressionAttributeValues={":d": {"S": "x" * 404_000}},
    )
    engineer = stack.client("engineer")
    response = patch(engineer, item["id"], {"status": "acknowledged", "assignee": WIDE * 200})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "item_too_large"
    assert engineer.get(f"{FEEDBACK}/{item['id']}").status_code == 200
