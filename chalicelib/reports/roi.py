"""ROI with the seed's formulas ("ROI Calculation"), every input shown beside the formula.

  Time Saved (hours/month) = (RemindersDelivered × minutes per reminder
                              + FollowUpsCompleted × minutes per follow-up) / 60 × 30 / period days
  Monthly Savings = (Time Saved × Hourly Rate) + Operational Cost Reduction
  Annual Savings  = Monthly Savings × 12
  Annual ROI      = (Annual Savings − Implementation Cost) / Implementation Cost × 100
  Revenue Increase (annual) = (MTM Billing + Improved Patient Retention + New Services) × 12
  Total ROI       = (Annual Savings + Revenue Increase) / Implementation Cost × 100

The work is measured (the period's CloudWatch sums), the rest is configuration (REPORT_ROI_*). A
figure whose inputs are not all there is null, and `missing` names what it waits for.
"""

from __future__ import annotations

from typing import Any

from chalicelib.config import Settings

MONTHS_PER_YEAR = 12
DAYS_PER_MONTH = 30

# input name -> the setting it comes from
CONFIGURED = {
    "hourlyRate": "report_roi_hourly_rate",
    "minutesSavedPerReminder": "report_roi_minutes_per_reminder",
    "minutesSavedPerFollowUp": "report_roi_minutes_per_follow_up",
    "operationalCostReductionMonthly": "report_roi_operational_cost_reduction_monthly",
    "implementationCost": "report_roi_implementation_cost",
    "mtmBillingMonthly": "report_roi_mtm_billing_monthly",
    "patientRetentionMonthly": "report_roi_patient_retention_monthly",
    "newServicesMonthly": "report_roi_new_services_monthly",
}
MEASURED = {
    "remindersDelivered": "RemindersDelivered",
    "followUpsCompleted": "FollowUpsCompleted",
}

TIME_SAVED = (
    "remindersDelivered",
    "minutesSavedPerReminder",
    "followUpsCompleted",
    "minutesSavedPerFollowUp",
)
SAVINGS = (*TIME_SAVED, "hourlyRate", "operationalCostReductionMonthly")
REVENUE = ("mtmBillingMonthly", "patientRetentionMonthly", "newServicesMonthly")
# figure -> every input it needs, directly or through another figure
NEEDS = {
    "timeSavedHoursMonthly": TIME_SAVED,
    "monthlySavings": SAVINGS,
    "annualSavings": SAVINGS,
    "annualROI": (*SAVINGS, "implementationCost"),
    "revenueIncrease": REVENUE,
    "totalROI": (*SAVINGS, *REVENUE, "implementationCost"),
}

FORMULAS = {
    "timeSavedHoursMonthly": (
        "Time Saved = (Reminders Delivered × Minutes Saved per Reminder + Follow-ups Completed × "
        "Minutes Saved per Follow-up) / 60 × 30 / Period Days"
    ),
    "monthlySavings": "Monthly Savings = (Time Saved × Hourly Rate) + Operational Cost Reduction",
    "annualSavings": "Annual Savings = Monthly Savings × 12",
    "annualROI": "Annual ROI = (Annual Savings - Implementation Cost) / Implementation Cost × 100",
    "revenueIncrease": (
        "Revenue Increase = (MTM Billing + Improved Patient Retention + New Services) × 12 (monthly inputs)"
    ),
    "totalROI": (
        "Total ROI = (Cost Savings + Revenue Increase) / Implementation Cost × 100 "
        "(Cost Savings = Annual Savings)"
    ),
}


def _env(setting: str) -> str:
    return setting.upper()


