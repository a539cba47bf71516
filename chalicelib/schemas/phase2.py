"""Query parameters of GET /api/monitoring/phase2 (unknown parameters are refused, 400 naming them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.schemas.instants import EndInstant, Instant


class Phase2Query(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Instant = None
    # A day given as the end includes that whole day.
    end: EndInstant = None
    limit: int = Field(default=20, ge=1, le=100)
