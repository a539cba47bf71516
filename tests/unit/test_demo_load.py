"""The DEMO=1 load as a person sees it: a summary line per kind of data, no JSON log lines unless asked
for, bars on a terminal and plain lines in a pipe. A stand-in loader does what the real ones do to the
output (the app's Powertools logger and metrics, progress per kind); the real loader runs against a
stack in tests/integration/test_demo_load.py."""

from __future__ import annotations

import io
import json
import logging

import pytest

from chalicelib.observability import logger, metrics
from postlaunch.demo_load import load_with_progress, verbose_requested


def noisy_loader(*, now, progress):
    """Two kinds of data, each logged per write as the services log, plus EMF metric blobs."""
    for kind, total in (("feedback", 120), ("snapshots", 3)):
        task = progress.add_task(kind, total=total)
        for n in range(total):
            logger.info("feedback stored", extra={"feedbackId": f"fb-{n}"})
            metrics.add_metric(name="FeedbackSubmitted", unit="Count", value=1)  # prints at 100
            progress.advance(task)
        yield f"{kind}: {total} written"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def app_stdout(monkeypatch):
    """Where the app's logger writes: its handler holds the stdout of import time, so point it here."""
    metrics.clear_metrics()  # the metric set is per process: start from what this test adds
    stream = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)
    metrics.clear_metrics()


def json_lines(text: str) -> list[dict]:
    found = []
    for line in text.splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def test_a_pipe_gets_one_summary_line_per_kind_and_no_json(app_stdout, capsys, caplog):
    # Given stdout is a pipe (not a terminal) and no verbose level is asked for
    out = io.StringIO()
    # When the demo loads
    with caplog.at_level(logging.DEBUG, logger="plm.demo"):
        lines = load_with_progress(out, verbose=False, loader=noisy_loader)
    # Then the output is exactly the summary lines, and nothing the app printed reached stdout
    assert lines == ["feedback: 120 written", "snapshots: 3 written"]
    assert out.getvalue().splitlines() == ["  feedback: 120 written", "  snapshots: 3 written"]
    assert json_lines(app_stdout.getvalue()) == [] and json_lines(capsys.readouterr().out) == []
    # ... the metric blobs are kept at DEBUG instead, the one printed at 100 values and the rest flushed
    blobs = [json.loads(r.getMessage()) for r in caplog.records if r.name == "plm.demo"]
    assert (
        sum(len(b["FeedbackSubmitted"]) if isinstance(b["FeedbackSubmitted"], list) else 1 for b in blobs)
        == 123
    )
    # ... and the app's logger is back at its level
    assert logger.log_level == logging.INFO


def test_verbose_shows_the_app_logs_and_no_bars(app_stdout):
    out = Terminal()
    lines = load_with_progress(out, verbose=True, loader=noisy_loader)
    logged = [line for line in json_lines(app_stdout.getvalue()) if line.get("message") == "feedback stored"]
    assert len(logged) == 123
    assert "━" not in out.getvalue() and len(lines) == 2


def test_a_terminal_gets_bars_that_give_way_to_the_summary_lines(app_stdout):
    out = Terminal()
    load_with_progress(out, verbose=False, loader=noisy_loader)
    text = out.getvalue()
    assert "━" in text  # rich drew bars
    assert "feedback: 120 written" in text and "snapshots: 3 written" in text
    assert json_lines(app_stdout.getvalue()) == []


def test_a_failing_load_restores_the_logger_and_stdout(app_stdout):
    import sys

    def failing(*, now, progress):
        progress.add_task("feedback", total=2)
        yield "feedback: 0 written"
        raise RuntimeError("table gone")

    stdout = sys.stdout
    with pytest.raises(RuntimeError, match="table gone"):
        load_with_progress(io.StringIO(), verbose=False, loader=failing)
    assert sys.stdout is stdout and logger.log_level == logging.INFO


@pytest.mark.parametrize(
    "env, flag, verbose",
    [
        ({}, False, False),
        ({}, True, True),
        ({"LOG_LEVEL": "DEBUG"}, False, True),
        ({"POWERTOOLS_LOG_LEVEL": "debug"}, False, True),
        ({"LOG_LEVEL": "INFO"}, False, False),
    ],
)
def test_verbose_is_the_flag_or_a_debug_log_level(monkeypatch, env, flag, verbose):
    for name in ("LOG_LEVEL", "POWERTOOLS_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert verbose_requested(flag) is verbose
