"""The HTTP edge: authentication, body and query parsing, and the map from domain errors to
responses. Routes in app.py stay a few lines each; nothing below chalicelib.web knows HTTP."""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from chalice import Chalice, Response
from pydantic import BaseModel, ValidationError

from chalicelib.auth import Principal, Role, TokenVerifier, authenticate
from chalicelib.config import Settings, get_settings
from chalicelib.errors import DomainError, FieldError, ValidationFailed, status_for
from chalicelib.observability import AUTH_FAILURES_METRIC, flush_metrics, logger, metrics

M = TypeVar("M", bound=BaseModel)

CORRELATION_HEADER = "X-Correlation-Id"
_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


@dataclass
class Call:
    """What a route needs from the request, already authenticated."""

    principal: Principal
    request: Any  # chalice.app.Request
    settings: Settings

    @property
    def query(self) -> dict[str, str]:
        return dict(self.request.query_params or {})

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name.lower()) if self.request.headers else None

    def body(self, model: type[M]) -> M:
        return parse_body(self.request.raw_body, model)

    def params(self, model: type[M]) -> M:
        return parse_model(self.query, model)


def _field_name(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def validation_failed(exc: ValidationError) -> ValidationFailed:
    fields: list[FieldError] = []
    for err in exc.errors(include_url=False):
        message = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            message = "Unknown field: not accepted here."
        fields.append(FieldError(_field_name(tuple(err.get("loc", ()))), message))
    return ValidationFailed(fields)


def parse_model(data: Any, model: type[M]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(exc) from exc


def parse_body(raw: bytes | str | None, model: type[M]) -> M:
    if raw in (None, b"", ""):
        raise ValidationFailed([FieldError("body", "A JSON object body is required.")])
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed([FieldError("body", f"The body is not valid JSON: {exc}.")]) from exc
    except RecursionError as exc:
        # json's decoder recurses once per bracket; no body of ours nests more than a few levels.
        raise ValidationFailed([FieldError("body", "The body nests too deeply.")]) from exc
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "The body must be a JSON object.")])
    return parse_model(data, model)


def error_response(error: DomainError) -> Response:
    body = {"error": {"code": error.code, "message": error.message, **error.details}}
    headers = {"Content-Type": "application/json"}
    if status_for(error) == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="post-launch-monitor"'
    return Response(body=body, status_code=status_for(error), headers=headers)


