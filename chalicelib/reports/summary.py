"""The executive summary: rules over the report's own sections, each finding with the reason it was
raised and the figures behind it (docs/reports.md, "Executive summary" lists the rules).

status:
  critical  any critical issue: health at the cutoff critical or emergency; a critical alert still
            active at the cutoff; open critical feedback created in the period;
  degraded  no critical issue but a concern: health at the cutoff in warning or the period's lowest
            below 60; a technical success metric (uptime, error rate, API p95) missing its target;
            an overdue alert; a release rolled back or failed in the period; an error or warning
            alert still active at the cutoff;
  unknown   neither, and no stored health evaluation to judge by;
  healthy   otherwise.
"""

from __future__ import annotations

from typing import Any

TECHNICAL = ("uptime", "errorRate", "apiLatencyP95")
BAD_BANDS = ("critical", "emergency")
# What to do about a success metric that missed its target.
METRIC_ACTIONS = {
    "patientEngagementChange": "Review reminder and portal adoption with the pharmacies that engage least.",
    "followUpCompletion": "Look at the overdue follow-ups by workspace and the reminders that precede them.",
    "noShowRate": "Check reminder timing and delivery for the appointments that were missed.",
    "reminderDeliverySuccess": "Check the SMS/email provider's failed deliveries and bounced addresses.",
    "uptime": "Review the 5xx responses of the period (post-launch-monitor logs --errors).",
    "errorRate": "Review the 5xx responses of the period (post-launch-monitor logs --errors).",
    "apiLatencyP95": "Look at the slowest routes and DynamoDB latency (post-launch-monitor db-check).",
    "featureAdoption": "Offer training to the workspaces with the fewest daily active users.",
    "userSatisfaction": "Read the low-rated feedback of the period and link it to issues.",
    "supportRequestsTrend": "Group the period's new feedback (Phase 2 plan) and fix the most reported areas.",
}


def _finding(text: str, reason: str, figures: dict[str, Any], level: str) -> dict[str, Any]:
    return {"text": text, "reason": reason, "figures": figures, "level": level}


def _minutes(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds / 60:.1f} min"


