"""`post-launch-monitor report` against the session's moto stack: rendered for people, JSON for
machines, written to a file, and emailed now (read back from moto's SES through /moto-api/data.json).

The report's build is REPORT's (chalicelib.reports.report); here it is replaced by one returning a
report in the contract's shape, so these tests check what the command does with a report."""

from __future__ import annotations

import email
import json
from email.policy import default

import pytest
import requests
from click.testing import CliRunner

from chalicelib.reports import delivery
from chalicelib.schemas.instants import parse_instant
from chalicelib.store import reports as report_store
from postlaunch.cli import cli
from tests.report_delivery_helpers import resolve_report_notices, sample_report

ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


@pytest.fixture(autouse=True)
def _resolve_notices(stack):
    yield
    resolve_report_notices(stack)


@pytest.fixture
def built(monkeypatch) -> list:
    calls: list = []

    def build(start, end, *, now=None, settings=None):
        calls.append((start, end))
        start_at, end_at = parse_instant(start), parse_instant(end, end_of_day=True)
        return sample_report(start_at.strftime(ISO), end_at.strftime(ISO))

    monkeypatch.setattr(delivery, "_builder", lambda: build)
    return calls


@pytest.fixture
def quiet_logs():
    """As the console script does (postlaunch.cli.app_logs_to_stderr): the delivery's INFO log line
    is not part of the command's answer. CliRunner captures the app logger's stdout."""
    from chalicelib.observability import logger

    level = logger.log_level
    logger.setLevel("WARNING")
    yield
    logger.setLevel(level)


def run(*args: str):
    return CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)


def test_json_is_the_report_of_the_days_asked_for(stack, built):
    # When the report of one day is asked for as JSON
    result = run("--start", "2032-01-05", "--end", "2032-01-05", "--json")
    # Then the whole day is reported, and stdout is the report's JSON only
    assert result.exit_code == 0, result.output
    assert built == [("2032-01-05", "2032-01-05")]
    assert json.loads(result.output) == sample_report(
        "2032-01-05T00:00:00.000000Z", "2032-01-05T23:59:59.999999Z"
    )


def test_people_get_the_summary_metrics_and_roi_with_markers_shown_as_text(stack, built):
    result = run("--start", "2032-01-05", "--end", "2032-01-06")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Post-Launch Monitor report 2032-01-05 to 2032-01-06" in out and "DEGRADED" in out
    assert "[REDACTED:phone]" in out  # printed as text, not taken for a rich style tag
    assert "reminderDeliverySuccess" in out and "no data" in out
    assert "61,500" in out and "Total ROI" in out


def test_output_writes_json_or_the_emails_html(stack, built, tmp_path):
    # When the report is written to a .json and to a .html file
    assert (
        run("--start", "2032-01-07", "--end", "2032-01-07", "--output", str(tmp_path / "r.json")).exit_code
        == 0
    )
    assert (
        run("--start", "2032-01-07", "--end", "2032-01-07", "--output", str(tmp_path / "r.html")).exit_code
        == 0
    )
    # Then the JSON is the report, and the HTML the email's, escaped
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["period"]["start"] == "2032-01-07T00:00:00.000000Z"
    html = (tmp_path / "r.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "&lt;script&gt;" in html and "<script>" not in html


def test_email_sends_it_now_and_records_it_like_the_daily_report(stack, built, quiet_logs):
    # Given the messages moto's SES holds already
    endpoint = f"{stack.aws.endpoint}/moto-api/data.json"
    before = {m["id"] for m in requests.get(endpoint, timeout=10).json()["ses"].get("RawMessage", [])}

    # When the report is emailed from the CLI
    result = run("--start", "2032-02-01", "--end", "2032-02-01", "--email", "lead@pharmacy.example", "--json")

    # Then it went out, and the delivery is in the answer and in the stored record
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    state = answer.pop("delivery")
    assert state["recipients"]["lead@pharmacy.example"]["outcome"] == "delivered"
    stored = report_store.get_report("adhoc", state["key"], stack.settings())
    assert json.loads(stored["payload"]) == answer
    assert [(d["recipient"], d["outcome"], d["attempt"]) for d in stored["deliveries"]] == [
        ("lead@pharmacy.example", "delivered", 1)
    ]

    # And moto's SES holds the message: to that address, the HTML body, the report attached
    [sent] = [
        m for m in requests.get(endpoint, timeout=10).json()["ses"]["RawMessage"] if m["id"] not in before
    ]
    assert sent["id"] == state["recipients"]["lead@pharmacy.example"]["messageId"]
    message = email.message_from_string(sent["raw_data"], policy=default)
    assert message["To"] == "lead@pharmacy.example"
    assert "Success metrics" in message.get_body(preferencelist=("html",)).get_content()
    [attachment] = message.iter_attachments()
    assert json.loads(attachment.get_content()) == answer


def test_a_bad_date_names_the_option(stack):
    result = CliRunner().invoke(cli, ["report", "--start", "yesterday"])
    assert result.exit_code == 2 and "--start" in result.output


def test_json_is_the_report_the_api_gives(stack):
    # When a past month is asked for from the CLI (the real build) and over HTTP
    period = {"start": "2016-06-01", "end": "2016-06-30"}
    result = run("--start", period["start"], "--end", period["end"], "--json")
    http = stack.client("engineer").get("/api/monitoring/report", params=period)
    # Then both are the same report (each generated at its own moment)
    assert result.exit_code == 0, result.output
    cli_report, api_report = json.loads(result.output), http.json()
    for key in ("period", "feedback", "releases", "roi"):
        assert cli_report[key] == api_report[key], key
    assert [m["name"] for m in cli_report["successMetrics"]] == [
        m["name"] for m in api_report["successMetrics"]
    ]
