"""AWS failures at the stores' edge (chalicelib.store.base.table_error): a server-side failure is
the caller's 503 (retry); a request DynamoDB refuses for its shape is our bug and stays an exception."""

import pytest
from botocore.exceptions import ClientError
from pynamodb.exceptions import (
    CancellationReason,
    PutError,
    TransactWriteError,
    UpdateError,
    VerboseClientError,
)

from chalicelib.errors import ItemTooLarge, UpstreamUnavailable, status_for
from chalicelib.store.base import table_error


def failure(kind, code: str, status: int, message: str = "..."):
    error = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return kind("failed", cause=ClientError(error, "Operation"))


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("500", 500),  # a bare 5xx page, no AWS error code
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
        ("ThrottlingException", 400),
        ("ProvisionedThroughputExceededException", 400),
    ],
)
def test_transient_failures_become_upstream_unavailable(code, status):
    error = table_error(failure(TransactWriteError, code, status), "store the feedback")
    assert isinstance(error, UpstreamUnavailable)
    assert error.details == {"awsCode": code}


def test_a_malformed_request_is_not_disguised_as_an_outage():
    with pytest.raises(PutError):
        table_error(failure(PutError, "ValidationException", 400), "store the feedback")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (PutError, "Item size has exceeded the maximum allowed size"),
        (UpdateError, "Item size to update has exceeded the maximum allowed size"),
    ],
)
def test_an_item_past_the_size_limit_is_a_clear_422_not_a_500(kind, message):
    error = table_error(failure(kind, "ValidationException", 400, message), "update the feedback")
    assert isinstance(error, ItemTooLarge) and status_for(error) == 422
    assert "size limit" in error.message


def test_an_item_past_the_size_limit_inside_a_transaction_is_recognised():
    reasons = [
        CancellationReason(
            code="ValidationException", message="Item size has exceeded the maximum allowed size"
        )
    ]
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=reasons,
    )
    assert isinstance(table_error(TransactWriteError("failed", cause=cause), "store"), ItemTooLarge)
