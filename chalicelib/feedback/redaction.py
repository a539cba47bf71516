"""Redaction of obvious patient identifiers from free text, before anything is stored.

Feedback comes from pharmacy staff who may paste a patient's details into a bug report. We keep
the report useful and drop the identifier: each match becomes "[REDACTED:<kind>]" and the record
lists the kinds that were removed. The rules are deliberately about *obvious* identifiers (see
docs/feedback.md for the exact list and what is left alone on purpose):

- email:  anything shaped like local@domain.tld
- ssn:    123-45-6789 / 123 45 6789, or 9 digits right after "SSN"
- mrn:    digits after a record label (MRN, medical record number, record no., patient id/number)
- dob:    a date in a date-of-birth context (DOB, date of birth, born, birth date, birthday)
- phone:  (555) 123-4567, 555-123-4567, 555.123.4567, +44 20 7946 0958, or 7-15 digits after a
          phone label (phone, tel, mobile, cell)

Plain dates, version strings ("Chrome 118.0.0.0"), IP addresses and ticket ids ("BUG-001") are not
identifiers on their own and are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
# The date shapes a date of birth is written in.
_DATE = (
    r"(?:\d{4}-\d{1,2}-\d{1,2}"  # 1956-03-04
    r"|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}"  # 03/04/1956, 3.4.56, 03-04-1956
    rf"|{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"  # March 4, 1956
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS}\.?,?\s+\d{{4}})"  # 4 March 1956
)
_DOB_LABEL = r"(?:d\.?o\.?b\.?|date\s+of\s+birth|birth\s*date|birthday|born(?:\s+on)?)"
_MRN_LABEL = (
    r"(?:mrn|medical\s+record(?:\s+(?:number|no\.?|num\.?|#))?|record\s+(?:number|no\.?|num\.?|#)"
    r"|patient\s+(?:id|number|no\.?|#))"
)
_PHONE_LABEL = r"(?:phone|tel|telephone|mobile|cell)"


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]


# Order matters: the first rules consume text the later ones could misread (an email's digits,
# an MRN that looks like a phone number).
RULES: tuple[_Rule, ...] = (
    _Rule("email", re.compile(r"(?P<value>[\w.%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})")),
    _Rule(
        "ssn",
        re.compile(
            r"(?<![\w-])(?P<value>\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4})(?![\w-])"
            r"|(?i:\bssn\b)[\s:#.-]*(?P<value2>\d{9})\b"
        ),
    ),
    _Rule(
        "mrn",
        re.compile(
            rf"(?i:\b{_MRN_LABEL})\s*(?:is\s+|[:#=]\s*)?(?P<value>(?:[A-Za-z]{{1,3}}-?)?\d[\d-]{{2,}}\d)\b"
        ),
    ),
    _Rule(
        "dob",
        re.compile(rf"(?i:\b{_DOB_LABEL})\s*(?:is\s+|was\s+|on\s+|[:=\-]\s*)?(?P<value>(?i:{_DATE}))"),
    ),
    _Rule(
        "phone",
        re.compile(
            r"(?<![\w.+-])(?P<value>"
            r"\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,4}"  # +44 20 7946 0958
            r"|(?:1[\s.-])?\(\d{3}\)\s?\d{3}[\s.-]\d{4}"  # (555) 123-4567
            r"|(?:1[\s.-])?\d{3}[\s.-]\d{3}[\s.-]\d{4}"  # 555-123-4567
            r")(?![\w.-]*\d)"
            rf"|(?i:\b{_PHONE_LABEL})(?:\s*(?:no\.?|number|#))?\s*[:#]?\s*(?P<value2>\d{{7,15}})\b"
        ),
    ),
)


def _replace(rule: _Rule, text: str) -> tuple[str, int]:
    count = 0

    def sub(match: re.Match[str]) -> str:
        nonlocal count
        # Alternatives name their identifier "value" or "value2"; replace only that span.
        group = "value" if match.group("value") is not None else "value2"
        count += 1
        offset = match.start()
        start, end = match.span(group)
        whole = match.group(0)
        return whole[: start - offset] + f"[REDACTED:{rule.kind}]" + whole[end - offset :]

    return rule.pattern.sub(sub, text), count


def redact(text: str) -> tuple[str, set[str]]:
    """The text with identifiers replaced, and the kinds that were found."""
    kinds: set[str] = set()
    for rule in RULES:
        text, count = _replace(rule, text)
        if count:
            kinds.add(rule.kind)
    return text, kinds


def redact_all(values: Iterable[str]) -> tuple[list[str], set[str]]:
    out: list[str] = []
    kinds: set[str] = set()
    for value in values:
        cleaned, found = redact(value)
        out.append(cleaned)
        kinds |= found
    return out, kinds


def redact_fields(record: dict, fields: Iterable[str]) -> tuple[dict, set[str]]:
    """Redact the named free-text fields of a record (strings or lists of strings)."""
    out = dict(record)
    kinds: set[str] = set()
    for name in fields:
        value = out.get(name)
        if isinstance(value, str):
            out[name], found = redact(value)
        elif isinstance(value, list):
            out[name], found = redact_all(value)
        else:
            continue
        kinds |= found
    return out, kinds
