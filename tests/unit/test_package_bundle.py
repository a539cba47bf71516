"""The Lambda bundle as `make package` builds it (out/deployment.zip): what a fast cold start needs
in it, and nothing that does not belong there (README, "Cold start"; bench/coldstart.py times it).

Slow: the `packaged` fixture (tests/conftest.py) builds the bundle, once per session, shared with
tests/infra/test_package.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from bench.coldstart import lambda_env, runtime_dir, unpack, writable
from postlaunch.package import RUNTIME_PROVIDED, dist_name, interpreter_runtime, runtime_of

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(packaged) -> zipfile.ZipFile:
    with zipfile.ZipFile(packaged / "deployment.zip") as opened:
        yield opened


def pyc_flags(data: bytes) -> int:
    """The flags word of a .pyc header (PEP 552): 0b01 hash-based, 0b10 check the source."""
    return int.from_bytes(data[4:8], "little")


def test_every_module_ships_with_unchecked_hash_bytecode_for_the_runtime(packaged, bundle):
    names = set(bundle.namelist())
    sources = sorted(n for n in names if n.endswith(".py"))
    ours = [n for n in sources if n == "app.py" or n.startswith("chalicelib/")]
    assert "chalicelib/lazy.py" in ours and len(ours) > 50
    # Bytecode is only good for one Python version: the template's runtime is the one that compiled.
    assert runtime_of(json.loads((packaged / "sam.json").read_text())) == interpreter_runtime()
    missing = [n for n in sources if importlib.util.cache_from_source(n) not in names]
    assert not missing, f"modules without bytecode: {missing[:10]}"
    for name in ours + ["pydantic/main.py", "pynamodb/models.py", "aws_lambda_powertools/logging/logger.py"]:
        data = bundle.read(importlib.util.cache_from_source(name))
        assert data[:4] == importlib.util.MAGIC_NUMBER, name
        # Hash-based and unchecked: used as is from a read-only directory, whatever the file times.
        assert pyc_flags(data) == 0b01, name


def dev_distributions() -> list[str]:
    """The [dev] extra of pyproject.toml: test and lint tools, the local AWS."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["optional-dependencies"]["dev"]
    names = [re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0] for spec in specs]
    return [re.sub(r"[-_.]+", "-", name).lower() for name in names]


def import_names(dist: str) -> set[str]:
    """The top-level names a distribution installs (packages, modules, its .dist-info)."""
    files = metadata.distribution(dist).files or []
    return {f.parts[0].removesuffix(".py") for f in files if f.parts[0] not in ("..", "__pycache__")}


def test_the_bundle_holds_no_dev_tools_and_not_the_runtimes_own_packages(bundle):
    top = {n.split("/")[0].removesuffix(".py") for n in bundle.namelist()}
    dists = {dist_name(n) for n in top if n.endswith(".dist-info")}
    dev = set(dev_distributions())
    assert {"pytest", "moto", "playwright", "ruff", "chalice"} <= dev
    # Chalice's own runtime (chalice/__init__.py, chalice/app.py) is what every Chalice bundle runs on.
    dev.discard("chalice")
    assert {n for n in bundle.namelist() if n.startswith("chalice/") and n.endswith(".py")} == {
        "chalice/__init__.py",
        "chalice/app.py",
    }
    assert not dev & dists, sorted(dev & dists)
    shipped_dev = {name for dist in dev for name in import_names(dist)} & top
    assert not shipped_dev, sorted(shipped_dev)
    assert not {"tests", "bench", "postlaunch", "web", "_pytest", "pytest"} & top
    # boto3 and botocore are the runtime's (postlaunch.package: a second botocore would shadow it)
    assert not RUNTIME_PROVIDED & dists, sorted(RUNTIME_PROVIDED & dists)
    assert not {"boto3", "botocore", "s3transfer", "urllib3", "dateutil"} & top
    assert {"pynamodb", "pydantic", "jwt", "aws_lambda_powertools", "app", "chalicelib"} <= top


# Imports app as Lambda does, then every handler the template names and every module app.py defers
# (chalicelib.lazy), so a module missing from the bundle fails here, not on a first request.
_IMPORT_ALL = """
import json, sys
import app
from chalicelib.lazy import LazyModule

missing = [h for h in json.loads(sys.argv[1]) if not callable(getattr(app, h, None))]
deferred = sorted(v.load().__name__ for v in vars(app).values() if isinstance(v, LazyModule))
import boto3, botocore, pynamodb
print(json.dumps({"missing": missing, "deferred": deferred, "boto3": boto3.__file__,
                  "botocore": botocore.__file__, "pynamodb": pynamodb.__file__}))
"""


def test_the_handlers_and_every_deferred_module_import_from_the_bundle_on_the_runtimes_boto3(
    packaged, bundle, tmp_path
):
    template = json.loads((packaged / "sam.json").read_text())
    handlers = sorted(
        r["Properties"]["Handler"].removeprefix("app.")
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    )
    assert "app" in handlers and "evaluate_health" in handlers
    task = unpack(packaged / "deployment.zip", tmp_path / "task")  # read-only, as /var/task is
    runtime = runtime_dir(tmp_path)  # boto3 as the runtime provides it
    shipped = sorted(task.rglob("*.pyc"))
    try:
        # -S: nothing from this virtualenv but what runtime_dir copied; -v: where each module came from
        result = subprocess.run(
            [sys.executable, "-S", "-v", "-c", _IMPORT_ALL, json.dumps(handlers)],
            cwd=task,
            env=lambda_env(runtime, task),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        found = json.loads(result.stdout.strip().splitlines()[-1])
        assert found["missing"] == []
        assert "chalicelib.feedback.service" in found["deferred"] and len(found["deferred"]) >= 20
        assert found["boto3"].startswith(str(runtime)) and found["botocore"].startswith(str(runtime))
        assert found["pynamodb"].startswith(str(task))
        loaded = re.findall(r"^# code object from '?(.+?)'?$", result.stderr, re.MULTILINE)
        from_task = [path for path in loaded if path.startswith(str(task))]
        compiled = [path for path in from_task if not path.endswith(".pyc")]
        assert len(from_task) > 200 and not compiled, compiled[:10]
        assert sorted(task.rglob("*.pyc")) == shipped  # the bytecode used is what shipped
    finally:
        writable(tmp_path)
