"""DEMO=1 metrics: a month of deterministic series whose incident the health score visibly reflects.

Written to moto's CloudWatch in another region (eu-west-2), so the month of demo data never meets the
series other tests read in us-east-1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.health.evaluator import HealthSources, evaluate
from postlaunch import demo_health

NOW = datetime(2026, 2, 20, 10, 17, 0, tzinfo=UTC)


@pytest.mark.slow  # a month of series and ~115 back-dated evaluations
def test_the_demo_month_shows_its_incident_in_the_score(stack, monkeypatch):
    cw = boto3.client(
        "cloudwatch",
        endpoint_url=stack.aws.endpoint,
        region_name="eu-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    settings = stack.settings()
    written = demo_health.write_month(NOW, client=cw, settings=settings)
    assert written["datums"] > 20_000 and written["calls"] == -(-written["datums"] // 1000) + 2

    sources = HealthSources(
        cloudwatch=cw,
        satisfaction=lambda start, end: {"average": 4.4, "count": 30},
        open_issues=lambda severities: [],
        open_feedback=lambda severities: [],
    )
    begin, end = demo_health.Month(NOW).incident
    during = evaluate(begin + timedelta(hours=2, minutes=5), settings=settings, sources=sources).report
    before = evaluate(begin - timedelta(days=2), settings=settings, sources=sources).report
    live = evaluate(NOW, settings=settings, sources=sources).report

    assert before.overallHealth == live.overallHealth == "healthy"
    assert during.healthScore <= 55 and during.overallHealth in ("critical", "emergency")
    rules = {d.input: d.points for d in during.deductions}
    assert rules["apiResponseTime"] == -20 and rules["errorRate"] == -25
    assert during.performance.apiResponseTime > 500 and during.performance.errorRate > 5
    assert live.completeness == 1.0  # every score input has data (stability and ratings stubbed here)
    assert live.performance.apiResponseTime < 300

    # The back-dated history holds the dip too (snapshots captured instead of stored here).
    kept = []
    monkeypatch.setattr(
        "chalicelib.health.service.store_evaluation",
        lambda evaluation, settings, backfilled=False: kept.append(evaluation),
    )
    history = demo_health.backfill_snapshots(NOW, client=cw, settings=settings)
    assert history["snapshots"] == len(kept) == len(demo_health.backfill_instants(demo_health.Month(NOW)))
    assert history["lowest"]["healthScore"] <= 55
    assert begin <= datetime.fromisoformat(history["lowest"]["at"]) < end
    assert all(e.report.backfilled for e in kept)
    # Every snapshot whose performance window lies wholly inside the incident shows it (one-minute
    # data around the incident: a window reaching back before it is partly healthy).
    window = timedelta(minutes=settings.health_performance_window_minutes)
    inside = [
        at for at in demo_health.backfill_instants(demo_health.Month(NOW)) if begin + window <= at < end
    ]
    assert inside
    assert sum(1 for e in kept if begin + window <= e.at < end and e.report.healthScore <= 55) == len(inside)
