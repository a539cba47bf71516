"""The round-trip counter (tests/roundtrips.py): sequential depth and items read per response."""

from __future__ import annotations

import contextvars
import threading

import botocore.client
import botocore.config
import botocore.exceptions
import botocore.session
import pytest

from tests.roundtrips import Call, RoundTrips, items_read, sequential_depth


def call(start: float, end: float, thread: int = 1) -> Call:
    return Call("dynamodb", "Query", start, end, thread, 0)


def test_calls_one_after_another_are_a_chain():
    assert sequential_depth([call(0, 1), call(1, 2), call(2.5, 3)]) == 3


def test_overlapping_calls_on_threads_count_once():
    # Three calls in flight together, then one after all of them.
    calls = [call(0, 1.0, 1), call(0.1, 1.2, 2), call(0.2, 0.9, 3), call(1.3, 2, 1)]
    assert sequential_depth(calls) == 2


def test_a_group_joined_through_calls_in_flight_counts_once():
    # Thread 1's call returns before thread 3's starts, but thread 2's is in flight throughout.
    calls = [call(0, 0.5, 1), call(0.1, 2.0, 2), call(0.7, 1.5, 3)]
    assert sequential_depth(calls) == 1


def test_a_pool_smaller_than_its_work_shows_its_steps():
    # Two threads, five calls in one group: thread 1 makes three of them one after another.
    calls = [call(0, 1, 1), call(0, 1.1, 2), call(1, 2, 1), call(1.1, 2.1, 2), call(2, 3, 1)]
    assert sequential_depth(calls) == 3
    assert sequential_depth([]) == 0


@pytest.mark.parametrize(
    ("operation", "parsed", "expected"),
    [
        ("Query", {"Count": 2, "ScannedCount": 9}, 9),
        ("Scan", {"Count": 3}, 3),
        ("GetItem", {"Item": {"id": {"S": "x"}}}, 1),
        ("GetItem", {}, 0),
        ("BatchGetItem", {"Responses": {"a": [{}, {}], "b": [{}]}}, 3),
        ("TransactGetItems", {"Responses": [{"Item": {}}, {}]}, 0),
        ("TransactGetItems", {"Responses": [{"Item": {"k": 1}}, {"Item": {"k": 2}}]}, 2),
        ("PutItem", {}, 0),
    ],
)
def test_items_read(operation, parsed, expected):
    assert items_read(operation, parsed) == expected


def test_sees_the_code_it_wraps_on_any_client_and_restores_botocore():
    """Requests to an endpoint that refuses connections still pass through the counter: the wrapped
    code's own, those of a thread running in a copy of its context (chalicelib.parallel's way), and
    another thread's only when asked for every thread."""
    original = botocore.client.BaseClient._make_api_call
    session = botocore.session.get_session()
    config = botocore.config.Config(retries={"max_attempts": 0}, connect_timeout=0.2)
    ddb = session.create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=config,
    )

    def get():
        with pytest.raises(botocore.exceptions.EndpointConnectionError):
            ddb.get_item(TableName="t", Key={"id": {"S": "1"}})

    def on_thread(target):
        worker = threading.Thread(target=target)
        worker.start()
        worker.join()

    with RoundTrips(all_threads=True) as everything, RoundTrips() as outer:
        with RoundTrips() as inner:
            get()
            context = contextvars.copy_context()  # taken here, run there: as chalicelib.parallel does
            on_thread(lambda: context.run(get))
            on_thread(get)  # a thread of its own: not the wrapped code's
        get()
    assert inner.by_operation() == {"dynamodb:GetItem": 2}
    assert outer.total == 3 and outer.count("dynamodb") == 3 and outer.sequential == 3
    assert everything.total == 4
    assert botocore.client.BaseClient._make_api_call is original
