"""DEMO=1 alerts: the month's incident replayed through the real alert rules, then one evaluation now.

The metrics demo (postlaunch.demo_health) writes one-minute API datapoints from an hour before the
incident to an hour after it (`Month.replay`). Here the rules that judge those datapoints and the
feedback (REPLAY_RULES) run back-dated every REPLAY_STEP across that span, through the engine as the
every-minute schedule does (record what fires, resolve what cleared, mark what is overdue): what the
incident breaches fires during it and resolves by itself after it. The rules that judge the latest
health snapshot or the present state of the stack (SystemDown, LowAdoption, HealthDataMissing,
DataLossRisk, IntegrationFailure) are left out of the replay: back-dated snapshots are six hours
apart, so they would judge the demo's backfill, not the incident.

Then, as the schedules do next, the health evaluation and the full alert evaluation (`rules.run`)
run once at `now` on the current data, so the alerts active now (the open critical bug reports of
the feedback demo, what the current data breaches) are there too. Every record comes from the
engine; nothing here writes an alert itself.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from postlaunch.demo_health import Month
from postlaunch.demo_load import NoProgress, Tracker

REPLAY_STEP = timedelta(minutes=10)
NOT_REPLAYED = {"SystemDown", "LowAdoption", "HealthDataMissing", "DataLossRisk", "IntegrationFailure"}


def replay_instants(month: Month) -> list[datetime]:
    """Back-dated evaluation times: every REPLAY_STEP across the replay span, a few seconds past the
    minute as the schedule runs."""
    begin, end = month.replay
    out, at = [], begin + REPLAY_STEP + timedelta(seconds=5)
    while at <= end:
        out.append(at)
        at += REPLAY_STEP
    return out


def replay_rules() -> set[str]:
    from chalicelib.alerts import rules

    return set(rules.RULE_FUNCTIONS) - NOT_REPLAYED


def replay(
    now: datetime, *, client: Any = None, settings: Any = None, progress: Tracker | None = None
) -> dict[str, Any]:
    """Evaluate the alert rules back-dated over the incident, then everything at `now`."""
    from chalicelib.alerts import engine, rules
    from chalicelib.config import get_settings
    from chalicelib.health.evaluator import HealthSources
    from chalicelib.health.service import run_scheduled_evaluation
    from chalicelib.store import alerts as store

    settings = settings or get_settings()
    progress = progress or NoProgress()
    instants = replay_instants(Month(now))
    task = progress.add_task("alert evaluations", total=len(instants) + 1)
    fired: set[str] = set()
    totals: Counter[str] = Counter()
    names = replay_rules()
    for at in instants:
        judged = rules.evaluate(at, settings, cloudwatch=client, rules=names)
        applied = engine.apply_evaluation(judged.conditions, judged.evaluated, at, settings)
        overdue = engine.mark_overdue(at, settings)
        fired |= {c.rule for c in judged.conditions}
        totals.update(new=applied["new"], resolved=applied["resolved"], overdue=len(overdue))
        progress.advance(task)
    replayed = dict(totals)
    run_scheduled_evaluation(now=now, settings=settings, sources=HealthSources(cloudwatch=client))
    current = rules.run(now, settings, cloudwatch=client)
    progress.advance(task)
    store.bind(settings)
    active = list(store.active_alerts(settings))
    return {
        "evaluations": len(instants),
        "replayFired": sorted(fired),
        "replay": {"new": replayed.get("new", 0), "resolved": replayed.get("resolved", 0)},
        "now": {"new": current["new"], "resolved": current["resolved"]},
        "active": len(active),
        "activeRules": dict(sorted(Counter(a["rule"] for a in active).items())),
        "span": [at.isoformat() for at in Month(now).replay],
    }


def load_demo(
    now: datetime | None = None,
    *,
    client: Any = None,
    settings: Any = None,
    progress: Tracker | None = None,
) -> Iterator[str]:
    """What DEMO=1 runs (postlaunch.demo.load_all calls it, after the metrics and snapshots)."""
    now = now or datetime.now(UTC)
    started = time.monotonic()
    result = replay(now, client=client, settings=settings, progress=progress)
    begin, end = (datetime.fromisoformat(at) for at in result["span"])
    fired = ", ".join(result["replayFired"]) or "nothing"
    active = ", ".join(f"{rule} {n}" for rule, n in result["activeRules"].items()) or "none"
    yield (
        f"alerts: incident replay {begin:%Y-%m-%d %H:%M}-{end:%H:%M} ({result['evaluations']} evaluations "
        f"every {REPLAY_STEP.seconds // 60} min) fired {fired}: {result['replay']['new']} new, "
        f"{result['replay']['resolved']} resolved; now {result['active']} active ({active}) "
        f"({time.monotonic() - started:.1f} s)"
    )
