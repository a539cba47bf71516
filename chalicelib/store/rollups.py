"""Daily rollups kept as feedback is written, so reads over a date range cost one small Query per
range whatever the volume of feedback (DESIGN: "rollups kept as data is written").

Table RollupsTable [rollup, day]: one item per rollup and UTC day. The `ratings` rollup holds, per
day of creation, the sum and count of each rating (ratings never change after submission). The
feedback service adds to it in the same transaction that stores the item, so the two cannot drift.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException

from chalicelib.store.base import BoundModel, table_error

RATINGS = "ratings"
# Stored rating attribute -> the rollup's attribute prefix.
RATING_FIELDS = {
    "satisfactionRating": "satisfaction",
    "usabilityRating": "usability",
    "performanceRating": "performance",
}


class DailyRollup(BoundModel):
    table_setting = "rollups_table"

    class Meta:
        table_name = "plm-local-rollups"

    rollup = UnicodeAttribute(hash_key=True)
    day = UnicodeAttribute(range_key=True)
    satisfaction_sum = NumberAttribute(attr_name="satisfactionSum", null=True)
    satisfaction_count = NumberAttribute(attr_name="satisfactionCount", null=True)
    usability_sum = NumberAttribute(attr_name="usabilitySum", null=True)
    usability_count = NumberAttribute(attr_name="usabilityCount", null=True)
    performance_sum = NumberAttribute(attr_name="performanceSum", null=True)
    performance_count = NumberAttribute(attr_name="performanceCount", null=True)


def _increments(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per day: {"<name>Sum": total, "<name>Count": n} over the ratings the records carry."""
    days: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for record in records:
        for field, name in RATING_FIELDS.items():
            value = record.get(field)
            if value is not None:
                day = days[record["createdAt"][:10]]
                day[f"{name}_sum"] += value
                day[f"{name}_count"] += 1
    return {day: dict(values) for day, values in days.items()}


def ratings_update(record: dict[str, Any]) -> tuple[DailyRollup, list[Any]] | None:
    """The model and ADD actions that count one new item's ratings (None when it has none), for the
    caller's transaction."""
    increments = _increments([record])
    if not increments:
        return None
    ((day, values),) = increments.items()
    actions = [getattr(DailyRollup, attr).add(amount) for attr, amount in sorted(values.items())]
    return DailyRollup(RATINGS, day), actions


def add_ratings(records: Iterable[dict[str, Any]]) -> int:
    """Count the ratings of bulk-loaded items (demo data, tests): one UpdateItem per day touched."""
    increments = _increments(records)
    try:
        for day, values in increments.items():
            actions = [getattr(DailyRollup, attr).add(amount) for attr, amount in sorted(values.items())]
            DailyRollup(RATINGS, day).update(actions=actions)
    except PynamoDBException as exc:
        raise table_error(exc, "update the ratings rollup") from exc
    return len(increments)


def ratings_between(first_day: str, last_day: str) -> dict[str, dict[str, float]]:
    """Sum and count of each rating over the UTC days [first_day, last_day] (YYYY-MM-DD): one Query
    reading at most one item per day."""
    totals = {name: {"sum": 0.0, "count": 0} for name in RATING_FIELDS.values()}
    try:
        for item in DailyRollup.query(RATINGS, DailyRollup.day.between(first_day, last_day)):
            for name, total in totals.items():
                total["sum"] += getattr(item, f"{name}_sum") or 0
                total["count"] += int(getattr(item, f"{name}_count") or 0)
    except PynamoDBException as exc:
        raise table_error(exc, "read the ratings rollup") from exc
    return totals
