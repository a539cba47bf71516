"""Request models for the alert and silence routes (pydantic v2; docs/alerts.md "API").

camelCase on the wire, unknown fields refused, like chalicelib.schemas.feedback.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from chalicelib.schemas.instants import Instant

ALERT_SEVERITIES = ("critical", "error", "warning", "info")
ALERT_LIST_STATES = ("firing", "acknowledged", "resolved", "active", "all")
SILENCE_LIST_STATES = ("active", "all")

AlertSeverity = Literal["critical", "error", "warning", "info"]
AlertListState = Literal["firing", "acknowledged", "resolved", "active", "all"]
# Rule names are PascalCase identifiers (HighErrorRate); the pattern keeps anything else out of keys.
RULE_PATTERN = r"^[A-Z][A-Za-z0-9]{0,63}$"
RuleName = Annotated[str, StringConstraints(pattern=RULE_PATTERN)]
# Ids are uuid4s; anything longer than one is unknown without a read.
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Limit = Annotated[int, Field(ge=1, le=100)]
# Trimmed, 1..500 characters; the pattern says "not only spaces" to clients that do not trim.
Text500 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=r"\S")
]
# A matcher's name: the alert's rule, its severity, or one of its labels ("label:<key>").
MATCHER_NAME_PATTERN = r"^(rule|severity|label:[A-Za-z0-9_.\-]{1,64})$"
MatcherName = Annotated[str, StringConstraints(pattern=MATCHER_NAME_PATTERN)]
MatcherValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MAX_MATCHERS = 20


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, str_strict=True, frozen=True)


class AlertListQuery(_Model):
    state: AlertListState = "active"
    severity: AlertSeverity | None = None
    rule: RuleName | None = None
    limit: Limit = 25
    cursor: Cursor | None = None


class AlertResolve(_Model):
    reason: Text500


class Matcher(_Model):
    """Equality on one of the alert's fields: `rule`, `severity` or `label:<key>` (no regular
    expressions: a silence says exactly what it hides)."""

    name: MatcherName
    value: MatcherValue

    @model_validator(mode="after")
    def _known_severity(self) -> Matcher:
        if self.name == "severity" and self.value not in ALERT_SEVERITIES:
            raise PydanticCustomError(
                "severity",
                "A severity matcher's value is one of {values}.",
                {"values": ", ".join(ALERT_SEVERITIES)},
            )
        return self


class SilenceCreate(_Model):
    """A silence: matchers (all must match), a comment, and an end (`endsAt`) or `untilResolved`
    with the `alertId` it was made for."""

    matchers: list[Matcher] = Field(min_length=1, max_length=MAX_MATCHERS)
    comment: Text500
    ends_at: Instant = None
    until_resolved: bool = False
    alert_id: Id | None = None

    # Cross-field rules (one end, one matcher per name) are checked in chalicelib.alerts.silences,
    # which names the field in the 400.


class SilenceListQuery(_Model):
    state: Literal["active", "all"] = "active"
    limit: Limit = 25
    cursor: Cursor | None = None
