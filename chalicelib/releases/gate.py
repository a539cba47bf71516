"""The release gate: a verdict on one rollout step, and the check before a production rollout starts.

A step shifts part of an alias's traffic to the new version and bakes. `evaluate` judges it from
- the new version's own AWS/Lambda metrics over the step (Invocations, Errors, Duration under
  FunctionName, Resource = function:alias, ExecutedVersion), against thresholds and against the old
  version's over the same window;
- the health score (judged only when the report says sufficientData);
- bug reports and critical feedback in the release's feature areas created since the step began:
  users' own reports stop a rollout.

During the bake the answer is `continue` unless a failure is already certain (reports in the areas;
an error rate over the threshold on at least the minimum invocations): then `fail` at once rather than
at the end. At the end: `pass`, `fail`, or `inconclusive` when there is too little to judge (fewer
invocations of the new version than the minimum, a metric missing, a source that could not be read);
the rollout then waits for an operator instead of guessing. Every verdict carries its inputs and the
thresholds used, so the record on the release explains itself.

Sources are injectable (tests pass fakes); the defaults read CloudWatch, the health service, the
feedback service and the alerts store. Nothing here speaks HTTP or boto3.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.config import Settings, get_settings
from chalicelib.errors import DomainError
from chalicelib.integrations.cloudwatch import AliasVersion, VersionMetrics, lambda_version_metrics

HealthFn = Callable[[], Mapping[str, Any]]
FeedbackFn = Callable[[datetime, datetime], Sequence[Mapping[str, Any]]]
AlertsFn = Callable[[], Sequence[Mapping[str, Any]]]

CONTINUE, PASS, FAIL, INCONCLUSIVE = "continue", "pass", "fail", "inconclusive"

# Feedback that stops a rollout when it arrives in the release's feature areas during a step.
REPORT_CATEGORY = "bug_report"
REPORT_SEVERITY = "critical"
# Feedback ids listed in a verdict's inputs (the count is always complete).
MAX_IDS_SHOWN = 20
# Alerts that do not block a production rollout: a rolled-back release's alert says its version was
# taken out of service; the next release is often the fix for exactly that.
PREDEPLOY_IGNORED_RULES = frozenset({"ReleaseRolledBack"})
ACTIVE_ALERT_STATES = ("firing", "acknowledged")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise DomainError(f"step.{name} is not an ISO-8601 time: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def thresholds(settings: Settings) -> dict[str, Any]:
    return {
        "minInvocations": settings.release_gate_min_invocations,
        "maxErrorRatePercent": settings.release_gate_max_error_rate_percent,
        "maxErrorRateIncreasePoints": settings.release_gate_max_error_rate_increase_points,
        "maxDurationRatio": settings.release_gate_max_duration_ratio,
        "minHealthScore": settings.release_gate_min_health_score,
        "maxNewReports": settings.release_gate_max_new_reports,
    }


def duration_stat(settings: Settings) -> str:
    # The health capability's switch: percentiles everywhere but the local stage (moto answers
    # HTTP 500 to a percentile query).
    return "p95" if settings.percentile_stats else "Average"


@dataclass
class _Findings:
    """What the checks concluded. `early` failures are certain before the bake ends."""

    early: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    unknowns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ sources


def _default_health(settings: Settings) -> HealthFn:
    def read() -> Mapping[str, Any]:
        from chalicelib.health.service import current_health

        return current_health(settings=settings)

    return read


def _default_feedback(settings: Settings) -> FeedbackFn:
    def read(start: datetime, end: datetime) -> Sequence[Mapping[str, Any]]:
        from chalicelib.feedback.service import recent_feedback

        return recent_feedback(start, end, settings.release_gate_feedback_max_items, settings)

    return read


def _default_alerts(settings: Settings) -> AlertsFn:
    def read() -> Sequence[Mapping[str, Any]]:
        from chalicelib.store.alerts import active_alerts

        return active_alerts(settings)

    return read


# ------------------------------------------------------------------------------------------- checks


def _rate(errors: float, invocations: float) -> float:
    return errors / invocations * 100 if invocations else 0.0


def _version_view(m: VersionMetrics | None, version: str) -> dict[str, Any]:
    if m is None:
        return {"version": version, "invocations": None, "errors": None, "errorRatePercent": None}
    view: dict[str, Any] = {
        "version": version,
        "invocations": None if m.invocations is None else int(m.invocations),
        "errors": None if m.errors is None else int(m.errors),
        "errorRatePercent": (
            round(_rate(m.errors, m.invocations), 3) if m.invocations and m.errors is not None else None
        ),
    }
    key = "durationP95Ms" if m.duration_stat == "p95" else "durationAvgMs"
    view[key] = None if m.duration_ms is None else round(m.duration_ms, 3)
    return view


def _judge_function(
    function: str, new: VersionMetrics, old: VersionMetrics, settings: Settings, found: _Findings
) -> None:
    minimum = settings.release_gate_min_invocations
    version = new.target.version
    invocations = int(new.invocations or 0)
    if invocations < minimum:
        found.unknowns.append(
            f"{function}: version {version} had {invocations} invocations, fewer than the minimum {minimum}"
        )
        return
    missing = [
        name for name, value in (("Errors", new.errors), ("Duration", new.duration_ms)) if value is None
    ]
    if missing:
        found.unknowns.append(f"{function}: version {version} has no {' or '.join(missing)} datapoints")
        return
    rate = _rate(new.errors or 0.0, invocations)
    limit = settings.release_gate_max_error_rate_percent
    if rate > limit:
        message = (
            f"{function}: version {version} error rate {rate:.2f}% ({int(new.errors or 0)} of {invocations}) "
            f"is above {limit}%"
        )
        found.early.append(message)
        found.failures.append(message)
    old_invocations = int(old.invocations or 0)
    if old_invocations < minimum or old.errors is None:
        found.notes.append(
            f"{function}: not compared with version {old.target.version} "
            f"({old_invocations} invocations over the same window, minimum {minimum})"
        )
    else:
        old_rate = _rate(old.errors, old_invocations)
        allowed = settings.release_gate_max_error_rate_increase_points
        if rate - old_rate > allowed:
            found.failures.append(
                f"{function}: version {version} error rate {rate:.2f}% is {rate - old_rate:.2f} points above "
                f"version {old.target.version}'s {old_rate:.2f}% (at most {allowed} points)"
            )
        if old.duration_ms:
            ratio = (new.duration_ms or 0.0) / old.duration_ms
            allowed_ratio = settings.release_gate_max_duration_ratio
            if ratio > allowed_ratio:
                found.failures.append(
                    f"{function}: version {version} duration {new.duration_ms:.1f} ms "
                    f"({new.duration_stat}) is {ratio:.2f}x version {old.target.version}'s "
                    f"{old.duration_ms:.1f} ms (at most {allowed_ratio}x)"
                )
    if not any(m.startswith(f"{function}:") for m in found.failures):
        found.notes.append(f"{function}: version {version} {invocations} invocations, {rate:.2f}% errors")


def _check_metrics(
    targets: Sequence[Mapping[str, Any]],
    start: datetime,
    end: datetime,
    settings: Settings,
    cloudwatch: Any,
    found: _Findings,
) -> dict[str, Any]:
    pairs = [
        (
            AliasVersion(t["function"], t["alias"], str(t["toVersion"])),
            AliasVersion(t["function"], t["alias"], str(t["fromVersion"])),
        )
        for t in targets
    ]
    stat = duration_stat(settings)
    views: dict[str, Any] = {}
    if (end - start) < timedelta(seconds=1):
        # CloudWatch keys datapoints by the second: nothing can be read over a shorter window yet.
        read: list[VersionMetrics] = []
        found.unknowns.append("the step is less than a second old: no metrics yet")
    else:
        try:
            read, _ = lambda_version_metrics(
                [v for pair in pairs for v in pair],
                start,
                end,
                duration_stat=stat,
                client=cloudwatch,
                settings=settings,
            )
        except DomainError as error:
            found.unknowns.append(f"metrics could not be read: {error.message}")
            read = []
    by_target = {(m.target.function, m.target.version): m for m in read}
    for new, old in pairs:
        new_m, old_m = by_target.get((new.function, new.version)), by_target.get((old.function, old.version))
        views[new.function] = {
            "alias": new.alias,
            "new": _version_view(new_m, new.version),
            "old": _version_view(old_m, old.version),
        }
        if new_m is not None and old_m is not None:
            _judge_function(new.function, new_m, old_m, settings, found)
    return {"durationStat": stat, "functions": views}


def _check_feedback(
    areas: Sequence[str],
    start: datetime,
    end: datetime,
    settings: Settings,
    feedback: FeedbackFn,
    found: _Findings,
) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "since": _iso(start),
        "until": _iso(end),
        "featureAreas": list(areas),
        "allAreas": not areas,
    }
    try:
        records = feedback(start, end)
    except DomainError as error:
        found.unknowns.append(f"feedback could not be read: {error.message}")
        return {**inputs, "count": None, "ids": [], "error": error.message}
    since = _iso(start)
    matched = [
        r
        for r in records
        # A release that names no area could have broken any of them.
        if (not areas or r.get("featureArea") in areas)
        and (r.get("category") == REPORT_CATEGORY or r.get("severity") == REPORT_SEVERITY)
        and str(r.get("createdAt") or "") >= since
    ]
    allowed = settings.release_gate_max_new_reports
    ids = [str(r.get("id")) for r in matched]
    if len(matched) > allowed:
        where = ", ".join(areas) if areas else "any area"
        message = (
            f"{len(matched)} new bug report(s) or critical feedback in {where} since the step began "
            f"(at most {allowed}): {', '.join(ids[:5])}"
        )
        found.early.append(message)
        found.failures.append(message)
    return {
        **inputs,
        "count": len(matched),
        "ids": ids[:MAX_IDS_SHOWN],
        "read": len(records),
        "truncated": bool(getattr(records, "truncated", False)),
    }


def _judge_health(
    health: HealthFn, minimum: int, found: _Findings, *, label: str = "health score"
) -> dict[str, Any]:
    try:
        report = health()
    except DomainError as error:
        found.unknowns.append(f"health could not be read: {error.message}")
        return {"judged": False, "reason": error.message}
    score = report.get("healthScore")
    inputs = {
        "healthScore": score,
        "overallHealth": report.get("overallHealth"),
        "sufficientData": report.get("sufficientData"),
        "completeness": report.get("completeness"),
        "evaluatedAt": report.get("evaluatedAt"),
        "minScore": minimum,
    }
    if report.get("sufficientData") is not True or score is None:
        return {**inputs, "judged": False, "reason": "not judged: the health report has insufficient data"}
    if score < minimum:
        found.failures.append(f"{label} {score} is below {minimum}")
    return {**inputs, "judged": True}


# ---------------------------------------------------------------------------------------- verdicts


def evaluate(
    release: Mapping[str, Any],
    environment: str,
    step: Mapping[str, Any],
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
    cloudwatch: Any = None,
    health: HealthFn | None = None,
    feedback: FeedbackFn | None = None,
) -> dict[str, Any]:
    """The verdict on a step {"percent", "startedAt", "bakeSeconds"} of `release` in `environment`:
    {"verdict", "reason", "reasons", "inputs", "at"} (module docstring for the rules)."""
    settings = settings or get_settings()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    started = _parse(step["startedAt"], "startedAt")
    bake_ends = started + timedelta(seconds=float(step.get("bakeSeconds") or 0))
    baking = now < bake_ends
    targets = [t for t in release.get("targets", []) if t.get("environment") == environment]
    areas = list(release.get("featureAreas") or [])
    found = _Findings()

    if not targets:
        found.unknowns.append(f"the release has no {environment} targets")
    metrics = _check_metrics(targets, started, now, settings, cloudwatch, found) if targets else {}
    reports = _check_feedback(areas, started, now, settings, feedback or _default_feedback(settings), found)
    # The health score moves slowly and costs a full evaluation: judged once, when the bake ends.
    health_inputs: dict[str, Any] = {"judged": False, "reason": "not read during the bake"}
    if not baking:
        health_inputs = _judge_health(
            health or _default_health(settings), settings.release_gate_min_health_score, found
        )

    if baking:
        if found.early:
            verdict, reasons = FAIL, found.early
        else:
            left = (bake_ends - now).total_seconds()
            verdict, reasons = CONTINUE, [f"baking: {left:.0f} s left", *found.notes]
    elif found.failures:
        verdict, reasons = FAIL, found.failures
    elif found.unknowns:
        verdict, reasons = INCONCLUSIVE, found.unknowns
    else:
        verdict, reasons = PASS, found.notes or ["every check passed"]
    return {
        "verdict": verdict,
        "reason": "; ".join(reasons),
        "reasons": reasons,
        "inputs": {
            "environment": environment,
            "step": {
                "percent": step.get("percent"),
                "startedAt": _iso(started),
                "bakeEndsAt": _iso(bake_ends),
            },
            "window": {"start": _iso(started), "end": _iso(now)},
            "metrics": metrics,
            "health": health_inputs,
            "feedback": reports,
            "thresholds": thresholds(settings),
        },
        "at": _iso(now),
    }


def predeploy_check(
    *,
    settings: Settings | None = None,
    health: HealthFn | None = None,
    alerts: AlertsFn | None = None,
) -> dict[str, Any]:
    """Before a production rollout: the health score at least release_predeploy_min_health_score (when
    the report has sufficient data) and no active critical alert. {"ok", "reasons", "inputs"}.
    A source that cannot be read refuses: a check that could not look does not wave a rollout through."""
    settings = settings or get_settings()
    found = _Findings()
    minimum = settings.release_predeploy_min_health_score
    health_inputs = _judge_health(health or _default_health(settings), minimum, found)
    alerts_inputs: dict[str, Any]
    try:
        active = (alerts or _default_alerts(settings))()
    except DomainError as error:
        found.unknowns.append(f"alerts could not be read: {error.message}")
        alerts_inputs = {"error": error.message}
    else:
        critical = [
            a
            for a in active
            if a.get("severity") == "critical" and a.get("state", "firing") in ACTIVE_ALERT_STATES
        ]
        blocking = [a for a in critical if a.get("rule") not in PREDEPLOY_IGNORED_RULES]
        for alert in blocking:
            found.failures.append(
                f"critical alert {alert.get('rule')} is {alert.get('state', 'firing')} "
                f"({alert.get('id')}: {alert.get('summary', '')})".rstrip()
            )
        alerts_inputs = {
            "active": len(active),
            "critical": [
                {
                    "id": a.get("id"),
                    "rule": a.get("rule"),
                    "state": a.get("state"),
                    "summary": a.get("summary"),
                }
                for a in critical
            ],
            "ignoredRules": sorted(PREDEPLOY_IGNORED_RULES),
            "truncated": bool(getattr(active, "truncated", False)),
        }
    reasons = found.failures + found.unknowns
    if not reasons:
        reasons = [
            "no active critical alert; "
            + (
                f"health score {health_inputs['healthScore']} >= {minimum}"
                if health_inputs.get("judged")
                else "health not judged (insufficient data)"
            )
        ]
    return {
        "ok": not (found.failures or found.unknowns),
        "reasons": reasons,
        "inputs": {
            "health": health_inputs,
            "alerts": alerts_inputs,
            "thresholds": {"minHealthScore": minimum},
        },
    }
