"""Time keys and date windows for feedback.

createdAt is ISO-8601 UTC with microseconds and a 'Z' (2025-10-27T09:15:02.123456Z): that string
sorts in time order, so it is the range key of every date index. `month` ('YYYY-MM') partitions
the byMonth index, so a window's queries touch only the months it spans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from chalicelib.errors import FieldError, ValidationFailed


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """The stored form of a time: UTC, microseconds, 'Z'."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def month_of(moment: datetime | str) -> str:
    text = moment if isinstance(moment, str) else iso(moment)
    return text[:7]


def months_newest_first(start: datetime, end: datetime) -> list[str]:
    """Every 'YYYY-MM' from end's month back to start's month."""
    year, month = end.astimezone(UTC).year, end.astimezone(UTC).month
    first = (start.astimezone(UTC).year, start.astimezone(UTC).month)
    out: list[str] = []
    while (year, month) >= first:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def start_key(self) -> str:
        return iso(self.start)

    @property
    def end_key(self) -> str:
        return iso(self.end)

    def days(self) -> list[date]:
        first, last = self.start.date(), self.end.date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def contains(self, created_at: str) -> bool:
        return self.start_key <= created_at <= self.end_key


def _ordered(start: datetime, end: datetime, names: tuple[str, str] = ("startDate", "endDate")) -> None:
    if start > end:
        raise ValidationFailed(
            [FieldError(names[0], f"{names[0]} must not be after {names[1]}.")], "The date window is empty."
        )


def list_window(
    start: datetime | None, end: datetime | None, horizon_days: int, max_days: int, now: datetime
) -> Window:
    """The list's window: endDate defaults to now, startDate to horizon_days before endDate; it may
    span at most `max_days` days (startDate 2024-10-27 to endDate 2025-10-27 is 366), so the months
    a request can walk have a ceiling."""
    end = end or now
    start = start or (end - timedelta(days=horizon_days))
    _ordered(start, end)
    if end - start > timedelta(days=max_days):
        span = (end.date() - start.date()).days + 1
        raise ValidationFailed(
            [FieldError("startDate", f"The window spans {span} days; the list covers at most {max_days}.")]
        )
    return Window(start.astimezone(UTC), end.astimezone(UTC))


def summary_window(
    start: datetime | None,
    end: datetime | None,
    default_days: int,
    max_days: int,
    now: datetime,
    *,
    names: tuple[str, str] = ("startDate", "endDate"),
    what: str = "the summary",
) -> Window:
    """The summary's window, in whole UTC days: the last `default_days` days (today included)
    unless given; at most `max_days` days, so its cost has a ceiling. `names` are the request's
    names for start and end (errors name them), `what` the reader the ceiling belongs to."""
    end = (end or now).astimezone(UTC)
    if start is None:
        first = end.date() - timedelta(days=default_days - 1)
        start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    start = start.astimezone(UTC)
    _ordered(start, end, names)
    days = (end.date() - start.date()).days + 1
    if days > max_days:
        raise ValidationFailed(
            [FieldError(names[0], f"The window spans {days} days; {what} covers at most {max_days}.")]
        )
    return Window(start, end)
