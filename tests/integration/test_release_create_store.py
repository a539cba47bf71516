"""The releases store on the moto stack: what the transaction re-checks when two writers race past
the service's checks, revision-guarded updates with list appends, and the per-target rollout lock."""

from __future__ import annotations

import uuid

import pytest

from chalicelib.errors import Conflict, RolloutLocked
from chalicelib.releases.model import new_record
from chalicelib.store import issues as issue_store
from chalicelib.store import releases as store
from tests.release_helpers import fixed_issue, fresh_version

NOW = "2026-11-27T07:00:00.000000Z"


def record(version: str, *issues: str) -> dict:
    return new_record(version, list(issues), [], [], actor="test", now=NOW)


def test_the_transaction_refuses_what_a_concurrent_writer_took_and_writes_nothing_of_it(stack):
    # Given a release stored, holding an issue, and the version order it set
    held, free = fixed_issue(), fixed_issue()
    first = fresh_version()
    store.create_release(record(first, held))
    assert issue_store.get_issue(held).active_release == first

    # When another writer that checked before these writes tries the same version, a lower one,
    # or the held issue beside a free one
    with pytest.raises(Conflict, match=f"Release {first} is not greater than {first}"):
        store.create_release(record(first, free))
    with pytest.raises(Conflict, match=f"already in release {first}"):
        store.create_release(record(fresh_version(), free, held))

    # Then nothing of the refused releases was written: the free issue is still free
    assert issue_store.get_issue(free).active_release is None
    assert store.max_version() == first


def test_updates_are_guarded_by_the_revision_and_append_to_lists(stack):
    version = fresh_version()
    store.create_release(record(version, fixed_issue()))
    gate = {"environment": "staging", "percent": 100, "verdict": "pass", "inputs": {"rate": 0.25, "n": None}}
    entry = {
        "at": NOW,
        "actor": "worker",
        "action": "gate",
        "from": "deploying",
        "to": "deploying",
        "reason": None,
    }

    updated = store.update_release(
        version,
        1,
        {
            "status": "deploying",
            "gates+": [gate],
            "environments.staging": {"state": "deploying", "step": 100},
        },
        history=[entry],
    )

    assert (updated["revision"], updated["status"], updated["gates"]) == (2, "deploying", [gate])
    assert updated["environments"]["staging"] == {"state": "deploying", "step": 100}
    assert updated["environments"]["production"]["state"] == "pending"
    assert [h["action"] for h in updated["history"]] == ["create", "gate"]
    with pytest.raises(Conflict, match="changed since it was read"):
        store.update_release(version, 1, {"status": "paused"})
    assert store.get_release(version)["status"] == "deploying"


def test_one_rollout_per_target_and_the_refusal_names_the_holder(stack):
    function = f"locked-{uuid.uuid4().hex[:8]}"
    holder = {"release": "1.0.2", "environment": "production", "executionArn": "arn:exec:1", "since": NOW}
    store.acquire_lock(function, holder)
    store.acquire_lock(function, holder)  # the same execution retrying: still its lock

    with pytest.raises(RolloutLocked) as refused:
        store.acquire_lock(function, {**holder, "release": "1.0.3", "executionArn": "arn:exec:2"})
    assert refused.value.message.startswith(f"Release 1.0.2 is rolling out of {function} in production")
    assert "arn:exec:1" in refused.value.message

    store.release_lock(function, "arn:exec:2")  # not the holder: nothing happens
    assert store.read_lock(function)["executionArn"] == "arn:exec:1"
    store.release_lock(function, "arn:exec:1")
    assert store.read_lock(function) is None
