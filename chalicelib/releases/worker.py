"""The rollout state machine's worker: one gate-queue message in, one task answer out.

Each Python step of the machine (infra/release-rollout.asl.json) is an SQS message carrying a task
token and an `op` (the worker protocol, docs/releases.md). `process` hands the message to
`chalicelib.releases.rollout.handle` and answers the token: SendTaskSuccess with what `handle`
returned, SendTaskFailure when it raised `rollout.StepFailed(error, cause)`, nothing when it returned
None (a pause: the operator answers later with the stored token). Any other exception propagates, so
SQS delivers the message again (and after five receives parks it in the dead-letter queue, whose
alarm pages; the task's TimeoutSeconds then fails the state, which rolls back).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

from chalicelib.config import Settings
from chalicelib.errors import TaskGone
from chalicelib.integrations import stepfunctions
from chalicelib.observability import logger

ROLLOUT = "chalicelib.releases.rollout"


def _rollout() -> Any:
    # Imported when a message arrives, not with the app: the API routes never need it.
    return importlib.import_module(ROLLOUT)


def process(
    body: str,
    *,
    handle: Callable[[dict[str, Any]], Any] | None = None,
    settings: Settings | None = None,
    sfn: Any = None,
) -> dict[str, Any]:
    """Run one worker step and answer its token. Returns what was done, for the logs and tests:
    {"op", "execution", "answer": "success"|"failure"|"none"|"gone", "error"?}."""
    message = json.loads(body)
    if not isinstance(message, dict) or not message.get("token") or not message.get("op"):
        # Not the state machine's: nobody waits for it, so an answer is impossible. Raising parks it
        # in the dead-letter queue (alarm) instead of dropping it unseen.
        raise ValueError("a gate message needs an op and a task token")
    rollout = _rollout()
    handle = handle or rollout.handle
    token, op = message["token"], message["op"]
    done: dict[str, Any] = {"op": op, "execution": message.get("execution")}
    try:
        try:
            output = handle(message)
        except rollout.StepFailed as failed:
            error = str(getattr(failed, "error", None) or (failed.args[0] if failed.args else "StepFailed"))
            cause = str(getattr(failed, "cause", None) or (failed.args[1] if len(failed.args) > 1 else ""))
            stepfunctions.send_task_failure(token, error, cause, settings=settings, client=sfn)
            logger.info("release step failed", extra={**done, "error": error, "cause": cause})
            return {**done, "answer": "failure", "error": error}
        if output is None:
            logger.info("release step answered later", extra=done)
            return {**done, "answer": "none"}
        stepfunctions.send_task_success(token, output, settings=settings, client=sfn)
    except TaskGone as gone:
        # The execution went on without this answer (timed out, stopped, answered by a redelivery):
        # nothing is waiting for it, so retrying the message could only repeat the step.
        logger.warning("release step answer not taken", extra={**done, "reason": gone.message})
        return {**done, "answer": "gone"}
    logger.info("release step done", extra=done)
    return {**done, "answer": "success"}
