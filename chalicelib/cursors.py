"""Opaque list cursors: base64url (no padding) of a small JSON object.

Every paginated list (feedback, alerts, silences) encodes its continuation this way; each checks the
decoded fields itself, since what a valid cursor holds depends on the query. A cursor that does not
decode to a JSON object is a 400 naming `cursor`, never a 500, however it was forged.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from chalicelib.errors import FieldError, ValidationFailed


def bad_cursor(reason: str | None = None) -> ValidationFailed:
    detail = f" ({reason})" if reason else ""
    return ValidationFailed([FieldError("cursor", f"Not a cursor this API issued{detail}.")])


def encode_token(body: dict[str, Any]) -> str:
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(text: str) -> dict[str, Any]:
    """The JSON object a cursor carries; ValidationFailed (field `cursor`) when it is not one."""
    try:
        body = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise bad_cursor("undecodable") from exc
    if not isinstance(body, dict):
        raise bad_cursor("unknown format")
    return body
