"""Feedback lifecycle: which status changes are allowed and what each one writes. Pure logic.

    new -> acknowledged -> in_progress -> resolved -> closed
                      \\________________/
    reopen: resolved | closed -> acknowledged

- acknowledged may go straight to resolved (a duplicate, or a fix already shipped).
- Reopening lands in `acknowledged`: the item is known and needs work again, but nobody is on it
  until someone moves it to in_progress. Reopen clears resolvedAt and the resolution (the history
  entry of the earlier resolve keeps its text).
- Resolving needs resolution text. resolvedAt is set on resolve and kept through close.
- openSeverity (the sparse openBySeverity index key) exists exactly while the status is open.
- A critical bug report starts acknowledged by "system" and is flagged for the alerts topic.
- The item keeps the newest `history_max` history entries (Settings.feedback_history_max) and counts
  the older ones it dropped in historyDropped, so no number of resolve/reopen cycles can grow it
  past DynamoDB's 400 KB item limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import FieldError, InvalidTransition, ValidationFailed

OPEN_STATUSES = frozenset({"new", "acknowledged", "in_progress"})
DONE_STATUSES = frozenset({"resolved", "closed"})
REOPEN_STATUS = "acknowledged"

TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"acknowledged"}),
    "acknowledged": frozenset({"in_progress", "resolved"}),
    "in_progress": frozenset({"resolved"}),
    "resolved": frozenset({"closed", REOPEN_STATUS}),
    "closed": frozenset({REOPEN_STATUS}),
}

SYSTEM_ACTOR = "system"
NOTIFY_PENDING = "pending"


def is_open(status: str) -> bool:
    return status in OPEN_STATUSES


def alerts_on_submit(category: str, severity: str) -> bool:
    """Critical bug reports page someone: they are acknowledged and published at once."""
    return category == "bug_report" and severity == "critical"


def initial_state(category: str, severity: str, created_at: str) -> dict[str, Any]:
    """Lifecycle fields of a new item."""
    if alerts_on_submit(category, severity):
        return {
            "status": "acknowledged",
            "acknowledgedAt": created_at,
            "history": [
                {
                    "from": "new",
                    "to": "acknowledged",
                    "at": created_at,
                    "by": SYSTEM_ACTOR,
                    "reason": "Critical bug report: acknowledged automatically and sent to the alerts topic.",
                }
            ],
            "openSeverity": severity,
            "notifyPending": NOTIFY_PENDING,
        }
    return {"status": "new", "history": [], "openSeverity": severity}


@dataclass
class Change:
    """Attributes to set and to remove in one conditional update."""

    set: dict[str, Any] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.set or self.remove)


def plan_update(
    record: dict[str, Any],
    *,
    actor: str,
    now: str,
    status: str | None = None,
    resolution: str | None = None,
    reason: str | None = None,
    assignee: str | None = None,
    assignee_given: bool = False,
    history_max: int,
) -> Change:
    """What a PATCH writes, or an error saying why it may not. A status equal to the current one is
    not a transition (so a retried PATCH is harmless)."""
    current = record["status"]
    change = Change()
    target = status if status and status != current else None

    if target is not None:
        allowed = TRANSITIONS.get(current, frozenset())
        if target not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            raise InvalidTransition(
                f"Feedback cannot move from {current} to {target}; from {current} it can go to: {names}.",
                details={"from": current, "to": target, "allowed": sorted(allowed)},
            )
        if target == "resolved" and not resolution:
            raise ValidationFailed(
                [FieldError("resolution", "Resolving needs a resolution: say what was done.")]
            )
        if resolution is not None and target != "resolved":
            raise ValidationFailed(
                [FieldError("resolution", f"A resolution goes with status resolved, not {target}.")]
            )
        entry = {
            "from": current,
            "to": target,
            "at": now,
            "by": actor,
            "reason": reason or (resolution if target == "resolved" else None),
        }
        history = [*(record.get("history") or []), entry]
        dropped = max(0, len(history) - history_max)
        change.set["history"] = history[dropped:]
        if dropped:
            change.set["historyDropped"] = int(record.get("historyDropped") or 0) + dropped
        change.set["status"] = target
        if target == "acknowledged" and not record.get("acknowledgedAt"):
            change.set["acknowledgedAt"] = now
        if target == "resolved":
            change.set["resolvedAt"] = now
            change.set["resolution"] = resolution
        if is_open(target):
            change.set["openSeverity"] = record["severity"]
            if current in DONE_STATUSES:  # reopen
                change.remove += ["resolvedAt", "resolution"]
        else:
            change.remove.append("openSeverity")
    else:
        if reason is not None:
            raise ValidationFailed([FieldError("reason", "A reason goes with a status change.")])
        if resolution is not None:
            if current not in DONE_STATUSES:
                raise ValidationFailed(
                    [FieldError("resolution", "A resolution goes with status resolved (or a resolved item).")]
                )
            if resolution != record.get("resolution"):
                change.set["resolution"] = resolution

    if assignee_given and assignee != record.get("assignee"):
        if assignee is None:
            change.remove.append("assignee")
        else:
            change.set["assignee"] = assignee

    if change:
        change.set["updatedAt"] = now
    return change
