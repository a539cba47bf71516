"""POST /api/monitoring/metrics: a producer outside AWS pushes the Patient Engagement metrics.

Body: {"metrics": [{"name": "AppointmentsCreated", "value": 12, "timestamp": "2026-01-05T10:00:00Z",
"workspaceId": "ws-1"}, ...]}, 1 to MAX_BATCH datums. Unknown fields are rejected (400 naming them).
`timestamp` (ISO-8601; no zone means UTC) defaults to the time of the request; it must lie within what
CloudWatch accepts (at most 14 days old, at most 2 hours ahead), which the service checks.
`workspaceId` adds the WorkspaceId dimension; without it the datum is the module-wide aggregate.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.health.contract import ALL_METRICS
from chalicelib.schemas.instants import Instant

MAX_BATCH = 100
MAX_VALUE = 1e12  # far above any real count; CloudWatch itself accepts up to 2^360


class MetricIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    value: float = Field(ge=0, le=MAX_VALUE, allow_inf_nan=False, strict=True)
    timestamp: Instant = None
    workspaceId: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:\-]{1,128}$")

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in ALL_METRICS:
            raise ValueError(f"Unknown metric; one of: {', '.join(ALL_METRICS)}")
        return value


class MetricsBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metrics: list[MetricIn] = Field(min_length=1, max_length=MAX_BATCH)
