"""Idempotency-Key on POST /feedback: a retry returns the first result and stores one item; keys are
scoped to the caller; the same key with another body is refused."""

from __future__ import annotations

import time
import uuid

import boto3
import pytest

from chalicelib.store.idempotency import scoped_key

FEEDBACK = "/api/monitoring/feedback"
PAYLOAD = {
    "category": "usability_issue",
    "severity": "medium",
    "title": "Patient portal button hard to find",
    "description": "The reschedule button is hidden below the fold on small screens",
    "featureArea": "patient_portal",
    "usabilityRating": 2,
}


def stored_count(stack, workspace: str) -> int:
    """Items of a workspace, counted straight from the table's byWorkspace index."""
    ddb = boto3.client("dynamodb", endpoint_url=stack.aws.endpoint, region_name="us-east-1")
    return ddb.query(
        TableName=stack.env["FEEDBACK_TABLE"],
        IndexName="byWorkspace",
        KeyConditionExpression="workspaceId = :w",
        ExpressionAttributeValues={":w": {"S": workspace}},
        Select="COUNT",
    )["Count"]


def post(api, body: dict, key: str | None):
    return api.post(FEEDBACK, json=body, headers={"Idempotency-Key": key} if key else {})


def test_a_retried_post_returns_the_first_result_and_stores_one_item(stack, workspace):
    api = stack.client("staff", workspace, sub="pharmacist-retry")
    key = str(uuid.uuid4())

    first = post(api, PAYLOAD, key)
    # Same body, keys in another order, extra whitespace that validation trims: the same request.
    reordered = dict(reversed(list(PAYLOAD.items())))
    reordered["title"] = "  " + PAYLOAD["title"] + " "
    second = post(api, reordered, key)
    third = post(api, PAYLOAD, key)

    assert first.status_code == second.status_code == third.status_code == 201
    assert first.headers["Idempotent-Replayed"] == "false"
    assert second.headers["Idempotent-Replayed"] == "true" and third.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json() == third.json()
    assert stored_count(stack, workspace) == 1


def test_without_a_key_each_post_is_new(stack, workspace):
    api = stack.client("staff", workspace)
    assert post(api, PAYLOAD, None).json()["id"] != post(api, PAYLOAD, None).json()["id"]
    assert stored_count(stack, workspace) == 2


def test_the_same_key_with_another_body_is_refused(stack, workspace):
    api = stack.client("staff", workspace)
    key = str(uuid.uuid4())
    assert post(api, PAYLOAD, key).status_code == 201
    response = post(api, {**PAYLOAD, "severity": "high"}, key)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["fields"][0]["field"] == "Idempotency-Key"
    assert stored_count(stack, workspace) == 1


def test_keys_are_scoped_to_the_caller(stack, workspace):
    key = "shared-key-" + uuid.uuid4().hex
    alice = stack.client("staff", workspace, sub="alice")
    bob = stack.client("staff", workspace, sub="bob")
    mine = post(alice, PAYLOAD, key).json()
    theirs = post(bob, PAYLOAD, key)
    assert theirs.status_code == 201 and theirs.headers["Idempotent-Replayed"] == "false"
    assert theirs.json()["id"] != mine["id"] and theirs.json()["userId"] == "bob"
    assert stored_count(stack, workspace) == 2


def test_no_sub_can_forge_another_callers_key(stack, workspace):
    """Given sub "<u>#b" with key "c" and sub "<u>" with key "b#c" (the same "sub#key" string),
    when both submit, then each stores its own item: neither replays the other's."""
    u = "forger-" + uuid.uuid4().hex[:8]
    first = post(stack.client("staff", workspace, sub=f"{u}#b"), PAYLOAD, "c")
    second = post(stack.client("staff", workspace, sub=u), PAYLOAD, "b#c")
    assert first.status_code == second.status_code == 201
    assert first.headers["Idempotent-Replayed"] == second.headers["Idempotent-Replayed"] == "false"
    assert first.json()["id"] != second.json()["id"]
    assert (first.json()["userId"], second.json()["userId"]) == (f"{u}#b", u)
    assert stored_count(stack, workspace) == 2


