"""DEMO=1 data: a month of feedback from three pharmacies, loaded through the feedback service with
backdated times, so every endpoint and CLI command has something real to show.

Deterministic: there is no randomness anywhere. Each item's choices come from a hash of its index
(sha256), so two loads with the same `now` produce the same data, and a reader can reason about it.
The month has a story: a rough release around days 10-13 brings a burst of performance and
reminder complaints, lower satisfaction and three critical bug reports; it recovers after.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from postlaunch.demo_load import NoProgress, Tracker

WORKSPACES = ("ws-demo", "ws-riverside", "ws-lakeside")
USERS = {
    "ws-demo": ("pharm-ana", "pharm-ben", "tech-carla", "tech-dev"),
    "ws-riverside": ("pharm-ellis", "tech-fatima", "tech-gus"),
    "ws-lakeside": ("pharm-hana", "tech-ivan"),
}
ENGINEERS = ("eng-jo", "eng-kai", "eng-lee")
DAYS = 30
# The report's configured inputs for the demo, so its engagement change and ROI have figures (unset,
# they are null naming the setting). Assumptions, not measurements: the devstack sets each one the
# environment does not. The demo month measures about 5,400 interactions (appointments and follow-ups
# completed, portal sessions), so a pre-launch level of 4,000 a month is a +35 % change, short of the
# seed's +40 % target; the minutes, rate and money are plausible for a small pharmacy chain.
DEMO_REPORT_INPUTS = {
    "REPORT_ENGAGEMENT_BASELINE_MONTHLY": "4000",
    "REPORT_ROI_HOURLY_RATE": "45",
    "REPORT_ROI_MINUTES_PER_REMINDER": "2",
    "REPORT_ROI_MINUTES_PER_FOLLOW_UP": "8",
    "REPORT_ROI_OPERATIONAL_COST_REDUCTION_MONTHLY": "600",
    "REPORT_ROI_IMPLEMENTATION_COST": "40000",
    "REPORT_ROI_MTM_BILLING_MONTHLY": "1500",
    "REPORT_ROI_PATIENT_RETENTION_MONTHLY": "900",
    "REPORT_ROI_NEW_SERVICES_MONTHLY": "0",
}
INCIDENT_DAYS = range(10, 14)  # day numbers (0 = oldest) of the rough release


@dataclass(frozen=True)
class Scenario:
    category: str
    feature_area: str
    title: str
    description: str
    severities: tuple[str, ...]  # picked by hash; repeats weight a severity
    steps: tuple[str, ...] = ()
    expected: str | None = None
    actual: str | None = None


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "bug_report",
        "reminders",
        "Appointment reminders not sending",
        "Recurring appointments are not triggering reminder notifications for patients.",
        ("high", "high", "medium"),
        ("Create recurring appointment", "Wait for reminder time", "Check if reminder was sent"),
        "Reminder should be sent automatically",
        "No reminder is sent",
    ),
    Scenario(
        "bug_report",
        "appointments",
        "Double booking allowed for the same slot",
        "Two technicians booked vaccination appointments into the same 10:30 slot without a warning.",
        ("high", "medium"),
        ("Open the schedule", "Book a slot", "Book the same slot from a second terminal"),
        "The second booking is refused",
        "Both bookings are saved",
    ),
    Scenario(
        "bug_report",
        "follow_ups",
        "Follow-up task disappears after editing",
        "Editing the due date of a follow-up removes it from the pharmacist's task list.",
        ("medium", "medium", "low"),
        ("Open a follow-up", "Change its due date", "Return to the task list"),
        "The follow-up shows with its new date",
        "The follow-up is missing until the page is reloaded",
    ),
    Scenario(
        "bug_report",
        "patient_portal",
        "Portal login loops back to the sign-in page",
        "Some patients are sent back to the sign-in page right after entering a correct password.",
        ("high", "medium"),
    ),
    Scenario(
        "bug_report",
        "analytics",
        "Completion chart shows last week's numbers",
        "The appointment completion chart on the dashboard does not refresh after midnight.",
        ("low", "medium"),
    ),
    Scenario(
        "performance_issue",
        "appointments",
        "Schedule view takes ages to load",
        "The weekly schedule takes more than ten seconds to open during the morning rush.",
        ("high", "medium", "medium"),
    ),
    Scenario(
        "performance_issue",
        "reminders",
        "Reminder batch runs late",
        "The morning reminder batch finished after 10am, so early appointments got no reminder.",
        ("high", "medium"),
    ),
    Scenario(
        "performance_issue",
        "patient_portal",
        "Portal slow on mobile data",
        "Patients report the portal's appointment page is very slow to load on phones.",
        ("medium", "low"),
    ),
    Scenario(
        "usability_issue",
        "follow_ups",
        "Hard to find overdue follow-ups",
        "Overdue follow-ups are mixed in with upcoming ones; a filter or a separate list would help.",
        ("medium", "low"),
    ),
    Scenario(
        "usability_issue",
        "appointments",
        "Reschedule button is hidden in a menu",
        "Rescheduling needs three clicks through an overflow menu; staff expect a button on the card.",
        ("low", "medium"),
    ),
    Scenario(
        "usability_issue",
        "reminders",
        "Cannot preview the reminder text",
        "Staff cannot see what a patient will receive before a reminder template is saved.",
        ("low",),
    ),
    Scenario(
        "usability_issue",
        "patient_portal",
        "Date picker confusing for patients",
        "Patients pick the wrong day because the week starts on Monday in the portal's calendar.",
        ("medium", "low"),
    ),
    Scenario(
        "feature_request",
        "reminders",
        "SMS reminders in Spanish",
        "Many of our patients would prefer reminders in Spanish; please support per-patient language.",
        ("low", "medium"),
    ),
    Scenario(
        "feature_request",
        "analytics",
        "Export no-show report to CSV",
        "We need the monthly no-show report as CSV for our regional manager.",
        ("low",),
    ),
    Scenario(
        "feature_request",
        "follow_ups",
        "Bulk-complete follow-ups",
        "Allow completing several follow-ups at once after a clinic day.",
        ("low", "medium"),
    ),
    Scenario(
        "feature_request",
        "appointments",
        "Waitlist for cancelled slots",
        "Offer a cancelled slot automatically to patients on a waitlist.",
        ("medium", "low"),
    ),
    Scenario(
        "general_feedback",
        "general",
        "Great improvement over the old system",
        "The team likes the new scheduling flow; check-in is much faster than before.",
        ("low",),
    ),
    Scenario(
        "general_feedback",
        "analytics",
        "Dashboard is useful for the morning huddle",
        "We review the follow-up dashboard every morning; a weekly email of it would be nice.",
        ("low",),
    ),
    # Staff sometimes paste patient details: these show redaction at work (stored redacted).
    Scenario(
        "bug_report",
        "reminders",
        "Reminder went to the wrong phone number",
        "Patient called from 555-201-4477 to say the reminder reached her neighbour instead of her.",
        ("medium",),
    ),
    Scenario(
        "usability_issue",
        "patient_portal",
        "Patient cannot update her email address",
        "Patient (maria.lopez@example.com, DOB 03/04/1956) cannot change her email in the portal.",
        ("medium",),
    ),
)
# During the rough release, complaints come from these scenarios (indexes into SCENARIOS).
INCIDENT_SCENARIOS = (0, 5, 6, 7, 0, 5)
CRITICAL = Scenario(
    "bug_report",
    "reminders",
    "Reminders sent for cancelled appointments",
    "After this morning's release, patients receive reminders for appointments they cancelled.",
    ("critical",),
    ("Cancel an appointment", "Wait for the reminder batch"),
    "No reminder for a cancelled appointment",
    "The reminder is sent anyway",
)
BROWSERS = ("Chrome 129.0", "Edge 129.0", "Safari 17.6", "Firefox 131.0")
DEVICES = ("Windows 11", "macOS 14", "iPadOS 17", "Windows 10")
RESOLUTION_HOURS = {"critical": (2, 12), "high": (6, 48), "medium": (24, 120), "low": (48, 240)}
RESOLUTIONS = (
    "Fixed in the next release; verified with the reporting pharmacy.",
    "Configuration corrected for the workspace; no code change needed.",
    "Duplicate of an earlier report; fixed there.",
    "Shipped the requested change behind a setting, enabled for this workspace.",
)


def _h(index: int, salt: str) -> int:
    """A stable number for (index, salt): the demo's only source of variety."""
    return int.from_bytes(hashlib.sha256(f"{salt}:{index}".encode()).digest()[:8], "big")


