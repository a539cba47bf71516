"""The summary's arithmetic on hand-made items: volume with zero days, distributions, ratings,
trend, nearest-rank resolution times, open counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.feedback.summary import (
    TREND_THRESHOLD_PER_DAY,
    compute_summary,
    least_squares_slope,
    nearest_rank,
    trend_label,
)
from chalicelib.feedback.windows import Window

WINDOW = Window(datetime(2025, 10, 1, tzinfo=UTC), datetime(2025, 10, 5, 23, 59, 59, 999999, tzinfo=UTC))


def item(day: int, hour: int = 9, **kw) -> dict:
    base = {
        "id": f"{day}-{hour}",
        "createdAt": f"2025-10-{day:02d}T{hour:02d}:00:00.000000Z",
        "category": "bug_report",
        "severity": "low",
        "status": "new",
        "featureArea": "reminders",
    }
    return base | kw


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 50, None),
        ([7.0], 50, 7.0),
        ([7.0], 90, 7.0),
        ([1.0, 2.0], 50, 1.0),  # rank ceil(0.5*2)=1
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 50, 3.0),
        ([float(n) for n in range(1, 11)], 90, 9.0),  # rank 9 of 10
        ([float(n) for n in range(1, 12)], 90, 10.0),  # rank ceil(9.9)=10 of 11
    ],
)
def test_nearest_rank(values, p, expected):
    assert nearest_rank(values, p) == expected


def test_least_squares_slope_and_labels():
    assert least_squares_slope([(0, 1.0), (1, 2.0), (2, 3.0)]) == pytest.approx(1.0)
    assert least_squares_slope([(0, 4.0), (2, 4.0)]) == pytest.approx(0.0)
    assert least_squares_slope([(0, 4.0)]) is None
    assert trend_label(None) == "insufficient_data"
    assert trend_label(TREND_THRESHOLD_PER_DAY) == "stable"
    assert trend_label(TREND_THRESHOLD_PER_DAY + 0.001) == "improving"
    assert trend_label(-TREND_THRESHOLD_PER_DAY - 0.001) == "declining"


def test_empty_window_has_every_day_and_no_invented_numbers():
    summary = compute_summary([], WINDOW, items_read=0)
    assert [d["count"] for d in summary["volumePerDay"]] == [0, 0, 0, 0, 0]
    assert summary["volumePerDay"][0]["date"] == "2025-10-01"
    assert summary["total"] == 0
    assert summary["ratings"]["satisfaction"] == {"average": None, "count": 0}
    assert summary["ratingsTrend"]["direction"] == "insufficient_data"
    assert summary["resolutionTime"] == {
        "count": 0,
        "medianHours": None,
        "p90Hours": None,
        "method": "nearest-rank",
    }
    assert summary["byCategory"]["feature_request"] == 0
    assert summary["window"]["days"] == 5


def test_counts_ratings_trend_and_resolution():
    items = [
        item(1, satisfactionRating=2, usabilityRating=4),
        item(1, 10, satisfactionRating=2, severity="critical", status="acknowledged"),
        item(3, satisfactionRating=3, severity="high", status="in_progress", category="usability_issue"),
        item(
            5,
            satisfactionRating=5,
            severity="critical",
            status="resolved",
            resolvedAt="2025-10-05T19:00:00.000000Z",
            featureArea="analytics",
        ),
        item(
            5,
            11,
            severity="high",
            status="closed",
            resolvedAt="2025-10-06T11:00:00.000000Z",
            performanceRating=1,
        ),
    ]
    summary = compute_summary(items, WINDOW, items_read=5)
    assert [d["count"] for d in summary["volumePerDay"]] == [2, 0, 1, 0, 2]
    assert summary["total"] == 5 and summary["itemsRead"] == 5
    assert summary["byCategory"]["bug_report"] == 4 and summary["byCategory"]["usability_issue"] == 1
    assert summary["bySeverity"] == {"low": 1, "medium": 0, "high": 2, "critical": 2}
    assert summary["byStatus"] == {"new": 1, "acknowledged": 1, "in_progress": 1, "resolved": 1, "closed": 1}
    assert summary["byFeatureArea"]["analytics"] == 1 and summary["byFeatureArea"]["reminders"] == 4
    assert summary["ratings"]["satisfaction"] == {"average": 3.0, "count": 4}
    assert summary["ratings"]["usability"] == {"average": 4.0, "count": 1}
    assert summary["ratings"]["performance"] == {"average": 1.0, "count": 1}
    per_day = summary["ratingsTrend"]["satisfactionPerDay"]
    assert [d["average"] for d in per_day] == [2.0, None, 3.0, None, 5.0]
    # Daily means (day 0: 2, day 2: 3, day 4: 5): slope 0.75 per day.
    assert summary["ratingsTrend"]["slopePerDay"] == pytest.approx(0.75)
    assert summary["ratingsTrend"]["direction"] == "improving"
    # Resolution hours 10 and 24: nearest-rank median = 10, p90 = 24.
    assert summary["resolutionTime"]["count"] == 2
    assert summary["resolutionTime"]["medianHours"] == 10.0
    assert summary["resolutionTime"]["p90Hours"] == 24.0
    assert summary["openCritical"] == 1 and summary["openHigh"] == 1


def test_items_outside_the_window_days_are_not_counted():
    summary = compute_summary([item(1), {**item(1), "createdAt": "2025-10-09T00:00:00.000000Z"}], WINDOW)
    assert summary["total"] == 1
