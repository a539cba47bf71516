"""Shared fixtures. Integration tests run against a real moto server (in this process) provisioned
from infra/template.json, and reach the API over HTTP through `chalice local`."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from postlaunch.localstack import ROOT, ChaliceLocal, LocalAws, client, provision

# Requests schemathesis generated and sent (tests/integration/test_openapi_fuzz.py), counted by
# role and by answer status; they are not pytest items, so the count is printed in the summary.
GENERATED_CASES = pytest.StashKey[dict[str, Counter]]()


def pytest_terminal_summary(terminalreporter, config) -> None:
    counts = config.stash.get(GENERATED_CASES, None)
    if counts:
        roles = ", ".join(f"{role} {n}" for role, n in sorted(counts["roles"].items()))
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(counts["statuses"].items()))
        total = sum(counts["roles"].values())
        terminalreporter.write_line(
            f"schemathesis: {total} generated cases sent ({roles}); answers {statuses}"
        )


@dataclass
class Stack:
    aws: LocalAws
    env: dict[str, str]
    api_url: str
    physical: dict[str, str]

    def settings(self):
        from chalicelib.config import get_settings, reset_settings

        reset_settings()
        return get_settings()

    def aws_client(self, service: str):
        """A boto3 client for the moto server, as the app's own would be."""
        return client(service, self.aws.endpoint)

    def token(self, role: str, workspace: str | None = None, sub: str | None = None, **kw) -> str:
        from chalicelib.auth import mint_dev_token

        return mint_dev_token(self.settings(), role=role, workspace_id=workspace, sub=sub, **kw)

    def client(self, role: str | None = None, workspace: str | None = None, sub: str | None = None) -> Api:
        session = requests.Session()
        if role:
            session.headers["Authorization"] = f"Bearer {self.token(role, workspace, sub)}"
        return Api(self.api_url, session)


class Api:
    """A thin HTTP client for the API under test."""

    def __init__(self, base: str, session: requests.Session):
        self.base = base
        self.session = session

    def request(self, method: str, path: str, **kw) -> requests.Response:
        return self.session.request(method, self.base + path, timeout=30, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw) -> requests.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.request("DELETE", path, **kw)


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """Moto server + resources from infra/ + `chalice local`, once per test session."""
    aws = LocalAws().start()
    provisioned = provision(aws.endpoint)
    env = aws.app_env(provisioned)
    saved = dict(os.environ)
    os.environ.update(env)
    log_path = tmp_path_factory.mktemp("chalice") / "chalice-local.log"
    with open(log_path, "w") as log:
        api = ChaliceLocal(env, log=log).start()
        try:
            from chalicelib.config import reset_settings
            from chalicelib.store.base import bind_models

            reset_settings()
            bind_models()
            yield Stack(aws=aws, env=env, api_url=api.url, physical=provisioned.physical)
        finally:
            api.stop()
            aws.stop()
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture
def workspace() -> str:
    """A fresh workspace id per test, so tests sharing the session's tables do not see each other."""
    return f"ws-{uuid.uuid4().hex[:10]}"


# ---- releases: machine
@pytest.fixture(scope="session")
def release_worker(stack: Stack) -> Iterator[object]:
    """The release worker (app.py's @app.on_sqs_message handler) answering the rollout state machine
    for the rest of the session, in a thread of this process: the dev stack's SQS bridge, polled
    continuously. Bake ticks of 1 s (RELEASE_TICK_SECONDS), so a gate is asked every second."""
    import threading

    from chalicelib.config import reset_settings
    from chalicelib.store.base import bind_models
    from postlaunch.devstack import SqsBridge, load_app

    os.environ["RELEASE_TICK_SECONDS"] = "1"
    reset_settings()
    bind_models()
    module = load_app()
    bridge = SqsBridge.discover(module.app, module, stack.aws.endpoint, "post-launch-monitor-local").resolve()
    assert [route.name for route in bridge.routes] == ["release_worker"], bridge.routes
    stopping = threading.Event()

    def run() -> None:
        while not stopping.is_set():
            try:
                bridge.poll(wait_seconds=1)
            except Exception:  # noqa: BLE001 - moto going away at the end of the session
                stopping.wait(0.5)

    thread = threading.Thread(target=run, name="release-worker", daemon=True)
    thread.start()
    try:
        yield bridge
    finally:
        stopping.set()
        thread.join(timeout=10)


# ---- the deployable artefact
@pytest.fixture(scope="session")
def packaged(tmp_path_factory) -> Path:
    """out/ as `make package` builds it (deployment.zip, sam.json), once per session: the slow
    tests of tests/infra/test_package.py and tests/unit/test_package_bundle.py share it."""
    from tests.dashboard_helpers import build_dashboard

    build_dashboard()  # what `make package` builds first
    out = tmp_path_factory.mktemp("package")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    # What `make package` runs.
    result = subprocess.run(
        [sys.executable, "-m", "postlaunch.package", "--stage", "prod", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out
