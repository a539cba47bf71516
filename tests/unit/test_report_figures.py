"""The report's arithmetic on given inputs: ROI (the seed's formulas), time in each health band,
alert response times, rollout step durations and the summary's status rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.config import Settings
from chalicelib.reports.metrics import Measured, success_metrics
from chalicelib.reports.roi import compute_roi
from chalicelib.reports.sections import alerts_section, health_section, release_item
from chalicelib.store.health import Summary

T0 = datetime(2020, 1, 1, tzinfo=UTC)
ROI_SETTINGS = Settings(
    report_roi_hourly_rate=50,
    report_roi_minutes_per_reminder=3,
    report_roi_minutes_per_follow_up=10,
    report_roi_operational_cost_reduction_monthly=1000,
    report_roi_implementation_cost=25000,
    report_roi_mtm_billing_monthly=2000,
    report_roi_patient_retention_monthly=1500,
    report_roi_new_services_monthly=500,
)


def test_roi_is_the_seeds_formulas_over_the_inputs():
    # Given 600 reminders delivered and 90 follow-ups completed in 15 days
    roi = compute_roi({"RemindersDelivered": 600, "FollowUpsCompleted": 90}, 15, ROI_SETTINGS)

    # Then time saved: (600 × 3 + 90 × 10) / 60 = 45 h in 15 days, 90 h a month
    assert roi["timeSavedHoursMonthly"] == 90
    # Monthly Savings = 90 h × 50 + 1000 = 5500; Annual Savings = 66 000
    assert roi["monthlySavings"] == 5500 and roi["annualSavings"] == 66000
    # Annual ROI = (66 000 − 25 000) / 25 000 × 100 = 164 %
    assert roi["annualROI"] == 164
    # Revenue Increase = (2000 + 1500 + 500) × 12 = 48 000; Total ROI = (66 000 + 48 000) / 25 000 × 100
    assert roi["revenueIncrease"] == 48000 and roi["totalROI"] == 456
    # And every input is echoed, with where it came from, beside the formula and the worked figures
    assert roi["inputs"] | {} == {
        "hourlyRate": 50,
        "minutesSavedPerReminder": 3,
        "minutesSavedPerFollowUp": 10,
        "operationalCostReductionMonthly": 1000,
        "implementationCost": 25000,
        "mtmBillingMonthly": 2000,
        "patientRetentionMonthly": 1500,
        "newServicesMonthly": 500,
        "remindersDelivered": 600,
        "followUpsCompleted": 90,
        "periodDays": 15,
    }
    assert roi["inputSources"]["hourlyRate"] == "REPORT_ROI_HOURLY_RATE"
    assert roi["formulas"]["annualROI"].startswith("Annual ROI = (Annual Savings - Implementation Cost)")
    assert roi["worked"]["annualROI"] == "(66,000 - 25,000) / 25,000 × 100 = 164 %"
    assert roi["missing"] == {}


def test_roi_without_measured_work_names_what_is_missing():
    roi = compute_roi({}, 15, ROI_SETTINGS, measured_reason="CloudWatch did not answer")
    assert roi["monthlySavings"] is None and roi["annualROI"] is None and roi["totalROI"] is None
    assert roi["revenueIncrease"] == 48000  # needs no measured input
    assert roi["missing"]["annualROI"] == [
        "remindersDelivered (CloudWatch did not answer)",
        "followUpsCompleted (CloudWatch did not answer)",
    ]


def point(minutes: int, score: int, band: str) -> Summary:
    return Summary(T0 + timedelta(minutes=minutes), score, band, 1.0, None, 0.0, 1.0, True)


def test_time_in_band_holds_each_evaluation_until_the_next_at_most_the_hold():
    # Given evaluations at 0, 5 and 60 minutes of a 2-hour period (a 55-minute gap), hold 10 minutes
    points = [point(0, 95, "healthy"), point(5, 65, "warning"), point(60, 30, "emergency")]
    section = health_section(points, points[-1], T0, T0 + timedelta(hours=2), timedelta(minutes=10))

    bands = section["period"]["timeInBand"]
    assert (bands["healthy"], bands["warning"], bands["emergency"]) == (300, 600, 600)
    assert bands["noData"] == 7200 - 1500 and bands["critical"] == 0
    assert (section["period"]["lowest"], section["period"]["mean"]) == (30, round(190 / 3, 2))
    assert section["now"]["ageSeconds"] == 3600


def test_health_without_evaluations_is_null_with_the_reason():
    section = health_section([], None, T0, T0 + timedelta(days=1), timedelta(minutes=10))
    assert section["now"]["score"] is None and "no stored health evaluation" in section["now"]["reason"]
    assert section["period"]["mean"] is None and section["period"]["timeInBand"]["noData"] == 86400


def alert(severity: str, first: int, ack: int | None = None, resolved: int | None = None, deadline: int = 15):
    def stamp(minutes: int | None) -> str | None:
        return (
            None if minutes is None else (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        )

    return {
        "id": f"{severity}-{first}",
        "severity": severity,
        "firstSeen": stamp(first),
        "acknowledgedAt": stamp(ack),
        "resolvedAt": stamp(resolved),
        "deadline": stamp(first + deadline),
    }


def test_alert_response_times_and_overdue_as_of_the_cutoff():
    alerts = [
        alert("critical", 0, ack=5, resolved=30),  # answered in time
        alert("critical", 10, resolved=40),  # resolved without an acknowledgement, after its deadline
        alert("error", 20),  # never answered, deadline passed: overdue and active
        alert("info", 0, resolved=1000),  # info: no response expected; resolved after the cutoff
        alert("warning", 50, ack=200, deadline=480),  # acknowledged after the cutoff: not counted
    ]
    section = alerts_section(alerts, T0 + timedelta(minutes=100))
    assert section["raised"] == 5 and section["active"] == 3
    assert section["activeBySeverity"] == {"critical": 0, "error": 1, "warning": 1, "info": 1}
    assert section["meanTimeToAcknowledgeSeconds"] == 300
    assert section["meanTimeToResolveSeconds"] == (1800 + 1800) / 2
    assert section["overdue"] == 2 and set(section["overdueIds"]) == {"critical-10", "error-20"}


def test_a_paused_step_counts_until_traffic_moves_again():
    def entry(minutes: int, action: str, to: str, execution: str = "e1") -> dict:
        at = (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {"at": at, "action": action, "to": to, "execution": execution, "reason": action}

    record = {
        "version": "2.0.0",
        "status": "released",
        "executions": [{"arn": "e0", "environment": "staging"}, {"arn": "e1", "environment": "production"}],
        "history": [
            entry(0, "complete", "100%", "e0"),
            entry(1, "finish", "staging_verified", "e0"),
            entry(10, "shift", "10%"),
            entry(15, "pause", "paused"),  # traffic stays at 10 % while paused
            entry(40, "shift", "100%"),
            entry(41, "finish", "released"),
        ],
    }
    item = release_item(record, T0 + timedelta(days=1))
    assert item["outcome"] == "released" and item["rollbacks"] == []
    assert [(s["environment"], s["percent"], s["seconds"]) for s in item["stepDurations"]] == [
        ("staging", 100, 60),
        ("production", 10, 1800),
        ("production", 100, 60),
    ]


@pytest.mark.parametrize(
    ("requests", "errors", "value", "met"),
    [(1000, 20, 2.0, False), (1000, 0, 0.0, True), (0, 0, None, None)],
)
def test_error_rate_against_one_percent(requests, errors, value, met):
    measured = Measured(totals={}, averages={}, api_requests=requests, api_errors=errors)
    found = success_metrics(
        measured,
        period_days=1,
        satisfaction={"average": None, "count": 0},
        feedback={"volumePerDay": []},
        health_points=[],
        settings=Settings(),
    )
    error_rate = next(m for m in found if m["name"] == "errorRate")
    assert (error_rate["value"], error_rate["met"], error_rate["target"]) == (value, met, 1.0)
    if value is None:
        assert error_rate["reason"].startswith("no API Gateway requests")
