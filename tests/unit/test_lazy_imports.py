"""What a cold start imports (README, "Cold start"): `import app` loads what the liveness probe needs,
and each route's modules load on its first use. Module counts, not times: they do not depend on the
machine (bench/coldstart.py has the times)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from chalicelib.lazy import LazyModule, lazy

ROOT = Path(__file__).resolve().parents[2]

# Each of these costs tens of milliseconds and no liveness probe needs it.
HEAVY = (
    "boto3",
    "botocore.client",
    "pynamodb",
    "jwt",
    "cryptography",
    "jinja2",
    "slack_sdk",
    "phonenumbers",
    "snowballstemmer",
    "chalicelib.store",
    "chalicelib.schemas.feedback",
    "chalicelib.feedback.service",
)


def modules_after(code: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def loaded(modules: list[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


def test_importing_the_app_loads_none_of_the_heavy_libraries_or_services():
    modules = modules_after("import app")
    assert "chalice.app" in modules and "chalicelib.config" in modules
    assert [name for name in HEAVY if loaded(modules, name)] == []


def test_a_route_module_loads_on_first_use():
    modules = modules_after("import app\napp.feedback_schemas.FeedbackCreate")
    assert "chalicelib.schemas.feedback" in modules
    assert not loaded(modules, "pynamodb")  # the request models do not need the store


def test_a_lazy_module_is_the_module_once_used():
    errors = lazy("chalicelib.errors")
    assert isinstance(errors, LazyModule) and "chalicelib.errors" in repr(errors)
    from chalicelib import errors as imported

    assert errors.DomainError is imported.DomainError
    assert errors.load() is imported
