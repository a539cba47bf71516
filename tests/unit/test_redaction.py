"""Redaction of patient identifiers: what is removed, and what must stay."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from chalicelib.feedback.redaction import normalise, redact, redact_fields, redact_texts

REDACTED = [
    # (text, expected text, kinds)
    ("Contact jane.doe+x@clinic-mail.co.uk today", "Contact [REDACTED:email] today", {"email"}),
    ("email: JOHN_SMITH@Example.COM.", "email: [REDACTED:email].", {"email"}),
    ("Call (555) 123-4567 now", "Call [REDACTED:phone] now", {"phone"}),
    ("Call 555-123-4567 or 555.123.4567", "Call [REDACTED:phone] or [REDACTED:phone]", {"phone"}),
    ("UK line +44 20 7946 0958", "UK line [REDACTED:phone]", {"phone"}),
    ("toll free 1-800-555-1234", "toll free [REDACTED:phone]", {"phone"}),
    ("cell is 5551234567", "cell is [REDACTED:phone]", {"phone"}),
    ("ph: 5550199", "ph: [REDACTED:phone]", {"phone"}),
    ("mobile 646\u200b555\u200b0163", "mobile [REDACTED:phone]", {"phone"}),
    (
        "Fullwidth \uff16\uff14\uff16-\uff15\uff15\uff15-\uff10\uff11\uff16\uff13",
        "Fullwidth [REDACTED:phone]",
        {"phone"},
    ),
    ("mobile +44 7700 900123, twice", "mobile [REDACTED:phone], twice", {"phone"}),
    ("patient phone 5551234567", "patient phone [REDACTED:phone]", {"phone"}),
    ("tel: +1 555 123 4567.", "tel: [REDACTED:phone].", {"phone"}),
    ("SSN 123-45-6789 on file", "SSN [REDACTED:ssn] on file", {"ssn"}),
    ("ssn: 987654321", "ssn: [REDACTED:ssn]", {"ssn"}),
    ("social 123 45 6789", "social [REDACTED:ssn]", {"ssn"}),
    ("SSN 123.45.6789", "SSN [REDACTED:ssn]", {"ssn"}),
    ("social security number 078051120", "social security number [REDACTED:ssn]", {"ssn"}),
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
    ("DOB 04-Mar-1956", "DOB [REDACTED:dob]", {"dob"}),
    ("DOB is the fourth of March 1956", "DOB is [REDACTED:dob]", {"dob"}),
    ("03/04/1956 (DOB) wrong", "[REDACTED:dob] (DOB) wrong", {"dob"}),
    ("Chart # 4412873", "Chart # [REDACTED:mrn]", {"mrn"}),
    ("MR# 00981234", "MR# [REDACTED:mrn]", {"mrn"}),
    ("MRN: PHRM-0048291", "MRN: [REDACTED:mrn]", {"mrn"}),
    ("Member ID W123456789", "Member ID [REDACTED:mrn]", {"mrn"}),
    ("shows 1EG4-TE5-MK73 here", "shows [REDACTED:mrn] here", {"mrn"}),
    ("Rx #6012345 refilled", "Rx #[REDACTED:mrn] refilled", {"mrn"}),
    ("went to 123 Main St, Apt 4B instead", "went to [REDACTED:address] instead", {"address"}),
    ("at 9 Elm Ave., Springfield, IL 62704.", "at [REDACTED:address].", {"address"}),
    ("Patient Maria Gonzalez called", "Patient [REDACTED:name] called", {"name"}),
    ("Pt. Robert Chen, then Robert again", "Pt. [REDACTED:name], then [REDACTED:name] again", {"name"}),
    ("Mrs. Okafor and Dr Patel", "Mrs. [REDACTED:name] and Dr [REDACTED:name]", {"name"}),
    ("named Jose; later José", "named [REDACTED:name]; later [REDACTED:name]", {"name"}),
    ("maria.lopez at gmail dot com", "[REDACTED:email]", {"email"}),
    ("r.chen(at)clinicmail(dot)org", "[REDACTED:email]", {"email"}),
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
    "Release v2.3.1 sent 1200 reminders at 10:30",
    "Order 55012 and order 2125550134 were created twice",
    "Patient Portal search is slow",
    "Customer Success asked for a CSV",
    "The call took 3600000 ms",
    "Delivery rate 93.5% over 30 days",
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


def test_text_is_normalised_before_matching_and_stored_normalised():
    # Given identifiers hidden by invisible or compatibility characters
    text = "SSN 123\u00ad-45-\u200b6789 and \ufb01le \uff11\uff12"
    # Then normalisation removes the invisible ones and folds the others
    assert normalise(text) == "SSN 123-45-6789 and file 12"
    # And redaction matches, and stores, the normalised text
    assert redact(text) == ("SSN [REDACTED:ssn] and file 12", {"ssn"})


def test_text_redacted_once_keeps_its_placeholders():
    once, kinds = redact("Call 312-555-0142 at 9 Elm Ave")
    assert redact(once) == (once, set())


def test_a_second_detector_sees_every_text_once_after_the_patterns():
    calls = []

    def second(texts):
        calls.append(list(texts))
        # A name the patterns cannot find, and a span over a placeholder that must be left alone.
        return [[(13, 18, "name"), (20, 30, "mrn")], []]

    out, kinds = redact_texts(["I spoke with Maria about 312-555-0142", "Click send"], second)
    assert calls == [["I spoke with Maria about [REDACTED:phone]", "Click send"]]
    assert out == ["I spoke with [REDACTED:name] about [REDACTED:phone]", "Click send"]
    assert kinds == {"name", "phone"}, "the span over a placeholder is dropped, its kind not reported"


def test_a_failed_second_detector_leaves_the_pattern_result():
    out, kinds = redact_texts(["Mrs. Okafor, MRN 0012345"], lambda texts: None)
    assert out == ["Mrs. [REDACTED:name], MRN [REDACTED:mrn]"] and kinds == {"name", "mrn"}


def test_redact_fields_sends_strings_and_list_items_in_one_call():
    seen = []

    def second(texts):
        seen.append(list(texts))
        return [[] for _ in texts]

    out, _ = redact_fields({"title": "t", "steps": ["a", "b"], "n": 3}, ("title", "steps", "n"), second)
    assert seen == [["t", "a", "b"]] and out["steps"] == ["a", "b"] and out["n"] == 3


@pytest.mark.parametrize(
    "text", ["a." * 10000, "a dot " * 4000, "Patient Ab " * 2000, "(555) " * 3000, "1 " * 10000]
)
def test_redaction_time_is_bounded_on_hostile_input(text):
    # Ten times the longest field; a regular expression that backtracks would take minutes here.
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 3


def test_phonenumbers_is_imported_only_when_text_is_redacted():
    # Cold start: importing the service must not load libphonenumber's metadata.
    code = (
        "import sys, chalicelib.feedback.service as s; "
        "print('phonenumbers' in sys.modules); "
        "from chalicelib.feedback.redaction import redact; redact('ph 5550199'); "
        "print('phonenumbers' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]
