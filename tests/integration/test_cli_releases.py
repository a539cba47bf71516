"""`bug-fix-manage create|status|restore` against the session's moto stack, reading and writing what
the API reads and writes (the rollout commands: test_cli_releases_rollout.py)."""

from __future__ import annotations

import json
import uuid

from click.testing import CliRunner

from postlaunch.bugfix import cli
from tests.release_helpers import (
    fixed_issue,
    fresh_version,
    make_target,
    new_build,
    publish_build,
    table_items,
    versions,
)

RELEASES = "/api/releases"


def run(*args: str, width: int = 200):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, terminal_width=width)


def test_create_plans_the_release_the_api_then_shows(stack):
    # Given a fixed issue and a target with a new build published as version 2
    target, issue = make_target(stack), fixed_issue("reminders")
    new = publish_build(stack, target)
    version = fresh_version()

    # When an engineer creates the release from the CLI
    result = run("create", version, issue.lower(), "--function-version", new, "--target", target, "--json")

    # Then it is planned, by the CLI user, and the API shows the same record
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert (record["status"], record["issues"], record["createdBy"][:4]) == ("planned", [issue], "cli:")
    assert stack.client("engineer").get(f"{RELEASES}/{version}").json() == record
    # and the human output names the plan
    shown = run("status", version)
    assert shown.exit_code == 0, shown.output
    assert f"Release {version}  planned" in shown.output and target in shown.output
    assert "Aliases now (Lambda)" in shown.output and "History" in shown.output
    listed = run("status", "--json")
    assert version in [r["version"] for r in json.loads(listed.output)["releases"]]


def test_create_dry_run_prints_the_plan_and_writes_nothing(stack):
    # Given a new build on $LATEST, and the counts of what a release writes
    target, issue = make_target(stack), fixed_issue()
    new_build(stack, target)
    counts = [table_items(stack, stack.env[t]) for t in ("RELEASES_TABLE", "ISSUES_TABLE")]
    published = versions(stack, target)
    version = fresh_version()

    # When a publishing release is dry-run
    result = run("create", version, issue, "--publish", "--target", target, "--dry-run")

    # Then the plan is printed, with what would be published
    assert result.exit_code == 0, result.output
    assert f"Dry run: release {version} would be created (nothing was written)" in result.output
    assert f"would publish $LATEST of {target} (code sha256 " in result.output
    # and nothing was written or published
    assert [table_items(stack, stack.env[t]) for t in ("RELEASES_TABLE", "ISSUES_TABLE")] == counts
    assert versions(stack, target) == published
    assert run("status", version).exit_code == 1


def test_create_refuses_what_the_api_refuses(stack):
    target = make_target(stack)
    issue = fixed_issue()

    # A version that is not semantic: a usage error naming the argument
    bad = run("create", "1.0", issue, "--function-version", "2", "--target", target)
    assert bad.exit_code == 2 and "VERSION" in bad.output and "not a semantic version" in bad.output
    # $LATEST unchanged since version 1: exit 1 with the reason, nothing published
    unchanged = run("create", fresh_version(), issue, "--publish", "--target", target)
    assert unchanged.exit_code == 1, unchanged.output
    assert "$LATEST has not changed since version 1" in unchanged.output
    assert versions(stack, target) == ["$LATEST", "1"]
    # An issue that is not fixed
    open_issue = (
        stack.client("engineer")
        .post("/api/issues", json={"title": "Not yet fixed", "severity": "low"})
        .json()
    )
    new = publish_build(stack, target)
    unfixed = run("create", fresh_version(), open_issue["id"], "--function-version", new, "--target", target)
    assert unfixed.exit_code == 1 and f"Issue {open_issue['id']} is open" in unfixed.output
    # An issue already in an active release
    first = fresh_version()
    assert run("create", first, issue, "--function-version", new, "--target", target).exit_code == 0
    twice = run("create", fresh_version(), issue, "--function-version", new, "--target", target)
    assert twice.exit_code == 1 and f"already in release {first}" in twice.output
    # A duplicate version, and a lower one
    again = run("create", first, fixed_issue(), "--function-version", new, "--target", target)
    assert again.exit_code == 1 and f"Release {first} already exists." in again.output
    lower = run("create", "0.0.1", fixed_issue(), "--function-version", new, "--target", target)
    assert lower.exit_code == 1 and f"is not greater than {first}" in lower.output
    # Neither --function-version nor --publish
    neither = run("create", fresh_version(), fixed_issue(), "--target", target)
    assert neither.exit_code == 2 and "--function-version" in neither.output


def test_restore_puts_a_release_backup_into_a_new_table_never_over_one(stack):
    from chalicelib.store import releases as release_store

    # Given a release whose production rollout backed up the issues table (as the state machine
    # records it: a real on-demand backup, recorded on the release)
    target, issue = make_target(stack), fixed_issue()
    version = fresh_version()
    created = run(
        "create", version, issue, "--function-version", publish_build(stack, target), "--target", target
    )
    assert created.exit_code == 0, created.output
    table = stack.env["ISSUES_TABLE"]
    ddb = stack.aws_client("dynamodb")
    backup = ddb.create_backup(TableName=table, BackupName=f"{version}-issues")["BackupDetails"]
    record = release_store.get_release(version)
    entry = {
        "table": table,
        "backupArn": backup["BackupArn"],
        "backupName": backup["BackupName"],
        "at": "now",
    }
    release_store.update_release(version, record["revision"], {"backups+": [entry]})
    items = table_items(stack, table)

    # When it is restored into a new table
    into = f"restored-issues-{uuid.uuid4().hex[:8]}"
    result = run("restore", version, "--table", table, "--into", into, "--json")

    # Then the new table holds the backup's items, and the live table is untouched
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["table"] == into and answer["backupArn"] == backup["BackupArn"]
    assert table_items(stack, into) >= 1 and table_items(stack, table) == items
    # A restore over an existing table (the live one, or the one just made) is refused
    for existing in (into, stack.env["FEEDBACK_TABLE"]):
        over = run("restore", version, "--table", table, "--into", existing)
        assert over.exit_code == 1 and f"Table {existing} exists" in over.output, over.output
    # A table the release did not back up names the ones it did
    other = run(
        "restore", version, "--table", stack.env["ALERTS_TABLE"], "--into", f"x-{uuid.uuid4().hex[:6]}"
    )
    assert other.exit_code == 2 and "--table" in other.output and table in other.output
