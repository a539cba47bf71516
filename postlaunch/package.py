"""`make package`: the deployable artefact in out/ (deployment.zip + sam.json), from one source each.

infra/template.json names the ASL file of each state machine in its Metadata (`DefinitionFile`)
instead of holding a copy of it; this inlines the file as the resource's `Definition` (CloudFormation
then applies `DefinitionSubstitutions`), writes that merge template to out/, and runs
`chalice package --merge-template` on it. The local stack reads the same file
(postlaunch.localstack), so what runs on moto is what deploys.

Usage: python -m postlaunch.package [--stage prod] [--out out]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
from pathlib import Path
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


def package(out: Path, stage: str = "prod", template: Path = TEMPLATE, project_dir: Path = ROOT) -> Path:
    """Write out/merge-template.json, then `chalice package` out/ (deployment.zip, sam.json)."""
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
