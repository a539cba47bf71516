"""`make package`: the deployable artefact in out/ (deployment.zip + sam.json), from one source each.

infra/template.json names the ASL file of each state machine in its Metadata (`DefinitionFile`)
instead of holding a copy of it; this inlines the file as the resource's `Definition` (CloudFormation
then applies `DefinitionSubstitutions`), writes that merge template to out/, and runs
`chalice package --merge-template` on it. The local stack reads the same file
(postlaunch.localstack), so what runs on moto is what deploys.

Then it finishes the bundle for a fast cold start (README, "Cold start"; `python -m bench.coldstart`):
- it drops the packages the Lambda Python runtime already holds (boto3 and what boto3 brings:
  botocore, s3transfer, jmespath, python-dateutil, six, urllib3). PynamoDB pulls botocore into the
  bundle, where it would shadow the runtime's: the runtime's boto3 would then run on a botocore it was
  not released with. PynamoDB asks only for botocore>=1.12.54, which every runtime exceeds.
- it adds bytecode: an unchecked hash-based `.pyc` beside every module (`__pycache__/`), which
  Python uses from a read-only directory without comparing timestamps (Lambda's /var/task is
  read-only, so without them every cold start compiles every module it imports). Bytecode is only
  good for the interpreter version that wrote it: this refuses when the template's runtime is not
  the Python running it (Chalice takes the runtime from the Python that packages, so they agree).

Usage: python -m postlaunch.package [--stage prod] [--out out]
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import py_compile
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.json"
STATE_MACHINE = "AWS::StepFunctions::StateMachine"
MERGE_TEMPLATE = "merge-template.json"
OUTPUTS = ("deployment.zip", "sam.json", MERGE_TEMPLATE)


class PackageError(Exception):
    """The artefact could not be built; the message says why."""


def definition_of(resource: dict[str, Any], root: Path = ROOT) -> dict[str, Any]:
    """The ASL of a state machine resource: its inline Definition, or the file its Metadata names."""
    props = resource.get("Properties", {})
    if "Definition" in props:
        return props["Definition"]
    relative = resource.get("Metadata", {}).get("DefinitionFile")
    if not relative:
        raise PackageError("a state machine needs Properties.Definition or Metadata.DefinitionFile")
    path = root / relative
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PackageError(f"cannot read the state machine definition {relative}: {exc}") from exc


def inline_definitions(template: dict[str, Any], root: Path = ROOT) -> dict[str, Any]:
    """A copy of the template with every state machine's ASL file put into its Definition."""
    merged = copy.deepcopy(template)
    for resource in merged.get("Resources", {}).values():
        if resource.get("Type") != STATE_MACHINE:
            continue
        resource["Properties"]["Definition"] = definition_of(resource, root)
        resource.get("Metadata", {}).pop("DefinitionFile", None)
    return merged


# ---- dashboard
DASHBOARD_PAGE = Path("chalicelib") / "static" / "dashboard" / "index.html"


def require_dashboard(project_dir: Path = ROOT) -> None:
    """The bundle serves /dashboard from chalicelib/static/dashboard/, which web/ builds and git does
    not hold: packaging without it would deploy a dashboard that answers 404."""
    if not (project_dir / DASHBOARD_PAGE).is_file():
        raise PackageError(
            f"{DASHBOARD_PAGE.parent} is not built: run `make package` (it builds web/ first) "
            "or `make dashboard`, which need Node.js and npm."
        )


# ---- bundle
# boto3 and its dependencies, as the Lambda Python runtime provides them (normalised dist names).
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)
# Zip entries get a fixed time, as Chalice's own do, so the same sources make the same bundle.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644 << 16


@dataclass
class Bundle:
    """What finish_bundle did to a deployment.zip."""

    runtime: str
    dropped: list[str] = field(default_factory=list)  # distributions left to the runtime
    compiled: int = 0  # modules given a .pyc
    size_before: int = 0
    size_after: int = 0


def dist_name(dist_info: str) -> str:
    """`python_dateutil-2.9.0.post0.dist-info` -> `python-dateutil` (PEP 503 normalised)."""
    return re.sub(r"[-_.]+", "-", dist_info.split("-")[0]).lower()


def runtime_of(sam: dict[str, Any]) -> str:
    """The one Python runtime the template's functions run on (`python3.11`)."""
    found = {
        r["Properties"].get("Runtime") or sam.get("Globals", {}).get("Function", {}).get("Runtime")
        for r in sam.get("Resources", {}).values()
        if r.get("Type") == "AWS::Serverless::Function"
    }
    if len(found) != 1 or not all(found):
        raise PackageError(f"the functions must share one Python runtime; the template has {sorted(found)}")
    return found.pop()


