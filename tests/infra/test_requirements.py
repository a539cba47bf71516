"""requirements.txt is the Lambda bundle; pyproject.toml installs the same pins for the CLI and tests."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_bundle_requirement_is_pinned_identically_in_pyproject():
    bundle = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert bundle, "requirements.txt is empty"
    for requirement in bundle:
        assert "==" in requirement, f"{requirement} is not pinned"
        assert requirement in project, f"{requirement} differs from pyproject.toml"


def test_bundle_leaves_out_dev_and_cli_tools():
    lines = (ROOT / "requirements.txt").read_text().lower().splitlines()
    bundle = "\n".join(line for line in lines if not line.startswith("#"))
    for tool in ("moto", "pytest", "chalice", "click", "rich", "awscli", "cfn-lint", "boto3"):
        assert tool not in bundle, tool
