"""Binding PynamoDB models to the tables and endpoint named in the settings.

Table names are only known at run time (CloudFormation names them), so each model declares which
setting holds its table name and `bind_models` points it there. A model that has not been bound
binds itself to the current settings on its first operation (a model imported late, or after
`reset_settings()`), so no code path reaches a table before its name is known. Code given explicit
settings calls `bind_models(settings)` first; binding only resets a model's connection when its
table, region or endpoint actually change, so repeated calls are cheap and keep the botocore client.
"""

from __future__ import annotations

from typing import ClassVar

from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from chalicelib.config import Settings, get_settings
from chalicelib.errors import DomainError, ItemTooLarge, UpstreamUnavailable

# Error codes that mean "AWS could not do it now", not "the request was wrong".
_UNAVAILABLE_CODES = {
    None,  # no HTTP answer at all (connection refused, timeout)
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "ResourceNotFoundException",  # the table is missing: a deployment problem, not the caller's
    "UnrecognizedClientException",
    "AccessDeniedException",
}

_MODELS: list[type[BoundModel]] = []


class BoundModel(Model):
    """A model whose table comes from the settings attribute named by `table_setting`."""

    table_setting: ClassVar[str] = ""
    _binding: ClassVar[tuple[str, str, str | None] | None] = None

    class Meta:
        abstract = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.table_setting:
            cls._binding = None
            _MODELS.append(cls)

    @classmethod
    def _get_connection(cls):
        if cls._binding is None:
            bind_models()
        return super()._get_connection()


class Capped(list):
    """Items read under a ceiling: `truncated` is True when there were more than were read;
    `queries` counts the calls made, where the reader keeps count."""

    truncated: bool = False
    queries: int = 0


def bind_models(settings: Settings | None = None) -> Settings:
    settings = settings or get_settings()
    for model in _MODELS:
        binding = (getattr(settings, model.table_setting), settings.region, settings.endpoint_url)
        if model._binding == binding:
            continue
        model.Meta.table_name, model.Meta.region, model.Meta.host = binding
        model._connection = None  # the cached connection holds the old table name and host
        for index in model._indexes.values():
            index.Meta.model = model
        model._binding = binding
    return settings


def unbind_models() -> None:
    """Forget the bindings: each model binds again, to the settings of the moment, on its next use."""
    for model in _MODELS:
        model._binding = None


def _server_side(exc: PynamoDBException) -> bool:
    """DynamoDB answered 5xx: its failure, whatever the code says (or when there is none)."""
    response = getattr(getattr(exc, "cause", None), "response", None) or {}
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500


def _item_too_large(exc: PynamoDBException) -> bool:
    """DynamoDB refused the write for the 400 KB item limit (directly, or as a transaction's reason)."""
    errors = [(exc.cause_response_code, exc.cause_response_message)]
    errors += [(r.code, r.message) for r in getattr(exc, "cancellation_reasons", None) or [] if r]
    return any(
        code == "ValidationException" and "exceeded the maximum allowed size" in (message or "")
        for code, message in errors
    )


def table_error(exc: PynamoDBException, action: str) -> DomainError:
    """The domain error for a table operation that failed on AWS's side (the caller may retry: 503),
    or for an item past DynamoDB's size limit (422: retrying cannot help). Any other failure of our
    own making (a malformed request) is not disguised as an outage: it is raised as it is. Callers
    handle the codes they expect (conditional checks) before calling this."""
    if _item_too_large(exc):
        return ItemTooLarge(
            f"Could not {action}: the item would exceed the database's size limit (400 KB).",
            details={"awsCode": "ValidationException"},
        )
    if exc.cause_response_code in _UNAVAILABLE_CODES or _server_side(exc):
        return UpstreamUnavailable(
            f"Could not {action}; try again.", details={"awsCode": exc.cause_response_code}
        )
    raise exc
