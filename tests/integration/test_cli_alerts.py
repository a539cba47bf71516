"""`post-launch-monitor alerts` and `silence` against the session's moto stack, on alerts fired through
the engine and read back over HTTP."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from chalicelib.alerts import engine
from chalicelib.alerts.model import Condition
from postlaunch.cli import cli

ALERTS = "/api/monitoring/alerts"


@pytest.fixture
def rule() -> str:
    return f"TestRule{uuid.uuid4().hex[:10]}"


def fire(stack, rule: str, severity: str = "warning", **labels) -> dict:
    alert, _ = engine.fire(
        Condition(rule=rule, severity=severity, summary=f"{rule} breaching", labels=labels),
        settings=stack.settings(),
    )
    return alert


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, terminal_width=200)


def critical_firing(stack) -> list[dict]:
    return stack.client("engineer").get(f"{ALERTS}?state=firing&severity=critical&limit=100").json()["items"]


def resolve_all_critical(stack) -> None:
    """Other tests of the session may leave critical alerts firing; the exit code is about all of them."""
    api = stack.client("engineer")
    for _ in range(20):
        items = critical_firing(stack)
        if not items:
            return
        for alert in items:
            api.post(f"{ALERTS}/{alert['id']}/resolve", json={"reason": "test cleanup"})


def test_alerts_json_lists_and_exit_code_follows_critical_firing(stack, rule):
    # Given no critical alert firing and one warning alert
    resolve_all_critical(stack)
    warning = fire(stack, rule, "warning")

    calm = run("alerts", "--rule", rule, "--json")

    # Then it is listed and the exit code is 0
    assert calm.exit_code == 0, calm.output
    data = json.loads(calm.output)
    assert [a["id"] for a in data["items"]] == [warning["id"]] and data["criticalFiring"] is False

    # When a critical alert fires, the exit code is 1 (whatever the filters shown)
    critical = fire(stack, rule, "critical", route="/x")
    assert run("alerts", "--rule", rule, "--severity", "warning", "--json").exit_code == 1

    # And back to 0 once it is acknowledged (no longer firing) through the CLI
    acked = run("alerts", "ack", critical["id"], "--json")
    assert acked.exit_code == 0, acked.output
    assert json.loads(acked.output)["state"] == "acknowledged"
    assert run("alerts", "--rule", rule, "--json").exit_code == 0


def test_exit_code_sees_a_critical_alert_behind_newer_ones_of_other_severities(stack, rule):
    # Given a critical alert firing and, newer than it, more warnings than one page of the firing state
    # (in CI another test had left an alert with a later firstSeen, and the check read one item)
    resolve_all_critical(stack)
    critical = fire(stack, rule, "critical", route="/older")
    later = datetime.now(UTC) + timedelta(days=3650)
    newer = [
        engine.fire(
            Condition(rule=rule, severity="warning", summary="newer", labels={"n": str(n)}),
            now=later + timedelta(minutes=n),
            settings=stack.settings(),
        )[0]
        for n in range(3)
    ]

    # Then the exit code still follows the critical one
    assert run("alerts", "--rule", rule, "--severity", "warning", "--json").exit_code == 1
    assert json.loads(run("alerts", "--rule", rule, "--json").output)["criticalFiring"] is True

    # And back to 0 once it is resolved (the future-dated warnings go too, so no later test sees them)
    api = stack.client("engineer")
    for alert in [critical, *newer]:
        assert api.post(f"{ALERTS}/{alert['id']}/resolve", json={"reason": "test cleanup"}).status_code == 200
    assert run("alerts", "--rule", rule, "--json").exit_code == 0


def test_alerts_table_for_humans(stack, rule):
    fire(stack, rule, "error", route="/api/monitoring/feedback")

    result = run("alerts", "--rule", rule)

    assert rule in result.output and "error" in result.output
    assert not result.output.lstrip().startswith("{")


def test_alerts_resolve_needs_a_reason_and_records_it(stack, rule):
    alert = fire(stack, rule)

    missing = CliRunner().invoke(cli, ["alerts", "resolve", alert["id"]])
    done = run("alerts", "resolve", alert["id"], "--reason", "Fixed by config change", "--json")

    assert missing.exit_code == 2 and "--reason" in missing.output
    assert done.exit_code == 0, done.output
    http = stack.client("engineer").get(f"{ALERTS}/{alert['id']}").json()
    assert http["state"] == "resolved" and http["resolution"] == "Fixed by config change"
    assert http["resolvedBy"].startswith("cli:")


def test_alerts_ack_of_an_unknown_alert_fails(stack):
    result = CliRunner().invoke(cli, ["alerts", "ack", str(uuid.uuid4())])
    assert result.exit_code == 1 and "alert" in result.output.lower()


def test_silence_create_list_expire(stack, rule):
    until = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = run(
        "silence", "create", "--rule", rule, "--severity", "warning", "--label", "route=/a",
        "--until", until, "--comment", "Planned maintenance", "--json",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    record = json.loads(created.output)
    assert record["matchers"] == [
        {"name": "rule", "value": rule},
        {"name": "severity", "value": "warning"},
        {"name": "label:route", "value": "/a"},
    ]

    listed = json.loads(run("silence", "list", "--json").output)
    assert record["id"] in [s["id"] for s in listed["items"]]
    # The same silence over HTTP
    http = stack.client("engineer").get("/api/monitoring/silences").json()["items"]
    assert record["id"] in [s["id"] for s in http]

    expired = run("silence", "expire", record["id"], "--json")
    assert expired.exit_code == 0 and json.loads(expired.output)["state"] == "expired"
    assert record["id"] not in [s["id"] for s in json.loads(run("silence", "list", "--json").output)["items"]]


def test_silence_until_resolved_from_the_cli(stack, rule):
    alert = fire(stack, rule, "error")

    created = run(
        "silence", "create", "--rule", rule, "--until-resolved", alert["id"], "--comment", "Known", "--json"
    )

    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["alertId"] == alert["id"]


@pytest.mark.parametrize(
    "args, hint",
    [
        (["--comment", "c"], "--until"),
        (["--comment", "c", "--until", "2001-01-01T00:00:00Z"], "--until"),
        (["--comment", "c", "--until", "soon"], "--until"),
        (["--comment", "c", "--until", "2099-01-01", "--label", "route"], "--label"),
    ],
)
def test_silence_create_refuses_bad_options(stack, rule, args, hint):
    result = CliRunner().invoke(cli, ["silence", "create", "--rule", rule, *args])
    assert result.exit_code == 2, result.output
    assert hint in result.output


def test_subcommands_stay_under_their_groups():
    assert "ack" not in cli.commands and "expire" not in cli.commands
    assert {"alerts", "silence"} <= set(cli.commands)
