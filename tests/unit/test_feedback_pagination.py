"""Cursors and date windows."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from chalicelib.errors import ValidationFailed
from chalicelib.feedback.pagination import Cursor, check_cursor, decode_cursor, encode_cursor
from chalicelib.feedback.windows import (
    iso,
    list_window,
    month_of,
    months_newest_first,
    summary_window,
)

NOW = datetime(2025, 10, 27, 15, 30, tzinfo=UTC)


def test_cursor_round_trip_is_url_safe():
    cursor = Cursor("2025-10", "a1b2-c3", "2025-10-27T09:00:00.000001Z")
    text = encode_cursor(cursor)
    assert "=" not in text and "+" not in text and "/" not in text
    assert decode_cursor(text) == cursor


def test_a_cursor_may_point_at_the_start_of_a_partition():
    # Given a request that stopped at a partition boundary
    cursor = Cursor("2025-09")
    # Then its cursor carries no key, and resumes from the partition's first item
    assert decode_cursor(encode_cursor(cursor)) == cursor and cursor.after is None
    assert Cursor("2025-09", "id", "2025-09-01T00:00:00.000000Z").after == {
        "id": "id",
        "createdAt": "2025-09-01T00:00:00.000000Z",
    }
    check_cursor(cursor, ["2025-10", "2025-09"], "2025-09-01", "2025-11-01")
    with pytest.raises(ValidationFailed):
        check_cursor(Cursor("2024-01"), ["2025-10", "2025-09"], "2025-09-01", "2025-11-01")


@pytest.mark.parametrize(
    "text",
    [
        "!!!",
        "bm90IGpzb24",  # "not json"
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"v": 2, "p": "x", "id": "y", "at": "z"}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"v": 1, "p": "x", "id": 5, "at": "z"}).encode()).decode(),
        # half a key, or a key without a partition
        base64.urlsafe_b64encode(json.dumps({"v": 1, "p": "x", "id": "y"}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"v": 1, "id": "y", "at": "z"}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"v": 1, "p": ""}).encode()).decode(),
    ],
)
def test_malformed_cursors_name_the_cursor(text):
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(text)
    assert [f.field for f in caught.value.fields] == ["cursor"]


def test_a_cursor_must_point_into_the_query():
    cursor = Cursor("ws-other", "id", "2025-10-01T00:00:00.000000Z")
    with pytest.raises(ValidationFailed):
        check_cursor(cursor, ["ws-mine"], "2025-09-01", "2025-11-01")
    with pytest.raises(ValidationFailed):
        check_cursor(
            Cursor("ws-mine", "id", "2024-01-01T00:00:00.000000Z"), ["ws-mine"], "2025-09-01", "2025-11-01"
        )
    check_cursor(
        Cursor("ws-mine", "id", "2025-10-01T00:00:00.000000Z"), ["ws-mine"], "2025-09-01", "2025-11-01"
    )


def test_iso_keys_sort_in_time_order_and_carry_the_month():
    a = iso(datetime(2025, 9, 30, 23, 59, 59, 999999, tzinfo=UTC))
    b = iso(datetime(2025, 10, 1, tzinfo=UTC))
    assert a == "2025-09-30T23:59:59.999999Z" and a < b
    assert month_of(b) == "2025-10"


def test_months_newest_first_crosses_years():
    start = datetime(2024, 11, 15, tzinfo=UTC)
    assert months_newest_first(start, datetime(2025, 2, 1, tzinfo=UTC)) == [
        "2025-02",
        "2025-01",
        "2024-12",
        "2024-11",
    ]


def test_list_window_defaults_and_order():
    window = list_window(None, None, 366, 366, NOW)
    assert window.end == NOW and (NOW - window.start).days == 366
    with pytest.raises(ValidationFailed) as caught:
        list_window(datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 10, 1, tzinfo=UTC), 366, 366, NOW)
    assert caught.value.fields[0].field == "startDate"


def test_list_window_has_a_ceiling():
    # Given whole days as the API parses them (endDate's day included)
    end = datetime(2025, 10, 27, 23, 59, 59, 999999, tzinfo=UTC)
    # Then 2024-10-27..2025-10-27 (366 days, 13 months) fits and one day more does not
    year = list_window(datetime(2024, 10, 27, tzinfo=UTC), end, 366, 366, NOW)
    assert len(months_newest_first(year.start, year.end)) == 13
    with pytest.raises(ValidationFailed) as caught:
        list_window(datetime(2024, 10, 26, tzinfo=UTC), end, 366, 366, NOW)
    assert [f.field for f in caught.value.fields] == ["startDate"]
    assert "367 days" in caught.value.fields[0].message
    with pytest.raises(ValidationFailed):
        list_window(datetime(1900, 1, 1, tzinfo=UTC), None, 366, 366, NOW)


def test_summary_window_default_is_the_last_30_days_and_has_a_ceiling():
    window = summary_window(None, None, 30, 366, NOW)
    assert len(window.days()) == 30
    assert window.days()[-1].isoformat() == "2025-10-27"
    assert window.start == datetime(2025, 9, 28, tzinfo=UTC)
    year = summary_window(datetime(2024, 10, 27, tzinfo=UTC), NOW, 30, 366, NOW)
    assert len(year.days()) == 366
    with pytest.raises(ValidationFailed) as caught:
        summary_window(datetime(2024, 10, 26, tzinfo=UTC), NOW, 30, 366, NOW)
    assert caught.value.fields[0].field == "startDate"
