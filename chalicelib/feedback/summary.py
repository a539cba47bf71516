"""Feedback summary over a date window. Pure: it consumes the items the date-index queries read.

Definitions (also in docs/feedback.md):
- volumePerDay: every UTC day of the window, zeros included.
- ratings: mean and count of each rating over the items that carry it.
- ratingsTrend: the per-day mean satisfaction; `slopePerDay` is the ordinary least-squares slope
  of those daily means against the day number (days without ratings are left out; at least two
  days are needed). |slope| < TREND_THRESHOLD_PER_DAY is "stable", above it "improving", below
  its negative "declining". 0.02/day is 0.6 rating points over a 30-day window.
- resolutionTime: hours from createdAt to resolvedAt over items (created in the window) that carry
  resolvedAt; median and p90 by the nearest-rank method (the value at rank ceil(p/100 * n) of the
  sorted list), so each is a real observed duration. null when nothing was resolved.
- openCritical / openHigh: items in the window, open now (new, acknowledged, in_progress).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from chalicelib.feedback.lifecycle import is_open
from chalicelib.feedback.windows import Window, iso, parse_iso
from chalicelib.schemas.feedback import CATEGORIES, FEATURE_AREAS, SEVERITIES, STATUSES

TREND_THRESHOLD_PER_DAY = 0.02
RATINGS = (
    ("satisfaction", "satisfactionRating"),
    ("usability", "usabilityRating"),
    ("performance", "performanceRating"),
)

# What the summary needs of each item: the queries read only these attributes.
SUMMARY_ATTRIBUTES = (
    "id",
    "createdAt",
    "category",
    "severity",
    "status",
    "featureArea",
    "satisfactionRating",
    "usabilityRating",
    "performanceRating",
    "resolvedAt",
)


def nearest_rank(sorted_values: list[float], percentile: float) -> float | None:
    """The nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(percentile / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def least_squares_slope(points: list[tuple[float, float]]) -> float | None:
    """Slope of the least-squares line through (x, y) points; None for fewer than two distinct x."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx


def trend_label(slope: float | None, threshold: float = TREND_THRESHOLD_PER_DAY) -> str:
    if slope is None:
        return "insufficient_data"
    if slope > threshold:
        return "improving"
    if slope < -threshold:
        return "declining"
    return "stable"


def _mean(total: float, count: int) -> float | None:
    return round(total / count, 3) if count else None


def compute_summary(items: Iterable[dict[str, Any]], window: Window, items_read: int | None = None) -> dict:
    """Aggregate the items of a window. `items_read` is filled in by the caller once the queries are
    drained (pass None here and set it after, or pass the figure if known)."""
    days = window.days()
    day_index = {day.isoformat(): n for n, day in enumerate(days)}
    volume = Counter[str]()
    counters = {name: Counter[str]() for name in ("category", "severity", "status", "featureArea")}
    rating_sum = dict.fromkeys((name for name, _ in RATINGS), 0.0)
    rating_count = dict.fromkeys((name for name, _ in RATINGS), 0)
    # Per-day sum and count, not the ratings themselves: memory follows the days, not the items.
    daily_satisfaction: dict[str, list[int]] = {}
    resolution_hours: list[float] = []
    open_critical = open_high = total = 0

    for item in items:
        day = item["createdAt"][:10]
        if day not in day_index:  # the query bounds make this rare (a time-of-day window edge)
            continue
        total += 1
        volume[day] += 1
        for name, counter in counters.items():
            counter[item.get(name) or "unknown"] += 1
        for name, attribute in RATINGS:
            value = item.get(attribute)
            if value is not None:
                rating_sum[name] += value
                rating_count[name] += 1
                if name == "satisfaction":
                    day_total = daily_satisfaction.setdefault(day, [0, 0])
                    day_total[0] += value
                    day_total[1] += 1
        if item.get("resolvedAt"):
            delta = parse_iso(item["resolvedAt"]) - parse_iso(item["createdAt"])
            resolution_hours.append(delta.total_seconds() / 3600)
        if is_open(item.get("status") or ""):
            if item.get("severity") == "critical":
                open_critical += 1
            elif item.get("severity") == "high":
                open_high += 1

    series = []
    points: list[tuple[float, float]] = []
    for day in days:
        key = day.isoformat()
        day_sum, day_count = daily_satisfaction.get(key, (0, 0))
        average = _mean(day_sum, day_count)
        series.append({"date": key, "average": average, "count": day_count})
        if day_count:
            points.append((float(day_index[key]), day_sum / day_count))
    slope = least_squares_slope(points)
    resolution_hours.sort()

    def counts(name: str, known: tuple[str, ...]) -> dict[str, int]:
        out = dict.fromkeys(known, 0)
        out.update(counters[name])
        return out

    return {
        "window": {"start": iso(window.start), "end": iso(window.end), "days": len(days)},
        "total": total,
        "volumePerDay": [{"date": d.isoformat(), "count": volume.get(d.isoformat(), 0)} for d in days],
        "byCategory": counts("category", CATEGORIES),
        "bySeverity": counts("severity", SEVERITIES),
        "byStatus": counts("status", STATUSES),
        "byFeatureArea": counts("featureArea", FEATURE_AREAS),
        "ratings": {
            name: {"average": _mean(rating_sum[name], rating_count[name]), "count": rating_count[name]}
            for name, _ in RATINGS
        },
        "ratingsTrend": {
            "satisfactionPerDay": series,
            "slopePerDay": None if slope is None else round(slope, 4),
            "direction": trend_label(slope),
            "method": "least-squares slope of daily mean satisfaction (days with ratings)",
            "stableWithinPerDay": TREND_THRESHOLD_PER_DAY,
        },
        "resolutionTime": {
            "count": len(resolution_hours),
            "medianHours": _round(nearest_rank(resolution_hours, 50)),
            "p90Hours": _round(nearest_rank(resolution_hours, 90)),
            "method": "nearest-rank",
        },
        "openCritical": open_critical,
        "openHigh": open_high,
        "itemsRead": items_read,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
