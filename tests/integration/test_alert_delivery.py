"""Routing and delivery end to end on the local stack: alerts recorded by the engine, the dispatcher
publishing to the moto SNS topics, the messages read back through SQS queues subscribed on the moto
server, the app's own @app.on_sns_message handlers (through the dev stack's SNS bridge) posting to a
local HTTP server standing in for Slack's webhook, and every attempt read back from the alert.

Time moves by the injected `now`; nothing sleeps. Each test uses its own rule name, so the groups it
sees are its own although the session's tables are shared.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from chalicelib.alerts import delivery, engine, silences
from chalicelib.alerts.model import Condition
from chalicelib.config import reset_settings
from chalicelib.feedback.windows import utcnow
from chalicelib.integrations import slack
from chalicelib.store import alerts as store
from postlaunch.devstack import SnsBridge, load_app
from tests.slack_stub import FakeSlack

SECOND = timedelta(seconds=1)


@pytest.fixture
def fake_slack(stack, monkeypatch) -> Iterator[FakeSlack]:
    server = FakeSlack()
    monkeypatch.setenv("SLACK_WEBHOOK_URL", server.url)
    reset_settings()
    yield server
    server.stop()
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    reset_settings()


@pytest.fixture(scope="module")
def bridge(stack) -> SnsBridge:
    """The dev stack's path: a queue per @app.on_sns_message handler, polled, handed to the handler."""
    module = load_app()
    return SnsBridge.discover(module.app, module, stack.aws.endpoint, "post-launch-monitor-local").subscribe()


