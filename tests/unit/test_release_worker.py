"""The release worker answers each task token once, as the worker protocol says (docs/releases.md):
success with what the step returned, failure with the step's error, no answer for a pause, and
nothing to retry when the execution no longer waits. rollout.handle is ROLLOUT's: a stub here."""

from __future__ import annotations

import json
import sys
import types

import pytest
from botocore.exceptions import ClientError

from chalicelib.releases import worker


class StepFailed(Exception):
    def __init__(self, error: str, cause: str):
        super().__init__(error, cause)
        self.error, self.cause = error, cause


class FakeStepFunctions:
    """Records the answers; optionally refuses them as Step Functions does for a token gone stale."""

    def __init__(self, refuse: str | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.refuse = refuse

    def _answer(self, name: str, **kwargs) -> dict:
        self.calls.append((name, kwargs))
        if self.refuse:
            raise ClientError({"Error": {"Code": self.refuse, "Message": "no"}}, name)
        return {}

    def send_task_success(self, **kwargs):
        return self._answer("send_task_success", **kwargs)

    def send_task_failure(self, **kwargs):
        return self._answer("send_task_failure", **kwargs)


@pytest.fixture
def rollout(monkeypatch):
    """A stand-in for chalicelib.releases.rollout: `handle` answers from a table of ops."""
    module = types.ModuleType("chalicelib.releases.rollout")
    module.StepFailed = StepFailed
    answers: dict = {}

    def handle(message: dict):
        answer = answers[message["op"]]
        if isinstance(answer, Exception):
            raise answer
        return answer

    module.handle = handle
    module.answers = answers
    monkeypatch.setitem(sys.modules, "chalicelib.releases.rollout", module)
    return module


def body(op: str, **extra) -> str:
    return json.dumps({"op": op, "token": "tok-1", "execution": "arn:exec", "input": {}, **extra})


def test_a_step_that_returns_answers_its_token_with_that_output(rollout):
    # Given advance returns a shift
    rollout.answers["advance"] = {"action": "shift", "percent": 10, "aliases": []}
    sfn = FakeStepFunctions()
    # When the worker takes the message
    done = worker.process(body("advance"), sfn=sfn)
    # Then the token is answered with that output, as JSON
    assert done == {"op": "advance", "execution": "arn:exec", "answer": "success"}
    [(name, kwargs)] = sfn.calls
    assert name == "send_task_success" and kwargs["taskToken"] == "tok-1"
    assert json.loads(kwargs["output"]) == {"action": "shift", "percent": 10, "aliases": []}


def test_a_step_that_fails_answers_with_its_error_and_cause(rollout):
    rollout.answers["prepare"] = StepFailed("RolloutRefused", "1.0.1 holds patient-engagement-api")
    sfn = FakeStepFunctions()
    done = worker.process(body("prepare"), sfn=sfn)
    assert done["answer"] == "failure" and done["error"] == "RolloutRefused"
    assert sfn.calls == [
        (
            "send_task_failure",
            {"taskToken": "tok-1", "error": "RolloutRefused", "cause": "1.0.1 holds patient-engagement-api"},
        )
    ]


def test_a_pause_is_not_answered_now(rollout):
    rollout.answers["pause"] = None
    sfn = FakeStepFunctions()
    assert worker.process(body("pause"), sfn=sfn)["answer"] == "none"
    assert sfn.calls == []


def test_any_other_exception_propagates_so_sqs_delivers_the_message_again(rollout):
    rollout.answers["gate"] = RuntimeError("CloudWatch timed out")
    sfn = FakeStepFunctions()
    with pytest.raises(RuntimeError):
        worker.process(body("gate"), sfn=sfn)
    assert sfn.calls == []


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_an_answer_nobody_waits_for_is_dropped_not_retried(rollout, code):
    # Given the execution went on without this step (its task timed out, or a redelivery answered)
    rollout.answers["finish"] = {"status": "released"}
    sfn = FakeStepFunctions(refuse=code)
    # When the worker answers, Then it says so and does not raise (a retry would repeat the step)
    assert worker.process(body("finish"), sfn=sfn)["answer"] == "gone"


def test_a_throttled_answer_raises_so_the_message_is_tried_again(rollout):
    from chalicelib.errors import UpstreamUnavailable

    rollout.answers["finish"] = {"status": "released"}
    with pytest.raises(UpstreamUnavailable):
        worker.process(body("finish"), sfn=FakeStepFunctions(refuse="ThrottlingException"))


@pytest.mark.parametrize("text", ["not json", "[]", '{"op": "gate"}', '{"token": "t"}'])
def test_a_message_that_is_not_a_worker_step_is_refused(rollout, text):
    with pytest.raises(ValueError):
        worker.process(text, sfn=FakeStepFunctions())


def test_long_errors_and_causes_are_cut_to_step_functions_limits(rollout):
    rollout.answers["gate"] = StepFailed("E" * 300, "c" * 40000)
    sfn = FakeStepFunctions()
    worker.process(body("gate"), sfn=sfn)
    [(_, kwargs)] = sfn.calls
    assert (len(kwargs["error"]), len(kwargs["cause"])) == (256, 32768)