def interpreter_runtime() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def _dropped_files(root: Path, drop: frozenset[str]) -> tuple[list[str], set[str]]:
    """The distributions of `drop` found in the unpacked bundle, and every file their RECORDs list."""
    names, files = [], set()
    for info in sorted(root.glob("*.dist-info")):
        if dist_name(info.name) not in drop:
            continue
        names.append(info.name.removesuffix(".dist-info"))
        record = (info / "RECORD").read_text().splitlines()
        files |= {line.split(",")[0] for line in record if line}
        files |= {f"{info.name}/{p.name}" for p in info.iterdir()}
    return names, files


def finish_bundle(zip_path: Path, runtime: str, drop: frozenset[str] = RUNTIME_PROVIDED) -> Bundle:
    """Rewrite a Chalice deployment.zip: without the runtime's own packages, with bytecode."""
    if runtime != interpreter_runtime():
        raise PackageError(
            f"the template runs {runtime} but this is {interpreter_runtime()}: bytecode is only good for "
            "the Python version that writes it; package with the runtime's Python."
        )
    result = Bundle(runtime=runtime, size_before=zip_path.stat().st_size)
    with tempfile.TemporaryDirectory(prefix="bundle-") as tmp:
        root = Path(tmp)
        with zipfile.ZipFile(zip_path) as source:
            entries = source.infolist()
            source.extractall(root)
        result.dropped, dropped = _dropped_files(root, drop)
        kept = [e for e in entries if e.filename not in dropped and not e.is_dir()]
        modules = [e.filename for e in kept if e.filename.endswith(".py")]
        compiled = _compile(root, modules)
        result.compiled = len(compiled)
        partial = zip_path.with_suffix(".zip.partial")
        with zipfile.ZipFile(zip_path) as source, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as out:
            for entry in kept:
                out.writestr(entry, source.read(entry))
            for name in compiled:
                info = zipfile.ZipInfo(name, ZIP_TIME)
                info.external_attr = FILE_MODE
                info.compress_type = zipfile.ZIP_DEFLATED
                out.writestr(info, (root / name).read_bytes())
        partial.replace(zip_path)
    result.size_after = zip_path.stat().st_size
    return result


def _compile(root: Path, modules: list[str]) -> list[str]:
    """Unchecked hash-based .pyc for each module; returns the .pyc paths (relative, posix).

    A file that does not compile (a template or a Python 2 example some packages ship) gets none:
    importing it would fail on Lambda too, so it is not ours to fix here."""
    written = []
    for name in modules:
        pyc = PurePosixPath(importlib.util.cache_from_source(name))
        try:
            py_compile.compile(
                str(root / name),
                cfile=str(root / pyc),
                dfile=name,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        except py_compile.PyCompileError:
            continue
        written.append(str(pyc))
    return written


def package(
    out: Path, stage: str = "prod", template: Path = TEMPLATE, project_dir: Path = ROOT, finish: bool = True
) -> Path:
    """Write out/merge-template.json, then `chalice package` out/ (deployment.zip, sam.json), then
    finish the bundle (finish_bundle: the runtime's own packages out, bytecode in)."""
    require_dashboard(project_dir)
    merged = inline_definitions(json.loads(template.read_text()), project_dir)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    # Only what this writes is removed first (never the directory: --out may name one holding more).
    for name in OUTPUTS:
        (out / name).unlink(missing_ok=True)
    merge_path = out / MERGE_TEMPLATE
    merge_path.write_text(json.dumps(merged, indent=2) + "\n")
    chalice = Path(sys.executable).with_name("chalice")
    cmd = [str(chalice) if chalice.exists() else "chalice", "package", "--stage", stage]
    cmd += ["--merge-template", str(merge_path), str(out)]
    env = {**os.environ}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # chalice package needs a region to name ARNs
    # The packager names AWS resources and calls none: a local endpoint would only confuse it.
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackageError(f"chalice package failed:\n{result.stdout}{result.stderr}")
    if finish:  # (bench.coldstart wants Chalice's bundle as it was, to time each step)
        finish_bundle(out / "deployment.zip", runtime_of(json.loads((out / "sam.json").read_text())))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m postlaunch.package", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--stage", default="prod", help="the .chalice/config.json stage (default prod)")
    parser.add_argument("--out", default="out", help="output directory (default out/)")
    args = parser.parse_args(argv)
    try:
        out = package(Path(args.out), stage=args.stage)
    except PackageError as exc:
        print(f"package: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"Packaged into {out}: deployment.zip, sam.json ({MERGE_TEMPLATE} is what was merged).")


if __name__ == "__main__":
    main()
