"""bench.capacity's recording of AWS answers, and its replay: what the CPU figures of
docs/performance.md rest on. A replayed invocation must get every answer from the tape (none from the
network) and behave as the recorded one did; counts only, no timing."""

from __future__ import annotations

import json

from bench import capacity
from postlaunch.localstack import client


def test_a_route_replayed_from_its_recording_answers_alike_without_reaching_aws(stack, workspace):
    from chalicelib.auth import mint_dev_token

    invoke = capacity.Invoker(quiet=False)
    token = mint_dev_token(stack.settings(), role="staff", workspace_id=workspace, sub="bench-test")
    state = {"staff": token}
    post = capacity.ROUTES_BY_NAME["POST feedback"]
    with capacity.recording() as tape:
        recorded = invoke(invoke.event(post.request(state)))
    assert recorded["statusCode"] == 201
    assert tape.operations == {
        "dynamodb:TransactWriteItems": 1
    }  # (the release worker's SQS polls: not taped)

    summary = capacity._json("GET", "/api/monitoring/feedback/summary", token)
    with capacity.recording() as read_tape:
        read = invoke(invoke.event(summary))
    assert json.loads(read["body"])["total"] == 1

    table = stack.physical["FeedbackTable"]
    before = client("dynamodb", stack.aws.endpoint).scan(TableName=table, Select="COUNT")["Count"]
    # A new request (new id, new idempotency key) gets the recorded answers; nothing reaches moto.
    with capacity.replaying(tape) as replay:
        again = invoke(invoke.event(post.request(state)))
    assert again["statusCode"] == 201 and (replay.unused, replay.missing) == (0, [])
    assert json.loads(again["body"])["id"] != json.loads(recorded["body"])["id"]
    after = client("dynamodb", stack.aws.endpoint).scan(TableName=table, Select="COUNT")["Count"]
    assert after == before

    # The summary replayed reads the recorded items: the same figures as recorded, from the tape.
    with capacity.replaying(read_tape) as replay:
        replayed = invoke(invoke.event(summary))
    assert json.loads(replayed["body"])["total"] == 1 and replay.unused == 0


def test_a_replay_that_runs_out_of_answers_says_so_instead_of_calling_aws(stack, workspace):
    from chalicelib.auth import mint_dev_token

    invoke = capacity.Invoker(quiet=False)
    token = mint_dev_token(stack.settings(), role="staff", workspace_id=workspace, sub="bench-test")
    empty = capacity.Tape()
    with capacity.replaying(empty) as replay:
        answer = invoke(invoke.event(capacity._json("GET", "/api/monitoring/feedback/summary", token)))
    assert answer["statusCode"] >= 500
    assert replay.missing == ["dynamodb:Query"]
