"""Redaction of patient identifiers: what is removed, and what must stay."""

from __future__ import annotations

import pytest

from chalicelib.feedback.redaction import redact, redact_fields

REDACTED = [
    # (text, expected text, kinds)
    ("Contact jane.doe+x@clinic-mail.co.uk today", "Contact [REDACTED:email] today", {"email"}),
    ("email: JOHN_SMITH@Example.COM.", "email: [REDACTED:email].", {"email"}),
    ("Call (555) 123-4567 now", "Call [REDACTED:phone] now", {"phone"}),
    ("Call 555-123-4567 or 555.123.4567", "Call [REDACTED:phone] or [REDACTED:phone]", {"phone"}),
    ("UK line +44 20 7946 0958", "UK line [REDACTED:phone]", {"phone"}),
    ("toll free 1-800-555-1234", "toll free [REDACTED:phone]", {"phone"}),
    ("patient phone 5551234567", "patient phone [REDACTED:phone]", {"phone"}),
    ("tel: +1 555 123 4567.", "tel: [REDACTED:phone].", {"phone"}),
    ("SSN 123-45-6789 on file", "SSN [REDACTED:ssn] on file", {"ssn"}),
    ("ssn: 987654321", "ssn: [REDACTED:ssn]", {"ssn"}),
    ("social 123 45 6789", "social [REDACTED:ssn]", {"ssn"}),
    ("patient MRN: 00123456 missing", "patient MRN: [REDACTED:mrn] missing", {"mrn"}),
    ("medical record number AB-778899", "medical record number [REDACTED:mrn]", {"mrn"}),
    ("record no. 4455 was duplicated", "record no. [REDACTED:mrn] was duplicated", {"mrn"}),
    ("Patient ID 99887766", "Patient ID [REDACTED:mrn]", {"mrn"}),
    ("patient #20931 got two reminders", "patient #[REDACTED:mrn] got two reminders", {"mrn"}),
    ("DOB: 03/04/1956", "DOB: [REDACTED:dob]", {"dob"}),
    ("D.O.B. 1956-03-04", "D.O.B. [REDACTED:dob]", {"dob"}),
    ("born on March 4, 1956", "born on [REDACTED:dob]", {"dob"}),
    ("date of birth is 4 March 1956", "date of birth is [REDACTED:dob]", {"dob"}),
    ("birthday 4th Mar 1956", "birthday [REDACTED:dob]", {"dob"}),
    (
        "Mrs X (DOB 01.02.1960, MRN 5551234567, a@b.io) called",
        "Mrs X (DOB [REDACTED:dob], MRN [REDACTED:mrn], [REDACTED:email]) called",
        {"dob", "mrn", "email"},
    ),
]

KEPT = [
    "Chrome 118.0.0.0 on Windows 11",
    "Safari 17.1 / iOS 17.1.2",
    "Appointment on 2025-10-27 at 10:30 was not reminded",
    "Happened on 10/27/2025 around 3pm",
    "See BUG-001 and BUG-123",
    "Release v2.3.14 (build 20251027.1)",
    "Server 192.168.1.100 timed out",
    "Order 1234567890 was created twice",
    "Took 1698412345 ms",
    "ticket 555-1234",
    "Record the follow-up in 3 days",
    "Patient portal shows 404",
    "Born-on date field is missing from the form",
]


@pytest.mark.parametrize(("text", "expected", "kinds"), REDACTED)
def test_identifiers_are_redacted(text, expected, kinds):
    assert redact(text) == (expected, kinds)


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_text_is_kept(text):
    assert redact(text) == (text, set())


def test_redact_fields_covers_strings_and_lists_and_reports_kinds():
    record = {
        "title": "Reminder for jane@x.org failed",
        "steps": ["Open patient MRN 123456", "Click send"],
        "severity": "high",
        "browserInfo": None,
    }
    out, kinds = redact_fields(record, ("title", "steps", "browserInfo", "missing"))
    assert out["title"] == "Reminder for [REDACTED:email] failed"
    assert out["steps"] == ["Open patient MRN [REDACTED:mrn]", "Click send"]
    assert out["severity"] == "high" and out["browserInfo"] is None
    assert kinds == {"email", "mrn"}
    assert record["title"].endswith("x.org failed"), "the input is not modified in place"
