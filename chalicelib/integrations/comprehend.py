"""Amazon Comprehend Medical DetectPHI, the second detector of patient identifiers (after the patterns
in chalicelib.feedback.redaction), for the stages where it is on (Settings.phi_detector_comprehend).

Texts are joined into as few DetectPHI calls as its size limit allows (one for a whole feedback
item, whose fields are at most a few thousand characters) and the entities mapped back to each text.
Only the entity types that identify a patient for us are kept (docs/feedback.md "Redaction"):

- NAME, ADDRESS, ID, PHONE_OR_FAX, EMAIL: redacted (ID as kind "mrn", the others by their own kind);
- DATE: not redacted. Dates in bug reports are appointments, releases and incidents; a date of
  birth is found by the patterns, next to its label;
- AGE: not redacted (only ages over 89 are identifiers, and "age shows negative" is a bug report);
- PROFESSION, URL: not redacted ("pharmacist", our own pages).

The client is injectable; AWS and connection errors become UpstreamUnavailable, so the caller
decides what a failure means (for feedback: keep the pattern result).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings
from chalicelib.errors import UpstreamUnavailable
from chalicelib.integrations.aws import aws_client

# DetectPHI takes "fewer than 20,000 bytes" of UTF-8 per call.
MAX_TEXT_BYTES = 19_999
# Between two texts in one call: a paragraph break, so an entity does not run from one into the next.
SEPARATOR = "\n\n"
PHI_CATEGORY = "PROTECTED_HEALTH_INFORMATION"
KINDS = {"NAME": "name", "ADDRESS": "address", "ID": "mrn", "PHONE_OR_FAX": "phone", "EMAIL": "email"}

Spans = list[list[tuple[int, int, str]]]


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _pieces(text: str, limit: int) -> list[tuple[int, str]]:
    """A text cut into (offset, piece) of at most `limit` UTF-8 bytes, at whitespace where possible."""
    out: list[tuple[int, str]] = []
    offset = 0
    while offset < len(text):
        rest = text[offset:]
        if _utf8_len(rest) <= limit:
            out.append((offset, rest))
            break
        cut = len(rest.encode("utf-8")[:limit].decode("utf-8", errors="ignore"))
        space = rest.rfind(" ", 0, cut)
        if space > cut // 2:
            cut = space + 1
        out.append((offset, rest[:cut]))
        offset += cut
    return out


def batches(texts: Sequence[str], limit: int = MAX_TEXT_BYTES) -> list[list[tuple[int, int, str]]]:
    """(text index, offset in that text, piece) grouped so that each group, joined by SEPARATOR, is
    one call's Text. Blank texts are left out (DetectPHI refuses an empty Text)."""
    groups: list[list[tuple[int, int, str]]] = []
    current: list[tuple[int, int, str]] = []
    size = 0
    for index, text in enumerate(texts):
        if not text.strip():
            continue
        for offset, piece in _pieces(text, limit):
            added = _utf8_len(piece) + (len(SEPARATOR) if current else 0)
            if current and size + added > limit:
                groups.append(current)
                current, size = [], 0
                added = _utf8_len(piece)
            current.append((index, offset, piece))
            size += added
    if current:
        groups.append(current)
    return groups


def detect_phi(
    texts: Sequence[str],
    *,
    min_score: float = 0.5,
    settings: Settings | None = None,
    client: Any | None = None,
) -> Spans:
    """For each text, the (start, end, kind) spans DetectPHI reports as identifiers (see KINDS) with a
    score of at least min_score. Raises UpstreamUnavailable when a call fails."""
    found: Spans = [[] for _ in texts]
    groups = batches(texts)
    if not groups:
        return found
    client = client or aws_client("comprehendmedical", settings)
    for group in groups:
        joined = SEPARATOR.join(piece for _, _, piece in group)
        starts = []
        position = 0
        for _, _, piece in group:
            starts.append(position)
            position += len(piece) + len(SEPARATOR)
        try:
            response = client.detect_phi(Text=joined)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            raise UpstreamUnavailable(
                f"Comprehend Medical refused DetectPHI ({code}).", details={"awsCode": code}
            ) from exc
        except BotoCoreError as exc:
            raise UpstreamUnavailable(
                f"Comprehend Medical could not be reached ({type(exc).__name__})."
            ) from exc
        for entity in response.get("Entities", []):
            kind = KINDS.get(entity.get("Type", ""))
            if kind is None or entity.get("Category") != PHI_CATEGORY or entity.get("Score", 0) < min_score:
                continue
            begin, end = entity["BeginOffset"], entity["EndOffset"]
            for (index, offset, piece), start in zip(group, starts, strict=True):
                low, high = max(begin, start), min(end, start + len(piece))
                if low < high:
                    found[index].append((offset + low - start, offset + high - start, kind))
    return found
