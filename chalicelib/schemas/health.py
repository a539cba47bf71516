"""Request parameters and response shapes of the health routes.

Query parameters are validated strictly: an unknown parameter or a bad value is a 400 that names it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.schemas.instants import Instant

# ---------------------------------------------------------------- requests


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HealthQuery(_Query):
    verbose: bool = False
    refresh: bool = False


class HistoryQuery(_Query):
    start: Instant = None
    end: Instant = None
    limit: int = Field(default=500, ge=1, le=10000)
    cursor: str | None = Field(default=None, min_length=1, max_length=200)


class SloQuery(_Query):
    pass


# ---------------------------------------------------------------- responses


class Performance(BaseModel):
    apiResponseTime: float | None = None
    apiResponseTimeP95: float | None = None
    databaseResponseTime: float | None = None
    memoryUsage: float | None = None
    cpuUsage: float | None = None
    diskUsage: float | None = None
    errorRate: float | None = None
    requestCount: float | None = None
    lambdaErrors: float | None = None
    lambdaThrottles: float | None = None
    lambdaInvocations: float | None = None
    lambdaDuration: float | None = None


class Adoption(BaseModel):
    totalActiveWorkspaces: float | None = None
    enabledUsers: float | None = None
    dailyActiveUsers: float | None = None
    weeklyActiveUsers: float | None = None
    dailyActiveUserRatio: float | None = None
    appointmentsCreatedToday: float | None = None
    followUpsCompletedToday: float | None = None
    remindersDeliveredToday: float | None = None
    patientPortalUsage: float | None = None


class Quality(BaseModel):
    appointmentCompletionRate: float | None = None
    followUpCompletionRate: float | None = None
    reminderDeliverySuccessRate: float | None = None
    noShowRate: float | None = None
    userSatisfactionScore: float | None = None
    satisfactionResponses: int | None = None


class Stability(BaseModel):
    criticalErrors: int | None = None
    highPriorityIssues: int | None = None
    problems: list[dict[str, Any]] = Field(default_factory=list)
    activeAlerts: int | None = None


class DeductionOut(BaseModel):
    rule: str
    input: str
    value: Any = None
    threshold: Any = None
    unit: str | None = None
    points: int
    item: dict[str, Any] | None = None


class MissingOut(BaseModel):
    field: str
    reason: str
    scoreInput: bool


class Freshness(BaseModel):
    source: str  # "snapshot" | "evaluated"
    ageSeconds: float
    maxAgeSeconds: int


class HealthReport(BaseModel):
    healthScore: int
    overallHealth: str
    evaluatedAt: str
    performance: Performance
    adoption: Adoption
    quality: Quality
    stability: Stability
    deductions: list[DeductionOut]
    missing: list[MissingOut]
    completeness: float
    # None only in snapshots stored before the field existed; the service fills it in on reading.
    sufficientData: bool | None = None
    minCompleteness: float | None = None
    scoreInputs: dict[str, Any]
    windows: dict[str, dict[str, Any]]
    backfilled: bool = False
    freshness: Freshness | None = None
    details: dict[str, Any] | None = None

    def public(self, *, verbose: bool) -> dict[str, Any]:
        body = self.model_dump(mode="json")
        if not verbose:
            body.pop("details", None)
        return body


class HistoryPoint(BaseModel):
    at: str
    healthScore: int | None
    overallHealth: str | None
    completeness: float | None
    sufficientData: bool | None
    apiResponseTime: float | None
    errorRate: float | None
    requests: float | None
