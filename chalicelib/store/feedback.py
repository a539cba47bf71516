"""The feedback table: PynamoDB model, its indexes, and the repository functions the service calls.

Records cross this edge as plain dicts keyed by the stored (camelCase) attribute names; PynamoDB
and botocore stay in here, and AWS error *codes* become domain errors here.

Indexes (infra/template.json):
- byMonth [month, createdAt]            the engineers' date index: a window touches only its months
- byWorkspace [workspaceId, createdAt]  one workspace's items by date
- openBySeverity [openSeverity, createdAt], sparse, INCLUDE category/issueId/workspaceId:
                                        only open items carry openSeverity
- pendingNotification [notifyPending, createdAt], sparse KEYS_ONLY: alerts still to publish
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.transactions import TransactWrite

from chalicelib.config import Settings
from chalicelib.errors import Conflict, RequestInProgress
from chalicelib.parallel import run_all
from chalicelib.store.base import BoundModel, bind_models, table_error
from chalicelib.store.idempotency import ClaimExists, IdempotencyClaim, claimable
from chalicelib.store.idempotency import to_model as claim_model
from chalicelib.store.rollups import add_ratings, ratings_update

_CONFLICT_RETRIES = 4


class ByMonthIndex(GlobalSecondaryIndex["FeedbackModel"]):
    class Meta:
        index_name = "byMonth"
        projection = AllProjection()

    month = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True, attr_name="createdAt")


class ByWorkspaceIndex(GlobalSecondaryIndex["FeedbackModel"]):
    class Meta:
        index_name = "byWorkspace"
        projection = AllProjection()

    workspace_id = UnicodeAttribute(hash_key=True, attr_name="workspaceId")
    created_at = UnicodeAttribute(range_key=True, attr_name="createdAt")


class OpenBySeverityIndex(GlobalSecondaryIndex["FeedbackModel"]):
    class Meta:
        index_name = "openBySeverity"
        projection = IncludeProjection(["category", "issueId", "workspaceId"])

    open_severity = UnicodeAttribute(hash_key=True, attr_name="openSeverity")
    created_at = UnicodeAttribute(range_key=True, attr_name="createdAt")


class PendingNotificationIndex(GlobalSecondaryIndex["FeedbackModel"]):
    class Meta:
        index_name = "pendingNotification"
        projection = KeysOnlyProjection()

    notify_pending = UnicodeAttribute(hash_key=True, attr_name="notifyPending")
    created_at = UnicodeAttribute(range_key=True, attr_name="createdAt")


class HistoryEntry(MapAttribute):
    from_status = UnicodeAttribute(attr_name="from")
    to_status = UnicodeAttribute(attr_name="to")
    at = UnicodeAttribute()
    by = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)


class FeedbackModel(BoundModel):
    table_setting = "feedback_table"

    class Meta:
        table_name = "plm-local-feedback"
        # A connection for each partition a list reads side by side (read_pages; 13 months at most
        # by default), so none waits for another's.
        max_pool_connections = 16

    id = UnicodeAttribute(hash_key=True)
    workspace_id = UnicodeAttribute(attr_name="workspaceId")
    user_id = UnicodeAttribute(attr_name="userId")
    user_role = UnicodeAttribute(attr_name="userRole")
    created_at = UnicodeAttribute(attr_name="createdAt")
    updated_at = UnicodeAttribute(attr_name="updatedAt", null=True)
    month = UnicodeAttribute()

    category = UnicodeAttribute()
    severity = UnicodeAttribute()
    title = UnicodeAttribute()
    description = UnicodeAttribute()
    feature_area = UnicodeAttribute(attr_name="featureArea")
    browser_info = UnicodeAttribute(attr_name="browserInfo", null=True)
    device_info = UnicodeAttribute(attr_name="deviceInfo", null=True)
    steps = ListAttribute(of=UnicodeAttribute, null=True)
    expected_behavior = UnicodeAttribute(attr_name="expectedBehavior", null=True)
    actual_behavior = UnicodeAttribute(attr_name="actualBehavior", null=True)
    satisfaction_rating = NumberAttribute(attr_name="satisfactionRating", null=True)
    usability_rating = NumberAttribute(attr_name="usabilityRating", null=True)
    performance_rating = NumberAttribute(attr_name="performanceRating", null=True)

    status = UnicodeAttribute()
    assignee = UnicodeAttribute(null=True)
    resolution = UnicodeAttribute(null=True)
    resolved_at = UnicodeAttribute(attr_name="resolvedAt", null=True)
    acknowledged_at = UnicodeAttribute(attr_name="acknowledgedAt", null=True)
    history = ListAttribute(of=HistoryEntry, null=True)
    history_dropped = NumberAttribute(attr_name="historyDropped", null=True)
    redactions = ListAttribute(of=UnicodeAttribute, null=True)
    version = VersionAttribute()

    open_severity = UnicodeAttribute(attr_name="openSeverity", null=True)
    notify_pending = UnicodeAttribute(attr_name="notifyPending", null=True)
    issue_id = UnicodeAttribute(attr_name="issueId", null=True)

    by_month = ByMonthIndex()
    by_workspace = ByWorkspaceIndex()
    open_by_severity = OpenBySeverityIndex()
    pending_notification = PendingNotificationIndex()


# Stored attribute name -> PynamoDB attribute, for conversions and filters.
ATTRIBUTES: dict[str, Any] = {attr.attr_name: attr for attr in FeedbackModel.get_attributes().values()}
_PY_NAMES: dict[str, str] = {attr.attr_name: py for py, attr in FeedbackModel.get_attributes().items()}
_HISTORY_FIELDS = {attr.attr_name: py for py, attr in HistoryEntry.get_attributes().items()}

DATE_INDEXES: dict[str, tuple[str, GlobalSecondaryIndex]] = {
    "byMonth": ("month", FeedbackModel.by_month),
    "byWorkspace": ("workspaceId", FeedbackModel.by_workspace),
}


def bind(settings: Settings | None = None) -> Settings:
    return bind_models(settings)


def _history_entry(entry: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(**{_HISTORY_FIELDS[k]: v for k, v in entry.items() if k in _HISTORY_FIELDS})


def _history_dict(entry: HistoryEntry) -> dict[str, Any]:
    return {name: getattr(entry, py) for name, py in _HISTORY_FIELDS.items()}


def _stored_value(name: str, value: Any) -> Any:
    if name == "history" and value is not None:
        return [_history_entry(e) for e in value]
    return value


def to_record(model: FeedbackModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, py in _PY_NAMES.items():
        value = getattr(model, py)
        if name == "history" and value is not None:
            value = [_history_dict(e) for e in value]
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        out[name] = value
    return out


def to_model(record: dict[str, Any]) -> FeedbackModel:
    values = {
        _PY_NAMES[name]: _stored_value(name, value)
        for name, value in record.items()
        if name in _PY_NAMES and value is not None
    }
    return FeedbackModel(**values)


def put_new(record: dict[str, Any], claim: IdempotencyClaim | None = None, now_epoch: int = 0) -> dict:
    """Store a new item (never overwriting one), its ratings in the daily rollup, and with a claim the
    idempotency record: one transaction, so all or none are written. Raises ClaimExists when the
    caller's key is already held by an earlier request."""
    model = to_model({**record, "version": None})
    new_item = FeedbackModel.id.does_not_exist()
    rollup = ratings_update(record)
    if claim is None and rollup is None:
        try:
            model.save(condition=new_item)
        except PynamoDBException as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise Conflict("An item with this id already exists.") from exc
            raise table_error(exc, "store the feedback") from exc
        return to_record(model)
    # Items of one day share their rollup item, so two submissions at the same moment can cancel each
    # other (TransactionConflict, nothing written); a short retry settles it.
    for attempt in range(_CONFLICT_RETRIES):
        try:
            with TransactWrite(connection=FeedbackModel._get_connection().connection) as tx:
                tx.save(model, condition=new_item)
                if claim is not None:
                    tx.save(claim_model(claim), condition=claimable(now_epoch))
                if rollup is not None:
                    tx.update(rollup[0], actions=rollup[1])
            return to_record(model)
        except TransactWriteError as exc:
            reasons = (
                exc.cancellation_reasons if exc.cause_response_code == "TransactionCanceledException" else []
            )
            codes = [reason.code if reason else None for reason in reasons] + [None, None]
            if claim is not None and codes[1] == "ConditionalCheckFailed":
                raise ClaimExists(claim.key) from exc
            if codes[0] == "ConditionalCheckFailed":
                raise Conflict("An item with this id already exists.") from exc
            if "TransactionConflict" not in codes:
                raise table_error(exc, "store the feedback") from exc
            if attempt + 1 == _CONFLICT_RETRIES:
                raise RequestInProgress("The feedback could not be stored for contention; retry.") from exc
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def get(feedback_id: str, consistent: bool = True) -> dict[str, Any] | None:
    try:
        return to_record(FeedbackModel.get(feedback_id, consistent_read=consistent))
    except FeedbackModel.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise table_error(exc, "read the feedback") from exc
    return None