@pytest.fixture(scope="module")
def paging_queue(stack):
    """An SQS queue of our own on the paging topic: what SNS actually carried."""
    sqs, sns = stack.aws_client("sqs"), stack.aws_client("sns")
    url = sqs.create_queue(QueueName=f"test-paging-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=stack.env["ALERTS_PAGING_TOPIC_ARN"], Protocol="sqs", Endpoint=arn)
    return sqs, url


def sns_messages(queue, rule: str) -> list[dict]:
    sqs, url = queue
    found = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            envelope = json.loads(message["Body"])
            body = json.loads(envelope["Message"])
            if body.get("rule") == rule:
                found.append(body | {"_subject": envelope.get("Subject")})


def rule_name() -> str:
    return f"DeliveryTest{uuid.uuid4().hex[:10]}"


def fire(rule: str, now, severity: str = "critical", **labels: str) -> dict:
    condition = Condition(rule, severity, f"{rule} breached", labels, value=12.5, threshold=10.0)
    alert, _ = engine.fire(condition, now=now)
    return alert


def slack_entries(alert_id: str, receiver: str = "slack") -> list[dict]:
    return [d for d in store.get(alert_id)["deliveries"] if d["receiver"] == receiver]


def test_two_alerts_of_one_rule_go_out_as_one_message_after_group_wait(
    stack, fake_slack, bridge, paging_queue
):
    # Given two alerts of one rule, firing at t0
    t0, rule = utcnow(), rule_name()
    a = fire(rule, t0, instance="a")
    b = fire(rule, t0 + 2 * SECOND, instance="b")

    # When the dispatcher runs before group_wait (10 s) has passed, then after it
    early = delivery.dispatch(now=t0 + 5 * SECOND)
    assert sns_messages(paging_queue, rule) == []
    assert early["waiting"] >= 2
    delivery.dispatch(now=t0 + 11 * SECOND)

    # Then SNS carried one message with both alerts
    [message] = sns_messages(paging_queue, rule)
    assert {x["id"] for x in message["alerts"]} == {a["id"], b["id"]}
    assert message["severity"] == "critical" and message["route"] == "paging"
    assert message["_subject"] == f"[FIRING:2] {rule} (critical)"
    first = message["alerts"][0]
    assert first["value"] == 12.5 and first["threshold"] == 10.0 and first["deadline"]
    assert first["link"] == f"/api/monitoring/alerts/{first['id']}"

    # And the paging handler posted it to Slack once: rule, severity, value, threshold, deadline, link
    bridge.poll()
    [posted] = fake_slack.texts_about(rule)
    for needle in (
        rule,
        "critical",
        "value 12.5",
        "threshold 10",
        a["deadline"],
        f"/api/monitoring/alerts/{a['id']}",
    ):
        assert needle in posted
    assert f"/api/monitoring/alerts/{b['id']}" in posted
    # And each alert records the SNS publish and the Slack post, nothing left owed
    for alert in (a, b):
        stored = store.get(alert["id"])
        assert [(d["receiver"], d["outcome"], d["attempt"]) for d in stored["deliveries"]] == [
            ("sns", "delivered", 1),
            ("slack", "delivered", 1),
        ]
        assert stored.get("notifyPending") is None


def test_a_still_firing_alert_is_sent_again_after_the_repeat_interval(
    stack, fake_slack, bridge, paging_queue
):
    # Given an alert notified at t0 + 11 s
    t0, rule = utcnow(), rule_name()
    alert = fire(rule, t0)
    delivery.dispatch(now=t0 + 11 * SECOND)
    assert len(sns_messages(paging_queue, rule)) == 1

    # When the dispatcher runs just before and at the repeat interval (1 h) after that notice
    delivery.dispatch(now=t0 + 11 * SECOND + timedelta(seconds=3599))
    before = sns_messages(paging_queue, rule)
    delivery.dispatch(now=t0 + 11 * SECOND + timedelta(seconds=3600))
    at = sns_messages(paging_queue, rule)

    # Then only the second run repeats it, marked as a repeat, and once
    assert before == []
    [repeat] = at
    assert [(x["id"], x["event"]) for x in repeat["alerts"]] == [(alert["id"], "repeat")]
    bridge.poll()
    assert "STILL FIRING" in fake_slack.texts_about(rule)[-1]


def test_an_alert_that_clears_gets_a_resolved_notice(stack, fake_slack, bridge, paging_queue):
    # Given a notified alert whose condition clears at the next evaluation
    t0, rule = utcnow(), rule_name()
    alert = fire(rule, t0)
    delivery.dispatch(now=t0 + 11 * SECOND)
    engine.apply_evaluation([], {rule}, now=t0 + 60 * SECOND)

    # When the dispatcher runs after group_wait
    delivery.dispatch(now=t0 + 71 * SECOND)

    # Then the second message is the resolved notice, and Slack says so
    [_, resolved] = sns_messages(paging_queue, rule)
    assert resolved["status"] == "resolved"
    assert [(x["id"], x["event"], x["state"]) for x in resolved["alerts"]] == [
        (alert["id"], "resolved", "resolved")
    ]
    assert resolved["_subject"] == f"[RESOLVED:1] {rule} (critical)"
    bridge.poll()
    assert any("[RESOLVED:1]" in text for text in fake_slack.texts_about(rule))
    assert store.get(alert["id"]).get("notifyPending") is None


def test_a_delivery_that_fails_twice_then_succeeds_keeps_every_attempt(stack, fake_slack, bridge):
    # Given Slack answers 500, then 429 with Retry-After, then 200
    t0, rule = utcnow(), rule_name()
    fake_slack.script = [(500, {}, "internal_error"), (429, {"Retry-After": "150"}, "rate_limited")]
    alert = fire(rule, t0)

    # When the group is published and handed to the Slack handler
    delivery.dispatch(now=t0 + 11 * SECOND)
    bridge.poll()
    # Then the first attempt failed and a retry is owed after the backoff (60 s), not before
    assert [(d["attempt"], d["outcome"]) for d in slack_entries(alert["id"])] == [(1, "failed")]
    assert store.get(alert["id"])["notifyPending"] == "retry"
    assert delivery.retry_deliveries(now=t0 + 30 * SECOND)["due"] == 0

    # When the retries come due: the second is rate limited (backoff 120 s, Retry-After 150 s wins)
    second = utcnow() + 61 * SECOND
    delivery.retry_deliveries(now=second)
    assert delivery.retry_deliveries(now=second + 149 * SECOND)["due"] == 0
    delivery.retry_deliveries(now=second + 151 * SECOND)

    # Then every attempt is on the alert, in order, with its error; the third delivered; none owed
    entries = slack_entries(alert["id"])
    assert [(d["attempt"], d["outcome"]) for d in entries] == [(1, "failed"), (2, "failed"), (3, "delivered")]
    assert entries[0]["error"] == "HTTP 500: internal_error"
    assert entries[1]["error"] == "rate limited (HTTP 429, Retry-After 150 s)"
    assert entries[2]["error"] is None
    assert store.get(alert["id"]).get("notifyPending") is None
    # And Slack saw the same alert three times: nothing lost, nothing extra
    assert len(fake_slack.texts_about(alert["id"])) == 3


def test_a_delivery_failing_every_attempt_is_given_up_and_recorded(stack, fake_slack, bridge, monkeypatch):
    # Given Slack always fails and two attempts are allowed
    monkeypatch.setenv("ALERT_DELIVERY_MAX_ATTEMPTS", "2")
    reset_settings()
    t0, rule = utcnow(), rule_name()
    fake_slack.script = [(503, {}, "down")] * 2
    alert = fire(rule, t0)

    # When the first post and its retry both fail
    try:
        delivery.dispatch(now=t0 + 11 * SECOND)
        bridge.poll()
        result = delivery.retry_deliveries(now=utcnow() + 61 * SECOND)
    finally:
        monkeypatch.delenv("ALERT_DELIVERY_MAX_ATTEMPTS")
        reset_settings()

    # Then the alert records both attempts and that delivery was given up (IntegrationFailure reads it)
    assert result["gaveUp"] == 1
    assert [(d["attempt"], d["outcome"]) for d in slack_entries(alert["id"])] == [
        (1, "failed"),
        (2, "failed"),
        (2, "given_up"),
    ]
    assert store.get(alert["id"]).get("notifyPending") is None


def test_no_webhook_configured_is_recorded_as_skipped_not_delivered(stack, bridge, monkeypatch):
    # Given no webhook at all
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("SLACK_WEBHOOK_SECRET_ARN", raising=False)
    reset_settings()
    t0, rule = utcnow(), rule_name()
    alert = fire(rule, t0, severity="warning")

    # When its group is published (warning topic) and handled
    delivery.dispatch(now=t0 + 11 * SECOND)
    bridge.poll()

    # Then the attempt is recorded as skipped with the reason, and no retry is owed
    [entry] = slack_entries(alert["id"])
    assert (entry["outcome"], entry["error"]) == ("skipped", slack.NO_WEBHOOK)
    assert store.get(alert["id"]).get("notifyPending") is None


def test_a_silenced_alert_is_recorded_but_not_notified_until_the_silence_ends(
    stack, fake_slack, bridge, paging_queue
):
    # Given a silence on a rule for ten minutes, and an alert of that rule firing
    t0, rule = utcnow(), rule_name()
    silence = silences.create_silence(
        {
            "matchers": [{"name": "rule", "value": rule}],
            "comment": "planned maintenance",
            "endsAt": (t0 + 600 * SECOND).isoformat(),
        },
        actor="eng-1",
        now=t0,
    )
    alert = fire(rule, t0)

    # When the dispatcher runs
    result = delivery.dispatch(now=t0 + 11 * SECOND)

    # Then the alert is recorded as silenced (by that silence), and nothing is published
    stored = store.get(alert["id"])
    assert result["silenced"] >= 1
    assert (stored["silenced"], stored["silenceId"]) == (True, silence["id"])
    assert [(d["receiver"], d["outcome"]) for d in stored["deliveries"]] == [("sns", "skipped")]
    assert sns_messages(paging_queue, rule) == []

    # When the silence has ended, the next run notifies it
    delivery.dispatch(now=t0 + 601 * SECOND)
    [message] = sns_messages(paging_queue, rule)
    assert [(x["id"], x["event"]) for x in message["alerts"]] == [(alert["id"], "firing")]
    assert store.get(alert["id"])["silenced"] is False


def test_the_webhook_url_comes_from_secrets_manager_and_never_reaches_the_logs(
    stack, bridge, monkeypatch, capsys
):
    # Given the URL only in a Secrets Manager secret
    server = FakeSlack()
    secret = stack.aws_client("secretsmanager").create_secret(
        Name=f"slack-webhook-{uuid.uuid4().hex[:8]}", SecretString=json.dumps({"url": server.url})
    )
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", secret["ARN"])
    reset_settings()
    slack.forget_cached_secret()
    t0, rule = utcnow(), rule_name()
    alert = fire(rule, t0)
    try:
        # When the group is published and handled
        delivery.dispatch(now=t0 + 11 * SECOND)
        bridge.poll()
    finally:
        server.stop()
        slack.forget_cached_secret()

    # Then it was delivered through the secret's URL, which no log line contains
    assert [d["outcome"] for d in slack_entries(alert["id"])] == ["delivered"]
    assert len(server.texts_about(rule)) == 1
    out = capsys.readouterr()
    assert "not-a-real-secret" not in out.out + out.err


def test_a_failed_post_that_overtakes_the_dispatchers_clear_still_owes_its_retry(stack, fake_slack):
    # Given an alert whose firing notice is published but not yet cleared by the dispatcher
    t0, rule = utcnow(), rule_name()
    alert = fire(rule, t0)
    settings = stack.settings()
    message = delivery.group_message(rule, "paging", [(alert, "firing")], t0, settings)

    # When the Slack handler gets it first and Slack fails, then the dispatcher clears what it sent
    fake_slack.script = [(500, {}, "boom")]
    delivery.notify_slack(message, now=t0 + SECOND)
    cleared = store.clear_notify_pending(alert["id"], "firing")

    # Then the clear leaves the retry in place: the failure is not lost
    assert cleared is False
    assert store.get(alert["id"])["notifyPending"] == "retry"
    assert [(d["attempt"], d["outcome"]) for d in slack_entries(alert["id"])] == [(1, "failed")]
