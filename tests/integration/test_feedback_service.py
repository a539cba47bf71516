"""Service entries on the moto stack: the functions other capabilities call (health), and time-placed
items (submitted in-process with `now`) read back over HTTP: the engineers' month walk, the trend.

Items here are placed in 2017 and 2018, years no other test writes to, so all-workspace reads of
those windows see only this file's items."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.auth import Principal, Role
from chalicelib.feedback.service import (
    open_feedback,
    satisfaction_in_window,
    submit_feedback,
    update_feedback,
)

FEEDBACK = "/api/monitoring/feedback"
ENGINEER = Principal(sub="eng-service", workspace_id=None, roles=frozenset({Role.ENGINEER}))
BASE = {
    "category": "general_feedback",
    "severity": "low",
    "title": "Placed in time for a test",
    "description": "Submitted in-process with an explicit time",
    "featureArea": "general",
}


def staff(workspace: str) -> Principal:
    return Principal(sub=f"staff-{workspace}", workspace_id=workspace, roles=frozenset({Role.STAFF}))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_satisfaction_in_window_averages_all_workspaces_in_the_window(stack, workspace):
    for n, (when, rating) in enumerate(
        [(at(2017, 1, 31, 23), 1), (at(2017, 2, 1, 8), 2), (at(2017, 2, 15), 4), (at(2017, 3, 1), 5)]
    ):
        submit_feedback(staff(f"{workspace}-{n % 2}"), {**BASE, "satisfactionRating": rating}, now=when)
    submit_feedback(staff(workspace), BASE, now=at(2017, 2, 10))  # no rating: not counted

    february = satisfaction_in_window(at(2017, 2, 1), at(2017, 2, 28, 23, 59, 59))
    assert february == {"average": 3.0, "count": 2}
    three_months = satisfaction_in_window(at(2017, 1, 1), at(2017, 3, 31))
    assert three_months == {"average": 3.0, "count": 4}
    assert satisfaction_in_window(at(2016, 1, 1), at(2016, 2, 1)) == {"average": None, "count": 0}


def test_open_feedback_lists_open_critical_and_high_with_their_fields(stack, workspace):
    from chalicelib.store import feedback as store

    settings = stack.settings().model_copy(update={"alerts_topic_arn": None})  # publish not under test
    critical, _ = submit_feedback(
        staff(workspace), {**BASE, "category": "bug_report", "severity": "critical"}, settings=settings
    )
    high, _ = submit_feedback(staff(workspace), {**BASE, "severity": "high"})
    low, _ = submit_feedback(staff(workspace), {**BASE, "severity": "low"})
    done, _ = submit_feedback(staff(workspace), {**BASE, "severity": "high"})
    update_feedback(ENGINEER, done["id"], {"status": "acknowledged"})
    update_feedback(ENGINEER, done["id"], {"status": "resolved", "resolution": "Explained the setting"})
    # A later capability links feedback to a BUG-### issue; the index carries the link.
    store.update(high["id"], 1, {"issueId": "BUG-042"})

    # The session's tables hold other tests' open items (thousands, oldest first): lift the cap, which
    # test_feedback_cost_ceiling covers, so this test sees its own.
    uncapped = stack.settings().model_copy(update={"health_open_items_max": 1_000_000})
    listed = {item["id"]: item for item in open_feedback(settings=uncapped)}
    assert listed[critical["id"]] == {
        "id": critical["id"],
        "severity": "critical",
        "category": "bug_report",
        "issueId": None,
        "createdAt": critical["createdAt"],
    }
    assert listed[high["id"]]["issueId"] == "BUG-042" and listed[high["id"]]["severity"] == "high"
    assert low["id"] not in listed and done["id"] not in listed
    assert [i["id"] for i in open_feedback(("low",), uncapped) if i["id"] == low["id"]] == [low["id"]]

    # Reopening puts it back.
    update_feedback(ENGINEER, done["id"], {"status": "acknowledged", "reason": "Came back"})
    assert done["id"] in {item["id"] for item in open_feedback(("high",), uncapped)}


def test_engineers_walk_months_newest_first_across_pages(stack, workspace):
    # Given items over three months of 2018, in two workspaces.
    times = [at(2018, 1, 5), at(2018, 1, 20), at(2018, 2, 2), at(2018, 2, 28, 23, 59), at(2018, 3, 1)]
    created = []
    for n, when in enumerate(times):
        record, _ = submit_feedback(
            staff(f"{workspace}-{n % 2}"), {**BASE, "title": f"Item {n} of 2018"}, now=when
        )
        created.append(record["id"])
    api = stack.client("engineer")
    window = {"startDate": "2018-01-01", "endDate": "2018-03-31"}

    seen, cursor = [], None
    while True:
        page = api.get(
            FEEDBACK, params={**window, "limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert seen == list(reversed(created))

    # A window inside February, inclusive of its end day.
    february = api.get(FEEDBACK, params={"startDate": "2018-02-01", "endDate": "2018-02-28"}).json()
    assert [i["id"] for i in february["items"]] == [created[3], created[2]]
    # Staff of one workspace see only theirs, through the same window.
    mine = stack.client("staff", f"{workspace}-0").get(FEEDBACK, params=window).json()
    assert [i["id"] for i in mine["items"]] == [created[4], created[2], created[0]]


@pytest.mark.parametrize("direction", ["improving", "declining"])
def test_summary_trend_and_resolution_times_over_http(stack, direction):
    workspace = f"ws-trend-{uuid.uuid4().hex[:6]}"
    ratings = [1, 2, 3, 4, 5] if direction == "improving" else [5, 4, 3, 2, 1]
    first = at(2018, 6, 1, 9)
    for day, rating in enumerate(ratings):
        record, _ = submit_feedback(
            staff(workspace), {**BASE, "satisfactionRating": rating}, now=first + timedelta(days=day)
        )
        update_feedback(ENGINEER, record["id"], {"status": "acknowledged"}, now=first + timedelta(days=day))
        update_feedback(
            ENGINEER,
            record["id"],
            {"status": "resolved", "resolution": "Answered"},
            now=first + timedelta(days=day, hours=day + 1),
        )
    summary = (
        stack.client("staff", workspace)
        .get(FEEDBACK + "/summary", params={"startDate": "2018-06-01", "endDate": "2018-06-07"})
        .json()
    )
    assert summary["ratingsTrend"]["direction"] == direction
    assert summary["ratingsTrend"]["slopePerDay"] == (1.0 if direction == "improving" else -1.0)
    assert [d["average"] for d in summary["ratingsTrend"]["satisfactionPerDay"]] == [
        *map(float, ratings),
        None,
        None,
    ]
    # Resolved after 1, 2, 3, 4, 5 hours: nearest-rank median 3, p90 5.
    assert summary["resolutionTime"] == {
        "count": 5,
        "medianHours": 3.0,
        "p90Hours": 5.0,
        "method": "nearest-rank",
    }
    assert summary["byStatus"]["resolved"] == 5 and summary["openHigh"] == 0


# ----------------------------------------------------------------- Comprehend Medical, second detector


@pytest.fixture
def comprehend():
    """A Comprehend Medical client answered by botocore's Stubber (the local stack has no stand-in)."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client(
        "comprehendmedical",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stub:
        yield client, stub