def _pick(options: Sequence[Any], index: int, salt: str) -> Any:
    return options[_h(index, salt) % len(options)]


@dataclass
class DemoItem:
    """One feedback submission and how far triage has taken it."""

    workspace: str
    user: str
    created_at: datetime
    payload: dict[str, Any]
    target_status: str = "new"
    transitions: list[tuple[str, datetime]] = field(default_factory=list)
    assignee: str | None = None
    resolution: str | None = None
    keep_open: bool = False


def _per_day(day: int, weekday: int) -> int:
    """Submissions on a day: fewer at weekends, a burst during the incident."""
    base = 3 if weekday >= 5 else 7 + _h(day, "volume") % 4
    return base + (6 if day in INCIDENT_DAYS else 0)


def _ratings(index: int, day: int, scenario: Scenario) -> dict[str, int]:
    incident = day in INCIDENT_DAYS
    out: dict[str, int] = {}
    roll = _h(index, "rated") % 10
    if roll < 8:  # most people give a satisfaction rating
        low, spread = (2, 2) if incident else (3, 3)
        if scenario.category == "general_feedback":
            low, spread = 4, 2
        out["satisfactionRating"] = low + _h(index, "sat") % spread
    if roll < 6:
        out["usabilityRating"] = 2 + _h(index, "use") % 4
    if roll < 5:
        slow = scenario.category == "performance_issue" or incident
        out["performanceRating"] = (1 + _h(index, "perf") % 3) if slow else (3 + _h(index, "perf") % 3)
    return out