def executive_summary(report: dict[str, Any]) -> dict[str, Any]:
    health, feedback, alerts = report["health"], report["feedback"], report["alerts"]
    releases, metrics, roi = report["releases"], report["successMetrics"], report["roi"]
    now, period = health["now"], health["period"]
    critical: list[dict[str, Any]] = []
    concerns: list[dict[str, Any]] = []
    highlights: list[dict[str, Any]] = []
    recommendations: list[dict[str, Any]] = []

    # ---- critical issues
    if now["band"] in BAD_BANDS:
        critical.append(
            _finding(
                f"Health is {now['band']} ({now['score']}/100)",
                "the newest stored evaluation at or before the period's end is below 60 "
                "(critical 40-59, emergency below 40)",
                {"score": now["score"], "band": now["band"], "at": now["at"]},
                "critical",
            )
        )
    active_critical = alerts["activeBySeverity"].get("critical", 0)
    if active_critical:
        critical.append(
            _finding(
                f"{active_critical} critical alert(s) still active",
                "critical alerts raised in the period and not resolved by its end",
                {"activeCritical": active_critical},
                "critical",
            )
        )
    if feedback.get("openCritical"):
        critical.append(
            _finding(
                f"{feedback['openCritical']} critical feedback item(s) open",
                "feedback of severity critical created in the period and still open",
                {"openCritical": feedback["openCritical"], "openHigh": feedback.get("openHigh")},
                "critical",
            )
        )

    # ---- concerns (degraded)
    if now["band"] == "warning":
        concerns.append(
            _finding(
                f"Health is in warning ({now['score']}/100)",
                "the newest stored evaluation at or before the period's end is 60-79",
                {"score": now["score"], "at": now["at"]},
                "warning",
            )
        )
    if period["lowest"] is not None and period["lowest"] < 60 and now["band"] not in BAD_BANDS:
        concerns.append(
            _finding(
                f"Health fell to {period['lowest']} during the period",
                "the period's lowest stored score is below 60",
                {"lowest": period["lowest"], "lowestAt": period["lowestAt"]},
                "warning",
            )
        )
    for m in metrics:
        if m["name"] in TECHNICAL and m["met"] is False:
            concerns.append(
                _finding(
                    f"{m['label']} {m['value']} {m['unit']} misses its target "
                    f"({m['comparison']} {m['target']})",
                    f"technical success metric not met; source: {m['source']}",
                    {"value": m["value"], "target": m["target"], **m["figures"]},
                    "warning",
                )
            )
    if alerts["overdue"]:
        concerns.append(
            _finding(
                f"{alerts['overdue']} alert(s) answered after their response deadline",
                "acknowledged or resolved later than the deadline of their severity, or not at all by "
                "the period's end",
                {"overdue": alerts["overdue"]},
                "warning",
            )
        )
    for item in releases["items"]:
        for rollback in item["rollbacks"]:
            concerns.append(
                _finding(
                    f"Release {item['version']} {rollback['status'].replace('_', ' ')}"
                    f" in {rollback['environment'] or 'an environment'}",
                    rollback["reason"] or "no reason recorded",
                    {"version": item["version"], "at": rollback["at"], "status": item["status"]},
                    "warning",
                )
            )
    active_other = sum(alerts["activeBySeverity"].get(s, 0) for s in ("error", "warning"))
    if active_other:
        concerns.append(
            _finding(
                f"{active_other} error/warning alert(s) still active",
                "raised in the period and not resolved by its end",
                {s: alerts["activeBySeverity"].get(s, 0) for s in ("error", "warning")},
                "warning",
            )
        )

    if critical:
        status = "critical"
    elif concerns:
        status = "degraded"
    elif now["score"] is None and not period["points"]:
        status = "unknown"
    else:
        status = "healthy"

    # ---- highlights
    if period["mean"] is not None:
        total = sum(period["timeInBand"].values()) or 1
        healthy_share = round(100 * period["timeInBand"].get("healthy", 0) / total, 1)
        highlights.append(
            _finding(
                f"Health averaged {period['mean']} (lowest {period['lowest']}) over {period['points']} "
                f"evaluations; healthy {healthy_share} % of the period",
                "stored health evaluations of the period",
                {
                    "mean": period["mean"],
                    "lowest": period["lowest"],
                    "points": period["points"],
                    "healthyPercentOfPeriod": healthy_share,
                },
                "info",
            )
        )
    satisfaction = (feedback.get("ratings") or {}).get("satisfaction") or {}
    highlights.append(
        _finding(
            f"{feedback['total']} feedback item(s); satisfaction {satisfaction.get('average') or 'n/a'} "
            f"({satisfaction.get('count', 0)} ratings), trend {feedback['ratingsTrend']['direction']}",
            "the feedback summary of the period",
            {
                "total": feedback["total"],
                "satisfaction": satisfaction.get("average"),
                "ratings": satisfaction.get("count", 0),
                "trend": feedback["ratingsTrend"]["direction"],
            },
            "info",
        )
    )
    with_data = [m for m in metrics if m["value"] is not None]
    met = [m for m in with_data if m["met"]]
    highlights.append(
        _finding(
            f"{len(met)} of {len(with_data)} success metrics with data met their targets "
            f"({len(metrics) - len(with_data)} without data)",
            "the success metrics of the period",
            {"met": [m["name"] for m in met], "notMet": [m["name"] for m in with_data if not m["met"]]},
            "info",
        )
    )
    if alerts["raised"]:
        highlights.append(
            _finding(
                f"{alerts['raised']} alert(s) raised; mean time to acknowledge "
                f"{_minutes(alerts['meanTimeToAcknowledgeSeconds'])}, to resolve "
                f"{_minutes(alerts['meanTimeToResolveSeconds'])}",
                "alerts first seen in the period (info notices left out of the means)",
                {
                    "raised": alerts["raised"],
                    "bySeverity": alerts["bySeverity"],
                    "mttaSeconds": alerts["meanTimeToAcknowledgeSeconds"],
                    "mttrSeconds": alerts["meanTimeToResolveSeconds"],
                },
                "info",
            )
        )
    if releases["count"]:
        outcome = releases["byOutcome"]
        highlights.append(
            _finding(
                f"{releases['count']} release(s): {outcome['released']} released, "
                f"{outcome['rolled_back']} rolled back, {outcome['failed']} failed",
                "releases created in the period",
                dict(outcome),
                "info",
            )
        )
    if roi.get("annualROI") is not None:
        highlights.append(
            _finding(
                f"Annual ROI {roi['annualROI']} % (annual savings {roi['annualSavings']} {roi['currency']})",
                roi["formulas"]["annualROI"],
                {"annualROI": roi["annualROI"], "annualSavings": roi["annualSavings"]},
                "info",
            )
        )
    highlights.extend(concerns)

    # ---- recommendations
    for m in with_data:
        if not m["met"]:
            recommendations.append(
                _finding(
                    METRIC_ACTIONS.get(m["name"], f"Work on {m['label']}."),
                    f"{m['label']} is {m['value']} {m['unit']}, target {m['comparison']} {m['target']}",
                    {"metric": m["name"], "value": m["value"], "target": m["target"]},
                    "warning" if m["name"] in TECHNICAL else "info",
                )
            )
    if feedback.get("openCritical"):
        recommendations.append(
            _finding(
                "Triage the open critical feedback and link it to issues.",
                "critical feedback of the period is still open",
                {"openCritical": feedback["openCritical"]},
                "critical",
            )
        )
    if alerts["overdue"]:
        recommendations.append(
            _finding(
                "Review on-call response: alerts waited past their response deadline.",
                "overdue alerts in the period",
                {"overdue": alerts["overdue"], "alertIds": alerts["overdueIds"]},
                "warning",
            )
        )
    for item in releases["items"]:
        for rollback in item["rollbacks"]:
            recommendations.append(
                _finding(
                    f"Before the next release, address why {item['version']} rolled back.",
                    rollback["reason"] or "no reason recorded",
                    {"version": item["version"], "environment": rollback["environment"]},
                    "warning",
                )
            )
    if now["sufficientData"] is False:
        recommendations.append(
            _finding(
                "Publish the metric contract's series so the health score rests on enough inputs.",
                "the newest health evaluation had too few inputs to be meaningful (sufficientData false)",
                {"score": now["score"], "at": now["at"]},
                "info",
            )
        )
    no_data = [m for m in metrics if m["value"] is None]
    if no_data:
        recommendations.append(
            _finding(
                "Provide the data these success metrics lack: " + ", ".join(m["name"] for m in no_data) + ".",
                "a metric without data is reported null, never estimated",
                {m["name"]: m["reason"] for m in no_data},
                "info",
            )
        )
    if roi.get("missing"):
        settings_named = sorted(
            {
                part.split("(")[1].split(" ")[0]
                for parts in roi["missing"].values()
                for part in parts
                if "is not set" in part
            }
        )
        if settings_named:
            recommendations.append(
                _finding(
                    "Configure the ROI inputs: " + ", ".join(settings_named) + ".",
                    "ROI figures need every input of their formula",
                    {"missing": roi["missing"]},
                    "info",
                )
            )
    return {
        "status": status,
        "highlights": highlights,
        "criticalIssues": critical,
        "recommendations": recommendations,
        "rules": "docs/reports.md, Executive summary",
    }
