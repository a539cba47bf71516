"""Lambda versions and aliases of the release targets: what an alias serves now, which versions
exist, and publishing `$LATEST` as a new version.

Lambda's PublishVersion does not fail when `$LATEST` has not changed since the last publish: it hands
back that existing version (AWS does; so does moto). A release of that "new" version would ship the
code already running, so `publish_latest` compares the answer with the versions listed just before
and refuses it as LatestUnchanged ("$LATEST has not changed since version N"). `latest_unchanged_since`
makes the same judgement without publishing (for a dry run): the code hash of `$LATEST` equals that
of the newest published version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings
from chalicelib.errors import LatestUnchanged, NotFound, UpstreamUnavailable
from chalicelib.integrations.aws import aws_client

LATEST = "$LATEST"


@dataclass(frozen=True)
class AliasState:
    function: str
    alias: str
    function_version: str
    additional_version_weights: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "alias": self.alias,
            "functionVersion": self.function_version,
            "additionalVersionWeights": dict(self.additional_version_weights),
        }


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") or "ClientError"
    return type(exc).__name__


def _unavailable(exc: Exception, what: str) -> UpstreamUnavailable:
    code = _code(exc)
    return UpstreamUnavailable(f"Lambda {what} failed ({code}).", details={"awsCode": code})


def _client(client: Any, settings: Settings | None) -> Any:
    return client or aws_client("lambda", settings)


def alias_state(
    function: str, alias: str, *, client: Any = None, settings: Settings | None = None
) -> AliasState:
    """The version `alias` serves and the extra versions it routes a share of traffic to."""
    try:
        answer = _client(client, settings).get_alias(FunctionName=function, Name=alias)
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            raise NotFound(f"Lambda function {function} has no alias {alias}.") from exc
        raise _unavailable(exc, f"GetAlias {function}:{alias}") from exc
    except BotoCoreError as exc:
        raise _unavailable(exc, f"GetAlias {function}:{alias}") from exc
    weights = (answer.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return AliasState(
        function=function,
        alias=alias,
        function_version=answer["FunctionVersion"],
        additional_version_weights={str(k): float(v) for k, v in weights.items()},
    )


def list_versions(function: str, *, client: Any = None, settings: Settings | None = None) -> list[dict]:
    """Every published version of `function` (not $LATEST), oldest first: {version, codeSha256}."""
    lam = _client(client, settings)
    found: list[dict] = []
    try:
        for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=function):
            for entry in page.get("Versions", []):
                if entry["Version"] != LATEST:
                    found.append({"version": entry["Version"], "codeSha256": entry.get("CodeSha256")})
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            raise NotFound(f"Lambda function {function} does not exist.") from exc
        raise _unavailable(exc, f"ListVersionsByFunction {function}") from exc
    except BotoCoreError as exc:
        raise _unavailable(exc, f"ListVersionsByFunction {function}") from exc
    return sorted(found, key=lambda v: int(v["version"]))


def version_exists(
    function: str, version: str, *, client: Any = None, settings: Settings | None = None
) -> bool:
    """Whether `function` has the published version `version` (a number; $LATEST is not one)."""
    if not version.isdigit():
        return False
    try:
        _client(client, settings).get_function_configuration(FunctionName=function, Qualifier=version)
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return False
        raise _unavailable(exc, f"GetFunctionConfiguration {function}:{version}") from exc
    except BotoCoreError as exc:
        raise _unavailable(exc, f"GetFunctionConfiguration {function}:{version}") from exc
    return True


def latest_code_sha(function: str, *, client: Any = None, settings: Settings | None = None) -> str:
    """The code hash (CodeSha256) of `$LATEST`."""
    try:
        answer = _client(client, settings).get_function_configuration(FunctionName=function)
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            raise NotFound(f"Lambda function {function} does not exist.") from exc
        raise _unavailable(exc, f"GetFunctionConfiguration {function}") from exc
    except BotoCoreError as exc:
        raise _unavailable(exc, f"GetFunctionConfiguration {function}") from exc
    return answer.get("CodeSha256") or ""


def latest_unchanged_since(
    function: str, *, client: Any = None, settings: Settings | None = None
) -> str | None:
    """The newest published version whose code is `$LATEST`'s, or None when `$LATEST` is new code
    (or nothing was ever published). Judged on the code hash only, without publishing."""
    versions = list_versions(function, client=client, settings=settings)
    if not versions:
        return None
    sha = latest_code_sha(function, client=client, settings=settings)
    newest = versions[-1]
    return newest["version"] if newest["codeSha256"] == sha else None


def publish_latest(
    function: str, *, description: str = "", client: Any = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Publish `$LATEST` as a new version: {version, codeSha256}. LatestUnchanged when Lambda hands
    back a version that existed before the call (nothing changed since it was published)."""
    lam = _client(client, settings)
    before = {v["version"] for v in list_versions(function, client=lam)}
    try:
        answer = lam.publish_version(FunctionName=function, Description=description[:256])
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            raise NotFound(f"Lambda function {function} does not exist.") from exc
        raise _unavailable(exc, f"PublishVersion {function}") from exc
    except BotoCoreError as exc:
        raise _unavailable(exc, f"PublishVersion {function}") from exc
    if answer["Version"] in before:
        raise LatestUnchanged(function, answer["Version"])
    return {"version": answer["Version"], "codeSha256": answer.get("CodeSha256")}
