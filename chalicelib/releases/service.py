"""Releases: plan, create, read, list (POST/GET /api/releases and `bug-fix-manage create|status`).

A release names fixed issues and the new code: a published version of each target function
(`function_version`) or `$LATEST`, published when the release is created (`publish`). Planning
checks everything that can be checked before a write, in this order, and stops at the first refusal:

    version     semver shape (400, field version); never used (409); above every earlier one (409)
    issues      exist (400, field issues: the body names them, the URL is not what is missing);
                fixed (409); in no other active release (409)
    new code    exactly one of functionVersion/publish (400); the version exists on every target
                (400, field functionVersion) and is not what the production alias serves already;
                with publish, `$LATEST` differs from the newest published version (409)
    targets     each has both aliases (400, field targets); no alias is mid-shift, i.e. carries
                AdditionalVersionWeights from a rollout that did not end (409)

A dry run stops there: nothing is published and nothing is written; it answers the record that
would be stored, with `dryRun: true` and, for publish, what would be published. Otherwise `$LATEST`
is published on each target (a version Lambda hands back unchanged is refused: LatestUnchanged) and
the release is stored with the issues' activeRelease in one transaction (chalicelib.store.releases),
which re-checks order, uniqueness and the issues against concurrent writers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.config import Settings
from chalicelib.errors import Conflict, FieldError, NotFound, ValidationFailed
from chalicelib.integrations import lambda_aliases
from chalicelib.integrations.aws import aws_client
from chalicelib.releases import model
from chalicelib.schemas.feedback import parse
from chalicelib.schemas.releases import ReleaseCreate, ReleaseListQuery
from chalicelib.store import issues as issue_store
from chalicelib.store import releases as store


def _now_iso(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(field, message)])


def _check_version(version: str) -> None:
    if store.get_release(version) is not None:
        raise Conflict(f"Release {version} already exists.", details={"field": "version"})
    highest = store.max_version()
    if not model.is_greater(version, highest):
        raise Conflict(
            f"Release {version} is not greater than {highest}, the highest version so far: "
            "versions only go up.",
            details={"field": "version", "maxVersion": highest},
        )


def _check_issues(version: str, issue_ids: Sequence[str]) -> list[issue_store.IssueRecord]:
    found = []
    for issue_id in issue_ids:
        try:
            issue = issue_store.get_issue(issue_id)
        except NotFound as exc:
            raise _refuse("issues", f"Issue {issue_id} does not exist.") from exc
        if issue.status != "fixed":
            raise Conflict(
                f"Issue {issue_id} is {issue.status}; only fixed issues can be released.",
                details={"field": "issues", "issue": issue_id, "status": issue.status},
            )
        if issue.active_release:
            raise Conflict(
                f"Issue {issue_id} is already in release {issue.active_release}, which is still active.",
                details={"field": "issues", "issue": issue_id, "activeRelease": issue.active_release},
            )
        found.append(issue)
    return found


def _alias(function: str, alias: str, lam: Any, settings: Settings) -> lambda_aliases.AliasState:
    try:
        state = lambda_aliases.alias_state(function, alias, client=lam, settings=settings)
    except NotFound as exc:
        raise _refuse("targets", f"{exc.message} A release target needs both aliases.") from exc
    if state.additional_version_weights:
        raise Conflict(
            f"{function}:{alias} is mid-shift: it routes {state.additional_version_weights} besides "
            f"version {state.function_version}. Finish or roll back that rollout first.",
            details={"field": "targets", "alias": state.as_dict()},
        )
    return state


def plan_release(
    version: str,
    issue_ids: Sequence[str],
    *,
    function_version: str | None = None,
    publish: bool = False,
    targets: Sequence[str] | None = None,
    actor: str,
    settings: Settings | None = None,
    lambda_client: Any = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The record create_release would store (status planned), after every check; writes nothing.
    With publish, each target's toVersion is None and `publish` lists what would be published."""
    settings = store.bind(settings)
    model.parse_version(version)
    issue_ids = list(issue_ids)
    if not issue_ids:
        raise _refuse("issues", "Name at least one fixed issue (BUG-###).")
    if len(set(issue_ids)) != len(issue_ids):
        raise _refuse("issues", "List each issue once.")
    if publish and function_version is not None:
        raise _refuse("functionVersion", "Give either functionVersion or publish, not both.")
    if not publish and function_version is None:
        raise _refuse(
            "functionVersion", "Name the new code: functionVersion (a published version) or publish."
        )
    _check_version(version)
    issues = _check_issues(version, issue_ids)
    functions = list(dict.fromkeys(targets or settings.release_targets))
    lam = lambda_client or aws_client("lambda", settings)
    environments = (
        ("staging", settings.release_staging_alias),
        ("production", settings.release_production_alias),
    )
    planned_targets: list[dict[str, Any]] = []
    publishes: list[dict[str, Any]] = []
    for function in functions:
        aliases = {env: _alias(function, alias, lam, settings) for env, alias in environments}
        serving = aliases["production"].function_version
        if publish:
            unchanged = lambda_aliases.latest_unchanged_since(function, client=lam, settings=settings)
            if unchanged is not None:
                raise lambda_aliases.LatestUnchanged(function, unchanged)
            sha = lambda_aliases.latest_code_sha(function, client=lam, settings=settings)
            publishes.append({"function": function, "codeSha256": sha})
            to_version = None
        else:
            assert function_version is not None
            if not lambda_aliases.version_exists(function, function_version, client=lam, settings=settings):
                raise _refuse("functionVersion", f"{function} has no published version {function_version}.")
            if function_version == serving:
                raise _refuse(
                    "functionVersion",
                    f"{function}:{settings.release_production_alias} serves version {serving} already.",
                )
            to_version = function_version
        for env, alias in environments:
            planned_targets.append(
                {
                    "function": function,
                    "environment": env,
                    "alias": alias,
                    "fromVersion": aliases[env].function_version,
                    "toVersion": to_version,
                }
            )
    areas = list(dict.fromkeys(area for issue in issues for area in issue.feature_areas))
    record = model.new_record(version, issue_ids, areas, planned_targets, actor=actor, now=_now_iso(now))
    if publish:
        record["publish"] = publishes
    return record


