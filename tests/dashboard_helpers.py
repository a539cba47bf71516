"""The dashboard's build, for the tests that serve it: `make dashboard` (npm ci when needed, then the
bundle; a no-op when up to date), so running one test file by hand needs no prior `make test`."""

from __future__ import annotations

import shutil
import subprocess

from postlaunch.localstack import ROOT

STATIC = ROOT / "chalicelib" / "static" / "dashboard"


def build_dashboard() -> None:
    if shutil.which("make") is None:
        raise RuntimeError("make is needed to build the dashboard (web/)")
    result = subprocess.run(
        ["make", "--no-print-directory", "dashboard"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"make dashboard failed:\n{result.stdout}{result.stderr}"
    from chalicelib import dashboard

    dashboard._files.cache_clear()