def _lifecycle(item: DemoItem, index: int, now: datetime) -> None:
    """Place the item on its lifecycle by age and severity: older items are mostly resolved."""
    severity = item.payload["severity"]
    age_h = (now - item.created_at).total_seconds() / 3600
    low, high = RESOLUTION_HOURS[severity]
    resolve_after = low + _h(index, "resolve") % (high - low + 1)
    ack_after = min(resolve_after / 4, 0.5 + _h(index, "ack") % 8)
    start_after = (ack_after + resolve_after) / 2
    if item.keep_open:  # being worked on right now
        steps = [("acknowledged", ack_after), ("in_progress", start_after)]
        item.transitions = [(s, item.created_at + timedelta(hours=a)) for s, a in steps if a < age_h]
        item.target_status = item.transitions[-1][0] if item.transitions else item.target_status
        item.assignee = _pick(ENGINEERS, index, "assignee")
        return
    # One in eight items is left untouched whatever its age (a realistic backlog).
    if _h(index, "backlog") % 8 == 0 and severity != "critical":
        return
    steps: list[tuple[str, float]] = [("acknowledged", ack_after), ("in_progress", start_after)]
    if severity == "low" and _h(index, "direct") % 2:
        steps = [("acknowledged", ack_after)]  # resolved straight from acknowledged
    steps.append(("resolved", resolve_after))
    if _h(index, "close") % 3 == 0:
        steps.append(("closed", resolve_after + 24))
    for status, after in steps:
        if after >= age_h:
            break
        item.transitions.append((status, item.created_at + timedelta(hours=after)))
        item.target_status = status
    if item.transitions:
        item.assignee = _pick(ENGINEERS, index, "assignee")
    if item.target_status in ("resolved", "closed"):
        item.resolution = _pick(RESOLUTIONS, index, "resolution")


def demo_feedback(now: datetime, days: int = DAYS) -> list[DemoItem]:
    """The month's feedback, oldest first, every item created before `now`."""
    now = now.astimezone(UTC)
    first_day = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    items: list[DemoItem] = []
    index = 0
    criticals = {10: 0, 11: 1, 12: 2, days - 2: 3}  # day -> which critical report
    for day in range(days):
        midnight = first_day + timedelta(days=day)
        count = _per_day(day, midnight.weekday())
        for n in range(count + (1 if day in criticals else 0)):
            if day in criticals and n == count:
                scenario = CRITICAL
            elif day in INCIDENT_DAYS and n % 2 == 0:
                scenario = SCENARIOS[_pick(INCIDENT_SCENARIOS, index, "incident")]
            else:
                scenario = _pick(SCENARIOS, index, "scenario")
            # Working hours 07:00-19:00 UTC, minutes and seconds from the hash.
            offset = timedelta(hours=7 + _h(index, "hour") % 12, minutes=_h(index, "min") % 60)
            created = midnight + offset + timedelta(seconds=_h(index, "sec") % 60)
            if created >= now:  # today: keep only what has already happened
                created = now - timedelta(minutes=5 + (count - n) * 7)
            workspace = _pick(WORKSPACES, index, "workspace")
            payload: dict[str, Any] = {
                "category": scenario.category,
                "severity": _pick(scenario.severities, index, "severity"),
                "title": scenario.title,
                "description": scenario.description,
                "featureArea": scenario.feature_area,
                "browserInfo": _pick(
                    ("Chrome 129.0", "Edge 129.0", "Safari 17.6", "Firefox 131.0"), index, "br"
                ),
                "deviceInfo": _pick(("Windows 11", "macOS 14", "iPadOS 17", "Windows 10"), index, "dev"),
                **_ratings(index, day, scenario),
            }
            if scenario.steps:
                payload["steps"] = list(scenario.steps)
            if scenario.expected:
                payload["expectedBehavior"] = scenario.expected
            if scenario.actual:
                payload["actualBehavior"] = scenario.actual
            item = DemoItem(workspace, _pick(USERS[workspace], index, "user"), created, payload)
            # The month's last critical report is still being worked on: open critical > 0.
            item.keep_open = scenario is CRITICAL and criticals.get(day) == len(criticals) - 1
            _lifecycle(item, index, now)
            items.append(item)
            index += 1
    items.sort(key=lambda i: i.created_at)
    return items


