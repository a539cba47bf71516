"""Request models for the issue routes (pydantic v2), in the feedback schemas' style: camelCase on
the wire, unknown fields refused, every refusal naming its field."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from chalicelib.issues.lifecycle import PRIORITIES, STATUSES
from chalicelib.schemas.feedback import FeatureArea, Severity, Version, _integral, _Model

__all__ = [
    "PRIORITIES",
    "STATUSES",
    "IssueCreate",
    "IssueFromFeedback",
    "IssueListQuery",
    "IssueUpdate",
]

Status = Literal[
    "open", "triaged", "assigned", "in_progress", "fixed", "released", "verified", "wont_fix", "closed"
]
Priority = Literal["P1", "P2", "P3", "P4"]

# The longest text each field may hold, in characters (redaction markers may lengthen a text: the
# stored one is cut to the limit, as feedback's).
TEXT_LIMITS = {"title": 200, "description": 4000, "assignee": 200, "reason": 500}
MAX_FEEDBACK_PER_REQUEST = 25
MIN_ESTIMATE_HOURS = 0.1
MAX_ESTIMATE_HOURS = 1000


def _text(name: str, min_length: int) -> StringConstraints:
    inner = "" if min_length == 1 else f"[\\s\\S]{{{min_length - 2},}}\\S"
    return StringConstraints(
        strip_whitespace=True, min_length=min_length, max_length=TEXT_LIMITS[name], pattern=f"\\S{inner}"
    )


def _unique(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise PydanticCustomError("unique", "List each value once.")
    return values


Title = Annotated[str, _text("title", 5)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=TEXT_LIMITS["description"])]
Assignee = Annotated[str, _text("assignee", 1)]
Reason = Annotated[str, _text("reason", 1)]
# Hours of work, from MIN_ESTIMATE_HOURS (6 minutes; DynamoDB numbers stop at 1e-130, so a bound
# keeps 5e-324 from the table) to MAX_ESTIMATE_HOURS; numbers only (no "3"), 4.0 is 4.
Estimate = Annotated[
    float,
    Field(strict=True, ge=MIN_ESTIMATE_HOURS, le=MAX_ESTIMATE_HOURS, allow_inf_nan=False),
    BeforeValidator(_integral),
]
FeatureAreas = Annotated[list[FeatureArea], Field(max_length=6), AfterValidator(_unique)]
FeedbackId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
FeedbackIds = Annotated[list[FeedbackId], Field(max_length=MAX_FEEDBACK_PER_REQUEST), AfterValidator(_unique)]
IssueId = Annotated[str, StringConstraints(pattern=r"^BUG-[0-9]{3,9}$")]


class _IssueFields(_Model):
    """Fields an issue is described by (all optional here)."""

    description: Description | None = None
    priority: Priority | None = None
    feature_areas: FeatureAreas | None = None
    assignee: Assignee | None = None
    estimate_hours: Estimate | None = None


class IssueCreate(_IssueFields):
    """POST /api/issues. A new issue starts `open`; priority, when absent, is derived (severity and
    reach); feedbackIds links those items both ways."""

    title: Title
    severity: Severity
    feedback_ids: FeedbackIds | None = None


class IssueUpdate(_IssueFields):
    """PATCH /api/issues/{id}. `null` clears assignee and estimateHours; `priority: null` returns
    to the derived priority. `reason` goes with a status change into the history."""

    title: Title | None = None
    severity: Severity | None = None
    status: Status | None = None
    reason: Reason | None = None
    version: Version | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> IssueUpdate:
        changing = self.model_fields_set - {"reason", "version"}
        if not changing:
            raise PydanticCustomError(
                "nothing_to_change",
                "Give at least one of title, description, severity, priority, featureAreas, "
                "assignee, estimateHours, status.",
            )
        return self

    @field_validator("title", "severity", "status", "description", "feature_areas", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Only assignee, estimateHours and priority can be cleared.
        if value is None:
            raise PydanticCustomError("not_null", "Cannot be null (only assignee, estimateHours, priority).")
        return value

    def given(self) -> dict[str, Any]:
        """The fields sent (wire names), None where the caller sent null."""
        data = self.model_dump(by_alias=True, mode="json", exclude={"reason", "version"})
        sent = {type(self).model_fields[n].alias or n for n in self.model_fields_set}
        return {name: value for name, value in data.items() if name in sent}


class IssueFromFeedback(_IssueFields):
    """POST /api/monitoring/feedback/{id}/issue. Without issueId: a new issue from the item (title,
    description, severity and feature area default to the item's). With issueId: link the item to
    that existing issue (then no other field)."""

    title: Title | None = None
    severity: Severity | None = None
    issue_id: IssueId | None = None

    @model_validator(mode="after")
    def _link_or_create(self) -> IssueFromFeedback:
        if self.issue_id is not None and self.model_fields_set - {"issue_id"}:
            raise PydanticCustomError(
                "link_only", "Linking to an existing issue (issueId) takes no other field."
            )
        return self


class IssueListQuery(_Model):
    severity: Severity | None = None
    status: Status | None = None
    feature_area: FeatureArea | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 25
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
