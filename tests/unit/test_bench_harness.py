"""The bench harness (bench/__main__.py): the registry, results.json merging, the README blocks."""

from __future__ import annotations

import json

import pytest

from bench.__main__ import BENCHES, available, replace_block, write_results


def test_the_registry_runs_the_issue_benches_in_order():
    assert BENCHES[:5] == ["coldstart", "roundtrips", "scale", "throughput", "capacity"]
    assert available("roundtrips") and available("legacy")
    assert not available("no_such_bench")


def test_a_readme_block_is_replaced_between_its_markers_only():
    text = (
        "intro\n<!-- roundtrips:start -->\nold\n<!-- roundtrips:end -->\n"
        "<!-- scale:start -->\nkeep\n<!-- scale:end -->\n"
    )
    out = replace_block(text, "roundtrips", "| new |\n")
    assert out == (
        "intro\n<!-- roundtrips:start -->\n| new |\n<!-- roundtrips:end -->\n"
        "<!-- scale:start -->\nkeep\n<!-- scale:end -->\n"
    )
    with pytest.raises(ValueError, match="capacity"):
        replace_block(text, "capacity", "x")


def test_results_keep_the_benches_not_run(tmp_path):
    path = tmp_path / "results.json"
    meta = {"date": "2026-11-27", "machine": "x86_64"}
    write_results({"scale": {"ratio": 1.1}}, meta, path)
    write_results({"roundtrips": {"rows": []}}, {**meta, "date": "2026-11-28"}, path)
    stored = json.loads(path.read_text())["benches"]
    assert stored["scale"] == {"measured": meta, "figures": {"ratio": 1.1}}
    assert stored["roundtrips"]["measured"]["date"] == "2026-11-28"


def test_every_bench_writes_its_own_readme_block():
    """`make bench` rewrites one README block per bench: each has a renderer and its markers."""
    import importlib

    from bench.__main__ import README

    text = README.read_text()
    for name in BENCHES:
        module = importlib.import_module(f"bench.{name}")
        assert callable(getattr(module, "readme", None)), name
        assert f"<!-- {name}:start -->" in text and f"<!-- {name}:end -->" in text, name
