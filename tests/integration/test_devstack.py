"""`make run` as a newcomer would use it: start the dev stack, follow what it prints, stop it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from postlaunch.awsenv import resolve_env, template_variables
from postlaunch.devstack import port_free
from postlaunch.localstack import ROOT, free_port

BIN = Path(sys.executable).parent


class DevStackProcess:
    """plm-devstack as a child process, its output collected line by line."""

    def __init__(self, extra_env: dict[str, str] | None = None):
        self.api_port, self.moto_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        # Start from a clean environment: the session stack's variables must not leak in.
        for var in (
            "FEEDBACK_TABLE",
            "IDEMPOTENCY_TABLE",
            "ISSUES_TABLE",
            "HEALTH_TABLE",
            "ALERTS_TOPIC_ARN",
            "SILENCES_TABLE",
        ):
            env.pop(var, None)
        env.update(API_PORT=str(self.api_port), MOTO_PORT=str(self.moto_port), PYTHONUNBUFFERED="1")
        env.update(extra_env or {})
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [str(BIN / "plm-devstack")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group, so a failed test can kill the chalice child along with it.
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output)
            if match:
                return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in the dev stack's output:\n{self.output}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        """After a failure: nothing this test started may outlive it (the chalice child included)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


BANNER_END = "Ctrl-C stops everything."


def exports_env(output: str) -> dict[str, str]:
    """The variables from the `export ...` line the dev stack prints."""
    line = next(ln for ln in output.splitlines() if ln.strip().startswith("export AWS_ENDPOINT_URL="))
    pairs = line.strip().removeprefix("export ").split()
    return dict(pair.split("=", 1) for pair in pairs)


def test_make_run_serves_the_api_and_stops_cleanly_on_sigterm():
    started = time.monotonic()
    stack = DevStackProcess()
    try:
        # Given the dev stack has printed its URL
        url = stack.wait_for(r"API: (http://\S+)", timeout=120).group(1)
        assert url == f"http://127.0.0.1:{stack.api_port}"
        startup = time.monotonic() - started
        # The banner goes on after the URL line (a reader thread collects it): wait for its last line.
        stack.wait_for(re.escape(BANNER_END), timeout=30)
        exports = exports_env(stack.output)
        assert "post-launch-monitor dev-token --role engineer --workspace ws-demo" in stack.output
        assert exports["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{stack.moto_port}"
        assert exports["PLM_STACK"] == "post-launch-monitor-local"

        # When a user follows it: the liveness probe, then a token from the CLI and a request with it
        assert requests.get(f"{url}/api/monitoring/ping", timeout=10).json() == {"status": "ok"}
        cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **exports}
        token = subprocess.run(
            [str(BIN / "post-launch-monitor"), "dev-token", "--role", "engineer", "--workspace", "ws-demo"],
            env=cli_env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        who = requests.get(
            f"{url}/api/monitoring/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert who.status_code == 200, who.text
        assert who.json()["workspaceId"] == "ws-demo"
        # ... and the printed curl example works as printed
        curl = re.search(r'curl -s -H "Authorization: Bearer (\S+)" (\S+)', stack.output)
        assert curl, stack.output
        printed = requests.get(
            curl.group(2), headers={"Authorization": f"Bearer {curl.group(1)}"}, timeout=10
        )
        assert printed.status_code == 200, printed.text
        # ... and the local AWS holds the stack the CLI resolves resources from
        resolved = resolve_env({"AWS_DEFAULT_REGION": "us-east-1", **exports})
        assert resolved.stack_name == "post-launch-monitor-local" and not resolved.missing
        assert set(resolved.from_stack) == set(template_variables())

        # Then SIGTERM stops everything it started, with exit code 0, and frees both ports
        code = stack.stop()
        assert code == 0, stack.output
        assert port_free(stack.api_port) and port_free(stack.moto_port)
        assert "Traceback" not in stack.output
        print(f"dev stack up in {startup:.1f} s")
    finally:
        stack.kill()


def test_a_port_in_use_is_reported_not_hung():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = DevStackProcess({"MOTO_PORT": str(port)})
        try:
            code = stack.proc.wait(timeout=60)
            stack._reader.join(timeout=5)
        finally:
            stack.kill()
    assert code == 1
    assert f"127.0.0.1:{port} is already in use" in stack.output and "MOTO_PORT" in stack.output


@pytest.mark.slow
def test_demo_mode_loads_a_month_that_the_api_and_the_cli_show():
    stack = DevStackProcess({"DEMO": "1"})
    try:
        url = stack.wait_for(r"API: (http://\S+)", timeout=240).group(1)
        loaded = int(stack.wait_for(r"feedback: (\d+) items over 30 days", timeout=5).group(1))
        # While loading: one summary line per kind of data, no JSON log lines (stdout is a pipe here)
        loading = stack.output.split("Loading the DEMO month")[1].split("demo data loaded in")[0]
        kinds = [line.split(":")[0].strip() for line in loading.strip().splitlines()[1:]]
        assert kinds == ["feedback", "metrics", "health snapshots", "alerts"], loading
        assert "{" not in loading
        stack.wait_for(re.escape(BANNER_END), timeout=30)
        exports = exports_env(stack.output)
        curl = re.search(r'curl -s -H "Authorization: Bearer (\S+)" (\S+)', stack.output)
        auth = {"Authorization": f"Bearer {curl.group(1)}"}  # the printed engineer token

        summary = requests.get(f"{url}/api/monitoring/feedback/summary", headers=auth, timeout=30).json()
        page = requests.get(f"{url}/api/monitoring/feedback?limit=5", headers=auth, timeout=30).json()
        alerts = requests.get(
            f"{url}/api/monitoring/alerts?state=all&limit=100", headers=auth, timeout=30
        ).json()["items"]
        cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **exports}
        for var in template_variables():
            cli_env.pop(var, None)
        cli = subprocess.run(
            [str(BIN / "post-launch-monitor"), "feedback", "--json"],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert summary["total"] == loaded > 150
        assert all(summary["bySeverity"][s] > 0 for s in ("low", "medium", "high", "critical"))
        assert summary["openCritical"] >= 1 and summary["resolutionTime"]["count"] > 0
        assert sum(1 for day in summary["volumePerDay"] if day["count"]) == 30
        assert len(page["items"]) == 5 and page["nextCursor"]
        # The demo's incident shows as resolved alerts, and at least one alert is active now
        resolved = {a["rule"] for a in alerts if a["state"] == "resolved"}
        assert {"HighErrorRate", "SlowAPIResponse"} <= resolved
        assert any(a["state"] in ("firing", "acknowledged") for a in alerts)
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["summary"]["total"] == loaded
        assert stack.stop() == 0
    finally:
        stack.kill()
