"""The time windows a health evaluation reads, each configurable and shown in the response.

Every window ends at the evaluation instant floored to the whole minute: CloudWatch aggregates by
minute, and a window whose edges sit on minute boundaries gives one bucket per query instead of two
partial ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.config import Settings

# CloudWatch keeps 1-minute data 15 days and 5-minute data 63 days; a query whose start is older than
# that must use a period that is a multiple of the coarser resolution, or it gets no data.
_ONE_MINUTE_DATA = timedelta(days=15)
_FIVE_MINUTE_DATA = timedelta(days=63)


def utc(value: datetime) -> datetime:
    """An aware UTC datetime (naive values are taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def floor_minute(value: datetime) -> datetime:
    return utc(value).replace(second=0, microsecond=0)


def iso(value: datetime) -> str:
    """ISO-8601 UTC with a Z, to the second (what responses show)."""
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Window:
    name: str
    start: datetime
    end: datetime
    description: str

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    def as_dict(self) -> dict[str, object]:
        return {
            "start": iso(self.start),
            "end": iso(self.end),
            "seconds": self.seconds,
            "description": self.description,
        }


def single_bucket_period(window: Window, now: datetime) -> int:
    """A GetMetricData period that covers the whole window in one bucket and is valid for its age."""
    age = utc(now) - window.start
    step = 60
    if age > _FIVE_MINUTE_DATA:
        step = 3600
    elif age > _ONE_MINUTE_DATA:
        step = 300
    seconds = max(window.seconds, 1)
    return -(-seconds // step) * step


@dataclass(frozen=True)
class Windows:
    performance: Window
    gauges: Window
    today: Window
    rates: Window
    satisfaction: Window

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {
            "performance": self.performance.as_dict(),
            "adoptionGauges": self.gauges.as_dict(),
            "adoptionCounts": self.today.as_dict(),
            "rates": self.rates.as_dict(),
            "satisfaction": self.satisfaction.as_dict(),
        }


def evaluation_windows(now: datetime, settings: Settings) -> Windows:
    end = floor_minute(now)
    midnight = end.replace(hour=0, minute=0)
    minutes = settings.health_performance_window_minutes
    return Windows(
        performance=Window(
            "performance",
            end - timedelta(minutes=minutes),
            end,
            f"last {minutes} minutes",
        ),
        gauges=Window(
            "adoptionGauges",
            end - timedelta(hours=settings.health_gauge_lookback_hours),
            end,
            f"latest hourly value within the last {settings.health_gauge_lookback_hours} hours (gauges)",
        ),
        today=Window("adoptionCounts", midnight, end, "current UTC day so far (counts)"),
        rates=Window(
            "rates",
            end - timedelta(days=settings.health_rates_window_days),
            end,
            f"last {settings.health_rates_window_days} days",
        ),
        satisfaction=Window(
            "satisfaction",
            end - timedelta(days=settings.health_satisfaction_window_days),
            end,
            f"last {settings.health_satisfaction_window_days} days of stored feedback ratings",
        ),
    )
