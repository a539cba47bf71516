"""The DEMO=1 month of feedback, without network: deterministic, valid, and with the story it promises."""

from __future__ import annotations

import ast
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import postlaunch.demo as demo
from chalicelib.feedback.lifecycle import TRANSITIONS
from chalicelib.schemas.feedback import validate_payload

NOW = datetime(2025, 10, 27, 15, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def items():
    return demo.demo_feedback(NOW)


def test_the_same_now_gives_the_same_month(items):
    again = demo.demo_feedback(NOW)
    assert [(i.created_at, i.payload, i.transitions) for i in again] == [
        (i.created_at, i.payload, i.transitions) for i in items
    ]


def test_no_random_module_is_used():
    tree = ast.parse(Path(demo.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "random" not in imported and "secrets" not in imported


def test_every_payload_passes_the_apis_validation(items):
    for item in items:
        validate_payload(item.payload)


def test_a_month_of_items_all_in_the_past(items):
    first, last = items[0].created_at, items[-1].created_at
    assert NOW - timedelta(days=30) <= first and last < NOW
    days = {i.created_at.date() for i in items}
    assert len(days) == 30  # every day has feedback
    assert 150 <= len(items) <= 400


def test_the_mix_is_varied(items):
    counts = {key: Counter(i.payload[key] for i in items) for key in ("category", "severity", "featureArea")}
    assert len(counts["category"]) == 5 and len(counts["featureArea"]) == 6
    assert set(counts["severity"]) == {"low", "medium", "high", "critical"}
    assert 2 <= counts["severity"]["critical"] <= 6  # a few, not many
    statuses = Counter(i.target_status for i in items)
    assert set(statuses) == {"new", "acknowledged", "in_progress", "resolved", "closed"}
    assert any("satisfactionRating" in i.payload for i in items)
    assert any("satisfactionRating" not in i.payload for i in items)  # ratings are optional


def test_transitions_follow_the_lifecycle_in_time(items):
    for item in items:
        status, at = "new", item.created_at
        for target, when in item.transitions:
            assert target in TRANSITIONS[status], (status, target)
            assert at <= when < NOW
            status, at = target, when
        assert status == item.target_status
        assert (item.resolution is not None) == (status in ("resolved", "closed"))


def test_the_incident_shows_in_the_data(items):
    first_day = items[0].created_at.date()

    def mean_satisfaction(days):
        values = [
            i.payload["satisfactionRating"]
            for i in items
            if (i.created_at.date() - first_day).days in days and "satisfactionRating" in i.payload
        ]
        return sum(values) / len(values)

    incident = set(demo.INCIDENT_DAYS)
    calm = set(range(30)) - incident
    assert mean_satisfaction(incident) < mean_satisfaction(calm) - 0.5
    open_critical = [
        i for i in items if i.payload["severity"] == "critical" and i.target_status != "resolved"
    ]
    assert any(i.target_status in ("acknowledged", "in_progress") for i in open_critical)


def test_some_items_carry_identifiers_to_redact(items):
    texts = [i.payload["description"] for i in items]
    assert any("@" in text for text in texts) and any("555-" in text for text in texts)
