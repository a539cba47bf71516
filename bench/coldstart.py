"""Cold start of the shipped bundle (issue 10, section 1), against a hello-world Chalice app.

What is timed: `import app` (plus, for one row, the modules the feedback POST route loads on its
first call) in a fresh interpreter, from the bundle `make package` builds, unzipped into a
directory nothing may write to, with PYTHONDONTWRITEBYTECODE=1. As on Lambda, the bundle comes first
on sys.path and boto3 second, from a copy of this interpreter's boto3 and its dependencies (standing
in for the runtime's /var/runtime, compiled there as the runtime's is); `python -S` keeps the
virtualenv's other packages out, so a module missing from the bundle fails here as it would on AWS.

The hello world is `import boto3` + one Chalice route, packaged by `chalice package` the same way.
Every variant is timed in the same run, round-robin (one sample of each, then again), median of 7
(3 with --quick), and shown as a ratio to the hello world as Chalice packages it ("ratio") and to
the hello world given bytecode too ("(+pyc)"): the machines are shared and noisy.

The steps, each a bundle of its own:
  before      the code of BASELINE (before issue 10), as `chalice package` builds it
  +bytecode   the same with an unchecked hash-based .pyc beside every module
  -botocore   the same without the runtime's own packages (PynamoDB's botocore shadowed boto3's)
  +lazy       this checkout's code (routes import their modules on first use): what ships
Each row also says how many of the modules imported from the bundle came from bytecode
(`python -v`), so a .pyc that Python ignores shows, and the zip's size packed and unpacked: what
the second botocore costs (Lambda fetches and unpacks the zip before any of our code runs).

Usage: python -m bench.coldstart [--quick]   (needs the dashboard built: make dashboard)
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from postlaunch import package as packager

ROOT = Path(__file__).resolve().parent.parent
# The code before issue 10 (branch i9-base): the "before" row is built from it.
BASELINE = "8c11b2c3c8d463adc4798cb00c438156cde80c89"
# What the feedback POST route imports on its first call (the "+ first feedback POST" row).
FEEDBACK_ROUTE = ("chalicelib.schemas.feedback", "chalicelib.feedback.service")

_TIMER = """
import sys, time
start = time.perf_counter()
import app
for name in sys.argv[1:]:
    __import__(name)
print(time.perf_counter() - start)
"""

HELLO_APP = """import boto3  # noqa: F401  (what a typical Chalice app imports)
from chalice import Chalice

app = Chalice(app_name="hello-world")


@app.route("/")
def index():
    return {"hello": "world"}
