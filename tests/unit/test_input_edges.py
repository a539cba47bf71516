"""Inputs at the edges (calendar limits, odd digits, deep nesting) are refused naming the field,
and anything still unexpected is a 500 that tells the caller nothing (tests/integration has the
same inputs over HTTP)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from chalice import Chalice
from chalice.test import Client
from pydantic_core import PydanticCustomError

from chalicelib.auth import Role, mint_dev_token
from chalicelib.config import get_settings
from chalicelib.errors import ValidationFailed
from chalicelib.etags import expected_version as _expected_version
from chalicelib.schemas.instants import EARLIEST, LATEST, parse_instant
from chalicelib.web import Api, parse_body


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-04", datetime(2026, 3, 4, tzinfo=UTC)),
        ("2026-03-04T10:00:00+05:00", datetime(2026, 3, 4, 5, tzinfo=UTC)),
        ("2026-03-04T10:00:00z", datetime(2026, 3, 4, 10, tzinfo=UTC)),
        ("2026-03-04T10:00:00", datetime(2026, 3, 4, 10, tzinfo=UTC)),
        ("1970-01-01T00:00:00Z", EARLIEST),
    ],
)
def test_dates_in_range_are_utc(text, expected):
    assert parse_instant(text) == expected


def test_a_day_as_an_end_is_its_last_instant():
    assert parse_instant("2026-03-04", end_of_day=True) == datetime(
        2026, 3, 4, 23, 59, 59, 999999, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01",
        "0001-01-01T00:00:00+01:00",  # its UTC form is before the year 1: OverflowError unguarded
        "9999-12-31T23:59:59-01:00",  # after datetime.max in UTC
        "9999-01-01T00:00:00Z",  # LATEST is exclusive
        "1969-12-31T23:59:59.999999Z",
        datetime(1, 1, 1),
    ],
)
def test_dates_outside_the_range_are_refused_as_out_of_range(value):
    with pytest.raises(PydanticCustomError) as caught:
        parse_instant(value)
    assert caught.value.type == "date_range"


@pytest.mark.parametrize("value", ["", "   ", "yesterday", "2026-02-30", 1_700_000_000, ["2026-01-01"]])
def test_what_is_not_a_date_is_refused_as_a_format_error(value):
    with pytest.raises(PydanticCustomError) as caught:
        parse_instant(value)
    assert caught.value.type == "date_format"


def test_the_bounds_leave_room_for_a_day_and_an_offset():
    from datetime import timedelta

    assert (EARLIEST - timedelta(days=400)).year > 1
    assert (LATEST + timedelta(days=2)).year == 9999


@pytest.mark.parametrize(
    ("header", "version"),
    [('"3"', 3), ('W/"3"', 3), ("3", 3), (" 3 ", 3), ("*", None), ('"' + "9" * 18 + '"', 10**18 - 1)],
)
def test_if_match_in_our_etag_forms(header, version):
    assert _expected_version(header, None) == version


@pytest.mark.parametrize(
    "header", ['"\u00b2"', "\u0663", "9" * 5000, '"' + "9" * 19 + '"', '"3', "3 4", "", "W/"]
)
def test_if_match_with_other_digits_or_lengths_is_a_400_naming_it(header):
    with pytest.raises(ValidationFailed) as caught:
        _expected_version(header, None)
    assert [f.field for f in caught.value.fields] == ["If-Match"]


@pytest.mark.parametrize("raw", [b"[" * 3000, b'{"a":' * 3000, b"[" * 100_000 + b"]" * 100_000])
def test_json_nested_past_the_decoders_limit_is_a_400_naming_the_body(raw):
    from chalicelib.schemas.metrics import MetricsBatch

    with pytest.raises(ValidationFailed) as caught:
        parse_body(raw, MetricsBatch)
    assert [f.field for f in caught.value.fields] == ["body"]


def test_an_unexpected_error_is_a_500_that_tells_nothing():
    # Given a route that fails in a way no input should reach
    app = Chalice(app_name="edge-test")
    api = Api(app)

    @app.route("/boom")
    @api.endpoint(Role.ADMIN)
    def boom(call):
        raise RuntimeError("secret detail in /srv/app/chalicelib/thing.py")

    token = mint_dev_token(get_settings(), role="admin", workspace_id="ws-1")
    # When it is called
    with Client(app) as client:
        response = client.http.get("/boom", headers={"Authorization": f"Bearer {token}"})
    # Then the caller gets our error body with a generic message and no detail or trace
    assert response.status_code == 500
    body = json.loads(response.body)
    assert body["error"]["code"] == "internal_error"
    text = response.body.decode()
    assert "secret detail" not in text and "Traceback" not in text and "thing.py" not in text
