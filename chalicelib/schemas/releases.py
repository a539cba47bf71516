"""Request models for the release routes (pydantic v2), in the issues schemas' style: camelCase on
the wire, unknown fields refused, every refusal naming its field. What needs AWS or the tables
(version order, issues fixed, versions existing) is the service's (chalicelib.releases.service)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from chalicelib.errors import ValidationFailed
from chalicelib.releases.model import STATUSES, VERSION_MAX_LENGTH, parse_version
from chalicelib.schemas.feedback import _Model
from chalicelib.schemas.issues import IssueId, _unique

__all__ = ["STATUSES", "ReleaseCreate", "ReleaseListQuery"]

MAX_ISSUES_PER_RELEASE = 25
MAX_TARGETS = 10


def _semver(value: str) -> str:
    """The model's own parser, so the API and the CLI refuse the same versions in the same words."""
    try:
        parse_version(value)
    except ValidationFailed as exc:
        raise PydanticCustomError("semver", exc.fields[0].message) from None
    return value


SemVer = Annotated[str, StringConstraints(max_length=VERSION_MAX_LENGTH), AfterValidator(_semver)]
# A Lambda function name (not an ARN): what RELEASE_TARGETS holds.
FunctionName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
FunctionVersion = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,9}$")]
Status = Literal["planned", "deploying", "staging_verified", "paused", "released", "rolled_back", "failed"]


class ReleaseCreate(_Model):
    """POST /api/releases: a planned release of fixed issues. The new code is a published version
    (functionVersion) or `$LATEST`, published now (publish: true); exactly one of the two."""

    version: SemVer
    issues: Annotated[
        list[IssueId], Field(min_length=1, max_length=MAX_ISSUES_PER_RELEASE), AfterValidator(_unique)
    ]
    function_version: FunctionVersion | None = None
    publish: Annotated[bool, Field(strict=True)] = False
    targets: (
        Annotated[list[FunctionName], Field(min_length=1, max_length=MAX_TARGETS), AfterValidator(_unique)]
        | None
    ) = None
    dry_run: Annotated[bool, Field(strict=True)] = False


class ReleaseListQuery(_Model):
    status: Status | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 25
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