def internal_error_response() -> Response:
    body = {
        "error": {
            "code": "internal_error",
            "message": "An unexpected error occurred; it was logged under this response's X-Correlation-Id.",
        }
    }
    return Response(body=body, status_code=500, headers={"Content-Type": "application/json"})


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json", by_alias=True)
    return Response(
        body=body, status_code=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


class Api:
    """Binds the Chalice app to our auth and error handling."""

    def __init__(self, app: Chalice, verifier_factory: Callable[[Settings], TokenVerifier] = TokenVerifier):
        self.app = app
        self._verifier_factory = verifier_factory
        self._verifier: TokenVerifier | None = None
        self._verifier_settings: Settings | None = None

    def verifier(self, settings: Settings) -> TokenVerifier:
        if self._verifier is None or self._verifier_settings is not settings:
            self._verifier = self._verifier_factory(settings)
            self._verifier_settings = settings
        return self._verifier

    def endpoint(self, *roles: Role) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
        """Authenticate, check the role, call the route, and turn domain errors into responses."""
        allowed: Iterable[Role] = roles

        def decorate(fn: Callable[..., Any]) -> Callable[..., Response]:
            @functools.wraps(fn)
            def wrapper(**kwargs: Any) -> Response:
                request = self.app.current_request
                settings = get_settings()
                try:
                    principal = authenticate(
                        request.headers.get("authorization"), self.verifier(settings), settings
                    )
                    principal.require(allowed)
                    logger.append_keys(user=principal.sub, workspace=principal.workspace_id)
                    result = fn(Call(principal, request, settings), **kwargs)
                except DomainError as error:
                    logger.info("request refused", extra={"code": error.code, "reason": error.message})
                    return error_response(error)
                except Exception:
                    # Last resort, not a way to answer input: every input has its 4xx above. The
                    # stack trace goes to the log (with the correlation id), never to the caller.
                    logger.exception("unexpected error")
                    return internal_error_response()
                return result if isinstance(result, Response) else json_response(result)

            return wrapper

        return decorate

    def install_preflight(self) -> None:
        """Answer CORS preflight (OPTIONS) on every path, in the app itself.

        Chalice's own CORS support allows a single static origin; we allow a configured list, so the
        preflight must run our code (the middleware adds the headers for allowed origins only).
        Call it after the last route is declared.
        """
        for path, methods in list(self.app.routes.items()):
            if "OPTIONS" in methods:
                continue
            name = "preflight_" + "".join(c if c.isalnum() else "_" for c in path).strip("_")
            self.app.route(path, methods=["OPTIONS"], name=name)(_preflight(sorted({*methods, "OPTIONS"})))

    def install_middleware(self) -> None:
        app = self.app

        @app.middleware("http")
        def correlate(event: Any, get_response: Callable[[Any], Response]) -> Response:
            headers = event.headers or {}
            context = getattr(event, "context", None) or {}
            given = headers.get(CORRELATION_HEADER.lower())
            # Echoed in a header and written to every log line: only a short, plain id is taken.
            if not given or not _CORRELATION_ID.fullmatch(given):
                given = None
            correlation_id = given or context.get("requestId") or str(uuid.uuid4())
            logger.set_correlation_id(correlation_id)
            logger.append_keys(path=getattr(event, "path", None), method=getattr(event, "method", None))
            response = _in_our_error_shape(get_response(event))
            response.headers[CORRELATION_HEADER] = correlation_id
            _apply_cors(headers.get("origin"), response)
            metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
            if response.status_code >= 500:
                metrics.add_metric(name="ApiServerErrors", unit=MetricUnit.Count, value=1)
            if response.status_code in (401, 403):
                # Read back from CloudWatch by the SecurityBreach alert rule (chalicelib.alerts.rules).
                metrics.add_metric(name=AUTH_FAILURES_METRIC, unit=MetricUnit.Count, value=1)
            flush_metrics()
            logger.info("request done", extra={"status": response.status_code})
            logger.remove_keys(["path", "method", "user", "workspace"])
            return response


# Chalice answers a few requests itself, before any route runs, with a body of its own shape.
_CHALICE_ERRORS = {
    "UnsupportedMediaType": "unsupported_media_type",
    "MethodNotAllowedError": "method_not_allowed",
    "InternalServerError": "internal_error",
}


def _in_our_error_shape(response: Response) -> Response:
    """The one error body (`{"error": {"code", "message"}}`) for Chalice's own refusals too."""
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or set(body) != {"Code", "Message"}:
        return response
    code = _CHALICE_ERRORS.get(body["Code"], "error")
    message = str(body["Message"]) if code != "internal_error" else "An unexpected error occurred."
    response.body = {"error": {"code": code, "message": message}}
    response.headers["Content-Type"] = "application/json"
    return response


def _preflight(methods: list[str]) -> Callable[..., Response]:
    def preflight(**_path_params: str) -> Response:
        return Response(body="", status_code=204, headers={"Allow": ",".join(methods)})

    return preflight


def _apply_cors(origin: str | None, response: Response) -> None:
    """CORS for the configured origins only: echo the caller's Origin when it is allowed."""
    if not origin or origin not in get_settings().cors_origins:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    response.headers["Access-Control-Allow-Headers"] = (
        "Authorization,Content-Type,Idempotency-Key,If-Match,X-Correlation-Id"
    )
    response.headers["Access-Control-Allow-Methods"] = response.headers.get("Allow", "GET,POST,PATCH,OPTIONS")
    response.headers["Access-Control-Max-Age"] = "600"
    response.headers["Access-Control-Expose-Headers"] = "ETag,X-Correlation-Id"