def load_feedback(
    now: datetime | None = None,
    days: int = DAYS,
    settings: Any | None = None,
    sns_client: Any | None = None,
    progress: Tracker | None = None,
) -> dict[str, Any]:
    """Submit the month through chalicelib.feedback.service (validation, redaction, alerts and all),
    then walk each item through its transitions with the engineer's backdated times."""
    from chalicelib.auth import Principal, Role
    from chalicelib.feedback import service

    now = (now or datetime.now(UTC)).astimezone(UTC)
    items = demo_feedback(now, days)
    progress = progress or NoProgress()
    task = progress.add_task("feedback", total=len(items))
    statuses: Counter[str] = Counter()
    redacted = changes = 0
    for item in items:
        author = Principal(sub=item.user, workspace_id=item.workspace, roles=frozenset({Role.STAFF}))
        record, _ = service.submit_feedback(
            author, item.payload, now=item.created_at, settings=settings, sns_client=sns_client
        )
        redacted += bool(record.get("redactions"))
        status = record["status"]
        engineer = Principal(
            sub=item.assignee or ENGINEERS[0], workspace_id=None, roles=frozenset({Role.ENGINEER})
        )
        first = True
        for target, when in item.transitions:
            if target == status:  # critical bug reports start acknowledged
                continue
            change: dict[str, Any] = {"status": target}
            if first and item.assignee:
                change["assignee"] = item.assignee
            if target == "resolved":
                change["resolution"] = item.resolution
            record = service.update_feedback(engineer, record["id"], change, now=when, settings=settings)
            status, first = record["status"], False
            changes += 1
        statuses[status] += 1
        progress.advance(task)
    return {
        "items": len(items),
        "days": days,
        "statusChanges": changes,
        "workspaces": sorted({i.workspace for i in items}),
        "byStatus": dict(sorted(statuses.items())),
        "critical": sum(1 for i in items if i.payload["severity"] == "critical"),
        "redacted": redacted,
        "from": items[0].created_at.isoformat() if items else None,
        "to": items[-1].created_at.isoformat() if items else None,
    }


def feedback_line(result: dict[str, Any], seconds: float) -> str:
    """The one-line summary of load_feedback's result."""
    return (
        f"feedback: {result['items']} items over {result['days']} days in "
        f"{len(result['workspaces'])} workspaces, {result['critical']} critical, "
        f"{result['redacted']} redacted, {result['statusChanges']} status changes ({seconds:.1f} s)"
    )


def load_all(now: datetime | None = None, progress: Tracker | None = None) -> Iterator[str]:
    """Everything DEMO=1 loads, one summary line per kind of data, each yielded when that kind is
    written (postlaunch.demo_load shows them under progress bars). Capabilities that bring their own
    demo data (postlaunch.demo_health, ...) provide `load_demo(now=, progress=)` yielding their lines,
    and are called when their module exists."""
    import importlib
    import time

    now = now or datetime.now(UTC)
    progress = progress or NoProgress()
    started = time.monotonic()
    result = load_feedback(now, progress=progress)
    yield feedback_line(result, time.monotonic() - started)
    for module_name in ("postlaunch.demo_health", "postlaunch.demo_alerts"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        loader = getattr(module, "load_demo", None)
        if loader is None:
            yield f"{module_name} has no load_demo(now=, progress=); skipped"
            continue
        yield from loader(now=now, progress=progress)
