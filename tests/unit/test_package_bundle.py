"""The Lambda bundle as `make package` builds it (out/deployment.zip): what a fast cold start needs
in it, and nothing that does not belong there (README, "Cold start"; bench/coldstart.py times it).

The tests of the built bundle are slow: the `packaged` fixture (tests/conftest.py) builds it, once
per session, shared with tests/infra/test_package.py. The packager's own steps are tested fast, on a
small zip, at the end.
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
from postlaunch.package import (
    RUNTIME_PROVIDED,
    PackageError,
    dist_name,
    finish_bundle,
    interpreter_runtime,
    runtime_of,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle(packaged) -> zipfile.ZipFile:
    with zipfile.ZipFile(packaged / "deployment.zip") as opened:
        yield opened


def pyc_flags(data: bytes) -> int:
    """The flags word of a .pyc header (PEP 552): 0b01 hash-based, 0b10 check the source."""
    return int.from_bytes(data[4:8], "little")


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


# ---- the packager's steps, on a small zip


def small_bundle(path: Path) -> Path:
    record = "botocore/__init__.py,sha256=x,1\nbotocore/data/x.json,,\nbotocore-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as out:
        out.writestr("app.py", "from chalicelib import service\n")
        out.writestr("chalicelib/__init__.py", "")
        out.writestr("chalicelib/service.py", "ANSWER = 42\n")
        out.writestr("chalicelib/static/page.html", "<p>not a module</p>")
        out.writestr("pydantic_core-2.0.dist-info/RECORD", "pydantic_core/__init__.py,,\n")
        out.writestr("pydantic_core/__init__.py", "")
        out.writestr("broken.py", "def (:\n")  # some packages ship files that do not compile
        out.writestr("botocore/__init__.py", "")
        out.writestr("botocore/data/x.json", "{}")
        out.writestr("botocore-1.0.dist-info/RECORD", record)
        out.writestr("botocore-1.0.dist-info/METADATA", "Name: botocore\n")
    return path


def test_finishing_drops_the_runtimes_packages_by_their_record_and_adds_unchecked_bytecode(tmp_path):
    path = small_bundle(tmp_path / "deployment.zip")
    done = finish_bundle(path, interpreter_runtime())
    names = set(zipfile.ZipFile(path).namelist())
    assert done.dropped == ["botocore-1.0"] and not any(n.startswith("botocore") for n in names)
    assert done.compiled == 4 and importlib.util.cache_from_source("broken.py") not in names
    for module in ("app.py", "chalicelib/service.py", "pydantic_core/__init__.py"):
        data = zipfile.ZipFile(path).read(importlib.util.cache_from_source(module))
        assert data[:4] == importlib.util.MAGIC_NUMBER and pyc_flags(data) == 0b01
    assert {"chalicelib/static/page.html", "pydantic_core-2.0.dist-info/RECORD", "broken.py"} <= names


def test_finishing_keeps_whatever_it_is_not_asked_to_drop(tmp_path):
    path = small_bundle(tmp_path / "deployment.zip")
    assert finish_bundle(path, interpreter_runtime(), drop=frozenset()).dropped == []
    assert "botocore/data/x.json" in zipfile.ZipFile(path).namelist()


def test_bytecode_for_another_python_than_the_runtime_is_refused(tmp_path):
    path = small_bundle(tmp_path / "deployment.zip")
    with pytest.raises(PackageError, match="python3.99"):
        finish_bundle(path, "python3.99")
    assert "botocore/__init__.py" in zipfile.ZipFile(path).namelist()  # left as it was


def test_the_functions_must_share_one_runtime():
    def function(runtime: str) -> dict:
        return {"Type": "AWS::Serverless::Function", "Properties": {"Runtime": runtime}}

    same = {"A": function("python3.11"), "B": function("python3.11")}
    assert runtime_of({"Resources": same}) == "python3.11"
    with pytest.raises(PackageError, match="one Python runtime"):
        runtime_of({"Resources": {"A": function("python3.11"), "B": function("python3.12")}})