def phi(text: str, value: str, type_: str) -> dict:
    begin = text.index(value)
    return {
        "Id": 0,
        "BeginOffset": begin,
        "EndOffset": begin + len(value),
        "Score": 0.97,
        "Text": value,
        "Category": "PROTECTED_HEALTH_INFORMATION",
        "Type": type_,
        "Traits": [],
    }


def test_with_comprehend_on_a_name_without_a_cue_is_redacted_too(stack, workspace, comprehend):
    from chalicelib.store import feedback as store

    client, stub = comprehend
    settings = stack.settings().model_copy(update={"phi_detector_comprehend": True})
    # Given a report whose name has no cue the patterns know, after a phone number they do know
    payload = {**BASE, "description": "I spoke with Eleanor Whitfield on 312-555-0142 about it"}
    seen = "\n\n".join([BASE["title"], "I spoke with Eleanor Whitfield on [REDACTED:phone] about it"])
    # Then Comprehend Medical is asked once, with the whole item already pattern-redacted
    stub.add_response(
        "detect_phi",
        {"Entities": [phi(seen, "Eleanor Whitfield", "NAME")], "ModelVersion": "2.4.0"},
        {"Text": seen},
    )

    record, _ = submit_feedback(staff(workspace), payload, settings=settings, comprehend_client=client)

    stub.assert_no_pending_responses()
    assert record["description"] == "I spoke with [REDACTED:name] on [REDACTED:phone] about it"
    assert record["redactions"] == ["name", "phone"]
    assert "Whitfield" not in str(store.get(record["id"]))


def test_when_comprehend_fails_the_feedback_is_stored_with_the_pattern_result(stack, workspace, comprehend):
    from chalicelib.observability import metrics

    client, stub = comprehend
    settings = stack.settings().model_copy(update={"phi_detector_comprehend": True})
    metrics.clear_metrics()
    # Given Comprehend Medical throttling every call
    stub.add_client_error("detect_phi", service_error_code="ThrottlingException", http_status_code=400)
    stub.add_client_error(
        "detect_phi", service_error_code="ServiceUnavailableException", http_status_code=503
    )
    payload = {**BASE, "description": "Patient Maria Gonzalez, cell 312-555-0142, got no reminder"}

    # When a report is submitted, and later triaged with a reason
    record, _ = submit_feedback(staff(workspace), payload, settings=settings, comprehend_client=client)
    updated = update_feedback(
        ENGINEER,
        record["id"],
        {"status": "acknowledged", "reason": "Called Mrs. Gonzalez back on 312-555-0142"},
        settings=settings,
        comprehend_client=client,
    )

    # Then both are stored, redacted by the patterns, and each failure is counted
    assert record["description"] == "Patient [REDACTED:name], cell [REDACTED:phone], got no reminder"
    assert updated["history"][-1]["reason"] == "Called Mrs. [REDACTED:name] back on [REDACTED:phone]"
    assert metrics.metric_set["PhiDetectorFailed"]["Value"] == [1.0, 1.0]
    metrics.clear_metrics()


def test_with_comprehend_off_no_call_is_made(stack, workspace, comprehend):
    client, _ = comprehend  # the Stubber has nothing queued: any call would fail the test
    settings = stack.settings()
    assert settings.phi_detector_comprehend is False, "off on the local stack"
    record, _ = submit_feedback(
        staff(workspace),
        {**BASE, "description": "Ms. Okafor at 312-555-0142"},
        settings=settings,
        comprehend_client=client,
    )
    assert record["description"] == "Ms. [REDACTED:name] at [REDACTED:phone]"
