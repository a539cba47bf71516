"""The alert record's vocabulary: severities, states, sources, the fingerprint, a rule's condition.

An alert is identified across evaluations by its fingerprint (rule + labels), not by its id: the
same condition seen again is the same alert (count, lastSeen), until it resolves; after that the
fingerprint firing again is a new occurrence with a new id (docs/alerts.md, "Lifecycle").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.config import Settings

SEVERITIES = ("critical", "error", "warning", "info")
STATES = ("firing", "acknowledged", "resolved")
ACTIVE_STATES = ("firing", "acknowledged")
SOURCES = ("evaluator", "cloudwatch-alarm", "feedback", "event")
NOTIFY_EVENTS = ("firing", "resolved", "escalated", "repeat")
DELIVERY_OUTCOMES = ("delivered", "failed", "skipped", "given_up")

# Attributes the store keeps for its indexes and the dispatcher; the API does not show them.
INTERNAL_FIELDS = ("activeFingerprint", "notifyPending", "notifyDueAt")


@dataclass(frozen=True)
class Condition:
    """What a rule (or an event) saw: one alert's worth of firing condition."""

    rule: str
    severity: str
    summary: str
    labels: dict[str, str] = field(default_factory=dict)
    value: float | None = None
    threshold: float | None = None
    source: str = "evaluator"

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {self.source!r}")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.labels)


def fingerprint(rule: str, labels: dict[str, str]) -> str:
    """sha256 of JSON [rule, sorted label pairs], first 32 hex characters: stable across processes
    and label order, so the evaluator, a CloudWatch alarm and an event agree on one alert."""
    text = json.dumps(
        [rule, sorted((str(k), str(v)) for k, v in (labels or {}).items())], separators=(",", ":")
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def response_minutes(severity: str, settings: Settings) -> int:
    return int(getattr(settings, f"alert_response_{severity}_minutes"))


def deadline(first_seen: datetime, severity: str, settings: Settings) -> datetime:
    return first_seen + timedelta(minutes=response_minutes(severity, settings))


def public_view(alert: dict) -> dict:
    """The record as the API shows it (without the index keys)."""
    return {k: v for k, v in alert.items() if k not in INTERNAL_FIELDS}