"""


@dataclass
class Variant:
    name: str
    label: str
    directory: Path
    zip_path: Path
    modules: tuple[str, ...] = ()


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}")


def _chalice() -> str:
    found = Path(sys.executable).with_name("chalice")
    return str(found) if found.exists() else "chalice"


def hello_world_zip(work: Path) -> Path:
    project = work / "hello-world"
    (project / ".chalice").mkdir(parents=True)
    (project / "app.py").write_text(HELLO_APP)
    (project / "requirements.txt").write_text("")
    config = {"version": "2.0", "app_name": "hello-world", "stages": {"dev": {"api_gateway_stage": "api"}}}
    (project / ".chalice" / "config.json").write_text(json.dumps(config))
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    _run([_chalice(), "package", str(work / "hello-out")], project, env)
    return work / "hello-out" / "deployment.zip"


def baseline_zip(current_raw: Path, work: Path) -> Path | None:
    """Chalice's bundle of this checkout with app.py and chalicelib/ of BASELINE instead (the same
    requirements.txt, so the same dependencies); None when git or the commit is not at hand."""
    try:
        archive = subprocess.run(
            ["git", "archive", BASELINE, "app.py", "chalicelib"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    ours = ("app.py", "chalicelib/")
    target = work / "baseline.zip"
    with (
        zipfile.ZipFile(current_raw) as source,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out,
        tarfile.open(fileobj=io.BytesIO(archive)) as tar,
    ):
        for entry in source.infolist():
            # the built dashboard is not in git: keep this checkout's
            if not entry.filename.startswith(ours) or "/static/" in entry.filename:
                out.writestr(entry, source.read(entry))
        for member in tar.getmembers():
            if member.isfile():
                info = zipfile.ZipInfo(member.name, packager.ZIP_TIME)
                info.external_attr = packager.FILE_MODE
                info.compress_type = zipfile.ZIP_DEFLATED
                out.writestr(info, tar.extractfile(member).read())
    return target


def runtime_dir(work: Path) -> Path:
    """boto3 and its dependencies from this interpreter, compiled, as the Lambda runtime holds them."""
    target = work / "runtime"
    target.mkdir()
    for name in packager.RUNTIME_PROVIDED:
        dist = metadata.distribution(name)
        for file in dist.files or []:
            if file.parts[0] == ".." or file.suffix == ".pyc":
                continue
            source = Path(dist.locate_file(file))
            (target / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / file)
    _run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", "."], target)
    return target


def finished(source: Path, target: Path, runtime: str, drop: frozenset[str]) -> Path:
    shutil.copy2(source, target)
    packager.finish_bundle(target, runtime, drop=drop)
    return target


def unpack(zip_path: Path, directory: Path) -> Path:
    """Unzip, then make every file and directory read-only (as /var/task is)."""
    with zipfile.ZipFile(zip_path) as bundle:
        bundle.extractall(directory)
    read_only(directory)
    return directory


def read_only(directory: Path) -> None:
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def writable(directory: Path) -> None:
    for path in [directory, *directory.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


def lambda_env(runtime: Path, bundle: Path) -> dict[str, str]:
    """The prod stage's variables (as `chalice package` gives them to the functions), the bundle
    first on the path and the runtime's boto3 after it, no bytecode written."""
    from postlaunch.devstack import chalice_stage_env

    return {
        **chalice_stage_env("prod"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": f"{bundle}{os.pathsep}{runtime}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


def sample(variant: Variant, runtime: Path) -> float:
    result = subprocess.run(
        [sys.executable, "-S", "-c", _TIMER, *variant.modules],
        cwd=variant.directory,
        env=lambda_env(runtime, variant.directory),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{variant.name}: import failed:\n{result.stderr[-3000:]}")
    return float(result.stdout.strip().splitlines()[-1])


_CODE_FROM = re.compile(r"^# code object from '?(.+?)'?$")


def bytecode_use(variant: Variant, runtime: Path) -> dict[str, int]:
    """Of the modules imported from the bundle: how many came from a .pyc, how many were compiled."""
    result = subprocess.run(
        [sys.executable, "-S", "-v", "-c", _TIMER, *variant.modules],
        cwd=variant.directory,
        env=lambda_env(runtime, variant.directory),
        capture_output=True,
        text=True,
        check=False,
    )
    pyc = source = 0
    for line in result.stderr.splitlines():
        found = _CODE_FROM.match(line)
        if not found or not found.group(1).startswith(str(variant.directory)):
            continue
        pyc += found.group(1).endswith(".pyc")
        source += found.group(1).endswith(".py")
    return {"fromBytecode": pyc, "compiled": source}


def pyc_count(directory: Path) -> int:
    return sum(1 for _ in directory.rglob("*.pyc"))


def unpacked_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def build(work: Path) -> tuple[list[Variant], str, list[str]]:
    """Every bundle of the comparison, unpacked read-only. Returns the variants, the runtime, notes."""
    notes: list[str] = []
    out = work / "package"
    packager.package(out, finish=False)
    runtime = packager.runtime_of(json.loads((out / "sam.json").read_text()))
    raw = out / "deployment.zip"
    none: frozenset[str] = frozenset()
    zips: list[tuple[str, str, Path, tuple[str, ...]]] = []
    hello = hello_world_zip(work)
    zips.append(("hello", "hello world (chalice package)", hello, ()))
    zips.append(
        ("hello+bytecode", "hello world + bytecode", finished(hello, work / "h1.zip", runtime, none), ())
    )
    base = baseline_zip(raw, work)
    if base is None:
        notes.append(f"no 'before' rows: git or commit {BASELINE[:8]} is not at hand")
    else:
        zips.append(("before", f"before ({BASELINE[:8]}, chalice package)", base, ()))
        b1 = finished(base, work / "b1.zip", runtime, none)
        zips.append(("+bytecode", "  + bytecode", b1, ()))
        b2 = finished(base, work / "b2.zip", runtime, packager.RUNTIME_PROVIDED)
        zips.append(("-botocore", "  + bytecode - bundled botocore", b2, ()))
    shipped = finished(raw, work / "shipped.zip", runtime, packager.RUNTIME_PROVIDED)
    zips.append(("+lazy", "  + lazy imports = make package", shipped, ()))
    zips.append(("+lazy feedback", "    + first feedback POST's imports", shipped, FEEDBACK_ROUTE))
    variants, unpacked = [], {}
    for name, label, zip_path, modules in zips:
        if zip_path not in unpacked:
            unpacked[zip_path] = unpack(zip_path, work / f"bundle-{len(unpacked)}")
        variants.append(Variant(name, label, unpacked[zip_path], zip_path, modules))
    return variants, runtime, notes


def run(ctx: Any = None, quick: bool | None = None) -> dict[str, Any]:
    quick = bool(getattr(ctx, "quick", False)) if quick is None else quick
    rounds = 3 if quick else 7
    print(f"Cold start: `import app` from the unzipped, read-only bundle; median of {rounds}, vs hello world")
    work = Path(tempfile.mkdtemp(prefix="coldstart-"))
    try:
        variants, runtime, notes = build(work)
        boto = runtime_dir(work)
        read_only(boto)
        written_before = {v.directory: pyc_count(v.directory) for v in variants}
        times: dict[str, list[float]] = {v.name: [] for v in variants}
        for _ in range(rounds):
            for variant in variants:
                times[variant.name].append(sample(variant, boto))
        written = [v.name for v in variants if pyc_count(v.directory) != written_before[v.directory]]
        if written:
            raise RuntimeError(f"bytecode was written into the bundle of {written}: the timing is not cold")
        hello = statistics.median(times["hello"])
        figures: dict[str, Any] = {
            "runtime": runtime,
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
            "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "rounds": rounds,
            "notes": notes,
            "variants": {},
        }
        hello_pyc = statistics.median(times["hello+bytecode"])
        print(f"  runtime {runtime}, Python {platform.python_version()}, {figures['machine']}")
        print(
            f"  {'bundle':<38} {'median s':>8} {'ratio':>6} {'(+pyc)':>6} {'zip MB':>7} {'unzipped MB':>11}"
        )
        for variant in variants:
            median = statistics.median(times[variant.name])
            row = {
                "label": variant.label.strip(),
                "medianSeconds": round(median, 4),
                "ratio": round(median / hello, 2),
                "ratioToHelloWithBytecode": round(median / hello_pyc, 2),
                "samples": [round(t, 4) for t in times[variant.name]],
                "zipBytes": variant.zip_path.stat().st_size,
                "unzippedBytes": unpacked_bytes(variant.directory),
                **bytecode_use(variant, boto),
            }
            figures["variants"][variant.name] = row
            print(
                f"  {variant.label:<38} {median:8.3f} {row['ratio']:6.2f} {median / hello_pyc:6.2f} "
                f"{row['zipBytes'] / 1e6:7.1f} {row['unzippedBytes'] / 1e6:11.1f}  "
                f"(modules from .pyc {row['fromBytecode']}, compiled {row['compiled']})"
            )
        steps = [v for v in variants if not v.modules and not v.name.startswith("hello")]
        for before, after in zip(steps, steps[1:], strict=False):
            gain = (
                figures["variants"][before.name]["medianSeconds"]
                / figures["variants"][after.name]["medianSeconds"]
            )
            print(f"  step {after.name:<10} import {gain:.2f}x as fast as the step before")
        for note in notes:
            print(f"  note: {note}")
        return figures
    finally:
        writable(work)
        shutil.rmtree(work, ignore_errors=True)


# How each bundle is named in the README's table.
README_LABELS = {
    "hello": "hello world (`chalice package`)",
    "hello+bytecode": "hello world + bytecode",
    "before": f"before (commit {BASELINE[:7]}, `chalice package`)",
    "+bytecode": "+ bytecode",
    "-botocore": "+ bytecode − bundled botocore",
    "+lazy": "+ lazy imports = `make package` now",
    "+lazy feedback": "… + the modules of a first feedback POST",
}


def readme(figures: dict[str, Any], meta: dict[str, Any]) -> str:
    """The README's cold-start table (between `<!-- coldstart:start -->` and `<!-- coldstart:end -->`)."""
    lines = [
        f"Measured {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs, Python {meta['python']}) "
        f"by `make bench`: runtime {figures['runtime']}, median of {figures['rounds']} imports of each "
        "bundle, the bundles taken in turn.",
        "",
        "| bundle | median s | vs hello world | vs hello world + bytecode | zip MB | unzipped MB |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for name, row in figures["variants"].items():
        cells = [
            README_LABELS.get(name, row["label"]),
            f"{row['medianSeconds']:.3f}",
            f"{row['ratio']:.2f}",
            f"{row['ratioToHelloWithBytecode']:.2f}",
        ]
        if name == "+lazy":
            cells = [f"**{cell}**" for cell in cells]
        lines.append(
            f"| {' | '.join(cells)} | {row['zipBytes'] / 1e6:.1f} | {row['unzippedBytes'] / 1e6:.1f} |"
        )
    lines += ["", *(f"Note: {note}" for note in figures.get("notes", []))]
    return "\n".join(lines).strip()


if __name__ == "__main__":
    figures = run(quick="--quick" in sys.argv[1:])
    if "--json" in sys.argv[1:]:
        print(json.dumps(figures, indent=2))
