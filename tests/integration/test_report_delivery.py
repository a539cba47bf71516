"""The daily report's delivery on the moto-backed stack: stored, emailed through SES (read back from
moto's /moto-api/data.json and parsed as MIME), recorded per recipient, a failed send retried by the
next run with backoff and given up at the limit, and the info alert "report generated" recorded.

Delivery reads the report REPORT builds; these tests hand it a report in the contract's shape
(tests/report_delivery_helpers.py), so every field the email shows is known here."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email.policy import default

import pytest
import requests

from chalicelib.reports import delivery
from chalicelib.store import reports as report_store
from tests.report_delivery_helpers import resolve_report_notices, sample_report


@pytest.fixture(autouse=True)
def _resolve_notices(stack):
    yield
    resolve_report_notices(stack)


def sent_messages(stack) -> list[dict]:
    """The messages moto's SES accepted, as its model data lists them."""
    data = requests.get(f"{stack.aws.endpoint}/moto-api/data.json", timeout=10).json()
    return data["ses"].get("RawMessage", [])


def parse(raw: str) -> email.message.EmailMessage:
    return email.message_from_string(raw, policy=default)


def builder(calls: list):
    def build(start, end, *, now=None, settings=None):
        calls.append((start, end))
        return sample_report(start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), end.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))

    return build


def test_daily_report_is_stored_emailed_as_html_with_the_json_attached_and_alerted(stack):
    # Given the stack (its sender verified on moto's SES) and a morning on a day no test used
    settings = stack.settings()
    now = datetime(2031, 3, 4, 6, 0, 5, tzinfo=UTC)
    calls: list = []
    before = {m["id"] for m in sent_messages(stack)}

    # When the daily schedule runs
    result = delivery.run_daily(now, settings, build=builder(calls))

    # Then yesterday's report was built once and stored under the day's key
    assert calls == [(datetime(2031, 3, 3, tzinfo=UTC), datetime(2031, 3, 3, 23, 59, 59, 999999, tzinfo=UTC))]
    assert result["created"] is True and result["key"] == "2031-03-03T00:00:00.000000Z"
    stored = report_store.get_report("daily", result["key"], settings)
    report = json.loads(stored["payload"])
    assert report["period"]["start"] == "2031-03-03T00:00:00.000000Z"
    assert stored["sizeBytes"] == len(stored["payload"].encode()) < report_store.REPORT_MAX_BYTES

    # And moto's SES holds one message per recipient, from the sender, with the HTML and the JSON
    new = [m for m in sent_messages(stack) if m["id"] not in before]
    assert [m["id"] for m in new] == [
        result["recipients"][r]["messageId"] for r in settings.report_recipients
    ]
    message = parse(new[0]["raw_data"])
    assert new[0]["source"] == settings.report_sender == message["From"]
    assert message["To"] == settings.report_recipients[0]
    assert message["Subject"] == "Post-Launch Monitor report 2031-03-03: degraded"
    html = message.get_body(preferencelist=("html",)).get_content()
    assert 'data-field="status">DEGRADED</strong>' in html
    assert "<td>reminderDeliverySuccess</td>" in html and ">no data</td>" in html  # metrics table
    assert "61,500" in html and "147" in html  # ROI: annual savings, total ROI
    # Escaped: the redacted marker reads as text, and no markup from the data reaches the HTML
    assert "[REDACTED:phone]" in html and "<script>" not in html and "&lt;script&gt;" in html
    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["post-launch-report-2031-03-03.json"]
    assert attachments[0].get_content_type() == "application/json"
    assert json.loads(attachments[0].get_content()) == report

    # And the delivery is recorded per recipient, and the info alert says the report went out
    assert result["recipients"][settings.report_recipients[0]] | {"at": None} == {
        "outcome": "delivered",
        "attempts": 1,
        "at": None,
        "error": None,
        "messageId": new[0]["id"],
    }
    assert result["pendingRecipients"] == [] and result["nextAttemptAt"] is None
    alert = stack.client("engineer").get(f"/api/monitoring/alerts/{result['alertId']}").json()
    assert (alert["rule"], alert["severity"], alert["state"]) == ("ReportGenerated", "info", "firing")
    assert alert["summary"].startswith(
        "report generated: Post-Launch Monitor report 2031-03-03, status degraded"
    )

    # When the schedule runs again for the same day (EventBridge delivers at least once)
    again = delivery.run_daily(now + timedelta(minutes=1), settings, build=builder(calls))

    # Then nothing is built or sent twice
    assert again["created"] is False and len(calls) == 1
    assert len([m for m in sent_messages(stack) if m["id"] not in before]) == len(new)