def test_a_replay_after_the_caller_moved_workspace_is_forbidden(stack, workspace):
    """Given a staff member's submission in one workspace, when their token later names another
    workspace and they retry with the same key, then 403, nothing is stored and the item is not shown."""
    key, sub = str(uuid.uuid4()), "mover-" + uuid.uuid4().hex[:8]
    elsewhere = workspace + "-new"
    assert post(stack.client("staff", workspace, sub=sub), PAYLOAD, key).status_code == 201

    moved = post(stack.client("staff", elsewhere, sub=sub), PAYLOAD, key)

    assert moved.status_code == 403
    assert moved.json()["error"]["code"] == "forbidden" and "title" not in moved.text
    assert (stored_count(stack, workspace), stored_count(stack, elsewhere)) == (1, 0)


def test_a_replay_for_a_caller_spanning_workspaces_still_returns_the_item(stack, workspace):
    key, sub = str(uuid.uuid4()), "eng-" + uuid.uuid4().hex[:8]
    first = post(stack.client("engineer", workspace, sub=sub), PAYLOAD, key)
    again = post(stack.client("engineer", workspace + "-other", sub=sub), PAYLOAD, key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_an_invalid_body_claims_nothing(stack, workspace):
    api = stack.client("staff", workspace)
    key = str(uuid.uuid4())
    assert post(api, {**PAYLOAD, "title": "bad"}, key).status_code == 400
    assert stored_count(stack, workspace) == 0
    # The key is still free: the corrected request is stored normally.
    response = post(api, PAYLOAD, key)
    assert response.status_code == 201 and response.headers["Idempotent-Replayed"] == "false"


@pytest.mark.parametrize("key", ["x" * 256, "has space", "tab\tkey"])
def test_a_malformed_key_is_named(stack, workspace, key):
    response = post(stack.client("staff", workspace), PAYLOAD, key)
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["field"] == "Idempotency-Key"
    assert stored_count(stack, workspace) == 0


def test_the_idempotency_record_expires_after_a_day(stack, workspace):
    ddb = boto3.client("dynamodb", endpoint_url=stack.aws.endpoint, region_name="us-east-1")
    key = str(uuid.uuid4())
    created = post(stack.client("staff", workspace, sub="ttl-user"), PAYLOAD, key).json()
    record = ddb.get_item(
        TableName=stack.env["IDEMPOTENCY_TABLE"], Key={"key": {"S": scoped_key("ttl-user", key)}}
    )["Item"]
    assert record["feedbackId"]["S"] == created["id"]
    assert len(record["requestHash"]["S"]) == 64
    ttl = ddb.describe_time_to_live(TableName=stack.env["IDEMPOTENCY_TABLE"])["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiresAt"
    assert 86400 - 120 < int(record["expiresAt"]["N"]) - time.time() <= 86400


def test_an_expired_key_can_be_used_again(stack, workspace):
    """TTL deletes lazily: a record past expiresAt may still be in the table; it no longer counts."""
    ddb = boto3.client("dynamodb", endpoint_url=stack.aws.endpoint, region_name="us-east-1")
    key = str(uuid.uuid4())
    api = stack.client("staff", workspace, sub="late-retrier")
    first = post(api, PAYLOAD, key).json()
    ddb.update_item(
        TableName=stack.env["IDEMPOTENCY_TABLE"],
        Key={"key": {"S": scoped_key("late-retrier", key)}},
        UpdateExpression="SET expiresAt = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 10)}},
    )
    again = post(api, PAYLOAD, key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "false"
    assert again.json()["id"] != first["id"]
    assert stored_count(stack, workspace) == 2
