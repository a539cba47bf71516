"""How the CLI (and the dev stack) find the AWS resources the app uses.

The app reads its resource names from environment variables (FEEDBACK_TABLE, ALERTS_TOPIC_ARN, ...)
that CloudFormation sets from `Globals.Function.Environment.Variables` in infra/template.json. The CLI
runs outside Lambda, so it resolves the same variables itself: variables already set win; the rest
come from the CloudFormation stack named by PLM_STACK, by mapping each variable's `Ref` to the
stack's physical resource id. That works against the local stack on moto (the dev stack creates it
from the same template) and against a stack deployed from `chalice package --merge-template`, which
keeps our logical ids.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.json"
DEFAULT_STACK = "post-launch-monitor-local"
STACK_ENV = "PLM_STACK"


class AwsEnvError(Exception):
    """The resources could not be resolved; the message says what to do about it."""


def template_variables(template: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The app's environment variables as the merge template declares them (values are Refs/strings)."""
    if template is None:
        template = json.loads(TEMPLATE.read_text())
    return dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))


def template_parameters(template: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The template's parameters with their defaults (a stack created without a value gets these)."""
    if template is None:
        template = json.loads(TEMPLATE.read_text())
    return {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}


def env_from_resources(
    variables: Mapping[str, Any], physical: Mapping[str, str], parameters: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Map each variable to a value: a `Ref` to a created resource becomes its physical id (a table's
    name, a topic's ARN: what `Ref` yields in CloudFormation too); a `Ref` to a parameter its value
    (SLACK_WEBHOOK_SECRET_ARN; empty means "not configured"); a literal string stays as is.
    Variables whose resource is not in `physical` are left out, so the caller can tell what is missing.
    """
    env: dict[str, str] = {}
    parameters = parameters or {}
    for var, value in variables.items():
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in physical:
            env[var] = physical[value["Ref"]]
        elif isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
            env[var] = parameters[value["Ref"]]
        elif isinstance(value, str):
            env[var] = value
    return env


def stack_resources(stack_name: str, cfn_client: Any) -> dict[str, str]:
    """Logical id -> physical id for every resource of a stack.

    list_stack_resources rather than describe_stack_resources: the latter stops at 100 resources, and
    a packaged Chalice app with its functions, permissions and rules can come close to that.
    """
    from botocore.exceptions import ClientError

    physical: dict[str, str] = {}
    try:
        for page in cfn_client.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            for res in page["StackResourceSummaries"]:
                if res.get("PhysicalResourceId"):
                    physical[res["LogicalResourceId"]] = res["PhysicalResourceId"]
    except ClientError as exc:
        # CloudFormation answers a missing stack with ValidationError ("Stack ... does not exist").
        if exc.response.get("Error", {}).get("Code") == "ValidationError":
            raise AwsEnvError(
                f"CloudFormation stack {stack_name!r} was not found. Start the local stack with `make run` "
                f"and paste the exports it prints, or set {STACK_ENV} to a deployed stack's name."
            ) from exc
        raise AwsEnvError(f"Could not read stack {stack_name!r}: {exc}") from exc
    return physical


def stack_parameters(stack_name: str, cfn_client: Any) -> dict[str, str]:
    """The parameter values a stack was created with (none on the local stack: defaults apply)."""
    try:
        stacks = cfn_client.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception:  # noqa: BLE001 - stack_resources already said whether the stack exists
        return {}
    return (
        {p["ParameterKey"]: p.get("ParameterValue", "") for p in (stacks[0].get("Parameters") or [])}
        if stacks
        else {}
    )


def state_machines_by_name(
    variables: Mapping[str, Any],
    template: Mapping[str, Any] | None,
    stack_name: str,
    sfn_client: Any | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Logical id -> ARN of the state machines `variables` refer to, found by their StateMachineName.

    The local stack creates its state machines through the Step Functions API, not CloudFormation
    (moto's executing backend does not see machines its CloudFormation made), so they are not among
    the stack's resources; the template names them (`${AWS::StackName}-...`), which finds them.
    """
    if template is None:
        template = json.loads(TEMPLATE.read_text())
    resources = template.get("Resources", {})
    wanted: dict[str, str] = {}
    for value in variables.values():
        ref = value.get("Ref") if isinstance(value, dict) else None
        resource = resources.get(ref) if ref else None
        if not resource or resource.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        name = resource.get("Properties", {}).get("StateMachineName")
        name = name.get("Fn::Sub") if isinstance(name, dict) else name
        if isinstance(name, str):
            wanted[name.replace("${AWS::StackName}", stack_name)] = ref
    if not wanted:
        return {}
    try:
        client = sfn_client or _client("stepfunctions", environ or os.environ)
        found: dict[str, str] = {}
        for page in client.get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                if machine["name"] in wanted:
                    found[wanted[machine["name"]]] = machine["stateMachineArn"]
        return found
    except Exception:  # noqa: BLE001 - not found is reported as missing by the caller
        return {}


@dataclass
class ResolvedEnv:
    """Where each resource variable came from."""

    env: dict[str, str]
    stack_name: str | None = None
    from_stack: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def resolve_env(
    environ: Mapping[str, str] | None = None,
    *,
    stack_name: str | None = None,
    cfn_client: Any | None = None,
    template: Mapping[str, Any] | None = None,
    sfn_client: Any | None = None,
) -> ResolvedEnv:
    """The resource variables for the app's settings: from `environ` where set, else from the stack."""
    environ = os.environ if environ is None else environ
    variables = template_variables(template)
    env = {var: environ[var] for var in variables if environ.get(var)}
    wanted = [var for var in variables if var not in env]
    if not wanted:
        return ResolvedEnv(env=env)
    stack_name = stack_name or environ.get(STACK_ENV) or DEFAULT_STACK
    if cfn_client is None:
        cfn_client = _cfn_client(environ)
    try:
        physical = stack_resources(stack_name, cfn_client)
    except AwsEnvError:
        raise
    except Exception as exc:  # no credentials, no endpoint listening: say so in one line
        hint = environ.get("AWS_ENDPOINT_URL") or "the default AWS endpoint"
        raise AwsEnvError(
            f"Could not reach CloudFormation at {hint} to read stack {stack_name!r}: {exc}"
        ) from exc
    parameters = {**template_parameters(template), **stack_parameters(stack_name, cfn_client)}
    resolved = env_from_resources({var: variables[var] for var in wanted}, physical, parameters)
    unresolved = {var: variables[var] for var in wanted if var not in resolved}
    if unresolved:
        machines = state_machines_by_name(unresolved, template, stack_name, sfn_client, environ)
        resolved.update(env_from_resources(unresolved, {**physical, **machines}, parameters))
    env.update(resolved)
    return ResolvedEnv(
        env=env,
        stack_name=stack_name,
        from_stack=sorted(resolved),
        missing=sorted(set(wanted) - set(resolved)),
    )


def apply_env(
    environ: MutableMapping[str, str] | None = None,
    *,
    stack_name: str | None = None,
    cfn_client: Any | None = None,
) -> ResolvedEnv:
    """Resolve the resource variables and put them into `environ` (os.environ by default), then make
    the app's settings follow them."""
    target = os.environ if environ is None else environ
    resolved = resolve_env(target, stack_name=stack_name, cfn_client=cfn_client)
    for var, value in resolved.env.items():
        target[var] = value
    if target is os.environ:
        from chalicelib.config import reset_settings

        # New settings object: the next service entry's bind_models() points every model at it.
        reset_settings()
    return resolved


def _cfn_client(environ: Mapping[str, str]) -> Any:
    return _client("cloudformation", environ)


def _client(service: str, environ: Mapping[str, str]) -> Any:
    import boto3

    # Read everything from `environ` (normally os.environ), so a caller passing another mapping gets
    # the endpoint and credentials it names; unset keys fall back to boto3's usual chain.
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.session.Session(
        aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=environ.get("AWS_SESSION_TOKEN") or None,
        profile_name=environ.get("AWS_PROFILE") or None,
    ).client(service, region_name=region, endpoint_url=environ.get("AWS_ENDPOINT_URL") or None)
