"""Benchmarks, run on demand (`make bench`). They print ratios, not verdicts: the machines are shared
and noisy, so what matters is how cost scales and what our code adds, measured side by side in one run.

One moto server is started and provisioned for the whole run; each bench in BENCHES is a module
`bench/<name>.py` whose `run(ctx)` prints its tables and returns its figures (JSON-able). They are
written to bench/results.json with the date and the machine, and a bench that has a `readme(figures,
meta)` function has its README.md block (between `<!-- <name>:start -->` and `<!-- <name>:end -->`)
rewritten from them.

    python -m bench                  every bench, full size; results.json and README.md rewritten
    python -m bench --only roundtrips
    python -m bench --quick          small sizes (the tests' smoke run); nothing written
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
README = ROOT / "README.md"

# Order matters only for reading the output; each bench stands alone on the shared tables.
# "legacy" holds the first three benches (summary items per window, health requests, summary memory).
BENCHES = ["coldstart", "roundtrips", "scale", "throughput", "capacity", "legacy"]


def available(name: str) -> bool:
    return importlib.util.find_spec(f"bench.{name}") is not None


def replace_block(text: str, name: str, body: str) -> str:
    """README text with the block between the `name` markers replaced by `body` (markers kept)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"README.md has no {start} ... {end} block")
    return pattern.sub(lambda _: f"{start}\n{body.strip()}\n{end}", text, count=1)


def write_results(figures: dict[str, Any], meta: dict[str, Any], path: Path = RESULTS) -> dict[str, Any]:
    """Merge this run's figures into results.json (benches not run keep their last figures)."""
    stored = json.loads(path.read_text()) if path.exists() else {}
    benches = stored.get("benches", {})
    for name, out in figures.items():
        benches[name] = {"measured": meta, "figures": out}
    stored = {"benches": dict(sorted(benches.items()))}
    path.write_text(json.dumps(stored, indent=2, sort_keys=False) + "\n")
    return stored


def write_readme(modules: dict[str, Any], figures: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    text = README.read_text()
    written = []
    for name, out in figures.items():
        render = getattr(modules[name], "readme", None)
        if render is not None:
            text = replace_block(text, name, render(out, meta))
            written.append(name)
    README.write_text(text)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=BENCHES, help="run this bench (repeatable)")
    parser.add_argument("--quick", action="store_true", help="small sizes; write nothing")
    args = parser.parse_args(argv)
    names = args.only or BENCHES
    missing = [n for n in names if not available(n)]
    for name in missing:
        print(f"(bench/{name}.py is not in this checkout: skipped)")
    names = [n for n in names if n not in missing]

    from bench.common import local_context, machine

    meta = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), **machine(), "quick": args.quick}
    print(
        f"{meta['date']} on {meta['machine']}, {meta['cpus']} CPUs, Python {meta['python']}"
        + (" (quick: small sizes)" if args.quick else "")
    )
    modules, figures = {}, {}
    with local_context(quick=args.quick) as ctx:
        for name in names:
            print(f"\n== {name}")
            modules[name] = importlib.import_module(f"bench.{name}")
            started = time.perf_counter()
            figures[name] = modules[name].run(ctx)
            print(f"   ({name}: {time.perf_counter() - started:.0f} s)")
    if not args.quick:
        write_results(figures, meta)
        written = write_readme(modules, figures, meta)
        print(
            f"\nwrote {RESULTS.relative_to(ROOT)}"
            + (f"; README.md blocks: {', '.join(written)}" if written else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
