"""Feedback list cursors (encoded by chalicelib.cursors).

A cursor holds the index partition to continue in
(a month for the byMonth walk, or the workspace) and the key of the last item read there, which is
the last item returned or, when the request's read budget ran out, the last item DynamoDB evaluated
(perhaps one the filters dropped). A cursor without a key starts its partition from the top: the
request stopped at a partition boundary. It is opaque to clients; we still check it thoroughly,
because a forged cursor must neither reach another workspace's partition nor make DynamoDB fail
with a 500.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.cursors import bad_cursor, decode_token, encode_token

_VERSION = 1


@dataclass(frozen=True)
class Cursor:
    partition: str
    feedback_id: str | None = None
    created_at: str | None = None

    @property
    def after(self) -> dict[str, str] | None:
        """The key to resume after (None: the partition's first item)."""
        if self.feedback_id is None or self.created_at is None:
            return None
        return {"id": self.feedback_id, "createdAt": self.created_at}


def encode_cursor(cursor: Cursor) -> str:
    body: dict[str, object] = {"v": _VERSION, "p": cursor.partition}
    if cursor.after is not None:
        body |= {"id": cursor.feedback_id, "at": cursor.created_at}
    return encode_token(body)


_bad = bad_cursor


def decode_cursor(text: str) -> Cursor:
    body = decode_token(text)
    if body.get("v") != _VERSION:
        raise _bad("unknown format")
    partition, key = body.get("p"), (body.get("id"), body.get("at"))
    # The key is both fields or neither (a partition's start).
    present = [v for v in (partition, *key) if v is not None]
    if partition is None or len(present) == 2 or not all(_field(v) for v in present):
        raise _bad("missing fields")
    return Cursor(partition, *key)


def _field(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200


def check_cursor(cursor: Cursor, partitions: list[str], start_key: str, end_key: str) -> None:
    """The cursor must point into this query: one of its partitions and inside its date window."""
    if cursor.partition not in partitions:
        raise _bad("it belongs to another query")
    if cursor.created_at is not None and not start_key <= cursor.created_at <= end_key:
        raise _bad("it is outside the date window")
