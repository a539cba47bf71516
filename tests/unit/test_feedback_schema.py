"""Validation of the feedback payload, the PATCH body and the query filters: every bad field is
named by its wire (camelCase) name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.errors import ValidationFailed
from chalicelib.schemas.feedback import (
    FeedbackListQuery,
    FeedbackSummaryQuery,
    FeedbackUpdate,
    parse,
    validate_payload,
)
from tests.payloads import SEED_FEEDBACK

GOOD = dict(SEED_FEEDBACK)


def fields_of(data: dict, model=None) -> set[str]:
    with pytest.raises(ValidationFailed) as caught:
        validate_payload(data) if model is None else parse(model, data)
    return {f.field for f in caught.value.fields}


def test_the_seeds_payload_is_valid_and_trimmed():
    payload = validate_payload({**GOOD, "title": "  Appointment reminders not sending  "}).payload()
    assert payload["title"] == "Appointment reminders not sending"
    assert payload["featureArea"] == "reminders"
    assert payload["satisfactionRating"] == 2


def test_optional_fields_may_be_absent_or_null():
    minimal = {k: GOOD[k] for k in ("category", "severity", "title", "description", "featureArea")}
    assert validate_payload(minimal).payload() == minimal
    assert validate_payload({**minimal, "browserInfo": None, "steps": None}).payload() == minimal


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"category": "complaint"}, "category"),
        ({"severity": "urgent"}, "severity"),
        ({"title": "abcd"}, "title"),
        ({"title": "   abcd    "}, "title"),  # 4 characters after trimming
        ({"title": "x" * 201}, "title"),
        ({"description": "too short"}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"featureArea": "billing"}, "featureArea"),
        ({"satisfactionRating": 0}, "satisfactionRating"),
        ({"satisfactionRating": 6}, "satisfactionRating"),
        ({"satisfactionRating": 3.5}, "satisfactionRating"),
        ({"usabilityRating": "3"}, "usabilityRating"),
        ({"performanceRating": True}, "performanceRating"),
        ({"steps": ["step"] * 21}, "steps"),
        ({"steps": ["ok", ""]}, "steps.1"),
        ({"steps": ["x" * 501]}, "steps.0"),
        ({"steps": "one step"}, "steps"),
        ({"browserInfo": "x" * 201}, "browserInfo"),
        ({"deviceInfo": "x" * 201}, "deviceInfo"),
        ({"expectedBehavior": "x" * 1001}, "expectedBehavior"),
        ({"actualBehavior": "x" * 1001}, "actualBehavior"),
        ({"title": 12345}, "title"),
        ({"unexpected": 1}, "unexpected"),
        ({"feature_area": "reminders"}, "feature_area"),  # wire names only: no snake_case synonyms
    ],
)
def test_each_rule_names_its_field(change, field):
    assert fields_of({**GOOD, **change}) == {field}


@pytest.mark.parametrize("field", ["category", "severity", "title", "description", "featureArea"])
def test_required_fields(field):
    data = dict(GOOD)
    del data[field]
    assert fields_of(data) == {field}


@pytest.mark.parametrize("field", ["workspaceId", "userId", "userRole"])
def test_token_fields_are_refused_with_their_own_message(field):
    with pytest.raises(ValidationFailed) as caught:
        validate_payload({**GOOD, field: "ws-other"})
    [error] = caught.value.fields
    assert error.field == field
    assert "token" in error.message


def test_all_bad_fields_are_named_at_once():
    bad = {**GOOD, "category": "x", "severity": "y", "satisfactionRating": 9, "userId": "u"}
    assert fields_of(bad) == {"category", "severity", "satisfactionRating", "userId"}


def test_update_needs_something_to_change_and_knows_an_explicit_null_assignee():
    assert fields_of({}, FeedbackUpdate) == {"body"}
    assert fields_of({"version": 2}, FeedbackUpdate) == {"body"}
    assert fields_of({"status": "done"}, FeedbackUpdate) == {"status"}
    assert fields_of({"status": "closed", "version": "2"}, FeedbackUpdate) == {"version"}
    assert fields_of({"resolution": "   "}, FeedbackUpdate) == {"resolution"}
    cleared = parse(FeedbackUpdate, {"assignee": None})
    assert cleared.assignee is None and cleared.assignee_given
    assert not parse(FeedbackUpdate, {"status": "closed"}).assignee_given


def test_query_dates_limit_and_filters():
    query = parse(FeedbackListQuery, {"startDate": "2025-10-01", "endDate": "2025-10-31", "limit": "10"})
    assert query.start_date == datetime(2025, 10, 1, tzinfo=UTC)
    # A day given as endDate includes that whole day.
    assert query.end_date == datetime(2025, 10, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert query.limit == 10
    instant = parse(FeedbackListQuery, {"endDate": "2025-10-31T10:00:00+02:00"})
    assert instant.end_date == datetime(2025, 10, 31, 8, tzinfo=UTC)
    naive = parse(FeedbackListQuery, {"startDate": "2025-10-31T10:00:00"})
    assert naive.start_date == datetime(2025, 10, 31, 10, tzinfo=UTC)
    filters = parse(FeedbackSummaryQuery, {"category": "bug_report", "featureArea": "general"})
    assert filters.attribute_filters() == {"category": "bug_report", "featureArea": "general"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"startDate": "yesterday"}, "startDate"),
        ({"endDate": "2025-13-01"}, "endDate"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "open"}, "status"),
        ({"featureArea": "x"}, "featureArea"),
        ({"page": "2"}, "page"),
    ],
)
def test_bad_query_parameters_are_named(params, field):
    assert fields_of(params, FeedbackListQuery) == {field}
