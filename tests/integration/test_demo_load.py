"""The real DEMO=1 loader against the local stack, its stdout a pipe as in CI: one summary line per
kind of data with the counts that were written, and not one JSON log line.

The demo month goes into a second copy of the stack's resources on the session's moto server (own
tables, own API name and metric namespaces), so it never meets the data other tests read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from postlaunch.awsenv import template_variables
from postlaunch.localstack import ROOT, provision

BIN = Path(sys.executable).parent


@pytest.fixture
def demo_env(stack) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    provisioned = provision(stack.aws.endpoint, stack_name=f"plm-demo-{tag}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for var in (*template_variables(), "LOG_LEVEL", "POWERTOOLS_LOG_LEVEL"):
        env.pop(var, None)
    env.update(stack.aws.app_env(provisioned))
    env.update(
        HEALTH_API_NAME=f"demo-{tag}",
        HEALTH_ADOPTION_NAMESPACE=f"PE-demo-{tag}",
        HEALTH_SCORE_NAMESPACE=f"PLM-demo-{tag}",
        PYTHONUNBUFFERED="1",
    )
    return env


def run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def parses_as_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


@pytest.mark.slow  # the whole month: ~240 feedback items, ~26 000 datums, ~117 + ~54 evaluations (50-110 s)
def test_the_demo_load_prints_a_summary_per_kind_and_no_json(demo_env):
    # When the demo month loads with stdout a pipe, at the default log level
    loaded = run([str(BIN / "python"), "-m", "postlaunch.demo_load"], demo_env, timeout=400)

    # Then it succeeds and prints exactly one line per kind, none of them JSON
    assert loaded.returncode == 0, loaded.stderr
    lines = loaded.stdout.splitlines()
    assert [line.split(":")[0].strip() for line in lines] == [
        "feedback",
        "metrics",
        "health snapshots",
        "alerts",
    ], lines
    assert not [line for line in lines if parses_as_json(line.strip())]
    assert "{" not in loaded.stdout and '"level"' not in loaded.stderr

    # ... with the counts of what was written, as the stack's CLI reads them back
    feedback = re.search(
        r"feedback: (\d+) items over 30 days in 3 workspaces, (\d+) critical, (\d+) redacted", lines[0]
    )
    assert feedback, lines[0]
    items, critical, redacted = map(int, feedback.groups())
    cli = run([str(BIN / "post-launch-monitor"), "feedback", "--json"], demo_env, timeout=120)
    assert cli.returncode == 0, cli.stderr
    summary = json.loads(cli.stdout)["summary"]
    assert summary["total"] == items > 150 and summary["bySeverity"]["critical"] == critical
    assert 0 < redacted < items

    snapshots = re.search(r"health snapshots: (\d+) back-dated every 6 h, lowest (\d+) (\w+) at ", lines[2])
    assert snapshots, lines[2]
    health = run([str(BIN / "post-launch-monitor"), "health", "--verbose", "--json"], demo_env, timeout=120)
    assert health.returncode == 0, health.stderr
    trend = json.loads(health.stdout)["trend"]
    assert trend["snapshots"] >= int(snapshots.group(1)) > 100  # the backfill, plus this evaluation
    assert trend["lowest"]["healthScore"] == int(snapshots.group(2)) <= 55

    # ... and the alerts: the incident replayed through the rules fired and resolved by itself, and
    # alerts are active now, as the stack's CLI reads them back
    replayed = re.search(
        r"alerts: incident replay (\S+ \S+)-(\S+) \((\d+) evaluations every 10 min\) fired ([\w, ]+): "
        r"(\d+) new, (\d+) resolved; now (\d+) active \(",
        lines[3],
    )
    assert replayed, lines[3]
    rules = replayed.group(4).split(", ")
    new, resolved, active = map(int, replayed.group(5, 6, 7))
    assert "SlowAPIResponse" in rules and new >= len(rules) and resolved == new and active >= 1
    listed = run(
        [str(BIN / "post-launch-monitor"), "alerts", "--state", "all", "--limit", "100", "--json"],
        demo_env,
        timeout=120,
    )
    items = json.loads(listed.stdout)["items"]
    # (the CLI exits 1 while a critical alert fires: the open critical bug reports)
    assert listed.returncode == (
        1 if any(a["severity"] == "critical" and a["state"] == "firing" for a in items) else 0
    )
    begin = replayed.group(1).replace(" ", "T")
    end = replayed.group(1)[:11].replace(" ", "T") + replayed.group(2)
    in_replay = [a for a in items if begin <= a["firstSeen"][:16] <= end and a["source"] == "evaluator"]
    assert len(in_replay) == new and {a["rule"] for a in in_replay} == set(rules)
    assert all(a["state"] == "resolved" and a["resolution"] == "condition cleared" for a in in_replay)
    assert all(a["resolvedAt"][:16] <= end for a in in_replay)
    assert len([a for a in items if a["state"] != "resolved"]) == active
