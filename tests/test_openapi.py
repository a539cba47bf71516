"""docs/openapi.yaml against the app: the same routes in both directions, and a sound document."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parent.parent
DOC_PATH = ROOT / "docs" / "openapi.yaml"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
LIVENESS = ("/api/monitoring/ping", "get")
# The dashboard's page and static files hold no data: public, like the liveness probe (docs/dashboard.md).
DASHBOARD = {("/", "get"), ("/dashboard", "get"), ("/dashboard/{asset}", "get")}


@pytest.fixture(scope="module")
def doc() -> dict:
    return yaml.safe_load(DOC_PATH.read_text())


def app_routes() -> set[tuple[str, str]]:
    """(path, method) for every route of the Chalice app; OPTIONS is CORS preflight, not an operation."""
    from app import app

    return {
        (path, method.lower())
        for path, entries in app.routes.items()
        for method in entries
        if method.upper() != "OPTIONS"
    }


def doc_routes(doc: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in doc["paths"].items() for method in item if method in METHODS}


def resolve(doc: dict, node: dict) -> dict:
    """Follow a local $ref ("#/components/...")."""
    while "$ref" in node:
        target = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def test_every_app_route_is_documented(doc):
    missing = sorted(app_routes() - doc_routes(doc))
    assert not missing, f"routes in app.py missing from docs/openapi.yaml: {missing}"


def test_every_documented_route_exists(doc):
    extra = sorted(doc_routes(doc) - app_routes())
    assert not extra, f"docs/openapi.yaml documents routes app.py does not have: {extra}"


def test_the_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises with the offending location


def test_document_basics(doc):
    assert doc["info"]["title"] and doc["info"]["version"]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["bearerAuth"].get("bearerFormat") == "JWT"
    assert doc.get("security") == [{"bearerAuth": []}]
    assert "Error" in doc["components"]["schemas"]


def test_every_operation_is_complete(doc):
    ids = []
    for path, method, op in operations(doc):
        where = f"{method.upper()} {path}"
        assert op.get("operationId"), where
        ids.append(op["operationId"])
        assert op.get("summary"), where
        assert op.get("responses"), where
        assert any(code[0] in "23" for code in op["responses"]), f"{where} has no success response"
        if (path, method) == LIVENESS or (path, method) in DASHBOARD:
            assert op.get("security") == [], f"{where} is public"
            continue
        # Everything else needs the bearer token, says who may call it, and documents 401 and 403.
        assert op.get("security", doc["security"]) == [{"bearerAuth": []}], where
        assert re.search(r"Roles?:", op.get("description", "")), f"{where} does not name its roles"
        assert {"401", "403"} <= set(op["responses"]), f"{where} lacks 401/403"
        # Path parameters are declared, as required path parameters.
        params = [
            resolve(doc, p) for p in op.get("parameters", []) + doc["paths"][path].get("parameters", [])
        ]
        in_path = {p["name"] for p in params if p["in"] == "path" and p.get("required")}
        assert in_path == set(re.findall(r"{(\w+)}", path)), where
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_errors_use_the_one_error_body(doc):
    """Every 4xx/5xx response points at the shared Error schema (directly or via a shared response)."""
    responses = doc["components"].get("responses", {})

    def error_schema_of(resp: dict) -> str | None:
        if "$ref" in resp:
            resp = responses[resp["$ref"].rsplit("/", 1)[-1]]
        schema = resp.get("content", {}).get("application/json", {}).get("schema", {})
        return schema.get("$ref")

    for path, method, op in operations(doc):
        for code, resp in op["responses"].items():
            if code[0] in "45":
                assert error_schema_of(resp) == "#/components/schemas/Error", f"{method} {path} {code}"


CONSTRAINTS = ("enum", "minLength", "maxLength", "minimum", "maximum", "maxItems", "minItems", "pattern")


def constraints(node: dict) -> dict:
    """The validation keywords of a property, with the nullable branch of an anyOf dropped."""
    for key in ("anyOf", "oneOf"):
        if key in node:
            branches = [b for b in node[key] if b.get("type") != "null"]
            if len(branches) == 1:
                node = {**node, **branches[0]}
    kind = node.get("type")
    if isinstance(kind, list):
        kind = [k for k in kind if k != "null"]
        kind = kind[0] if len(kind) == 1 else kind
    out = {
        k: ([v for v in node[k] if v is not None] if k == "enum" else node[k])
        for k in CONSTRAINTS
        if k in node
    }
    out["type"] = kind
    if "items" in node:
        out["items"] = constraints(node["items"])
    return out


@pytest.mark.parametrize(
    "doc_schema, model_name",
    [("FeedbackCreate", "FeedbackCreate"), ("FeedbackUpdate", "FeedbackUpdate")],
)
def test_documented_bodies_carry_the_rules_the_api_enforces(doc, doc_schema, model_name):
    """Field by field, the constraints in the document equal the pydantic model's
    (chalicelib.schemas.feedback), so the document cannot drift from validation."""
    from chalicelib.schemas import feedback as schema

    model = getattr(schema, model_name)
    documented = doc["components"]["schemas"][doc_schema]
    generated = model.model_json_schema(by_alias=True)
    # Fields the model declares only to refuse them (they come from the token) are not documented.
    refused = {f.alias or n for n, f in model.model_fields.items() if f.exclude}
    expected = {name: prop for name, prop in generated["properties"].items() if name not in refused}
    assert set(documented["properties"]) == set(expected)
    assert documented.get("additionalProperties") is False  # unknown fields are refused
    assert set(documented.get("required", [])) == set(generated.get("required", []))
    for name, prop in expected.items():
        assert constraints(documented["properties"][name]) == constraints(prop), name


@pytest.mark.parametrize("doc_schema", ["IssueCreate", "IssueUpdate", "IssueFromFeedback"])
def test_documented_issue_bodies_carry_the_rules_the_api_enforces(doc, doc_schema):
    from chalicelib.schemas import issues as schema

    documented = doc["components"]["schemas"][doc_schema]
    generated = getattr(schema, doc_schema).model_json_schema(by_alias=True)
    assert set(documented["properties"]) == set(generated["properties"])
    assert documented.get("additionalProperties") is False
    assert set(documented.get("required", [])) == set(generated.get("required", []))
    for name, prop in generated["properties"].items():
        assert constraints(documented["properties"][name]) == constraints(prop), name


@pytest.mark.parametrize("doc_schema", ["AlertResolve", "Matcher"])
def test_documented_alert_bodies_carry_the_rules_the_api_enforces(doc, doc_schema):
    from chalicelib.schemas import alerts as schema

    documented = doc["components"]["schemas"][doc_schema]
    generated = getattr(schema, doc_schema).model_json_schema(by_alias=True)
    assert set(documented["properties"]) == set(generated["properties"])
    assert documented.get("additionalProperties") is False
    assert set(documented.get("required", [])) == set(generated.get("required", []))
    for name, prop in generated["properties"].items():
        assert constraints(documented["properties"][name]) == constraints(prop), name


def test_documented_silence_body_carries_the_rules_the_api_enforces(doc):
    from chalicelib.schemas.alerts import SilenceCreate

    documented = doc["components"]["schemas"]["SilenceCreate"]
    generated = SilenceCreate.model_json_schema(by_alias=True)
    assert set(documented["properties"]) == set(generated["properties"])
    assert set(documented["required"]) == set(generated["required"])
    assert documented["additionalProperties"] is False
    assert documented["properties"]["endsAt"] == {"$ref": "#/components/schemas/Instant"}
    assert parses_instants(SilenceCreate, "endsAt")
    for name in ("matchers", "comment", "alertId", "untilResolved"):
        want = constraints(generated["properties"][name])
        if name == "matchers":
            want["items"] = {"type": None}  # a $ref in both
        assert constraints(documented["properties"][name]) == want, name


def query_parameters(doc: dict, path: str, method: str, *, resolved: bool = True) -> dict[str, dict]:
    op = doc["paths"][path][method]
    declared = op.get("parameters", []) + doc["paths"][path].get("parameters", [])
    params = [resolve(doc, p) for p in declared]
    return {
        p["name"]: resolve(doc, p["schema"]) if resolved else p["schema"]
        for p in params
        if p["in"] == "query"
    }


INSTANTS = {"#/components/schemas/Instant", "#/components/schemas/DateOrInstant"}


def parses_instants(model, alias: str) -> bool:
    """A field read by chalicelib.schemas.instants (its Python type is a datetime)."""
    from datetime import datetime

    field = next(f for n, f in model.model_fields.items() if (f.alias or n) == alias)
    return datetime in getattr(field.annotation, "__args__", (field.annotation,))


def test_documented_instants_state_the_range_the_api_enforces(doc):
    """Every date the API parses has one documented shape, with the bounds of schemas.instants."""
    from chalicelib.schemas.instants import EARLIEST, LATEST

    instant = doc["components"]["schemas"]["Instant"]
    assert instant["format"] == "date-time"
    assert EARLIEST.strftime("%Y-%m-%dT%H:%M:%SZ") in instant["description"]
    assert LATEST.strftime("%Y-%m-%dT%H:%M:%SZ") in instant["description"]


QUERY_MODELS = [
    ("/api/monitoring/feedback", "get", "chalicelib.schemas.feedback", "FeedbackListQuery"),
    ("/api/monitoring/feedback/summary", "get", "chalicelib.schemas.feedback", "FeedbackSummaryQuery"),
    ("/api/monitoring/system-health", "get", "chalicelib.schemas.health", "HealthQuery"),
    ("/api/monitoring/system-health/history", "get", "chalicelib.schemas.health", "HistoryQuery"),
    ("/api/monitoring/system-health/slo", "get", "chalicelib.schemas.health", "SloQuery"),
    ("/api/monitoring/alerts", "get", "chalicelib.schemas.alerts", "AlertListQuery"),
    ("/api/monitoring/silences", "get", "chalicelib.schemas.alerts", "SilenceListQuery"),
    ("/api/issues", "get", "chalicelib.schemas.issues", "IssueListQuery"),
    ("/api/monitoring/phase2", "get", "chalicelib.schemas.phase2", "Phase2Query"),
]


@pytest.mark.parametrize("path, method, module, model_name", QUERY_MODELS)
def test_documented_query_parameters_are_the_ones_the_api_parses(doc, path, method, module, model_name):
    """Names and constraints of each route's query parameters equal its pydantic query model's."""
    import importlib

    model = getattr(importlib.import_module(module), model_name)
    generated = model.model_json_schema(by_alias=True)
    # Enums live in $defs when a model reuses a Literal; inline them for the comparison.
    properties = {name: resolve(generated, prop) for name, prop in generated.get("properties", {}).items()}
    documented = query_parameters(doc, path, method)
    raw = query_parameters(doc, path, method, resolved=False)
    assert set(documented) == set(properties)
    for name, prop in properties.items():
        if parses_instants(model, name):
            assert raw[name].get("$ref") in INSTANTS, f"{path} ?{name}"
            continue
        got, want = constraints(documented[name]), constraints(prop)
        if want.get("type") is None and got.get("type") == "string":
            want["type"] = "string"  # dates parsed by a validator: the wire form is a string
        assert got == want, f"{path} ?{name}"


def test_documented_metrics_batch_is_the_one_the_api_parses(doc):
    from chalicelib.health.contract import ALL_METRICS
    from chalicelib.schemas.metrics import MetricIn, MetricsBatch

    batch = doc["components"]["schemas"]["MetricsBatch"]
    metric = doc["components"]["schemas"]["MetricIn"]
    generated = MetricsBatch.model_json_schema()
    assert constraints(batch["properties"]["metrics"]) == {
        **constraints(generated["properties"]["metrics"]),
        "items": {"type": None},  # a $ref in both
    }
    fields = MetricIn.model_json_schema()
    assert set(metric["properties"]) == set(fields["properties"])
    assert set(metric["required"]) == set(fields["required"])
    assert metric["additionalProperties"] is False and batch["additionalProperties"] is False
    for name in ("value", "workspaceId"):
        assert constraints(metric["properties"][name]) == constraints(fields["properties"][name]), name
    assert parses_instants(MetricIn, "timestamp")
    assert {"$ref": "#/components/schemas/Instant"} in metric["properties"]["timestamp"]["oneOf"]
    # The model checks names with a validator; the document states the list.
    assert metric["properties"]["name"]["enum"] == list(ALL_METRICS)


@pytest.mark.parametrize(
    "schema_name, model_name",
    [
        ("HealthReport", "HealthReport"),
        ("Performance", "Performance"),
        ("Adoption", "Adoption"),
        ("Quality", "Quality"),
        ("Stability", "Stability"),
        ("Deduction", "DeductionOut"),
        ("MissingInput", "MissingOut"),
        ("HistoryPoint", "HistoryPoint"),
    ],
)
def test_documented_health_responses_name_the_models_fields(doc, schema_name, model_name):
    from chalicelib.schemas import health

    model = getattr(health, model_name)
    assert set(doc["components"]["schemas"][schema_name]["properties"]) == set(model.model_fields)


def test_documented_feedback_record_has_the_stored_fields(doc):
    """The record schema lists what public_view returns: stored attributes minus index keys."""
    from chalicelib.feedback import service
    from chalicelib.store.feedback import ATTRIBUTES

    expected = (set(ATTRIBUTES) - set(service._INTERNAL_FIELDS)) | {"notificationPending"}
    assert set(doc["components"]["schemas"]["Feedback"]["properties"]) == expected