def update(
    feedback_id: str, expected_version: int, set_fields: dict[str, Any], remove_fields: Iterable[str] = ()
) -> dict[str, Any]:
    """One UpdateItem conditioned on the version the caller read (VersionAttribute): a concurrent
    change makes it fail with Conflict instead of being overwritten. Attributes not named are left
    as they are (an issue link or the notification flag written meanwhile survives)."""
    model = FeedbackModel(id=feedback_id)
    model.version = expected_version
    actions = [ATTRIBUTES[name].set(_stored_value(name, value)) for name, value in set_fields.items()]
    actions += [ATTRIBUTES[name].remove() for name in remove_fields]
    try:
        model.update(actions=actions, condition=FeedbackModel.id.exists())
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict(
                "The feedback changed since it was read (version mismatch); read it again and retry.",
                details={"expectedVersion": expected_version},
            ) from exc
        raise table_error(exc, "update the feedback") from exc
    return to_record(model)


class DateQuery:
    """One partition of a date index (a month of byMonth, a workspace of byWorkspace), newest first by
    default, read one DynamoDB page at a time so the caller decides what each Query may cost.

    `read_page(n)` makes one Query whose Limit is n: DynamoDB evaluates at most n items (before the
    filters; fewer if it reaches 1 MB) and returns those that pass. `last_key` is where it stopped
    (the LastEvaluatedKey, which may be an item the filters dropped); `done` is True once the
    partition holds nothing more in the window.
    """

    def __init__(
        self,
        index_name: str,
        hash_value: str,
        start_key: str,
        end_key: str,
        filters: dict[str, str | tuple[str, ...]] | None = None,
        *,
        after: dict[str, str] | None = None,
        attributes: Iterable[str] | None = None,
        newest_first: bool = True,
    ):
        self.hash_attribute, index = DATE_INDEXES[index_name]
        self.hash_value = hash_value
        condition: Condition | None = None
        for name, value in (filters or {}).items():
            # A tuple of values is "any of these" (one Query instead of one per value).
            term = ATTRIBUTES[name].is_in(*value) if isinstance(value, tuple) else ATTRIBUTES[name] == value
            condition = term if condition is None else condition & term
        last_key = None
        if after:
            last_key = {name: {"S": value} for name, value in after.items()}
            last_key[self.hash_attribute] = {"S": hash_value}
        # Only the page iterator is used: iterating the ResultIterator itself would fetch further
        # pages on its own whenever a page's items were all filtered out.
        self._pages = index.query(
            hash_value,
            range_key_condition=ATTRIBUTES["createdAt"].between(start_key, end_key),
            filter_condition=condition,
            scan_index_forward=not newest_first,
            last_evaluated_key=last_key,
            attributes_to_get=list(attributes) if attributes else None,
        ).page_iter
        self._started = False

    @property
    def started(self) -> bool:
        return self._started

    @property
    def done(self) -> bool:
        return self._started and self._pages.last_evaluated_key is None

    @property
    def last_key(self) -> dict[str, str] | None:
        """{"id", "createdAt"} of the last item evaluated (before the first page: the key the query
        starts after, if any; None once done)."""
        raw = self._pages.last_evaluated_key
        if not raw:
            return None
        return {"id": raw["id"]["S"], "createdAt": raw["createdAt"]["S"]}

    def read_page(self, max_items: int) -> tuple[list[dict[str, Any]], int]:
        """One Query evaluating at most `max_items` items: (records that passed the filters, items
        evaluated, i.e. ScannedCount, what the call is billed for)."""
        if self.done:
            return [], 0
        self._pages.page_size = max(1, max_items)
        try:
            page = next(self._pages)
        except PynamoDBException as exc:
            raise table_error(exc, "query the feedback") from exc
        self._started = True
        records = [to_record(FeedbackModel.from_raw_data(raw)) for raw in page.get("Items", [])]
        return records, int(page.get("ScannedCount", 0))


