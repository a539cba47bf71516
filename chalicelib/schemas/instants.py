"""The one parser of dates and times a client sends (query parameters and body fields alike).

Every instant is normalised to UTC and must lie in [EARLIEST, LATEST). The bounds keep the
arithmetic done with it (a default window of a year before an end date, an offset to UTC) inside
what Python's datetime can hold, and keep the stored keys (`%Y` padded to four digits) sortable:
a year-1 date with a +01:00 offset, or 9999-12-31 with -01:00, is a 400 naming the field, not an
OverflowError.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
# Exclusive; a year short of datetime.max, so adding a day or a zone offset cannot overflow.
LATEST = datetime(9999, 1, 1, tzinfo=UTC)

FORMAT_MESSAGE = "Use YYYY-MM-DD or an ISO-8601 date-time."
RANGE_MESSAGE = "Out of range: give an instant from 1970-01-01 to 9998-12-31 (UTC)."


def _format_error() -> PydanticCustomError:
    return PydanticCustomError("date_format", FORMAT_MESSAGE)


def _range_error() -> PydanticCustomError:
    return PydanticCustomError("date_range", RANGE_MESSAGE)


def parse_instant(value: Any, *, end_of_day: bool = False) -> datetime | None:
    """YYYY-MM-DD (that UTC day's first instant, or its last with end_of_day) or an ISO-8601
    date-time (no zone means UTC), as an aware UTC datetime within [EARLIEST, LATEST)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                moment = datetime.combine(day, time.max if end_of_day else time.min, tzinfo=UTC)
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise _format_error() from exc
    else:
        raise _format_error()
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError as exc:
        raise _range_error() from exc
    if not EARLIEST <= moment < LATEST:
        raise _range_error()
    return moment


# For field types: `start: Instant = None`.
Instant = Annotated[datetime | None, BeforeValidator(parse_instant)]
# An end given as a day includes that whole day.
EndInstant = Annotated[datetime | None, BeforeValidator(lambda v: parse_instant(v, end_of_day=True))]
