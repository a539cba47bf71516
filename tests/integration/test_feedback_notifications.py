"""Critical bug reports reach the alerts SNS topic (read back through a subscribed SQS queue), and a
failed publish is retried by the scheduled job, run as Lambda runs it."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import boto3
import pytest

FEEDBACK = "/api/monitoring/feedback"
CRITICAL = {
    "category": "bug_report",
    "severity": "critical",
    "title": "Reminders sent to the wrong patient (jane@example.com)",
    "description": "A reminder for one patient was delivered to another patient's phone",
    "featureArea": "reminders",
}


@pytest.fixture
def alerts_queue(stack):
    """An SQS queue subscribed to the alerts topic; yields a function returning the alerts received."""
    sqs = boto3.client("sqs", endpoint_url=stack.aws.endpoint, region_name="us-east-1")
    sns = boto3.client("sns", endpoint_url=stack.aws.endpoint, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"alerts-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = sns.subscribe(TopicArn=stack.env["ALERTS_TOPIC_ARN"], Protocol="sqs", Endpoint=arn)

    def received() -> list[dict]:
        out = []
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if not batch:
                return out
            for message in batch:
                envelope = json.loads(message["Body"])
                attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
                out.append(
                    {
                        "message": json.loads(envelope["Message"]),
                        "attributes": attributes,
                        "subject": envelope.get("Subject"),
                    }
                )
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    yield received
    sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    sqs.delete_queue(QueueUrl=url)


def test_a_critical_bug_report_is_acknowledged_and_published(stack, workspace, alerts_queue):
    response = stack.client("staff", workspace).post(FEEDBACK, json=CRITICAL)

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "acknowledged" and body["acknowledgedAt"] == body["createdAt"]
    assert body["history"][0]["by"] == "system" and body["history"][0]["to"] == "acknowledged"
    assert body["notificationPending"] is False
    [alert] = alerts_queue()
    assert alert["message"] == {
        "type": "feedback.critical",
        "id": body["id"],
        "workspaceId": workspace,
        "severity": "critical",
        "category": "bug_report",
        "title": "Reminders sent to the wrong patient ([REDACTED:email])",
        "featureArea": "reminders",
        "createdAt": body["createdAt"],
    }
    assert alert["attributes"] == {"severity": "critical", "category": "bug_report"}


# Each identifier in a critical bug report, and where it was typed.
IDENTIFIERS = {
    "title": "Pt. Maria Gonzalez got a reminder at 312-555-0142 meant for MRN PHRM-0048291",
    "description": (
        "Her DOB is 04-Mar-1956 and her social security number 123 45 6789 was shown on the reminder; "
        "she lives at 123 Main St, Apt 4B and her email is maria.lopez at gmail dot com."
    ),
    "steps": ["Open chart # 4412873", "Send the reminder to cell 5551234567"],
    "expectedBehavior": "Only Mrs. Gonzalez's own reminder is sent",
    "actualBehavior": "Rx #6012345 for another patient is in the text",
    "browserInfo": "Chrome 118.0.0.0, logged in as r.chen@clinic.example.org",
    "deviceInfo": "iPad of the pharmacy, ph: 5550199",
}
TYPED = [
    "Maria",
    "Gonzalez",
    "312-555-0142",
    "PHRM-0048291",
    "04-Mar-1956",
    "123 45 6789",
    "123 Main St",
    "Apt 4B",
    "maria.lopez",
    "gmail dot com",
    "4412873",
    "5551234567",
    "6012345",
    "r.chen",
    "5550199",
]


def test_identifiers_reach_neither_the_item_nor_the_alert(stack, workspace, alerts_queue):
    from chalicelib.store import feedback as store

    # Given a critical bug report with identifiers in every free-text field
    response = stack.client("staff", workspace).post(FEEDBACK, json={**CRITICAL, **IDENTIFIERS})

    # Then the answer, the stored item and the alert (message and subject) hold none of them
    assert response.status_code == 201, response.text
    body = response.json()
    store.bind(stack.settings())
    stored = store.get(body["id"])
    [alert] = [a for a in alerts_queue() if a["message"]["id"] == body["id"]]
    for where, text in [
        ("response", json.dumps(body)),
        ("stored item", json.dumps(stored, default=str)),
        ("alert message", json.dumps(alert["message"])),
        ("alert subject", alert["subject"]),
    ]:
        leaked = [typed for typed in TYPED if typed in text]
        assert leaked == [], f"{where} holds {leaked}"
    assert (
        body["title"] == "Pt. [REDACTED:name] got a reminder at [REDACTED:phone] meant for MRN [REDACTED:mrn]"
    )
    assert alert["message"]["title"] == body["title"]
    assert alert["subject"] == f"Critical feedback: {body['title']}"[:100]
    assert body["browserInfo"] == "Chrome 118.0.0.0, logged in as [REDACTED:email]"
    assert body["redactions"] == ["address", "dob", "email", "mrn", "name", "phone", "ssn"]


@pytest.mark.parametrize(
    "change", [{"severity": "high"}, {"category": "usability_issue"}], ids=["high-bug", "critical-usability"]
)
def test_other_feedback_is_not_published(stack, workspace, alerts_queue, change):
    response = stack.client("staff", workspace).post(FEEDBACK, json={**CRITICAL, **change})
    assert response.status_code == 201 and response.json()["status"] == "new"
    assert alerts_queue() == []


def test_a_failed_publish_is_retried_by_the_scheduled_job(stack, workspace, alerts_queue):
    from chalice.test import Client

    from app import app
    from chalicelib.auth import Principal, Role
    from chalicelib.feedback.service import retry_pending_notifications, submit_feedback, utcnow
    from chalicelib.store import feedback as store

    # Given an alert whose publish failed (a topic that does not exist), two minutes ago.
    good = stack.settings()
    bad = good.model_copy(update={"alerts_topic_arn": "arn:aws:sns:us-east-1:123456789012:no-such-topic"})
    staff = Principal(sub="pharmacist-9", workspace_id=workspace, roles=frozenset({Role.STAFF}))
    record, _ = submit_feedback(staff, CRITICAL, now=utcnow() - timedelta(minutes=2), settings=bad)
    assert record["notificationPending"] is True and record["status"] == "acknowledged"
    assert alerts_queue() == []
    assert store.get(record["id"])["notifyPending"] == "pending"

    # A retry that fails again keeps the flag.
    failed = retry_pending_notifications(settings=bad)
    assert failed["failed"] >= 1
    assert store.get(record["id"])["notifyPending"] == "pending"

    # When the scheduled job runs as Lambda would call it (EventBridge event), with the real topic.
    stack.settings()
    with Client(app, stage_name="local") as client:
        event = client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        result = client.lambda_.invoke("retry_feedback_notifications", event)

    # Then the alert is delivered, the flag cleared, and the item's version untouched.
    assert result.payload["delivered"] >= 1
    alerts = [a for a in alerts_queue() if a["message"]["id"] == record["id"]]
    assert len(alerts) == 1 and alerts[0]["attributes"]["severity"] == "critical"
    stored = store.get(record["id"])
    assert stored["notifyPending"] is None and stored["version"] == record["version"]
    # Delivered once: a later run does not publish it again.
    retry_pending_notifications()
    assert [a for a in alerts_queue() if a["message"]["id"] == record["id"]] == []


def test_the_retry_job_leaves_fresh_items_to_their_request(stack, workspace):
    from chalicelib.auth import Principal, Role
    from chalicelib.feedback.service import retry_pending_notifications, submit_feedback
    from chalicelib.store import feedback as store

    bad = stack.settings().model_copy(update={"alerts_topic_arn": None})
    staff = Principal(sub="pharmacist-10", workspace_id=workspace, roles=frozenset({Role.STAFF}))
    record, _ = submit_feedback(staff, CRITICAL, settings=bad)
    assert record["notificationPending"] is True
    retry_pending_notifications(settings=stack.settings())
    assert store.get(record["id"])["notifyPending"] == "pending", "younger than the minimum age"
