"""What a release is, free of storage and AWS: versions, statuses, the record's initial shape, the
public view.

Versions are semantic versions `MAJOR.MINOR.PATCH` with an optional pre-release (`1.0.2`,
`1.1.0-rc.1`), parsed and ordered by the `semver` library (semver.org 2.0.0 precedence: a
pre-release sorts before its release). Build metadata (`+build.5`) is refused: semver ignores it
when ordering, so `1.0.2+a` and `1.0.2+b` would be two records of one version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import semver

from chalicelib.errors import FieldError, ValidationFailed

STATUSES = ("planned", "deploying", "staging_verified", "paused", "released", "rolled_back", "failed")
# A release in a terminal status holds no issue: its issues may go into a new release.
TERMINAL_STATUSES = frozenset({"released", "rolled_back", "failed"})
ACTIVE_STATUSES = frozenset(STATUSES) - TERMINAL_STATUSES
ENVIRONMENTS = ("staging", "production")
ENVIRONMENT_STATES = ("pending", "deploying", "paused", "verified", "released", "rolled_back", "failed")
# The longest version accepted: it is part of keys, execution names (80 characters) and alarms.
VERSION_MAX_LENGTH = 40
# Strict shape first (semver's parser also accepts `+build`, which we refuse): digits without
# leading zeros, then an optional dot-separated pre-release of [0-9A-Za-z-].
_SHAPE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")
# Never shown by the API or the CLI: the task token of a paused execution is a credential to resume it.
INTERNAL_FIELDS = ("pendingToken",)


def parse_version(text: Any, field: str = "version") -> semver.Version:
    """The semantic version `text` names; ValidationFailed naming `field` otherwise."""
    if not isinstance(text, str) or not text:
        raise ValidationFailed([FieldError(field, "A semantic version MAJOR.MINOR.PATCH is required.")])
    if len(text) > VERSION_MAX_LENGTH:
        raise ValidationFailed([FieldError(field, f"At most {VERSION_MAX_LENGTH} characters.")])
    if not _SHAPE.match(text):
        raise ValidationFailed(
            [
                FieldError(
                    field,
                    f"{text!r} is not a semantic version MAJOR.MINOR.PATCH with an optional "
                    "-prerelease (e.g. 1.0.2 or 1.1.0-rc.1; no leading zeros, no +build).",
                )
            ]
        )
    try:
        return semver.Version.parse(text)
    except ValueError as exc:  # the regex and the library agree; kept as the library's last word
        raise ValidationFailed([FieldError(field, f"{text!r} is not a semantic version.")]) from exc


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as version a is lower than, equal to or greater than b (semver precedence)."""
    return semver.Version.parse(a).compare(b)


def is_greater(version: str, than: str | None) -> bool:
    return than is None or compare_versions(version, than) > 0


def highest(versions: Iterable[str]) -> str | None:
    found = None
    for version in versions:
        if found is None or compare_versions(version, found) > 0:
            found = version
    return found


def new_environment() -> dict[str, Any]:
    return {
        "state": "pending",
        "executionArn": None,
        "startedAt": None,
        "finishedAt": None,
        "trafficPercent": 0,
        "step": None,
    }


def new_record(
    version: str,
    issues: list[str],
    feature_areas: list[str],
    targets: list[dict[str, Any]],
    *,
    actor: str,
    now: str,
) -> dict[str, Any]:
    """The record of a release just created (status planned), as the store writes it."""
    return {
        "version": version,
        "issues": list(issues),
        "featureAreas": list(feature_areas),
        "targets": [dict(t) for t in targets],
        "status": "planned",
        "environments": {env: new_environment() for env in ENVIRONMENTS},
        "trafficPercent": 0,
        "executions": [],
        "backups": [],
        "gates": [],
        "history": [
            {
                "at": now,
                "actor": actor,
                "action": "create",
                "from": None,
                "to": "planned",
                "reason": f"release of {', '.join(issues)}",
            }
        ],
        "createdAt": now,
        "createdBy": actor,
        "updatedAt": now,
        "revision": 1,
    }


def public_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the API and the CLI show: the record without its internal fields."""
    return {k: v for k, v in record.items() if k not in INTERNAL_FIELDS}
