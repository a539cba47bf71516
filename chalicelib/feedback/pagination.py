"""Opaque list cursors.

A cursor is base64url (no padding) of a small JSON object: the index partition to continue in
(a month for the byMonth walk, or the workspace) and the key of the last item returned there. It
is opaque to clients; we still check it thoroughly, because a forged cursor must neither reach
another workspace's partition nor make DynamoDB fail with a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from chalicelib.errors import FieldError, ValidationFailed

_VERSION = 1


@dataclass(frozen=True)
class Cursor:
    partition: str
    feedback_id: str
    created_at: str


def encode_cursor(cursor: Cursor) -> str:
    body = {"v": _VERSION, "p": cursor.partition, "id": cursor.feedback_id, "at": cursor.created_at}
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad(reason: str) -> ValidationFailed:
    return ValidationFailed([FieldError("cursor", f"Not a cursor this API issued ({reason}).")])


def decode_cursor(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _bad("undecodable") from exc
    if not isinstance(body, dict) or body.get("v") != _VERSION:
        raise _bad("unknown format")
    values = (body.get("p"), body.get("id"), body.get("at"))
    if not all(isinstance(v, str) and 0 < len(v) <= 200 for v in values):
        raise _bad("missing fields")
    return Cursor(*values)


def check_cursor(cursor: Cursor, partitions: list[str], start_key: str, end_key: str) -> None:
    """The cursor must point into this query: one of its partitions and inside its date window."""
    if cursor.partition not in partitions:
        raise _bad("it belongs to another query")
    if not start_key <= cursor.created_at <= end_key:
        raise _bad("it is outside the date window")
