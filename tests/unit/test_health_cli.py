"""`post-launch-monitor health` and `metrics` over fake sources (no network)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from chalicelib.config import Settings
from chalicelib.health import evaluator
from chalicelib.health import service as health_service
from postlaunch.cli import cli
from postlaunch.cli import health as health_cli
from tests.unit.test_health_evaluator import NOW, full_cloudwatch, settings, sources


@pytest.fixture
def wired(monkeypatch):
    report = evaluator.evaluate(NOW, settings=settings(), sources=sources(full_cloudwatch())).report
    calls = []

    def current_health(*, verbose, refresh, settings):
        calls.append({"verbose": verbose, "refresh": refresh})
        return report.public(verbose=verbose)

    monkeypatch.setattr(health_cli, "aws_settings", lambda stack=None: Settings())
    monkeypatch.setattr(health_service, "current_health", current_health)
    monkeypatch.setattr(
        health_cli,
        "score_trend",
        lambda days, s: {"days": days, "snapshots": 0, "dailyLowest": [None] * days, "lowest": None},
    )
    real_read_metrics = evaluator.read_metrics
    fake_settings = settings()
    monkeypatch.setattr(
        evaluator,
        "read_metrics",
        lambda **_: real_read_metrics(NOW, settings=fake_settings, client=full_cloudwatch()),
    )
    return report, calls


def test_health_json_is_the_api_body(wired):
    report, calls = wired
    result = CliRunner().invoke(cli, ["health", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == report.public(verbose=False)
    assert calls == [{"verbose": False, "refresh": False}]


def test_health_human_output_lists_the_score_and_each_deduction(wired):
    result = CliRunner().invoke(cli, ["health"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "System health 40/100 critical" in result.output
    assert "error rate > 2 %" in result.output and "appointment completion rate < 80 %" in result.output


def test_health_performance_shows_only_performance(wired):
    result = CliRunner().invoke(cli, ["health", "--performance", "--json"])
    body = json.loads(result.output)
    assert set(body) == {"healthScore", "overallHealth", "evaluatedAt", "performance", "deductions"} | {
        "missing",
        "windows",
    }
    assert {d["input"] for d in body["deductions"]} == {"apiResponseTime", "errorRate"}
    assert all(m["field"].startswith("performance.") for m in body["missing"])


def test_health_verbose_refresh(wired):
    _, calls = wired
    result = CliRunner().invoke(cli, ["health", "--verbose", "--refresh"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert calls == [{"verbose": True, "refresh": True}]
    for title in ("Performance", "Adoption", "Quality", "Stability", "Windows", "Last 30 days"):
        assert title in result.output


def test_metrics_reads_cloudwatch_only(wired):
    result = CliRunner().invoke(cli, ["metrics", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["cloudwatchCalls"] == 4
    assert body["performance"]["apiResponseTime"] == 400.0
    assert "userSatisfactionScore" not in body["quality"] and "healthScore" not in body
    human = CliRunner().invoke(cli, ["metrics"], env={"COLUMNS": "160"})
    assert human.exit_code == 0 and "4 GetMetricData calls" in human.output


def test_a_score_from_insufficient_data_says_so_in_the_headline(monkeypatch):
    # Given an evaluation where only the satisfaction and stability inputs had data (3 of 7)
    from tests.unit.health_fakes import FakeCloudWatch

    report = evaluator.evaluate(
        NOW,
        settings=settings(),
        sources=sources(FakeCloudWatch(fail=True), satisfaction={"average": 4.5, "count": 3}),
    ).report
    monkeypatch.setattr(health_cli, "aws_settings", lambda stack=None: Settings())
    monkeypatch.setattr(health_service, "current_health", lambda **_: report.public(verbose=False))
    # When the CLI shows it
    result = CliRunner().invoke(cli, ["health"], env={"COLUMNS": "160"})
    # Then the seed's score and band stay, with the caveat beside them
    assert result.exit_code == 0, result.output
    assert "System health 100/100 healthy — insufficient data (3 of 7 inputs)" in result.output
    assert json.loads(CliRunner().invoke(cli, ["health", "--json"]).output)["sufficientData"] is False


def test_a_score_from_sufficient_data_has_no_caveat(wired):
    report, _ = wired
    result = CliRunner().invoke(cli, ["health"], env={"COLUMNS": "160"})
    assert report.sufficientData is True
    assert "System health 40/100 critical  (at" in result.output
    assert "insufficient" not in result.output


def test_the_caveat_is_in_a_colour(monkeypatch):
    report = {
        "healthScore": 100,
        "overallHealth": "healthy",
        "evaluatedAt": "2026-03-10T12:00:30Z",
        "sufficientData": False,
        "completeness": 2 / 7,
        "scoreInputs": {"available": 2, "total": 7},
        "missing": [],
        "deductions": [],
    }
    from rich.console import Console

    colour = Console(force_terminal=True, color_system="standard", width=160, highlight=False)
    monkeypatch.setattr(health_cli, "console", colour)
    with colour.capture() as captured:
        health_cli.render_health(report, verbose=False, performance=False, trend=None)
    text = captured.get()
    assert "\x1b[1;33m— insufficient data (2 of 7 inputs)" in text  # bold yellow
