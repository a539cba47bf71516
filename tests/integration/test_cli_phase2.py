"""`post-launch-monitor phase2` against the session's moto stack: the plan the API gives, as JSON and
as a table. Its items are in October 2016, a month no other test writes to."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from chalicelib.auth import Principal, Role
from chalicelib.feedback.service import new_record
from chalicelib.store import feedback as store
from postlaunch.cli import cli

OCTOBER = ["--start", "2016-10-01", "--end", "2016-10-31"]


@pytest.fixture(scope="module")
def loaded(stack) -> list[str]:
    store.bind(stack.settings())
    tag = uuid.uuid4().hex[:6]
    asks = [
        # Two workspaces ask for waitlists; one user asks three times for a PDF export.
        ("ws-1", "u1", "Appointment waitlist", "appointments"),
        ("ws-2", "u2", "Waitlist for appointments", "appointments"),
        ("ws-3", "u3", "Export follow-ups to PDF", "follow_ups"),
        ("ws-3", "u3", "Export follow-ups to PDF", "follow_ups"),
        ("ws-3", "u3", "PDF export of follow-ups", "follow_ups"),
        # A redacted title: rich must print the marker, not take it for a style tag.
        ("ws-4", "u4", "Call [REDACTED:phone] about reminder sounds", "reminders"),
    ]
    records = []
    for n, (ws, user, title, area) in enumerate(asks):
        staff = Principal(sub=f"{tag}-{user}", workspace_id=f"{tag}-{ws}", roles=frozenset({Role.STAFF}))
        payload = {"category": "feature_request", "severity": "low", "title": title, "featureArea": area}
        payload["description"] = "Loaded for the CLI test"
        records.append(new_record(staff, payload, datetime(2016, 10, 3, tzinfo=UTC) + timedelta(hours=n))[0])
    store.batch_put(records)
    return [r["id"] for r in records]


def test_json_is_the_plan_the_api_gives(stack, loaded):
    # When the plan is asked for from the CLI and over HTTP
    result = CliRunner().invoke(cli, ["phase2", *OCTOBER, "--json"], catch_exceptions=False)
    http = stack.client("engineer").get(
        "/api/monitoring/phase2", params={"start": "2016-10-01", "end": "2016-10-31"}
    )
    # Then stdout is JSON only, and the same plan
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan == http.json()
    assert [(i["featureArea"], i["title"], i["evidence"]["count"]) for i in plan["items"]] == [
        ("appointments", "Appointment waitlist", 2),
        ("follow_ups", "Export follow-ups to PDF", 3),
        ("reminders", "Call [REDACTED:phone] about reminder sounds", 1),
    ]


def test_limit_keeps_the_best(stack, loaded):
    result = CliRunner().invoke(cli, ["phase2", *OCTOBER, "--limit", "1", "--json"], catch_exceptions=False)
    plan = json.loads(result.output)
    assert [i["title"] for i in plan["items"]] == ["Appointment waitlist"] and plan["groups"] == 3


def test_table_for_humans(stack, loaded):
    result = CliRunner().invoke(cli, ["phase2", *OCTOBER])

    assert result.exit_code == 0, result.output
    assert not result.output.lstrip().startswith("{")
    assert "Phase 2 plan, best first" in result.output
    assert "Appointment waitlist" in result.output and "also: Waitlist for appointments" in result.output
    assert "[REDACTED:phone]" in result.output  # printed as text, not taken for a style tag
    assert (
        "2 workspaces" in result.output and "3 requests" in result.output and "1 workspace " in result.output
    )
    # Each component's points: 100 x value x weight (neutral ratings: 0.5 x 0.25 is 12.5 points)
    assert "value 12.5" in result.output and "impact" in result.output
    # The best comes first
    assert result.output.index("Appointment waitlist") < result.output.index("Export follow-ups to PDF")


def test_an_empty_window_says_so(stack):
    result = CliRunner().invoke(
        cli, ["phase2", "--start", "2016-11-01", "--end", "2016-11-02"], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "No feature requests or usability issues in this window." in result.output


@pytest.mark.parametrize(
    "args, option",
    [
        (["--start", "2016-10-10", "--end", "2016-10-01"], "--start"),
        (["--start", "2014-01-01", "--end", "2016-01-01"], "--start"),  # over 366 days
        (["--end", "yesterday"], "--end"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_bad_options_are_usage_errors_naming_the_option(stack, args, option):
    result = CliRunner().invoke(cli, ["phase2", *args, "--json"])
    assert result.exit_code == 2, result.output
    assert option in result.output
