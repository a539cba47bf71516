"""The seed's health score, rule by rule: at, just below and just above each threshold; combinations;
the clamp; the bands; missing inputs."""

from __future__ import annotations

import pytest

from chalicelib.health.score import (
    INPUTS,
    Missing,
    Problem,
    Ratio,
    ScoreInputs,
    band_for,
    compute_score,
    sufficient_data,
)

HEALTHY = dict(
    api_response_time_ms=120.0,
    error_rate=Ratio(0, 1000),
    daily_active_ratio=Ratio(50, 100),
    appointment_completion=Ratio(90, 100),
    satisfaction=4.5,
    critical_errors=[],
    high_priority_issues=[],
)


def inputs(**changes) -> ScoreInputs:
    return ScoreInputs(**{**HEALTHY, **changes})


def problems(n: int, severity: str) -> list[Problem]:
    return [Problem("issue", f"BUG-{i:03d}", severity) for i in range(1, n + 1)]


def test_all_healthy_inputs_score_100_with_no_deductions():
    result = compute_score(inputs())
    assert (result.score, result.band, result.deductions, result.missing) == (100, "healthy", [], {})
    assert result.completeness == 1.0


# (field, value, expected points, expected rule or None)
RULE_CASES = [
    # API response time: > 500 ms -20, else > 300 ms -10
    ("api_response_time_ms", 300.0, 0, None),
    ("api_response_time_ms", 299.99, 0, None),
    ("api_response_time_ms", 300.01, -10, "API response time > 300 ms"),
    ("api_response_time_ms", 500.0, -10, "API response time > 300 ms"),
    ("api_response_time_ms", 499.99, -10, "API response time > 300 ms"),
    ("api_response_time_ms", 500.01, -20, "API response time > 500 ms"),
    # Error rate: > 5 % -25, else > 2 % -10
    ("error_rate", Ratio(2, 100), 0, None),
    ("error_rate", Ratio(199, 10000), 0, None),
    ("error_rate", Ratio(201, 10000), -10, "error rate > 2 %"),
    ("error_rate", Ratio(5, 100), -10, "error rate > 2 %"),
    ("error_rate", Ratio(499, 10000), -10, "error rate > 2 %"),
    ("error_rate", Ratio(501, 10000), -25, "error rate > 5 %"),
    # Daily active users < 30 % of enabled users: -15 (30 of 100 is exactly 30 %, no deduction)
    ("daily_active_ratio", Ratio(30, 100), 0, None),
    ("daily_active_ratio", Ratio(2999, 10000), -15, "daily active users < 30 % of enabled users"),
    ("daily_active_ratio", Ratio(3001, 10000), 0, None),
    # Appointment completion < 80 %: -15
    ("appointment_completion", Ratio(80, 100), 0, None),
    ("appointment_completion", Ratio(7999, 10000), -15, "appointment completion rate < 80 %"),
    ("appointment_completion", Ratio(8001, 10000), 0, None),
    # Satisfaction < 4.0: -10
    ("satisfaction", 4.0, 0, None),
    ("satisfaction", 3.99, -10, "user satisfaction < 4.0"),
    ("satisfaction", 4.01, 0, None),
]


@pytest.mark.parametrize("field,value,points,rule", RULE_CASES)
def test_each_rule_at_below_and_above_its_threshold(field, value, points, rule):
    result = compute_score(inputs(**{field: value}))
    assert result.score == 100 + points
    if rule is None:
        assert result.deductions == []
    else:
        [deduction] = result.deductions
        assert (deduction.rule, deduction.points) == (rule, points)
        assert deduction.threshold is not None and deduction.value is not None


def test_a_deduction_names_rule_input_value_threshold_and_points():
    [d] = compute_score(inputs(error_rate=Ratio(7, 100))).deductions
    assert d.as_dict() == {
        "rule": "error rate > 5 %",
        "input": "errorRate",
        "value": 7.0,
        "threshold": 5,
        "unit": "%",
        "points": -25,
        "item": None,
    }


@pytest.mark.parametrize(
    "critical,high,expected",
    [(0, 0, 100), (1, 0, 85), (0, 1, 95), (2, 3, 55), (6, 0, 10), (7, 0, 0)],
)
def test_stability_deducts_per_problem(critical, high, expected):
    result = compute_score(
        inputs(critical_errors=problems(critical, "critical"), high_priority_issues=problems(high, "high"))
    )
    assert result.score == expected
    assert len(result.deductions) == critical + high
    assert all(d.item and d.item["id"].startswith("BUG-") for d in result.deductions)


