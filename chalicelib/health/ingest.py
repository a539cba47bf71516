"""Ingest of Patient Engagement metrics pushed from outside AWS (POST /api/monitoring/metrics).

Everything is checked before anything is written, so a batch is written whole or not at all (a batch
of at most 100 datums is one PutMetricData call; the API takes up to 1000). An Idempotency-Key makes
a retried POST return the first answer instead of counting the events twice.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.auth import Principal
from chalicelib.config import Settings, get_settings
from chalicelib.errors import (
    FieldError,
    Forbidden,
    IdempotencyKeyReused,
    RequestInProgress,
    ValidationFailed,
)
from chalicelib.health import contract
from chalicelib.health.windows import iso, utc
from chalicelib.integrations.cloudwatch import datum, put_metric_data
from chalicelib.schemas.metrics import MetricsBatch
from chalicelib.store import health as store
from chalicelib.store.base import bind_models

# What CloudWatch accepts (PutMetricData): timestamps up to two weeks old and two hours ahead.
MAX_AGE = timedelta(days=14)
MAX_AHEAD = timedelta(hours=2)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def _hash(batch: MetricsBatch) -> str:
    canonical = json.dumps(batch.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_batch(batch: MetricsBatch, principal: Principal, now: datetime) -> list[datetime]:
    """The timestamp of each datum; raises naming every bad field, or Forbidden for another
    workspace's datum."""
    errors: list[FieldError] = []
    stamps: list[datetime] = []
    for i, metric in enumerate(batch.metrics):
        stamp = utc(metric.timestamp) if metric.timestamp else now
        if stamp < now - MAX_AGE:
            errors.append(
                FieldError(f"metrics.{i}.timestamp", "More than 14 days old: CloudWatch rejects it.")
            )
        elif stamp > now + MAX_AHEAD:
            errors.append(
                FieldError(f"metrics.{i}.timestamp", "More than 2 hours ahead: CloudWatch rejects it.")
            )
        stamps.append(stamp)
    if errors:
        raise ValidationFailed(errors)
    # A token scoped to one workspace (an ingest token of one pharmacy's system) may only report that
    # workspace; the module-wide aggregate is for tokens without a workspace or spanning all of them.
    if principal.workspace_id and not principal.spans_workspaces:
        foreign = [
            f"metrics.{i}.workspaceId"
            for i, m in enumerate(batch.metrics)
            if m.workspaceId != principal.workspace_id
        ]
        if foreign:
            raise Forbidden(
                f"This token may only send metrics with workspaceId {principal.workspace_id}: "
                + ", ".join(foreign)
                + "."
            )
    return stamps


def ingest_metrics(
    batch: MetricsBatch,
    principal: Principal,
    *,
    idempotency_key: str | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
    client: Any = None,
) -> tuple[dict[str, Any], bool]:
    """Validate and write the batch; returns (result, replayed)."""
    settings = settings or get_settings()
    now = utc(now) if now else datetime.now(UTC)
    if idempotency_key is not None and not _KEY.fullmatch(idempotency_key):
        raise ValidationFailed(
            [FieldError("Idempotency-Key", "Use 1-255 visible ASCII characters (a UUID is a good key).")]
        )
    stamps = check_batch(batch, principal, now)

    key = None
    if idempotency_key is not None:
        bind_models(settings)
        key = store.ingest_key(principal.sub, idempotency_key)
        request_hash = _hash(batch)
        held = store.claim_ingest(key, request_hash, int(time.time()), settings.idempotency_ttl_seconds)
        if held is not None:
            if held.request_hash != request_hash:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was already used with a different batch; use a new key.",
                    details={
                        "fields": [{"field": "Idempotency-Key", "message": "Already used with another body."}]
                    },
                )
            if held.state != "done" or held.result is None:
                raise RequestInProgress(
                    "The first request with this Idempotency-Key is still running; retry."
                )
            return held.result, True

    datums = []
    for metric, stamp in zip(batch.metrics, stamps, strict=True):
        dims = [(contract.WORKSPACE_DIMENSION, metric.workspaceId)] if metric.workspaceId else []
        datums.append(datum(metric.name, metric.value, timestamp=stamp, unit=contract.UNIT, dimensions=dims))
    try:
        calls = put_metric_data(settings.health_adoption_namespace, datums, client=client, settings=settings)
    except Exception:
        if key:
            store.release_ingest(key)
        raise
    result = {
        "written": len(datums),
        "namespace": settings.health_adoption_namespace,
        "calls": calls,
        "receivedAt": iso(now),
    }
    if key:
        store.complete_ingest(key, result)
    return result, False
