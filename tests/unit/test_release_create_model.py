"""Release versions (semver via the `semver` library, strict shape), the public view, and the
documented create body against the pydantic model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chalicelib.errors import ValidationFailed
from chalicelib.releases.model import (
    compare_versions,
    highest,
    is_greater,
    new_record,
    parse_version,
    public_view,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


@pytest.mark.parametrize("text", ["1.0.2", "0.0.1", "10.20.30", "1.1.0-rc.1", "1.0.0-alpha-2.x"])
def test_semantic_versions_are_accepted(text):
    assert str(parse_version(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "1.0",
        "1",
        "v1.0.0",
        "01.0.0",
        "1.00.0",
        "1.0.0+build.5",
        "1.0.0-",
        "1.0.0 ",
        "",
        "1.0.0-rc..1",
        None,
        102,
    ],
)
def test_anything_else_is_refused_naming_the_field(text):
    with pytest.raises(ValidationFailed) as refused:
        parse_version(text)
    assert refused.value.fields[0].field == "version"


def test_versions_order_by_semver_precedence_not_as_text():
    assert compare_versions("1.0.10", "1.0.9") == 1
    assert compare_versions("1.1.0-rc.1", "1.1.0") == -1  # a pre-release comes before its release
    assert compare_versions("1.1.0-rc.2", "1.1.0-rc.10") == -1
    assert is_greater("2.0.0", None) and not is_greater("1.0.2", "1.0.2")
    assert highest(["1.0.9", "1.0.10", "1.0.10-rc.1"]) == "1.0.10"


def test_a_new_record_is_planned_with_both_environments_pending_and_the_token_never_shown():
    record = new_record("1.0.2", ["BUG-001"], ["reminders"], [], actor="alice", now="2026-11-27T07:00:00Z")
    assert record["status"] == "planned" and record["revision"] == 1
    assert {env["state"] for env in record["environments"].values()} == {"pending"}
    assert record["history"] == [
        {"at": "2026-11-27T07:00:00Z", "actor": "alice", "action": "create", "from": None, "to": "planned",
         "reason": "release of BUG-001"}
    ]  # fmt: skip
    assert "pendingToken" not in public_view({**record, "pendingToken": "secret"})


def test_the_documented_create_body_has_the_models_fields():
    from chalicelib.schemas.releases import ReleaseCreate

    documented = yaml.safe_load(DOC.read_text())["components"]["schemas"]["ReleaseCreate"]
    generated = ReleaseCreate.model_json_schema(by_alias=True)
    assert set(documented["properties"]) == set(generated["properties"])
    assert set(documented["required"]) == set(generated["required"])
    assert documented["additionalProperties"] is False
    assert documented["properties"]["version"]["maxLength"] == generated["properties"]["version"]["maxLength"]
