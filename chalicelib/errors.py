"""Domain exceptions. They know nothing of HTTP; chalicelib.web maps them to responses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationFailed(DomainError):
    """Input that breaks a rule; names every offending field."""

    code = "validation_failed"

    def __init__(self, fields: list[FieldError], message: str = "The request has invalid fields."):
        super().__init__(message, details={"fields": [f.as_dict() for f in fields]})
        self.fields = fields


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """The item changed since the caller read it (optimistic locking)."""

    code = "conflict"


class RolloutLocked(Conflict):
    """Another rollout holds a target function (releases: one rollout per target at a time)."""

    code = "rollout_locked"

    def __init__(self, holder: dict, function: str | None = None):
        what = f" of {function}" if function else ""
        super().__init__(
            f"Release {holder.get('release')} is rolling out{what} in {holder.get('environment')} "
            f"(execution {holder.get('executionArn')}, since {holder.get('since')}); "
            "wait for it to end or abort it.",
            details={"holder": dict(holder), **({"function": function} if function else {})},
        )
        self.holder = dict(holder)
        self.function = function


class LatestUnchanged(Conflict):
    """`$LATEST` is the code of an existing version: publishing would make nothing new
    (releases: chalicelib.integrations.lambda_aliases.publish_latest)."""

    def __init__(self, function: str, version: str):
        super().__init__(
            f"{function}: $LATEST has not changed since version {version}; deploy a new build "
            "(aws lambda update-function-code) before publishing, or name the version "
            "(--function-version).",
            details={"function": function, "existingVersion": version},
        )
        self.function = function
        self.version = version


class InvalidTransition(DomainError):
    code = "invalid_transition"


class IdempotencyKeyReused(DomainError):
    """The same idempotency key was sent with a different request body."""

    code = "idempotency_key_reused"


class ItemTooLarge(DomainError):
    """The write would make an item larger than the database allows (DynamoDB: 400 KB). The
    feedback rules keep items far below that; this is the answer if one ever gets there anyway."""

    code = "item_too_large"


class RequestInProgress(DomainError):
    code = "request_in_progress"


class UpstreamUnavailable(DomainError):
    """A dependency (AWS service) refused or failed; the request may be retried."""

    code = "upstream_unavailable"


# ---- releases: machine
class TaskGone(Conflict):
    """A Step Functions task token no longer waits for an answer: its execution went on or ended."""

    code = "task_gone"


# The one map from domain errors to HTTP status codes (most specific class first).
HTTP_STATUS: list[tuple[type[DomainError], int]] = [
    (ValidationFailed, 400),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidTransition, 409),
    (RequestInProgress, 409),
    (IdempotencyKeyReused, 422),
    (ItemTooLarge, 422),
    (UpstreamUnavailable, 503),
]


def status_for(error: DomainError) -> int:
    for cls, status in HTTP_STATUS:
        if isinstance(error, cls):
            return status
    return 400