def test_combinations_add_up():
    result = compute_score(
        inputs(
            api_response_time_ms=350.0,  # -10
            error_rate=Ratio(3, 100),  # -10
            satisfaction=3.5,  # -10
            high_priority_issues=problems(1, "high"),  # -5
        )
    )
    assert result.score == 65 and result.band == "warning"
    assert sorted(d.points for d in result.deductions) == [-10, -10, -10, -5]


def test_the_score_is_clamped_to_zero():
    result = compute_score(
        ScoreInputs(
            api_response_time_ms=900.0,
            error_rate=Ratio(10, 100),
            daily_active_ratio=Ratio(1, 100),
            appointment_completion=Ratio(10, 100),
            satisfaction=1.0,
            critical_errors=problems(2, "critical"),
            high_priority_issues=problems(3, "high"),
        )
    )
    assert result.raw == 100 - 20 - 25 - 15 - 15 - 10 - 30 - 15 == -30
    assert (result.score, result.clamped, result.band) == (0, True, "emergency")


@pytest.mark.parametrize(
    "score,band",
    [(100, "healthy"), (80, "healthy"), (79, "warning"), (60, "warning"), (59, "critical"), (40, "critical")]
    + [(39, "emergency"), (0, "emergency")],
)
def test_bands(score, band):
    assert band_for(score) == band


def test_missing_inputs_make_no_deduction_and_lower_completeness():
    result = compute_score(
        inputs(
            api_response_time_ms=Missing("no Latency datapoints"),
            satisfaction=Missing("no ratings"),
            critical_errors=Missing("issues table unreachable"),
        )
    )
    assert result.score == 100 and result.deductions == []
    assert result.missing == {
        "apiResponseTime": "no Latency datapoints",
        "userSatisfactionScore": "no ratings",
        "criticalErrors": "issues table unreachable",
    }
    assert (result.available, result.total) == (4, 7)
    assert result.completeness == round(4 / 7, 4)


def test_everything_missing_scores_100_with_zero_completeness():
    result = compute_score(ScoreInputs(*(Missing(f"no {name}") for name in INPUTS)))
    assert (result.score, result.completeness, result.deductions) == (100, 0.0, [])
    assert set(result.missing) == set(INPUTS)


def test_a_missing_input_does_not_hide_the_others():
    result = compute_score(inputs(error_rate=Missing("no Count"), api_response_time_ms=600.0))
    assert result.score == 80
    assert [d.input for d in result.deductions] == ["apiResponseTime"]
    assert "errorRate" in result.missing


@pytest.mark.parametrize(
    "available, minimum, sufficient",
    [
        (7, 0.6, True),
        (5, 0.6, True),  # 0.714
        (4, 0.6, False),  # 0.571
        (2, 0.6, False),  # the finding: 100 "healthy" from 2 of 7 inputs
        (0, 0.0, True),  # a threshold of 0 accepts anything
        (7, 1.0, True),
        (6, 1.0, False),
    ],
)
def test_sufficient_data_is_a_share_of_inputs_at_or_above_the_threshold(available, minimum, sufficient):
    assert sufficient_data(available, 7, minimum) is sufficient


def test_a_share_exactly_at_the_threshold_is_sufficient():
    assert sufficient_data(3, 5, 0.6) is True and sufficient_data(2, 5, 0.6) is False
    assert sufficient_data(4, 7, 4 / 7) is True and sufficient_data(3, 7, 4 / 7) is False


def test_two_of_seven_inputs_keep_the_seeds_score_but_are_not_sufficient():
    # Given only the two stability inputs had data
    result = compute_score(
        ScoreInputs(
            *(Missing(f"no {name}") for name in INPUTS[:5]), critical_errors=[], high_priority_issues=[]
        )
    )
    # Then the score and band are the seed's, and the data is flagged as not enough
    assert (result.score, result.band, result.available) == (100, "healthy", 2)
    assert result.sufficient(0.6) is False and result.sufficient(0.25) is True


def test_ratio_refuses_a_zero_denominator():
    with pytest.raises(ValueError):
        Ratio(1, 0)