def create_release(
    version: str,
    issue_ids: Sequence[str],
    *,
    function_version: str | None = None,
    publish: bool = False,
    targets: Sequence[str] | None = None,
    dry_run: bool = False,
    actor: str,
    settings: Settings | None = None,
    lambda_client: Any = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Plan, then (unless dry_run) publish and store. Returns the public view; a dry run's has
    `dryRun: true` and, with publish, `publish` (what would be published)."""
    settings = store.bind(settings)
    lam = lambda_client or aws_client("lambda", settings)
    record = plan_release(
        version,
        issue_ids,
        function_version=function_version,
        publish=publish,
        targets=targets,
        actor=actor,
        settings=settings,
        lambda_client=lam,
        now=now,
    )
    if dry_run:
        return {**model.public_view(record), "dryRun": True}
    publishes = record.pop("publish", [])
    published: dict[str, str] = {}
    for entry in publishes:
        answer = lambda_aliases.publish_latest(
            entry["function"], description=f"release {version}", client=lam, settings=settings
        )
        published[entry["function"]] = answer["version"]
    if published:
        for target in record["targets"]:
            target["toVersion"] = published[target["function"]]
        record["history"][0]["reason"] += "; published $LATEST as " + ", ".join(
            f"{fn} version {v}" for fn, v in published.items()
        )
    return model.public_view(store.create_release(record, settings))


def create_from_request(
    body: ReleaseCreate | dict[str, Any], *, actor: str, settings: Settings | None = None
):
    """POST /api/releases: the body's fields as create_release's arguments."""
    body = parse(ReleaseCreate, body)
    return create_release(
        body.version,
        body.issues,
        function_version=body.function_version,
        publish=body.publish,
        targets=body.targets,
        dry_run=body.dry_run,
        actor=actor,
        settings=settings,
    )


def get_release(version: str, settings: Settings | None = None) -> dict[str, Any]:
    store.bind(settings)
    return model.public_view(store.require_release(version))


def list_releases(
    query: ReleaseListQuery | dict[str, Any] | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """A page of releases, newest first: {"items", "nextCursor"}."""
    settings = store.bind(settings)
    query = parse(ReleaseListQuery, query)
    limit = min(query.limit, settings.page_size_max)
    items, cursor = store.list_releases(limit, query.cursor, query.status)
    return {"items": [model.public_view(item) for item in items], "nextCursor": cursor}


def restore_backup(
    version: str,
    table: str,
    into: str,
    *,
    settings: Settings | None = None,
    dynamodb_client: Any = None,
) -> dict[str, Any]:
    """The seed's emergency "restore from latest backup", made safe: the newest backup of `table`
    that release `version` took before its production rollout, restored into the new table `into`
    (never over a table: Conflict if it exists). The live table is left as it is."""
    from chalicelib.integrations import backups as dynamodb_backups

    settings = store.bind(settings)
    record = store.require_release(version)
    taken = [b for b in record.get("backups") or [] if b.get("table") == table]
    if not taken:
        tables = sorted({b.get("table") for b in record.get("backups") or []})
        listed = ", ".join(tables) if tables else "none (backups are taken by the production rollout)"
        raise _refuse("table", f"Release {version} has no backup of {table}; its backups: {listed}.")
    if into == table:
        raise _refuse("into", "Restore into a new table, never over the table backed up.")
    backup = max(taken, key=lambda b: b.get("at") or "")
    restored = dynamodb_backups.restore_into_new_table(
        backup["backupArn"], into, client=dynamodb_client, settings=settings
    )
    return {"release": version, "from": backup, **restored}
