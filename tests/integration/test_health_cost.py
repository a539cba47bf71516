"""Health evaluation's own cost: AWS calls per evaluation, counted with botocore event hooks, and the
same with 0 or 500 feedback items in the satisfaction window.

The evaluation runs as of a fixed instant in 2021 so that no other test's feedback or metrics fall
into its windows; the 500 items are low-severity (they are rated, so the satisfaction query reads
them, but they are not open problems).
"""

from __future__ import annotations

import contextvars
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import botocore.endpoint

from chalicelib.auth import Principal, Role
from chalicelib.health.evaluator import HealthSources, evaluate

AS_OF = datetime(2021, 6, 15, 12, 0, 30, tzinfo=UTC)
_COUNTING: contextvars.ContextVar[int | None] = contextvars.ContextVar("health_cost_counting", default=None)


class AwsCalls:
    """Counts API calls two ways: a `before-call` hook on every client the evaluation uses (per
    operation), and every HTTP request botocore's endpoint sends (catches a client we did not hook)."""

    def __init__(self, monkeypatch, clients):
        self.by_operation: Counter[str] = Counter()
        self.requests = 0
        # Only the calls of this test's code: made on this thread or on the threads that run its
        # reads side by side in a copy of its context (chalicelib.parallel), while a session fixture
        # (the release worker polling its queue) may send requests from another thread meanwhile.
        _COUNTING.set(id(self))
        for client in clients:
            client.meta.events.register(
                "before-call.*.*", self._on_call, unique_id=f"health-cost-{id(client.meta.events)}"
            )
        original = botocore.endpoint.Endpoint.make_request

        def counting(endpoint, *args, **kwargs):
            self.requests += self._mine()
            return original(endpoint, *args, **kwargs)

        monkeypatch.setattr(botocore.endpoint.Endpoint, "make_request", counting)

    def _mine(self) -> bool:
        return _COUNTING.get() == id(self)

    def _on_call(self, model, **_):
        if not self._mine():
            return
        self.by_operation[f"{model.service_model.service_name}:{model.name}"] += 1

    def reset(self) -> None:
        self.by_operation.clear()
        self.requests = 0

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())


def model_clients():
    """The botocore client of every PynamoDB model (one per model class)."""
    import importlib
    import pkgutil

    import chalicelib.store
    from chalicelib.store.base import _MODELS

    # Every model, so none is created after the hooks are set (app.py imports them on first use).
    for module in pkgutil.iter_modules(chalicelib.store.__path__, "chalicelib.store."):
        importlib.import_module(module.name)

    return [model._get_connection().connection.client for model in _MODELS]


def load_feedback(settings, workspace: str, n: int) -> None:
    """n rated items, built by the service's own record builder and bulk-loaded with their rollup
    (moto copies every table for each transaction, so 500 single submissions would take minutes)."""
    from chalicelib.feedback.service import new_record
    from chalicelib.store.feedback import batch_put

    principal = Principal(sub=f"cost-{workspace}", workspace_id=workspace, roles=frozenset({Role.STAFF}))
    records = [
        new_record(
            principal,
            {
                "category": "general_feedback",
                "severity": "low",
                "title": f"Cost probe item {i}",
                "description": "A rated item in the satisfaction window of the cost test.",
                "featureArea": "general",
                "satisfactionRating": 1 + i % 5,
            },
            now=AS_OF - timedelta(days=20, minutes=i),
        )[0]
        for i in range(n)
    ]
    batch_put(records)


def test_calls_per_evaluation_do_not_grow_with_stored_feedback(stack, monkeypatch, capsys):
    settings = stack.settings().model_copy(update={"health_api_name": f"api-{uuid.uuid4().hex[:8]}"})
    cw = stack.aws_client("cloudwatch")
    sources = HealthSources(cloudwatch=cw)
    first = evaluate(AS_OF, settings=settings, sources=sources)  # warm-up: every client now exists
    assert first.report.quality.satisfactionResponses == 0
    calls = AwsCalls(monkeypatch, [cw, *model_clients()])

    evaluate(AS_OF, settings=settings, sources=sources)
    empty = (Counter(calls.by_operation), calls.requests)

    load_feedback(settings, f"ws-cost-{uuid.uuid4().hex[:6]}", 500)
    calls.reset()
    loaded_eval = evaluate(AS_OF, settings=settings, sources=sources)
    loaded = (Counter(calls.by_operation), calls.requests)

    assert loaded_eval.report.quality.satisfactionResponses == 500
    assert loaded_eval.report.quality.userSatisfactionScore == 3.0
    assert loaded == empty, f"0 items: {empty}, 500 items: {loaded}"
    assert sum(empty[0].values()) == empty[1]  # the hooks saw every request botocore sent
    assert empty[0]["cloudwatch:GetMetricData"] == 4

    # The scheduled run adds the snapshot write and the score metric: two more calls.
    from chalicelib.health.service import run_scheduled_evaluation

    calls.reset()
    run_scheduled_evaluation(now=AS_OF, settings=settings, sources=sources)
    scheduled = Counter(calls.by_operation)
    assert scheduled - empty[0] == Counter({"dynamodb:BatchWriteItem": 1, "cloudwatch:PutMetricData": 1})
    with capsys.disabled():
        print(f"\nAWS calls per evaluation (0 and 500 feedback items): {dict(sorted(empty[0].items()))}")
        print(f"AWS calls per scheduled run: {dict(sorted(scheduled.items()))}")
