"""The report as an email: an HTML summary (status, highlights, critical issues, recommendations,
health, alerts, the success metrics table, ROI) and the whole report attached as JSON, in one MIME
message built with the standard library's `email` package for SES SendRawEmail.

The HTML comes from a Jinja2 template with autoescaping on: every value is escaped, so a redacted
marker such as "[REDACTED:phone]" or any text the data holds reaches the reader as text, never as
markup. The report carries no feedback free text (its feedback section is the summary's counts)."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, Undefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATUS_COLORS = {"healthy": "#1e7e34", "degraded": "#b7791f", "critical": "#c53030", "unknown": "#52606d"}
ROI_ROWS = (
    ("Monthly savings", "monthlySavings"),
    ("Annual savings", "annualSavings"),
    ("Annual ROI (%)", "annualROI"),
    ("Revenue increase", "revenueIncrease"),
    ("Total ROI (%)", "totalROI"),
)


def number(value: Any) -> str:
    if value is None or value == "" or isinstance(value, Undefined):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def seconds(value: Any) -> str:
    if value is None or isinstance(value, Undefined):
        return "—"
    value = float(value)
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        # An optional field the report leaves out (a metric's reason) renders as nothing, not an error.
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(number=number, seconds=seconds)
    return env


def day_of(text: str) -> str:
    return text[:10]


def title(report: dict[str, Any]) -> str:
    """Names the days covered: the period's end is exclusive, so an end at midnight closes the day
    before it ("report 2026-11-26" for 2026-11-26T00:00 .. 2026-11-27T00:00)."""
    from datetime import datetime, timedelta

    period = report["period"]
    start = datetime.fromisoformat(period["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(period["end"].replace("Z", "+00:00"))
    midnight = end == end.replace(hour=0, minute=0, second=0, microsecond=0)
    last = (end - timedelta(days=1) if midnight and end > start else end).date()
    days = start.date().isoformat() if last <= start.date() else f"{start.date()} to {last}"
    return f"Post-Launch Monitor report {days}"


def subject(report: dict[str, Any]) -> str:
    status = (report.get("summary") or {}).get("status") or "unknown"
    return f"{title(report)}: {status}"


def attachment_name(report: dict[str, Any]) -> str:
    return f"post-launch-report-{day_of(report['period']['start'])}.json"


def report_json(report: dict[str, Any]) -> str:
    """The report as stored and attached: the same text, so the two compare byte for byte."""
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False)


def render_html(report: dict[str, Any]) -> str:
    summary = report.get("summary") or {}
    health = report.get("health") or {}
    context = {
        "title": title(report),
        "report": report,
        "period": report["period"],
        "summary": summary,
        "status_color": STATUS_COLORS.get(summary.get("status"), STATUS_COLORS["unknown"]),
        "sections": [
            ("Highlights", summary.get("highlights") or []),
            ("Critical issues", summary.get("criticalIssues") or []),
            ("Recommendations", summary.get("recommendations") or []),
        ],
        "health_now": health.get("now") or {},
        "health_period": health.get("period") or {},
        "alerts": report.get("alerts") or {},
        "metrics": report.get("successMetrics") or [],
        "roi": report.get("roi") or {},
        "roi_rows": ROI_ROWS,
        "releases": report.get("releases") or {},
        "attachment": attachment_name(report),
    }
    return _environment().get_template("report_email.html").render(**context)


def render_text(report: dict[str, Any]) -> str:
    """The plain-text part, for mail readers that do not show HTML."""
    summary = report.get("summary") or {}
    lines = [title(report), f"Status: {summary.get('status', 'unknown')}", ""]
    for heading, key in (
        ("Highlights", "highlights"),
        ("Critical issues", "criticalIssues"),
        ("Recommendations", "recommendations"),
    ):
        entries = summary.get(key) or []
        lines.append(f"{heading}:")
        lines += [f"- {entry.get('text')}" for entry in entries] or ["- none"]
        lines.append("")
    lines.append("Success metrics:")
    for metric in report.get("successMetrics") or []:
        value = "no data" if metric.get("value") is None else number(metric.get("value"))
        met = {True: "met", False: "not met"}.get(metric.get("met"), "—")
        lines.append(f"- {metric.get('name')}: {value} (target {number(metric.get('target'))}, {met})")
    roi = report.get("roi") or {}
    lines += ["", "ROI:"] + [f"- {label}: {number(roi.get(key))}" for label, key in ROI_ROWS]
    lines += ["", f"The whole report is attached as {attachment_name(report)}."]
    return "\n".join(lines) + "\n"


def build_message(report: dict[str, Any], *, sender: str, recipient: str) -> bytes:
    """One recipient's message: text and HTML alternatives, the report JSON attached."""
    message = EmailMessage()
    message["Subject"] = subject(report)
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    # Quoted-printable: SES asks for content outside 7-bit ASCII (×, —) to travel encoded.
    message.set_content(render_text(report), cte="quoted-printable")
    message.add_alternative(render_html(report), subtype="html", cte="quoted-printable")
    message.add_attachment(
        report_json(report).encode(),
        maintype="application",
        subtype="json",
        filename=attachment_name(report),
    )
    return message.as_bytes(policy=SMTP)
