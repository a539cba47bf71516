"""Property-based: schemathesis generates requests from docs/openapi.yaml (valid ones and ones that
break the document) and sends them to the running app; every answer must be one the document
describes (status code, content type, body schema), and none may be a 5xx.

Bounded and reproducible: a fixed number of examples per operation and Hypothesis derandomized, so
a failure seen once is seen on every run. The number of cases sent is printed at the end of the
run, in pytest's summary (`schemathesis: N generated cases sent`).
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import GENERATED_CASES
from tests.payloads import SEED_FEEDBACK

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
# Per operation, per generation mode and per role; enough to reach every parameter and field
# while the whole module stays well under a minute on the local stack.
MAX_EXAMPLES = 20
WORKSPACE = "ws-fuzz"

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_path(DOC)
schema.config.generation.update(
    max_examples=MAX_EXAMPLES,
    deterministic=True,
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
)

# Methods no route declares are answered by API Gateway (or, locally, by `chalice local`'s HTTP
# server, which has no TRACE), not by this app: not what the document describes.
schema.config.phases.coverage.unexpected_methods = set()


@pytest.fixture(scope="module")
def tokens(stack) -> dict[str, str]:
    return {
        "admin": stack.token("admin", WORKSPACE, sub="fuzz-admin"),
        "staff": stack.token("staff", WORKSPACE, sub="fuzz-staff"),
    }


def fresh_item(stack) -> str:
    """A new item per case: a long run of generated PATCHes on one item is not what this tests."""
    response = stack.client("staff", WORKSPACE, sub="fuzz-staff").post(
        "/api/monitoring/feedback", json=SEED_FEEDBACK
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def fresh_alert(stack) -> str:
    from chalicelib.alerts import engine
    from chalicelib.alerts.model import Condition

    condition = Condition(
        rule="FuzzTarget", severity="warning", summary="fuzz", labels={"case": uuid.uuid4().hex}
    )
    alert, _ = engine.fire(condition, settings=stack.settings())
    return alert["id"]


def fresh_issue(stack) -> str:
    response = stack.client("engineer", WORKSPACE, sub="fuzz-engineer").post(
        "/api/issues", json={"title": "Fuzz target issue", "severity": "low"}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.mark.parametrize("role", ["admin", "staff"])
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_one_the_document_describes(case, role, stack, tokens, request):
    counts = request.config.stash.setdefault(GENERATED_CASES, {"roles": Counter(), "statuses": Counter()})
    counts["roles"][role] += 1
    # Given a request generated from the document; every other one that names a feedback item names
    # a fresh real one, so reads and triage get past the 404 to the lifecycle, redaction and locking
    if "feedback_id" in (case.path_parameters or {}) and counts["roles"][role] % 2 == 0:
        case.path_parameters = {**case.path_parameters, "feedback_id": fresh_item(stack)}
    # ... and every other one naming an alert names a fresh firing one, so acknowledge and resolve
    # reach the lifecycle
    if "alert_id" in (case.path_parameters or {}) and counts["roles"][role] % 2 == 0:
        case.path_parameters = {**case.path_parameters, "alert_id": fresh_alert(stack)}
    # ... and every other one naming an issue names a real one, so PATCH reaches the lifecycle
    if "issue_id" in (case.path_parameters or {}) and counts["roles"][role] % 2 == 0:
        case.path_parameters = {**case.path_parameters, "issue_id": fresh_issue(stack)}
    # When it is sent with a real token of the role
    response = case.call(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {tokens[role]}"}, timeout=30
    )
    counts["statuses"][response.status_code] += 1
    # Then the answer is no 5xx, and its status, content type and body are as documented
    case.validate_response(response, checks=CHECKS)
