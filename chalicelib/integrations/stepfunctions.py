"""The release rollout state machine's API: start and read executions, answer task tokens.

The only module that speaks Step Functions' wire shapes. The client is injectable (`client=None`:
the shared one); dates come back as ISO strings and JSON documents (input, output) as dicts. AWS
error codes become domain errors here: an execution name already used is a Conflict, an unknown
execution NotFound, a task that no longer waits (answered, timed out, execution ended) TaskGone,
anything else UpstreamUnavailable.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings, get_settings
from chalicelib.errors import Conflict, NotFound, TaskGone, UpstreamUnavailable
from chalicelib.integrations.aws import aws_client

# Step Functions' limits (API reference): error 256 characters, cause 32768, output 256 KiB.
ERROR_MAX = 256
CAUSE_MAX = 32768
_TASK_GONE = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") or "ClientError"
    return type(exc).__name__


def _fail(exc: Exception, what: str, **details: Any) -> Exception:
    code = _code(exc)
    details = {"awsCode": code, **details}
    if code == "ExecutionAlreadyExists":
        return Conflict(f"An execution named {details.get('name')} already exists.", details=details)
    if code in ("ExecutionDoesNotExist", "StateMachineDoesNotExist"):
        return NotFound(f"Step Functions: {what} found nothing ({code}).", details=details)
    if code in _TASK_GONE:
        return TaskGone(f"The task no longer waits for an answer ({code}).", details=details)
    return UpstreamUnavailable(f"Step Functions {what} failed ({code}).", details=details)


def state_machine_arn(settings: Settings | None = None) -> str:
    arn = (settings or get_settings()).release_state_machine_arn
    if not arn:
        raise UpstreamUnavailable("No release state machine is configured (RELEASE_STATE_MACHINE_ARN).")
    return arn


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _document(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def start_execution(
    name: str,
    execution_input: dict[str, Any],
    *,
    state_machine: str | None = None,
    settings: Settings | None = None,
    client: Any = None,
) -> dict[str, Any]:
    """StartExecution with an explicit name (the name is the idempotency key: a second start with it
    is a Conflict). Returns {"executionArn", "startDate"}."""
    client = client or aws_client("stepfunctions", settings)
    arn = state_machine or state_machine_arn(settings)
    try:
        answer = client.start_execution(stateMachineArn=arn, name=name, input=json.dumps(execution_input))
    except (ClientError, BotoCoreError) as exc:
        raise _fail(exc, "StartExecution", name=name, stateMachineArn=arn) from exc
    return {"executionArn": answer["executionArn"], "startDate": _iso(answer.get("startDate"))}


def describe_execution(execution_arn: str, *, settings: Settings | None = None, client: Any = None) -> dict:
    """{"executionArn", "name", "status", "startDate", "stopDate", "input", "output", "error", "cause"}."""
    client = client or aws_client("stepfunctions", settings)
    try:
        answer = client.describe_execution(executionArn=execution_arn)
    except (ClientError, BotoCoreError) as exc:
        raise _fail(exc, "DescribeExecution", executionArn=execution_arn) from exc
    return {
        "executionArn": answer["executionArn"],
        "name": answer.get("name"),
        "status": answer["status"],
        "startDate": _iso(answer.get("startDate")),
        "stopDate": _iso(answer.get("stopDate")),
        "input": _document(answer.get("input")),
        "output": _document(answer.get("output")),
        "error": answer.get("error"),
        "cause": answer.get("cause"),
    }


def list_executions(
    *,
    status: str | None = None,
    limit: int = 100,
    state_machine: str | None = None,
    settings: Settings | None = None,
    client: Any = None,
) -> list[dict[str, Any]]:
    """The newest executions first (at most `limit`), optionally of one status (RUNNING, ...):
    [{"executionArn", "name", "status", "startDate", "stopDate"}]."""
    client = client or aws_client("stepfunctions", settings)
    arn = state_machine or state_machine_arn(settings)
    kwargs: dict[str, Any] = {"stateMachineArn": arn, "maxResults": min(limit, 1000)}
    if status:
        kwargs["statusFilter"] = status
    found: list[dict[str, Any]] = []
    try:
        while len(found) < limit:
            answer = client.list_executions(**kwargs)
            found += [
                {
                    "executionArn": e["executionArn"],
                    "name": e.get("name"),
                    "status": e["status"],
                    "startDate": _iso(e.get("startDate")),
                    "stopDate": _iso(e.get("stopDate")),
                }
                for e in answer.get("executions", [])
            ]
            if not answer.get("nextToken"):
                break
            kwargs["nextToken"] = answer["nextToken"]
    except (ClientError, BotoCoreError) as exc:
        raise _fail(exc, "ListExecutions", stateMachineArn=arn) from exc
    return found[:limit]


def send_task_success(
    token: str, output: Any, *, settings: Settings | None = None, client: Any = None
) -> None:
    """Answer a waiting task; `output` becomes the task's result (JSON). TaskGone if it waits no more."""
    client = client or aws_client("stepfunctions", settings)
    try:
        client.send_task_success(taskToken=token, output=json.dumps(output, default=str))
    except (ClientError, BotoCoreError) as exc:
        raise _fail(exc, "SendTaskSuccess") from exc


def send_task_failure(
    token: str, error: str, cause: str = "", *, settings: Settings | None = None, client: Any = None
) -> None:
    """Fail a waiting task with an error name the state machine's Catch matches, and a cause."""
    client = client or aws_client("stepfunctions", settings)
    try:
        client.send_task_failure(taskToken=token, error=error[:ERROR_MAX], cause=(cause or "")[:CAUSE_MAX])
    except (ClientError, BotoCoreError) as exc:
        raise _fail(exc, "SendTaskFailure", error=error) from exc
