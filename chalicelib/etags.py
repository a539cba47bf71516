"""ETags and If-Match for the records updated under optimistic locking (feedback items, issues).

A record's ETag is its version number, quoted as RFC 9110 asks; a caller sends it back in If-Match
(or as `version` in the body) and the write is conditioned on it, so a concurrent update makes the
loser's a 409 instead of a lost write.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.errors import FieldError, ValidationFailed

# An ETag as we send it ("3"), weak (W/"3"), or bare (3).
_IF_MATCH = re.compile(r'(?:W/)?("?)(?P<version>[0-9]{1,18})\1')


def etag(record: dict[str, Any]) -> str:
    """The ETag of a record: its version, quoted."""
    return f'"{record["version"]}"'


def expected_version(if_match: str | None, body_version: int | None) -> int | None:
    """The version the caller last read, from If-Match ("3", W/"3", 3; * means any) or the body."""
    header: int | None = None
    if if_match is not None and if_match.strip() != "*":
        # ASCII digits only and a bounded length: str.isdigit() admits "²", and int() refuses
        # more than 4,300 digits; either would otherwise escape as a 500.
        match = _IF_MATCH.fullmatch(if_match.strip())
        if not match:
            raise ValidationFailed([FieldError("If-Match", 'Send the ETag you read, e.g. "3".')])
        header = int(match["version"])
    if header is not None and body_version is not None and header != body_version:
        raise ValidationFailed([FieldError("version", "The body's version differs from If-Match.")])
    return header if header is not None else body_version
