"""Issue lifecycle and priority: which moves are allowed, what each change writes. Pure logic.

    open -> triaged -> assigned -> in_progress -> fixed -> released -> verified -> closed
    wont_fix from open, triaged, assigned, in_progress; closed from open, triaged (a duplicate, not
    a problem), fixed (the fix shipped some other way), verified, wont_fix.
    step back: assigned -> triaged (unassigned), in_progress -> assigned (paused),
               fixed -> in_progress (the fix did not hold, before any release took it)
    reopen (-> open): released, verified (a regression), wont_fix, closed

- `released` is reached only through a release, and `released -> fixed` (a release rolled back
  after it finished) likewise: RELEASE_ONLY. The API and the CLI refuse them by hand (409).
- While a release holds the issue (`activeRelease`) and the issue is `fixed`, no status change by
  hand: the release decides. Reopening a released or verified issue drops `activeRelease`, so the
  next fix can go into a new release.
- `assigned` and `in_progress` need an assignee (given in the same change or already there).
- openSeverity (the sparse openBySeverity index key the health rules read) exists exactly while the
  status is open: open, triaged, assigned, in_progress.
- Items written before this lifecycle may say `resolved`: read as `fixed` (LEGACY_STATUSES).
- History keeps the newest `history_max` entries (Settings.issue_history_max); older ones are
  counted in historyDropped, as feedback does.

Priority (P1 most urgent .. P4) is derived from severity and reach unless set explicitly:
    base: critical P1, high P2, medium P3, low P4
    reach = linked feedback items and the distinct workspaces they came from
    one level up when reach is wide (>= 3 workspaces or >= 5 feedback items),
    two levels up when it is very wide (>= 10 workspaces or >= 20 feedback items); never above P1.
An explicit priority (`prioritySource: explicit`) stays until it is cleared (priority: null), which
returns the issue to the derived one; a derived priority follows every severity or reach change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import FieldError, InvalidTransition, ValidationFailed

STATUSES = (
    "open",
    "triaged",
    "assigned",
    "in_progress",
    "fixed",
    "released",
    "verified",
    "wont_fix",
    "closed",
)
OPEN_STATUSES = frozenset({"open", "triaged", "assigned", "in_progress"})
NEEDS_ASSIGNEE = frozenset({"assigned", "in_progress"})
LEGACY_STATUSES = {"resolved": "fixed"}
SEVERITIES = ("critical", "high", "medium", "low")
PRIORITIES = ("P1", "P2", "P3", "P4")
REOPEN_STATUS = "open"

TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"triaged", "wont_fix", "closed"}),
    "triaged": frozenset({"assigned", "wont_fix", "closed"}),
    "assigned": frozenset({"in_progress", "triaged", "wont_fix"}),
    "in_progress": frozenset({"fixed", "assigned", "wont_fix"}),
    "fixed": frozenset({"released", "in_progress", "closed"}),
    "released": frozenset({"verified", "fixed", REOPEN_STATUS}),
    "verified": frozenset({"closed", REOPEN_STATUS}),
    "wont_fix": frozenset({"closed", REOPEN_STATUS}),
    "closed": frozenset({REOPEN_STATUS}),
}
RELEASE_ONLY = frozenset({("fixed", "released"), ("released", "fixed")})

# Reach thresholds: (workspaces, feedback items) at or above which priority rises one, two levels.
WIDE_REACH = (3, 5)
VERY_WIDE_REACH = (10, 20)
SYSTEM_ACTOR = "system"


def current_status(stored: str) -> str:
    return LEGACY_STATUSES.get(stored, stored)


def is_open(status: str) -> bool:
    return current_status(status) in OPEN_STATUSES


def derived_priority(severity: str, feedback_count: int = 0, workspace_count: int = 0) -> str:
    level = SEVERITIES.index(severity)
    if workspace_count >= VERY_WIDE_REACH[0] or feedback_count >= VERY_WIDE_REACH[1]:
        level -= 2
    elif workspace_count >= WIDE_REACH[0] or feedback_count >= WIDE_REACH[1]:
        level -= 1
    return PRIORITIES[max(0, level)]


def check_transition(record: dict[str, Any], target: str, *, by_release: bool = False) -> None:
    """InvalidTransition (409) with the reason when `record` may not move to `target`."""
    issue_id, current = record["id"], current_status(record["status"])
    allowed = TRANSITIONS.get(current, frozenset())
    by_hand = sorted(s for s in allowed if (current, s) not in RELEASE_ONLY)
    details = {"from": current, "to": target, "allowed": by_hand}
    if target not in allowed:
        names = ", ".join(by_hand) or "none"
        raise InvalidTransition(
            f"Issue {issue_id} cannot move from {current} to {target}; from {current} it can go to: {names}.",
            details=details,
        )
    if (current, target) in RELEASE_ONLY and not by_release:
        raise InvalidTransition(
            f"Issue {issue_id} moves from {current} to {target} only through a release "
            "(bug-fix-manage create/deploy/rollback), not by hand.",
            details=details,
        )
    held = record.get("activeRelease")
    if held and current == "fixed" and not by_release:
        raise InvalidTransition(
            f"Issue {issue_id} is held by release {held}; its status changes through that release "
            "(let it finish or roll it back) until it is released.",
            details={**details, "activeRelease": held},
        )


@dataclass
class Change:
    """Attributes to set and to remove in one conditional update."""

    set: dict[str, Any] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.set or self.remove)


def history_entry(
    *, at: str, by: str, action: str, reason: str | None = None, **extra: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": at, "by": by, "action": action}
    if reason is not None:
        entry["reason"] = reason
    entry.update({k: v for k, v in extra.items() if v is not None})
    return entry


def with_history(record: dict[str, Any], entry: dict[str, Any], history_max: int, change: Change) -> None:
    history = [*(record.get("history") or []), entry]
    dropped = max(0, len(history) - history_max)
    change.set["history"] = history[dropped:]
    if dropped:
        change.set["historyDropped"] = int(record.get("historyDropped") or 0) + dropped


# Fields whose old and new values the history records; long texts are named only.
_VALUE_FIELDS = ("severity", "priority", "featureAreas", "assignee", "estimateHours")
_TEXT_FIELDS = ("title", "description")
_NULLABLE = ("assignee", "estimateHours", "priority")


def plan_update(
    record: dict[str, Any],
    given: dict[str, Any],
    *,
    actor: str,
    now: str,
    history_max: int,
    reason: str | None = None,
    by_release: bool = False,
) -> Change:
    """What a change writes, or an error saying why it may not. `given` holds the wire names of the
    fields the caller sent (None = clear, for assignee, estimateHours and priority). A value equal
    to the current one is no change, so a retried PATCH is harmless."""
    change = Change()
    current = current_status(record["status"])
    target = given.get("status")
    if target is not None and target == current:
        target = None
    if target is None and reason is not None:
        raise ValidationFailed([FieldError("reason", "A reason goes with a status change.")])
    if target is not None:
        # First: a move the lifecycle refuses is the answer, whatever else the request holds.
        check_transition(record, target, by_release=by_release)

    changed: dict[str, dict[str, Any]] = {}
    for name in (*_TEXT_FIELDS, *_VALUE_FIELDS):
        if name not in given or name == "priority":
            continue
        value = given[name]
        if value == record.get(name):
            continue
        if value is None:
            change.remove.append(name)
        else:
            change.set[name] = value
        changed[name] = {} if name in _TEXT_FIELDS else {"from": record.get(name), "to": value}

    assignee = given["assignee"] if "assignee" in given else record.get("assignee")
    status_after = target or current
    if status_after in NEEDS_ASSIGNEE and not assignee:
        raise ValidationFailed(
            [FieldError("assignee", f"An issue that is {status_after} needs an assignee.")]
        )

    # Priority: an explicit value pins it; null returns to the derived one; otherwise a derived
    # priority follows severity (reach changes go through linking).
    severity = given.get("severity") or record["severity"]
    explicit = record.get("prioritySource") == "explicit"
    if "priority" in given:
        explicit = given["priority"] is not None
        if explicit != (record.get("prioritySource") == "explicit"):
            source = "explicit" if explicit else "derived"
            change.set["prioritySource"] = source
            changed["prioritySource"] = {"from": record.get("prioritySource"), "to": source}
    reach = record.get("reach") or {}
    priority = (
        given["priority"]
        if explicit and given.get("priority") is not None
        else (record.get("priority") if explicit else None)
    )
    if priority is None:
        priority = derived_priority(severity, reach.get("feedback", 0), reach.get("workspaces", 0))
    if priority != record.get("priority"):
        change.set["priority"] = priority
        changed["priority"] = {"from": record.get("priority"), "to": priority}

    if target is not None:
        change.set["status"] = target
        if is_open(target):
            change.set["openSeverity"] = severity
        elif is_open(current):
            change.remove.append("openSeverity")
        if target == REOPEN_STATUS and record.get("activeRelease") and current in ("released", "verified"):
            change.remove.append("activeRelease")
    elif "severity" in changed and is_open(current):
        change.set["openSeverity"] = severity

    if target is None and not changed:
        return Change()
    entry = history_entry(
        at=now,
        by=actor,
        action="status" if target is not None else "update",
        reason=reason,
        **({"from": current, "to": target} if target is not None else {}),
        **({"changes": changed} if changed else {}),
    )
    with_history(record, entry, history_max, change)
    change.set["updatedAt"] = now
    return change
