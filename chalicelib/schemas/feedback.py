"""Request models for the feedback routes (pydantic v2).

Field names on the wire are camelCase (the seed's payload); pydantic errors name fields by those
aliases, so a 400 body says `featureArea`, not `feature_area`. Unknown fields are refused
(extra="forbid"), and the three fields that come from the token get their own message.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from chalicelib.errors import FieldError, ValidationFailed
from chalicelib.schemas.instants import EndInstant, Instant
from chalicelib.schemas.vocabulary import (  # noqa: F401  (the feedback vocabulary, named here too)
    CATEGORIES,
    FEATURE_AREAS,
    SEVERITIES,
    STATUSES,
    Category,
    FeatureArea,
    Severity,
    Status,
)


def _integral(value: Any) -> Any:
    """JSON has one number type: 4.0 is the integer 4 (as JSON Schema's `integer` says), 3.5 is not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Ratings are strict: 3.5, "3" and true are refused rather than coerced; 4.0 is 4.
Rating = Annotated[int, Field(strict=True, ge=1, le=5), BeforeValidator(_integral)]
Version = Annotated[int, Field(strict=True, ge=1), BeforeValidator(_integral)]
# The longest text each field may hold, in characters (the stored item's size is bounded from these:
# tests/unit/test_feedback_item_size.py). Steps are limited per step and in number.
TEXT_LIMITS = {
    "title": 200,
    "description": 2000,
    "steps": 500,
    "browserInfo": 200,
    "deviceInfo": 200,
    "expectedBehavior": 1000,
    "actualBehavior": 1000,
    "assignee": 200,
    "resolution": 2000,
    "reason": 500,
}
MAX_STEPS = 20


def _text(name: str, min_length: int | None = None) -> StringConstraints:
    """Trimmed, then at most TEXT_LIMITS[name] characters. With min_length, a pattern (a run of at
    least min_length characters from a non-space to a non-space) says the same thing to a client
    that does not trim: JSON Schema's minLength counts the spaces, so without it "     " would be a
    documented valid title."""
    if min_length is None:
        return StringConstraints(strip_whitespace=True, max_length=TEXT_LIMITS[name])
    inner = "" if min_length == 1 else f"[\\s\\S]{{{min_length - 2},}}\\S"
    return StringConstraints(
        strip_whitespace=True, min_length=min_length, max_length=TEXT_LIMITS[name], pattern=f"\\S{inner}"
    )


Title = Annotated[str, _text("title", 5)]
Description = Annotated[str, _text("description", 10)]
Step = Annotated[str, _text("steps", 1)]
Assignee = Annotated[str, _text("assignee", 1)]
Resolution = Annotated[str, _text("resolution", 1)]
Reason = Annotated[str, _text("reason", 1)]

TOKEN_FIELDS = ("workspaceId", "userId", "userRole")

M = TypeVar("M", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, str_strict=True, frozen=True)


class FeedbackCreate(_Model):
    """The seed's feedback payload."""

    category: Category
    severity: Severity
    title: Title
    description: Description
    feature_area: FeatureArea
    browser_info: Annotated[str, _text("browserInfo")] | None = None
    device_info: Annotated[str, _text("deviceInfo")] | None = None
    steps: list[Step] | None = Field(default=None, max_length=MAX_STEPS)
    expected_behavior: Annotated[str, _text("expectedBehavior")] | None = None
    actual_behavior: Annotated[str, _text("actualBehavior")] | None = None
    satisfaction_rating: Rating | None = None
    usability_rating: Rating | None = None
    performance_rating: Rating | None = None

    # Declared only to refuse them with a precise message: these come from the verified token.
    workspace_id: Any = Field(default=None, exclude=True)
    user_id: Any = Field(default=None, exclude=True)
    user_role: Any = Field(default=None, exclude=True)

    @field_validator("workspace_id", "user_id", "user_role", mode="before")
    @classmethod
    def _from_token_only(cls, value: Any, info: ValidationInfo) -> Any:
        raise PydanticCustomError(
            "from_token",
            "{field} comes from the bearer token and must not be sent in the body.",
            {"field": to_camel(info.field_name)},
        )

    def payload(self) -> dict[str, Any]:
        """The validated payload, camelCase, without absent optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class FeedbackUpdate(_Model):
    """PATCH body: triage fields. `assignee: null` clears the assignee."""

    status: Status | None = None
    assignee: Assignee | None = None
    resolution: Resolution | None = None
    reason: Reason | None = None
    version: Version | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> FeedbackUpdate:
        if not {"status", "assignee", "resolution"} & self.model_fields_set:
            raise PydanticCustomError(
                "nothing_to_change", "Give at least one of status, assignee, resolution."
            )
        return self

    @property
    def assignee_given(self) -> bool:
        return "assignee" in self.model_fields_set


# Dates: chalicelib.schemas.instants (one parser, bounded so no window arithmetic can overflow).
StartDate = Instant
EndDate = EndInstant


class FeedbackFilters(_Model):
    """Query filters shared by the list and the summary. `workspaceId` narrows an engineer's view;
    staff may only name their own workspace."""

    category: Category | None = None
    severity: Severity | None = None
    status: Status | None = None
    feature_area: FeatureArea | None = None
    start_date: StartDate = None
    end_date: EndDate = None
    workspace_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None

    def attribute_filters(self) -> dict[str, str]:
        """Equality filters on stored attributes (camelCase names)."""
        pairs = {
            "category": self.category,
            "severity": self.severity,
            "status": self.status,
            "featureArea": self.feature_area,
        }
        return {name: value for name, value in pairs.items() if value is not None}


class FeedbackListQuery(FeedbackFilters):
    limit: Annotated[int, Field(ge=1, le=100)] = 25
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None


class FeedbackSummaryQuery(FeedbackFilters):
    pass


def fit_text(name: str, value: Any) -> Any:
    """A stored free-text value held to its field's limit. Redaction runs after validation and its
    markers can be longer than what they replace, so the stored text is cut (ending in an ellipsis)
    when they pushed it past the limit; lists (steps) are held item by item."""
    limit = TEXT_LIMITS[name]
    if isinstance(value, list):
        return [fit_text(name, item) for item in value]
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "\u2026"
    return value


def parse(model: type[M], data: Any) -> M:
    """Validate data outside HTTP (service entries called by the CLI, the demo loader, tests), with
    the same field naming chalicelib.web gives HTTP bodies: camelCase aliases, dotted list paths."""
    if isinstance(data, model):
        return data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "Expected a JSON object.")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = []
        for err in exc.errors(include_url=False):
            name = ".".join(str(p) for p in err.get("loc", ())) or "body"
            message = "Unknown field: not accepted here." if err["type"] == "extra_forbidden" else err["msg"]
            fields.append(FieldError(name, message))
        raise ValidationFailed(fields) from exc


def validate_payload(data: dict[str, Any] | FeedbackCreate) -> FeedbackCreate:
    return parse(FeedbackCreate, data)