def read_pages(reads: Sequence[tuple[DateQuery, int]]) -> list[tuple[list[dict[str, Any]], int]]:
    """The next page of several partitions at once: one Query each (`DateQuery.read_page(n)`), in
    flight together (chalicelib.parallel), so a request waits for the slowest, not for the sum.
    Results in the order given."""
    if len(reads) > 1:
        botocore_client()  # created here, once, not by the threads racing each other
    return run_all([partial(query.read_page, size) for query, size in reads])


def open_by_severity(severity: str, max_items: int) -> tuple[list[dict[str, Any]], bool]:
    """Open items of one severity, oldest first, from the sparse openBySeverity index: at most
    `max_items` of them, and whether there were more (the index has no filter, so items read are
    items returned: one more is read to know)."""
    try:
        found = [
            to_record(m)
            for m in FeedbackModel.open_by_severity.query(
                severity, limit=max_items + 1, page_size=max_items + 1
            )
        ]
    except PynamoDBException as exc:
        raise table_error(exc, "query the feedback") from exc
    return found[:max_items], len(found) > max_items


def pending_notification_ids(created_before: str) -> list[str]:
    """Ids of items whose alert is still unpublished and older than `created_before`."""
    try:
        return [
            m.id
            for m in FeedbackModel.pending_notification.query(
                "pending", range_key_condition=ATTRIBUTES["createdAt"] < created_before
            )
        ]
    except PynamoDBException as exc:
        raise table_error(exc, "query the feedback") from exc
    return []


