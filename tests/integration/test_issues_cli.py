"""`bug-fix-manage list` and `issue create|update|show` against the session's moto stack, reading
and writing what the API reads and writes."""

from __future__ import annotations

import json
import uuid

from click.testing import CliRunner

from postlaunch.bugfix import cli
from tests.payloads import SEED_FEEDBACK

ISSUES = "/api/issues"


def run(*args: str, width: int = 200):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, terminal_width=width)


def create(*extra: str) -> dict:
    title = f"Portal login loops {uuid.uuid4().hex[:6]}"
    result = run("issue", "create", "--title", title, "--severity", "high", *extra, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_issue_create_writes_what_the_api_reads(stack, workspace):
    # Given a feedback item submitted over HTTP
    item = stack.client("staff", workspace).post("/api/monitoring/feedback", json=SEED_FEEDBACK).json()
    # When an engineer files an issue for it from the CLI
    issue = create("--feature-area", "patient_portal", "--estimate", "2.5", "--feedback", item["id"])
    # Then the API shows the same issue, linked both ways, with the CLI user as its author
    api = stack.client("engineer")
    assert api.get(f"{ISSUES}/{issue['id']}").json() == issue
    assert issue["createdBy"].startswith("cli:") and issue["estimateHours"] == 2.5
    assert issue["featureAreas"] == ["patient_portal"] and issue["feedbackIds"] == [item["id"]]
    assert api.get(f"/api/monitoring/feedback/{item['id']}").json()["issueId"] == issue["id"]


def test_issue_update_moves_it_and_refuses_what_the_api_refuses():
    issue = create()
    moved = run("issue", "update", issue["id"], "--status", "triaged", "--reason", "Seen twice", "--json")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.output)["status"] == "triaged"

    # A skipped step: exit 1 and the reason, nothing written
    skipped = run("issue", "update", issue["id"], "--status", "fixed")
    assert skipped.exit_code == 1 and "cannot move from triaged to fixed" in skipped.output
    # assigned without an assignee: a usage error naming the option
    unassigned = run("issue", "update", issue["id"], "--status", "assigned")
    assert unassigned.exit_code == 2 and "--assignee" in unassigned.output
    # a stale version
    stale = run("issue", "update", issue["id"], "--assignee", "eng-x", "--if-match", "1")
    assert stale.exit_code == 1 and "not 1" in stale.output

    done = run("issue", "update", issue["id"].lower(), "--status", "assigned", "--assignee", "eng-x",
               "--priority", "P1", "--json")  # fmt: skip
    assert done.exit_code == 0, done.output
    body = json.loads(done.output)
    assert (body["status"], body["assignee"], body["priority"], body["prioritySource"]) == (
        "assigned", "eng-x", "P1", "explicit",
    )  # fmt: skip
    back = json.loads(run("issue", "update", issue["id"], "--priority", "derived", "--json").output)
    assert back["priority"] == "P2" and back["prioritySource"] == "derived"


def test_list_filters_and_json_for_machines():
    issue = create("--feature-area", "follow_ups")
    run("issue", "update", issue["id"], "--status", "wont_fix", "--reason", "Duplicate of another")

    result = run("list", "--status", "wont_fix", "--feature-area", "follow_ups", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)  # JSON only on stdout
    assert issue["id"] in {i["id"] for i in data["items"]}
    assert {i["status"] for i in data["items"]} == {"wont_fix"}
    assert all("follow_ups" in i["featureAreas"] for i in data["items"])


def test_tables_for_people():
    issue = create("--feature-area", "reminders", "--description", "Call Mrs. Jones at 415-555-0132.")
    listed = run("list", "--severity", "high", "--limit", "500")
    shown = run("issue", "show", issue["id"])

    assert (
        listed.exit_code == 0 and issue["id"] in listed.output and "filters: severity=high" in listed.output
    )
    assert shown.exit_code == 0 and "History" in shown.output and "created" in shown.output
    assert "415-555-0132" not in shown.output and "[REDACTED:phone]" in shown.output
    assert not shown.output.lstrip().startswith("{")
    missing = run("issue", "show", "BUG-999999999")
    assert missing.exit_code == 1 and "does not exist" in missing.output
