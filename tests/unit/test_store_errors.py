"""AWS failures at the stores' edge (chalicelib.store.base.table_error): a server-side failure is
the caller's 503 (retry); a request DynamoDB refuses for its shape is our bug and stays an exception."""

import pytest
from botocore.exceptions import ClientError
from pynamodb.exceptions import PutError, TransactWriteError

from chalicelib.errors import UpstreamUnavailable
from chalicelib.store.base import table_error


def failure(kind, code: str, status: int):
    error = {"Error": {"Code": code, "Message": "..."}, "ResponseMetadata": {"HTTPStatusCode": status}}
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
