"""A report in the contract's shape (docs/reports.md), for the delivery tests: delivery reads the
report, it does not build it, so its tests hand it one whose every field they know."""

from __future__ import annotations

from typing import Any


def sample_report(
    start: str = "2026-11-26T00:00:00.000000Z", end: str = "2026-11-27T00:00:00.000000Z"
) -> dict[str, Any]:
    return {
        "period": {"start": start, "end": end},
        "generatedAt": "2026-11-27T06:00:01.000000Z",
        "summary": {
            "status": "degraded",
            "highlights": [
                {
                    "text": "Reminder delivery at 97.5 % <b>above</b> target",
                    "reason": "delivered / sent",
                    "figures": {"delivered": 390, "sent": 400},
                }
            ],
            "criticalIssues": [
                {
                    "text": 'Feedback "Call me at [REDACTED:phone]" <script>alert(1)</script>',
                    "reason": "critical feedback open",
                    "figures": {"open": 1},
                }
            ],
            "recommendations": [],
        },
        "health": {
            "now": {"score": 82, "band": "good", "sufficientData": True, "at": end},
            "period": {
                "lowest": 64,
                "mean": 81.5,
                "points": 288,
                "timeInBand": {"good": 72000, "fair": 14400},
            },
        },
        "feedback": {"total": 12, "byCategory": {"bug_report": 5, "feature_request": 7}},
        "alerts": {
            "raised": 3,
            "active": 1,
            "bySeverity": {"critical": 0, "error": 1, "warning": 2, "info": 0},
            "meanTimeToAcknowledgeSeconds": 540.0,
            "meanTimeToResolveSeconds": 7200.0,
            "overdue": 0,
        },
        "releases": {"items": [], "count": 0},
        "successMetrics": [
            {
                "name": "reminderDeliverySuccess",
                "value": 97.5,
                "target": 95,
                "met": True,
                "source": "CloudWatch",
            },
            {
                "name": "noShowRate",
                "value": None,
                "target": 10,
                "met": None,
                "source": "CloudWatch PatientEngagement/NoShows",
                "reason": "no data in the period",
            },
        ],
        "roi": {
            "inputs": {"hourlyRate": 45, "implementationCost": 50000},
            "monthlySavings": 5125.0,
            "annualSavings": 61500.0,
            "annualROI": 23.0,
            "revenueIncrease": 12000.0,
            "totalROI": 147.0,
            "formulas": {"monthlySavings": "time saved × hourly rate + operational cost reduction"},
        },
    }


def resolve_report_notices(stack) -> None:
    """Resolve the "report generated" notices a test raised, as an engineer would once read: the
    session's alert tests count active alerts, and notices left firing would crowd their pages."""
    api = stack.client("engineer")
    listed = api.get("/api/monitoring/alerts", params={"rule": "ReportGenerated", "limit": 100})
    assert listed.status_code == 200, listed.text
    for alert in listed.json()["items"]:
        done = api.post(f"/api/monitoring/alerts/{alert['id']}/resolve", json={"reason": "report read"})
        assert done.status_code == 200, done.text
