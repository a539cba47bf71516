"""`make dashboard` (run by make run, test and package) says plainly what is missing without Node."""

from __future__ import annotations

import shutil
import subprocess

from postlaunch.localstack import ROOT


def test_without_node_and_npm_the_build_fails_saying_so(tmp_path):
    # Given a PATH that holds neither node nor npm
    make = shutil.which("make")
    assert make, "make is needed"

    # When the dashboard is built (forced, as if nothing were built yet), dry of side effects
    result = subprocess.run(
        [make, "--no-print-directory", "-B", "dashboard"],
        cwd=ROOT,
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then it stops at once, naming what to install
    assert result.returncode != 0
    assert "needs Node.js and npm" in result.stderr, result.stderr
    assert "npm ci" not in result.stdout