def test_a_refused_send_is_recorded_and_retried_by_the_next_run_after_its_backoff(stack):
    # Given a sender SES has not verified (moto's SES refuses it, as SES does)
    sender = "reports-2031@unverified.example"
    settings = stack.settings().model_copy(update={"report_sender": sender})
    now = datetime(2031, 4, 10, 6, 0, tzinfo=UTC)
    before = {m["id"] for m in sent_messages(stack)}

    # When the daily report runs
    first = delivery.run_daily(now, settings, build=builder([]))

    # Then the failed attempt is recorded with SES's reason, and the send is owed after the backoff
    recipient = settings.report_recipients[0]
    failed = first["recipients"][recipient]
    assert (failed["outcome"], failed["attempts"]) == ("failed", 1)
    assert "MessageRejected" in failed["error"] and sender in failed["error"]
    assert first["pendingRecipients"] == [recipient] and first["alertId"] is None
    assert first["nextAttemptAt"] == "2031-04-10T06:15:00.000000Z"  # 900 s backoff
    assert not [m for m in sent_messages(stack) if m["id"] not in before]

    # When the retry schedule runs before the backoff has passed
    early = delivery.retry_due(now + timedelta(minutes=10), settings)
    # Then this report is not tried again yet
    assert first["key"] not in [r["key"] for r in early["reports"]]

    # When the sender's owner verifies it, and the retry schedule runs after the backoff
    stack.aws_client("ses").verify_email_identity(EmailAddress=sender)
    later = delivery.retry_due(now + timedelta(minutes=16), settings)

    # Then the second attempt delivers it, the record keeps both attempts, and the info alert fires
    [retried] = [r for r in later["reports"] if r["key"] == first["key"]]
    assert (retried["recipients"][recipient]["outcome"], retried["recipients"][recipient]["attempts"]) == (
        "delivered",
        2,
    )
    assert retried["pendingRecipients"] == [] and retried["alertId"]
    stored = report_store.get_report("daily", first["key"], settings)
    assert [(d["outcome"], d["attempt"]) for d in stored["deliveries"]] == [("failed", 1), ("delivered", 2)]
    [message] = [m for m in sent_messages(stack) if m["id"] not in before]
    assert message["source"] == sender and message["id"] == retried["recipients"][recipient]["messageId"]


def test_a_send_still_refused_at_the_attempt_limit_is_given_up_and_not_alerted(stack):
    # Given an unverified sender and at most two attempts
    settings = stack.settings().model_copy(
        update={"report_sender": "never@unverified.example", "report_delivery_max_attempts": 2}
    )
    now = datetime(2031, 5, 20, 6, 0, tzinfo=UTC)
    first = delivery.run_daily(now, settings, build=builder([]))
    recipient = settings.report_recipients[0]

    # When the next run after the backoff is refused too
    later = delivery.retry_due(now + timedelta(minutes=15), settings)

    # Then it is given up: recorded, owed to no one, no "report generated" alert
    [record] = [r for r in later["reports"] if r["key"] == first["key"]]
    assert record["recipients"][recipient]["outcome"] == "given_up"
    assert record["pendingRecipients"] == [] and record["alertId"] is None
    stored = report_store.get_report("daily", first["key"], settings)
    assert [(d["outcome"], d["attempt"]) for d in stored["deliveries"]] == [
        ("failed", 1),
        ("failed", 2),
        ("given_up", 2),
    ]
    assert stored["deliveries"][-1]["error"].startswith("gave up after 2 attempts: SES refused")
    # And the next retry run leaves it alone
    assert first["key"] not in [
        r["key"] for r in delivery.retry_due(now + timedelta(days=1), settings)["reports"]
    ]


@pytest.mark.parametrize("code", ["Throttling", "ServiceUnavailable"])
def test_an_ses_outage_is_recorded_with_its_code_and_retried(stack, code):
    # Given SES answering an error (a stubbed client: moto's SES does not throttle)
    from botocore.stub import Stubber

    settings = stack.settings()
    ses = stack.aws_client("ses")
    stubber = Stubber(ses)
    stubber.add_client_error("send_raw_email", service_error_code=code, service_message="try later")
    now = datetime(2031, 6, 1 + len(code), 6, 0, tzinfo=UTC)

    # When the daily report is sent through it
    with stubber:
        result = delivery.run_daily(now, settings, build=builder([]), ses_client=ses)

    # Then the attempt is recorded with SES's code, and a retry is owed
    stored = report_store.get_report("daily", result["key"], settings)
    assert stored["deliveries"][0]["awsCode"] == code
    assert stored["pendingRecipients"] == settings.report_recipients


def test_the_daily_schedule_emails_the_report_build_report_makes(stack):
    # Given the app's daily schedule, registered for EventBridge at REPORT_HOUR_UTC
    from app import app as chalice_app
    from postlaunch.devstack import discover_jobs

    jobs = {job.name: job for job in discover_jobs(chalice_app, __import__("app"))}
    assert jobs["daily_report"].expression == "cron(0 6 * * ? *)"
    assert jobs["retry_report_deliveries"].expression == "rate(15 minutes)"
    settings = stack.settings()
    before = {m["id"] for m in sent_messages(stack)}

    # When it runs on a day of its own, with the real report builder
    result = delivery.run_daily(datetime(2031, 7, 2, 6, 0, tzinfo=UTC), settings)

    # Then the report of 2031-07-01 (no data that day: status and figures say so) went out as stored
    stored = json.loads(report_store.get_report("daily", result["key"], settings)["payload"])
    assert stored["period"]["start"].startswith("2031-07-01T00:00:00")
    assert {"summary", "health", "feedback", "alerts", "releases", "successMetrics", "roi"} <= set(stored)
    [sent] = [m for m in sent_messages(stack) if m["id"] not in before]
    message = parse(sent["raw_data"])
    assert message["Subject"].startswith("Post-Launch Monitor report 2031-07-01: ")
    [attachment] = message.iter_attachments()
    assert json.loads(attachment.get_content()) == stored
    html = message.get_body(preferencelist=("html",)).get_content()
    for metric in stored["successMetrics"]:
        assert f"<td>{metric['name']}</td>" in html