def _fmt(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"


def compute_roi(
    measured_totals: dict[str, float | None],
    period_days: float,
    settings: Settings,
    measured_reason: str | None = None,
) -> dict[str, Any]:
    """The ROI block: inputs (with where each came from), the figures, each formula's text and the
    same formula with the numbers in (`worked`), and what a null figure is missing."""
    inputs: dict[str, float | None] = {name: getattr(settings, s) for name, s in CONFIGURED.items()}
    sources = {name: _env(s) for name, s in CONFIGURED.items()}
    for name, metric in MEASURED.items():
        inputs[name] = measured_totals.get(metric)
        sources[name] = f"CloudWatch {settings.health_adoption_namespace} Sum({metric}) over the period"
    inputs["periodDays"] = round(period_days, 3)
    sources["periodDays"] = "the report period (up to now)"

    def describe(name: str) -> str:
        if name in CONFIGURED:
            return f"{name} ({sources[name]} is not set)"
        return f"{name} ({measured_reason or 'no datapoints in the period'})"

    absent = {name for name, value in inputs.items() if value is None}
    missing = {
        figure: [describe(n) for n in needs if n in absent]
        for figure, needs in NEEDS.items()
        if absent & set(needs)
    }
    if period_days <= 0:
        for figure in ("timeSavedHoursMonthly", "monthlySavings", "annualSavings", "annualROI", "totalROI"):
            missing.setdefault(figure, []).append("periodDays (the period has not begun)")
    v = inputs
    worked: dict[str, str] = {}
    time_saved = monthly = annual = annual_roi = revenue = total_roi = None
    if "timeSavedHoursMonthly" not in missing:
        minutes = (
            v["remindersDelivered"] * v["minutesSavedPerReminder"]
            + v["followUpsCompleted"] * v["minutesSavedPerFollowUp"]
        )
        time_saved = minutes / 60 * DAYS_PER_MONTH / period_days
        worked["timeSavedHoursMonthly"] = (
            f"({_fmt(v['remindersDelivered'])} × {_fmt(v['minutesSavedPerReminder'])} + "
            f"{_fmt(v['followUpsCompleted'])} × {_fmt(v['minutesSavedPerFollowUp'])}) / 60 × "
            f"{DAYS_PER_MONTH} / {_fmt(v['periodDays'])} = {_fmt(round(time_saved, 2))} h"
        )
    if "monthlySavings" not in missing:
        monthly = time_saved * v["hourlyRate"] + v["operationalCostReductionMonthly"]
        worked["monthlySavings"] = (
            f"({_fmt(round(time_saved, 2))} × {_fmt(v['hourlyRate'])}) + "
            f"{_fmt(v['operationalCostReductionMonthly'])} = {_fmt(round(monthly, 2))}"
        )
        annual = monthly * MONTHS_PER_YEAR
        worked["annualSavings"] = f"{_fmt(round(monthly, 2))} × 12 = {_fmt(round(annual, 2))}"
    cost = v["implementationCost"]
    if "annualROI" not in missing:
        annual_roi = (annual - cost) / cost * 100
        worked["annualROI"] = (
            f"({_fmt(round(annual, 2))} - {_fmt(cost)}) / {_fmt(cost)} × 100 = {_fmt(round(annual_roi, 2))} %"
        )
    if "revenueIncrease" not in missing:
        parts = [v[n] for n in REVENUE]
        revenue = sum(parts) * MONTHS_PER_YEAR
        worked["revenueIncrease"] = f"({' + '.join(_fmt(p) for p in parts)}) × 12 = {_fmt(round(revenue, 2))}"
    if "totalROI" not in missing:
        total_roi = (annual + revenue) / cost * 100
        worked["totalROI"] = (
            f"({_fmt(round(annual, 2))} + {_fmt(round(revenue, 2))}) / {_fmt(cost)} × 100 = "
            f"{_fmt(round(total_roi, 2))} %"
        )

    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        "currency": settings.report_currency,
        "inputs": inputs,
        "inputSources": sources,
        "timeSavedHoursMonthly": r(time_saved),
        "monthlySavings": r(monthly),
        "annualSavings": r(annual),
        "annualROI": r(annual_roi),
        "revenueIncrease": r(revenue),
        "totalROI": r(total_roi),
        "formulas": dict(FORMULAS),
        "worked": worked,
        "missing": missing,
    }
