"""Query parameters of GET /api/monitoring/report (unknown parameters are refused, 400 naming them)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.schemas.instants import EndInstant, Instant


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: Instant = None
    # A day given as the end includes that whole day.
    end: EndInstant = None
    # Narrows the feedback section to one workspace; the other sections are module-wide.
    workspace_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = Field(
        default=None, alias="workspaceId"
    )
