"""The report email's parts, without AWS: the title names the days covered, every value is escaped
in the HTML, the MIME message carries text, HTML and the JSON attachment, and the backoff doubles
up to its cap."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime
from email.policy import default

from chalicelib.config import Settings
from chalicelib.reports import delivery, mail
from tests.report_delivery_helpers import sample_report


def test_the_title_names_the_days_the_period_covers():
    # A day as the report counts it (end included), and as an exclusive midnight end
    assert mail.title(sample_report("2026-11-26T00:00:00Z", "2026-11-26T23:59:59.999999Z")).endswith(
        "report 2026-11-26"
    )
    assert mail.title(sample_report("2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z")).endswith(
        "report 2026-11-26"
    )
    assert mail.title(sample_report("2026-11-01T00:00:00Z", "2026-11-30T23:59:59Z")).endswith(
        "report 2026-11-01 to 2026-11-30"
    )


def test_every_value_reaches_the_html_escaped():
    # Given markup in every kind of field the email shows
    report = sample_report()
    report["summary"]["status"] = "<i>x</i>"
    report["successMetrics"][0]["name"] = "a<b>c"
    report["successMetrics"][1]["reason"] = "r&d <img src=x onerror=alert(1)>"
    report["roi"]["formulas"]["totalROI"] = "<script>1</script>"
    # When it is rendered
    html = mail.render_html(report)
    # Then no markup from the data survives, and the text does
    for raw in ("<i>x", "a<b>c", "<img", "<script>"):
        assert raw not in html
    for escaped in (
        "&lt;I&gt;X&lt;/I&gt;",
        "a&lt;b&gt;c",
        "r&amp;d &lt;img",
        "&lt;script&gt;1&lt;/script&gt;",
    ):
        assert escaped in html


def test_the_message_has_text_html_and_the_report_attached():
    report = sample_report()
    raw = mail.build_message(report, sender="reports@example.org", recipient="ops@example.org")
    message = email.message_from_bytes(raw, policy=default)
    assert (message["From"], message["To"]) == ("reports@example.org", "ops@example.org")
    assert "Status: degraded" in message.get_body(preferencelist=("plain",)).get_content()
    assert "<table" in message.get_body(preferencelist=("html",)).get_content()
    [attachment] = message.iter_attachments()
    assert json.loads(attachment.get_content()) == report
    assert all(byte < 128 for byte in raw)  # 7-bit clean: the × and — travel encoded


def test_backoff_doubles_up_to_its_cap_and_the_daily_period_is_yesterday():
    settings = Settings(report_delivery_backoff_seconds=900, report_delivery_backoff_max_seconds=3000)
    assert [delivery.backoff(n, settings).total_seconds() for n in (1, 2, 3, 4)] == [900, 1800, 3000, 3000]
    start, end = delivery.day_period(datetime(2026, 3, 1, 6, 0, tzinfo=UTC))
    assert (start.isoformat(), end.isoformat()) == (
        "2026-02-28T00:00:00+00:00",
        "2026-02-28T23:59:59.999999+00:00",
    )
