"""Idempotency records: one per (caller, Idempotency-Key), kept 24 h by DynamoDB TTL.

The record is written in the same transaction as the item it guards (store.feedback.put_new), so
either both exist or neither does. The stored key is a digest of (route, caller's `sub`, header),
so one user's key can never find another user's record (scoped_key).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.expressions.condition import Condition

from chalicelib.store.base import BoundModel, table_error


class IdempotencyModel(BoundModel):
    table_setting = "idempotency_table"

    class Meta:
        table_name = "plm-local-idempotency"

    key = UnicodeAttribute(hash_key=True)
    request_hash = UnicodeAttribute(attr_name="requestHash")
    feedback_id = UnicodeAttribute(attr_name="feedbackId")
    created_at = UnicodeAttribute(attr_name="createdAt")
    # Epoch seconds: the table's TTL attribute.
    expires_at = NumberAttribute(attr_name="expiresAt")


@dataclass(frozen=True)
class IdempotencyClaim:
    key: str
    request_hash: str
    feedback_id: str
    created_at: str
    expires_at: int


class ClaimExists(Exception):
    """The key is already claimed (by an earlier request of the same caller)."""


def scoped_key(sub: str, header_value: str, scope: str = "feedback") -> str:
    """The table key of a caller's Idempotency-Key: sha256 (hex) of the JSON array [scope, sub, key].
    JSON encodes each part with its own quotes and escapes, so no choice of sub and key can spell
    another caller's array (a plain "sub#key" let sub "a#b" with key "c" meet sub "a" with key "b#c");
    `scope` keeps the routes sharing the table apart."""
    encoded = json.dumps([scope, sub, header_value], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def to_model(claim: IdempotencyClaim) -> IdempotencyModel:
    return IdempotencyModel(
        key=claim.key,
        request_hash=claim.request_hash,
        feedback_id=claim.feedback_id,
        created_at=claim.created_at,
        expires_at=claim.expires_at,
    )


def claimable(now_epoch: int) -> Condition:
    """A key may be claimed if nobody holds it, or the holder has expired (TTL deletes lazily, up to
    days late, so an expired record can still be there)."""
    return IdempotencyModel.key.does_not_exist() | (IdempotencyModel.expires_at < now_epoch)


def get_claim(key: str, now_epoch: int) -> IdempotencyClaim | None:
    """The live claim on a key, read consistently (None when absent or expired)."""
    try:
        model = IdempotencyModel.get(key, consistent_read=True)
    except IdempotencyModel.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise table_error(exc, "read the Idempotency-Key") from exc
    if int(model.expires_at) < now_epoch:
        return None
    return IdempotencyClaim(
        key=model.key,
        request_hash=model.request_hash,
        feedback_id=model.feedback_id,
        created_at=model.created_at,
        expires_at=int(model.expires_at),
    )