def clear_notify_pending(feedback_id: str) -> bool:
    """Drop the notification flag. Deliberately a plain UpdateItem that leaves `version` alone: the
    flag is bookkeeping, and bumping the version would make a client's If-Match fail for nothing.
    False when the flag was already gone (another run delivered it)."""
    try:
        FeedbackModel._get_connection().update_item(
            feedback_id,
            actions=[FeedbackModel.notify_pending.remove()],
            condition=FeedbackModel.notify_pending.exists(),
        )
    except PynamoDBException as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise table_error(exc, "update the feedback") from exc
    return True


def batch_put(records: Iterable[dict[str, Any]]) -> int:
    """Bulk load (demo data, tests): BatchWriteItem, 25 at a time, no conditions; then the daily
    ratings rollup, one update per day (not atomic with the items: a loader, not a request path)."""
    records = list(records)
    try:
        with FeedbackModel.batch_write() as batch:
            for record in records:
                batch.save(to_model({**record, "version": record.get("version") or 1}))
    except PynamoDBException as exc:
        raise table_error(exc, "store the feedback batch") from exc
    add_ratings(records)
    return len(records)


def botocore_client() -> Any:
    """The botocore client the feedback models use (tests count its calls through its events)."""
    return FeedbackModel._get_connection().connection.client
