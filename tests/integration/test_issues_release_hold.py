"""What the releases capability relies on in the issues store, on the moto stack: a release holds
fixed issues in its transaction (once), the API then refuses hand moves, the system moves them to
released, and a rolled-back release frees them."""

from __future__ import annotations

import pytest
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.errors import InvalidTransition
from chalicelib.store.issues import (
    IssueItem,
    create_issue,
    drop_release_hold,
    get_issue,
    release_hold_action,
    set_issue_status,
)

ISSUES = "/api/issues"


def hold(settings, release: str, *issue_ids: str) -> None:
    with TransactWrite(connection=IssueItem._get_connection().connection) as tx:
        for issue_id in issue_ids:
            release_hold_action(tx, get_issue(issue_id, settings), release, actor="rel", settings=settings)


def test_a_release_holds_fixed_issues_once_and_frees_them_on_rollback(stack):
    settings = stack.settings()
    api = stack.client("engineer")
    fixed = create_issue("Reminder sent twice", "high", status="fixed", feature_areas=["reminders"])
    other = create_issue("Portal logo blurry", "low", status="fixed", settings=settings)
    assert (fixed.status, fixed.priority, fixed.feature_areas) == ("fixed", "P2", ["reminders"])

    # Given a release that takes both issues in one transaction
    hold(settings, "7.0.1", fixed.id, other.id)
    held = api.get(f"{ISSUES}/{fixed.id}").json()
    assert held["activeRelease"] == "7.0.1" and held["version"] == fixed.version + 1
    assert held["history"][-1] | {"at": None} == {
        "at": None,
        "by": "rel",
        "action": "held",
        "release": "7.0.1",
    }

    # Then a second release cannot take them, and nothing of it is written
    open_one = create_issue("Not fixed yet", "low", settings=settings)
    with pytest.raises(TransactWriteError):
        hold(settings, "7.0.2", other.id)
    with pytest.raises(TransactWriteError):
        hold(settings, "7.0.2", open_one.id)
    assert get_issue(other.id, settings).active_release == "7.0.1"

    # And the API refuses hand moves while the release holds them
    refused = api.patch(f"{ISSUES}/{fixed.id}", json={"status": "in_progress"})
    assert refused.status_code == 409 and "held by release 7.0.1" in refused.json()["error"]["message"]
    assert api.patch(f"{ISSUES}/{fixed.id}", json={"estimateHours": 2}).status_code == 200

    # When the release finishes, the system moves one to released (activeRelease kept)
    released = set_issue_status(fixed.id, "released", actor="release 7.0.1", settings=settings)
    assert released.status == "released" and released.active_release == "7.0.1"
    with pytest.raises(InvalidTransition):
        set_issue_status(fixed.id, "closed", settings=settings)

    # And a rollback frees the other (only from its own release)
    assert drop_release_hold(other.id, "7.0.9", settings=settings) is None
    freed = drop_release_hold(other.id, "7.0.1", actor="rel", reason="rolled back", settings=settings)
    assert freed is not None and freed.active_release is None and freed.status == "fixed"
    assert api.patch(f"{ISSUES}/{other.id}", json={"status": "closed"}).status_code == 200

    # A regression reopens the released issue and frees it for the next release
    reopened = api.patch(f"{ISSUES}/{fixed.id}", json={"status": "open", "reason": "Seen again"}).json()
    assert reopened["status"] == "open" and reopened["activeRelease"] is None
