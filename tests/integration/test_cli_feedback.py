"""The CLI against the session's moto stack: dev tokens the API accepts, and `feedback` reading what
was submitted over HTTP through the same service logic."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from postlaunch.awsenv import template_variables
from postlaunch.cli import cli

BIN = Path(sys.executable).parent


def payload(n: int, **over) -> dict:
    body = {
        "category": "bug_report",
        "severity": "medium",
        "title": f"CLI test item number {n}",
        "description": "Something did not work as the pharmacist expected it to.",
        "featureArea": "reminders",
        "satisfactionRating": 3,
    }
    body.update(over)
    return body


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_dev_token_from_the_cli_is_accepted_by_the_api(stack, workspace):
    token = run("dev-token", "--role", "staff", "--workspace", workspace, "--sub", "u-cli").output.strip()
    api = stack.client()
    api.session.headers["Authorization"] = f"Bearer {token}"

    who = api.get("/api/monitoring/whoami")
    created = api.post("/api/monitoring/feedback", json=payload(1))

    assert who.status_code == 200 and who.json()["workspaceId"] == workspace
    assert who.json()["sub"] == "u-cli" and who.json()["roles"] == ["staff"]
    assert created.status_code == 201, created.text
    assert created.json()["userId"] == "u-cli"


def test_feedback_json_reads_what_was_submitted_over_http(stack, workspace):
    api = stack.client("staff", workspace)
    ids = []
    for n, (category, severity) in enumerate(
        [("bug_report", "high"), ("usability_issue", "low"), ("bug_report", "medium")]
    ):
        response = api.post("/api/monitoring/feedback", json=payload(n, category=category, severity=severity))
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])

    result = run("feedback", "--workspace", workspace, "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)  # JSON only on stdout
    summary = data["summary"]
    assert summary["total"] == 3
    assert summary["byCategory"]["bug_report"] == 2 and summary["byCategory"]["usability_issue"] == 1
    assert summary["bySeverity"]["high"] == 1 and summary["openHigh"] == 1
    assert summary["ratings"]["satisfaction"] == {"average": 3.0, "count": 3}
    assert [item["id"] for item in data["items"]] == ids[::-1]  # newest first
    # The same figures the API gives.
    http = stack.client("engineer").get(f"/api/monitoring/feedback/summary?workspaceId={workspace}").json()
    assert {k: http[k] for k in ("total", "byCategory", "bySeverity", "ratings")} == {
        k: summary[k] for k in ("total", "byCategory", "bySeverity", "ratings")
    }


def test_feedback_filters_narrow_the_summary_and_the_items(stack, workspace):
    api = stack.client("staff", workspace)
    for n, category in enumerate(["bug_report", "feature_request", "feature_request"]):
        assert api.post("/api/monitoring/feedback", json=payload(n, category=category)).status_code == 201

    data = json.loads(
        run("feedback", "--workspace", workspace, "--category", "feature_request", "--json").output
    )

    assert data["summary"]["total"] == 2
    assert {item["category"] for item in data["items"]} == {"feature_request"}
    assert data["summary"]["filters"] == {"category": "feature_request"}


def test_feedback_tables_for_humans(stack, workspace):
    api = stack.client("staff", workspace)
    assert (
        api.post("/api/monitoring/feedback", json=payload(7, title="Reminder text is cut off")).status_code
        == 201
    )

    result = CliRunner().invoke(cli, ["feedback", "--workspace", workspace], terminal_width=160)

    assert result.exit_code == 0, result.output
    assert "Feedback summary" in result.output and "Reminder text is cut off" in result.output
    assert not result.output.lstrip().startswith("{")


def test_feedback_tables_say_when_the_summary_read_only_part_of_the_window(stack, workspace, monkeypatch):
    from chalicelib.config import reset_settings

    # Given three items and a summary allowed to read two
    api = stack.client("staff", workspace)
    for n in range(3):
        assert api.post("/api/monitoring/feedback", json=payload(n)).status_code == 201
    monkeypatch.setenv("SUMMARY_MAX_ITEMS_READ", "2")
    reset_settings()
    try:
        result = CliRunner().invoke(cli, ["feedback", "--workspace", workspace], terminal_width=200)
    finally:
        monkeypatch.delenv("SUMMARY_MAX_ITEMS_READ")
        reset_settings()

    # Then the table says the figures cover only part of the window
    assert result.exit_code == 0, result.output
    words = " ".join(word for word in result.output.split() if word != "│")  # the table wraps the cell
    assert "read ceiling reached: figures cover items from" in words
    assert re.search(r"│ items\s+│ 1\s", result.output)  # two read; the older one is at the boundary


@pytest.mark.parametrize(
    "args, option",
    [
        (["--severity", "urgent"], "--severity"),
        (["--category", "complaint"], "--category"),
        (["--feature-area", "billing"], "--feature-area"),
        (["--start-date", "2025-13-01"], "--start-date"),
        (["--end-date", "yesterday"], "--end-date"),
        (["--start-date", "2025-10-10", "--end-date", "2025-10-01"], "--start-date"),
        (["--start-date", "2020-01-01", "--end-date", "2025-01-01"], "--start-date"),  # > 366 days
        (["--limit", "0"], "--limit"),
    ],
)
def test_bad_option_values_are_usage_errors_naming_the_option(stack, args, option):
    result = CliRunner().invoke(cli, ["feedback", *args, "--json"])

    assert result.exit_code == 2, result.output
    assert option in result.output


def test_console_script_finds_tables_from_the_stack_and_prints_json_only(stack, workspace):
    """As a user's terminal would run it after `make run`'s exports: no table variables, only the
    endpoint, credentials and PLM_STACK; the tables are resolved from the CloudFormation stack."""
    api = stack.client("staff", workspace)
    assert api.post("/api/monitoring/feedback", json=payload(1)).status_code == 201
    env = {k: v for k, v in os.environ.items() if k not in template_variables()}
    env["PLM_STACK"] = "post-launch-monitor-local"

    done = subprocess.run(
        [str(BIN / "post-launch-monitor"), "feedback", "--workspace", workspace, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["total"] == 1


def test_an_unknown_stack_is_a_clear_error(stack):
    env = {k: v for k, v in os.environ.items() if k not in template_variables()}
    env["PLM_STACK"] = "no-such-stack"

    done = subprocess.run(
        [str(BIN / "post-launch-monitor"), "feedback", "--json"], env=env, capture_output=True, text=True
    )

    assert done.returncode == 1
    assert "no-such-stack" in done.stderr and "make run" in done.stderr and done.stdout == ""
