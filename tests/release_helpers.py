"""What release tests share: a target function of their own on the moto stack, new builds of it,
fixed issues, and release versions that only go up across the session (contract: each test that
releases uses its own target, so tests never see each other's aliases, metrics or locks)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import semver

from chalicelib.store import issues as issue_store
from chalicelib.store import releases as release_store
from postlaunch.localstack import _zip, create_release_target

ALIASES = ("staging", "live")
_ROLE: dict[str, str] = {}


def fresh_version() -> str:
    """A version above every release of the session: the next minor after the highest stored, so
    it holds whatever versions other test modules chose."""
    highest = release_store.max_version()
    if highest is None:
        return "1.0.0"
    return str(semver.Version.parse(highest).bump_minor())


def _role(stack: Any) -> str:
    if "arn" not in _ROLE:
        iam = stack.aws_client("iam")
        _ROLE["arn"] = iam.create_role(
            RoleName=f"release-test-target-{uuid.uuid4().hex[:8]}",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
    return _ROLE["arn"]


def make_target(stack: Any, prefix: str = "rel-target") -> str:
    """A new function with version 1 published and both aliases on it (as a deployed target looks
    before its first release)."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    create_release_target(stack.aws_client("lambda"), _role(stack), name, ALIASES)
    return name


def new_build(stack: Any, function: str) -> None:
    """Upload new code to $LATEST (what `aws lambda update-function-code` does before a release)."""
    code = f'def handler(event, context):\n    return {{"build": "{uuid.uuid4().hex}"}}\n'
    stack.aws_client("lambda").update_function_code(FunctionName=function, ZipFile=_zip({"handler.py": code}))


def publish_build(stack: Any, function: str) -> str:
    """A new build, published: its version number."""
    new_build(stack, function)
    return stack.aws_client("lambda").publish_version(FunctionName=function)["Version"]


def versions(stack: Any, function: str) -> list[str]:
    pages = stack.aws_client("lambda").get_paginator("list_versions_by_function")
    return [v["Version"] for page in pages.paginate(FunctionName=function) for v in page["Versions"]]


def fixed_issue(*feature_areas: str, severity: str = "high") -> str:
    title = f"Reminder sent twice {uuid.uuid4().hex[:6]}"
    return issue_store.create_issue(title, severity, status="fixed", feature_areas=feature_areas).id


def table_items(stack: Any, table: str) -> int:
    """Items in a table (a full scan: the test tables are small)."""
    pages = stack.aws_client("dynamodb").get_paginator("scan")
    return sum(page["Count"] for page in pages.paginate(TableName=table, Select="COUNT"))


@contextmanager
def worker_settings(**env: str) -> Iterator[None]:
    """Settings for the release worker, which runs in the test process (conftest `release_worker`):
    set for one test, restored after."""
    from chalicelib.config import reset_settings

    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    reset_settings()
    release_store.bind()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_settings()


def clear_critical_alerts(reason: str = "cleared before a production rollout test") -> None:
    """No critical alert firing: the pre-deploy check refuses production otherwise, and earlier tests
    of the session (critical bug reports) leave some. Resolved as an operator would."""
    from chalicelib.alerts import engine
    from chalicelib.store import alerts as alert_store

    for alert in alert_store.active_alerts():
        if alert.get("severity") == "critical":
            engine.resolve(alert["id"], actor="test", reason=reason)
