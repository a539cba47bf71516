"""The demo series are deterministic and random-free."""

from __future__ import annotations

import ast
import inspect
from datetime import UTC, datetime, timedelta

from chalicelib.config import Settings
from postlaunch import demo_health

NOW = datetime(2026, 2, 20, 10, 17, 0, tzinfo=UTC)


def test_no_random_module_is_used():
    tree = ast.parse(inspect.getsource(demo_health))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "random" not in imported | modules


def test_two_loads_with_the_same_now_write_the_same_datums():
    settings = Settings()
    month = demo_health.Month(NOW)
    start, end = NOW - timedelta(days=2), NOW + timedelta(hours=1)
    assert demo_health.series(month, start, end, settings) == demo_health.series(month, start, end, settings)


def test_the_incident_lines_up_with_the_feedback_demo():
    from postlaunch import demo

    begin, end = demo_health.Month(NOW).incident
    assert demo_health.INCIDENT_DAY in demo.INCIDENT_DAYS
    assert end - begin == timedelta(hours=7)
    assert demo_health.Month(NOW).in_incident(begin) and not demo_health.Month(NOW).in_incident(end)
