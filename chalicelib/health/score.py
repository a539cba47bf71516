"""The seed's "Health Score Calculation", exactly, with every deduction explained.

Start at 100; API response time > 500 ms -20, else > 300 ms -10; error rate > 5 % -25, else > 2 % -10;
daily active users < 30 % of enabled users -15; appointment completion < 80 % -15; satisfaction < 4.0
-10; -15 for each critical error and -5 for each high-priority issue; clamp to 0..100.
Bands: healthy >= 80, warning 60-79, critical 40-59, emergency < 40.

An input that is missing makes no deduction: it is listed in `missing` with the reason, and
`completeness` is the share of the score's inputs that were available; below a configured share
(health_min_completeness) the data is not sufficient to call the score meaningful. Ratios are compared exactly
(fractions), so "30 of 100 users" is exactly at the 30 % threshold, not a float's hair below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

START = 100

# (threshold, points): the first rule that holds applies, so > 500 ms costs 20, not 30.
API_RESPONSE_TIME_RULES = ((500, -20), (300, -10))  # ms, "greater than"
ERROR_RATE_RULES = ((5, -25), (2, -10))  # percent, "greater than"
DAILY_ACTIVE_MIN_PERCENT = 30  # of enabled users, "less than"
DAILY_ACTIVE_POINTS = -15
APPOINTMENT_COMPLETION_MIN_PERCENT = 80  # "less than"
APPOINTMENT_COMPLETION_POINTS = -15
SATISFACTION_MIN = Fraction(4)  # on the 1-5 scale, "less than"
SATISFACTION_POINTS = -10
CRITICAL_ERROR_POINTS = -15
HIGH_PRIORITY_ISSUE_POINTS = -5

BANDS = ((80, "healthy"), (60, "warning"), (40, "critical"), (0, "emergency"))

# The score's inputs, in the order the response lists them (completeness = available / len).
INPUTS = (
    "apiResponseTime",
    "errorRate",
    "dailyActiveUserRatio",
    "appointmentCompletionRate",
    "userSatisfactionScore",
    "criticalErrors",
    "highPriorityIssues",
)


@dataclass(frozen=True)
class Missing:
    """An input that could not be read, and why."""

    reason: str


@dataclass(frozen=True)
class Ratio:
    """numerator / denominator, kept exact; `percent` is a Fraction."""

    numerator: float
    denominator: float

    def __post_init__(self) -> None:
        if self.denominator <= 0:
            raise ValueError("a ratio needs a positive denominator")

    @property
    def percent(self) -> Fraction:
        return Fraction(self.numerator) * 100 / Fraction(self.denominator)

    def display(self, digits: int = 2) -> float:
        return round(float(self.percent), digits)


@dataclass(frozen=True)
class Problem:
    """One open problem the stability rules count (an issue, or feedback not linked to one)."""

    kind: str  # "issue" | "feedback"
    id: str
    severity: str
    title: str | None = None
    category: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class ScoreInputs:
    api_response_time_ms: float | Missing
    error_rate: Ratio | Missing
    daily_active_ratio: Ratio | Missing
    appointment_completion: Ratio | Missing
    satisfaction: float | Missing
    critical_errors: list[Problem] | Missing
    high_priority_issues: list[Problem] | Missing


@dataclass(frozen=True)
class Deduction:
    rule: str
    input: str
    value: Any
    threshold: Any
    points: int
    unit: str | None = None
    item: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "input": self.input,
            "value": self.value,
            "threshold": self.threshold,
            "unit": self.unit,
            "points": self.points,
            "item": self.item,
        }


@dataclass
class ScoreResult:
    score: int
    band: str
    raw: int
    deductions: list[Deduction]
    missing: dict[str, str]
    available: int
    total: int = len(INPUTS)
    clamped: bool = False
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def completeness(self) -> float:
        return round(self.available / self.total, 4)

    def sufficient(self, min_completeness: float) -> bool:
        return sufficient_data(self.available, self.total, min_completeness)


def sufficient_data(available: int, total: int, min_completeness: float) -> bool:
    """At least `min_completeness` (0-1) of the score's inputs had data. Compared exactly, as the
    ratios are: 0.6 means 3/5, so 5 of 7 (0.714) is sufficient and 4 of 7 (0.571) is not."""
    return Fraction(available, total) >= Fraction(str(min_completeness))


def available_from_completeness(completeness: float, total: int = len(INPUTS)) -> int:
    """The count behind a stored completeness (rounded to 4 places, so exact for 7 inputs)."""
    return round(completeness * total)


def band_for(score: int) -> str:
    for floor, name in BANDS:
        if score >= floor:
            return name
    return "emergency"


def _num(value: Fraction | float) -> float:
    return round(float(value), 4)


def compute_score(inputs: ScoreInputs) -> ScoreResult:
    deductions: list[Deduction] = []
    missing: dict[str, str] = {}
    shown: dict[str, Any] = {}

    value = inputs.api_response_time_ms
    if isinstance(value, Missing):
        missing["apiResponseTime"] = value.reason
    else:
        shown["apiResponseTime"] = _num(value)
        for threshold, points in API_RESPONSE_TIME_RULES:
            if Fraction(value) > threshold:
                deductions.append(
                    Deduction(
                        f"API response time > {threshold} ms",
                        "apiResponseTime",
                        _num(value),
                        threshold,
                        points,
                        "ms",
                    )
                )
                break

    rate = inputs.error_rate
    if isinstance(rate, Missing):
        missing["errorRate"] = rate.reason
    else:
        shown["errorRate"] = rate.display(4)
        for threshold, points in ERROR_RATE_RULES:
            if rate.percent > threshold:
                deductions.append(
                    Deduction(
                        f"error rate > {threshold} %", "errorRate", rate.display(4), threshold, points, "%"
                    )
                )
                break

    dau = inputs.daily_active_ratio
    if isinstance(dau, Missing):
        missing["dailyActiveUserRatio"] = dau.reason
    else:
        shown["dailyActiveUserRatio"] = dau.display(4)
        if dau.percent < DAILY_ACTIVE_MIN_PERCENT:
            deductions.append(
                Deduction(
                    f"daily active users < {DAILY_ACTIVE_MIN_PERCENT} % of enabled users",
                    "dailyActiveUserRatio",
                    dau.display(4),
                    DAILY_ACTIVE_MIN_PERCENT,
                    DAILY_ACTIVE_POINTS,
                    "%",
                )
            )

    completion = inputs.appointment_completion
    if isinstance(completion, Missing):
        missing["appointmentCompletionRate"] = completion.reason
    else:
        shown["appointmentCompletionRate"] = completion.display(4)
        if completion.percent < APPOINTMENT_COMPLETION_MIN_PERCENT:
            deductions.append(
                Deduction(
                    f"appointment completion rate < {APPOINTMENT_COMPLETION_MIN_PERCENT} %",
                    "appointmentCompletionRate",
                    completion.display(4),
                    APPOINTMENT_COMPLETION_MIN_PERCENT,
                    APPOINTMENT_COMPLETION_POINTS,
                    "%",
                )
            )

    satisfaction = inputs.satisfaction
    if isinstance(satisfaction, Missing):
        missing["userSatisfactionScore"] = satisfaction.reason
    else:
        shown["userSatisfactionScore"] = _num(satisfaction)
        if Fraction(satisfaction) < SATISFACTION_MIN:
            deductions.append(
                Deduction(
                    "user satisfaction < 4.0",
                    "userSatisfactionScore",
                    _num(satisfaction),
                    float(SATISFACTION_MIN),
                    SATISFACTION_POINTS,
                    "of 5",
                )
            )

    for key, problems, points, rule in (
        ("criticalErrors", inputs.critical_errors, CRITICAL_ERROR_POINTS, "critical error"),
        (
            "highPriorityIssues",
            inputs.high_priority_issues,
            HIGH_PRIORITY_ISSUE_POINTS,
            "high-priority issue",
        ),
    ):
        if isinstance(problems, Missing):
            missing[key] = problems.reason
            continue
        shown[key] = len(problems)
        for problem in problems:
            deductions.append(
                Deduction(f"{rule} (each)", key, problem.id, None, points, None, problem.as_dict())
            )

    raw = START + sum(d.points for d in deductions)
    score = max(0, min(100, raw))
    return ScoreResult(
        score=score,
        band=band_for(score),
        raw=raw,
        deductions=deductions,
        missing=missing,
        available=len(INPUTS) - len(missing),
        clamped=score != raw,
        inputs=shown,
    )
