"""The Phase 2 plan over HTTP (chalice local + moto): the evidence loaded decides the ranking.

Items are loaded through the repository (BatchWriteItem) with createdAt in August 2016, a month no
other test writes to, so the plan over that month sees exactly them (the plan reads every workspace).
The settings are the defaults: every feature area has neutral ratings, so user impact alone orders
the groups: distinct workspaces first, then distinct users, then requests.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml

from chalicelib.auth import Principal, Role
from chalicelib.feedback.service import new_record
from chalicelib.store import feedback as store

PHASE2 = "/api/monitoring/phase2"
DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
AUGUST = {"start": "2016-08-01", "end": "2016-08-31"}
FIRST = datetime(2016, 8, 1, 9, tzinfo=UTC)


class Loader:
    def __init__(self, tag: str):
        self.tag = tag
        self.records: list[dict] = []

    def add(
        self, day: int, workspace: str, user: str, title: str, area: str, category: str = "feature_request"
    ):
        staff = Principal(
            sub=f"{self.tag}-{user}", workspace_id=f"{self.tag}-{workspace}", roles=frozenset({Role.STAFF})
        )
        payload = {
            "category": category,
            "severity": "low",
            "title": title,
            "description": "Loaded for the Phase 2 ranking test",
            "featureArea": area,
        }
        record, _ = new_record(staff, payload, FIRST + timedelta(days=day, minutes=len(self.records)))
        self.records.append(record)
        return record["id"]


@pytest.fixture(scope="module")
def loaded(stack) -> dict[str, list[str]]:
    store.bind(stack.settings())
    load = Loader(f"p2-{uuid.uuid4().hex[:6]}")
    ids: dict[str, list[str]] = {}
    # SMS reminders: three workspaces, one user each, once each (one of them a usability issue).
    ids["sms"] = [
        load.add(2, "ws-a", "ann", "SMS reminders", "reminders"),
        load.add(5, "ws-b", "bob", "Please add SMS reminder", "reminders"),
        load.add(9, "ws-c", "cy", "Reminders should go out by SMS", "reminders", "usability_issue"),
    ]
    # Bulk rescheduling: one user of one workspace, six times.
    ids["bulk"] = [
        load.add(day, "ws-d", "dee", title, "appointments")
        for day, title in enumerate(
            [
                "Bulk reschedule appointments",
                "bulk reschedule appointments",
                "Reschedule appointments in bulk",
                "Bulk reschedule appointments",
                "Please add bulk reschedule of appointments",
                "Bulk reschedule appointments",
            ],
            start=10,
        )
    ]
    # The reminder screen confuses two users of one workspace, once each.
    ids["confusing"] = [
        load.add(20, "ws-e", "eve", "Reminder screen is confusing", "reminders", "usability_issue"),
        load.add(21, "ws-e", "fay", "Confusing reminder screen", "reminders", "usability_issue"),
    ]
    # Dark mode, asked once in two feature areas: the same evidence, so the area's name decides.
    ids["dark-portal"] = [load.add(3, "ws-f", "gus", "Dark mode", "patient_portal")]
    ids["dark-analytics"] = [load.add(4, "ws-g", "hal", "Dark mode", "analytics")]
    # Not part of the plan: a bug report (another category) and a request from the day before the window.
    load.add(6, "ws-a", "ann", "SMS reminders are not sent", "reminders", "bug_report")
    load.add(-1, "ws-h", "ivy", "SMS reminders", "reminders")
    store.batch_put(load.records)
    return ids


def test_the_evidence_decides_the_order(stack, loaded):
    # Given the loaded requests; When an engineer asks for August's plan
    response = stack.client("engineer").get(PHASE2, params=AUGUST)
    # Then five groups come back, best first
    assert response.status_code == 200, response.text
    plan = response.json()
    order = [(item["featureArea"], item["title"]) for item in plan["items"]]
    assert order == [
        # three workspaces beat ...
        ("reminders", "SMS reminders"),
        # ... two users of one workspace, which beat ...
        ("reminders", "Reminder screen is confusing"),
        # ... one user asking six times, which beats one user asking once
        ("appointments", "Bulk reschedule appointments"),
        # equal evidence and ratings: the feature area's name breaks the tie
        ("analytics", "Dark mode"),
        ("patient_portal", "Dark mode"),
    ]
    scores = [item["score"] for item in plan["items"]]
    assert scores[:4] == sorted(scores[:4], reverse=True) and len(set(scores[:4])) == 4
    assert scores[3] == scores[4]
    assert [item["rank"] for item in plan["items"]] == [1, 2, 3, 4, 5]
    assert plan["groups"] == 5 and plan["requests"] == 13
    # And the plan read only the window's month: its 14 items (the bug report is read, then filtered)
    assert plan["itemsRead"] == 14 and plan["queries"] == 1 and plan["complete"] is True
    assert plan["window"] == {
        "start": "2016-08-01T00:00:00.000000Z",
        "end": "2016-08-31T23:59:59.999999Z",
        "days": 31,
    }


def test_each_item_carries_its_evidence_and_components(stack, loaded):
    plan = stack.client("admin").get(PHASE2, params=AUGUST).json()
    sms, confusing, bulk = plan["items"][:3]
    # The SMS group: three phrasings, two categories, three workspaces and users, ids newest first
    assert sms["evidence"] == {
        "feedbackIds": list(reversed(loaded["sms"])),
        "feedbackIdsTruncated": False,
        "count": 3,
        "workspaces": 3,
        "users": 3,
        "categories": {"feature_request": 2, "usability_issue": 1},
        "firstAsked": "2016-08-03T09:00:00.000000Z",
        "lastAsked": "2016-08-10T09:02:00.000000Z",
    }
    assert sms["otherTitles"] == ["Please add SMS reminder", "Reminders should go out by SMS"]
    assert (confusing["evidence"]["users"], confusing["evidence"]["workspaces"]) == (2, 1)
    assert (bulk["evidence"]["count"], bulk["evidence"]["users"], bulk["evidence"]["workspaces"]) == (6, 1, 1)
    assert bulk["title"] == "Bulk reschedule appointments"  # the most frequent phrasing
    assert sorted(bulk["evidence"]["feedbackIds"]) == sorted(loaded["bulk"])
    # Every component shows value, weight, contribution and inputs; the score is their sum
    for item in plan["items"]:
        components = item["components"]
        assert list(components) == [
            "userImpact",
            "businessValue",
            "technicalFeasibility",
            "strategicAlignment",
        ]
        assert sum(c["weight"] for c in components.values()) == pytest.approx(1)
        assert sum(c["contribution"] for c in components.values()) == pytest.approx(item["score"], abs=0.02)
        inputs = components["userImpact"]["inputs"]
        assert inputs["workspaces"]["count"] == item["evidence"]["workspaces"]
        assert inputs["users"]["count"] == item["evidence"]["users"]
        assert inputs["requests"]["count"] == item["evidence"]["count"]
        assert components["businessValue"]["inputs"] == {"rating": 3, "scale": "1-5", "source": "default"}
    assert plan["method"]["threshold"] == 0.5
    assert plan["categories"] == ["feature_request", "usability_issue"]


def test_the_answer_is_the_documented_shape(stack, loaded):
    # The fuzz test sees mostly empty plans; this one has every part filled
    doc = yaml.safe_load(DOC.read_text())
    plan = stack.client("engineer").get(PHASE2, params=AUGUST).json()
    schema = {"$ref": "#/components/schemas/Phase2Plan", "components": doc["components"]}
    jsonschema.Draft202012Validator(schema).validate(plan)


def test_limit_bounds_the_items_not_the_ranking(stack, loaded):
    plan = stack.client("engineer").get(PHASE2, params={**AUGUST, "limit": 2}).json()
    assert [item["title"] for item in plan["items"]] == ["SMS reminders", "Reminder screen is confusing"]
    assert plan["groups"] == 5


def test_an_empty_window_is_an_empty_plan(stack, loaded):
    plan = stack.client("engineer").get(PHASE2, params={"start": "2016-09-01", "end": "2016-09-02"}).json()
    assert plan["items"] == [] and plan["groups"] == 0 and plan["itemsRead"] == 0


def test_the_default_window_is_the_last_90_days(stack):
    plan = stack.client("engineer").get(PHASE2).json()
    start, end = (datetime.fromisoformat(plan["window"][k].replace("Z", "+00:00")) for k in ("start", "end"))
    assert plan["window"]["days"] == 90
    assert start.time() == datetime.min.time() and (end.date() - start.date()).days == 89
    assert abs(end - datetime.now(UTC)) < timedelta(minutes=5)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2016-08-10", "end": "2016-08-01"}, "start"),
        ({"start": "2015-01-01", "end": "2016-08-01"}, "start"),  # 579 days: over the 366-day ceiling
        ({"start": "yesterday"}, "start"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"category": "bug_report"}, "category"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(stack, params, field):
    response = stack.client("engineer").get(PHASE2, params=params)
    assert response.status_code == 400, response.text
    assert [f["field"] for f in response.json()["error"]["fields"]] == [field]


def test_only_engineers_and_admins_may_read_the_plan(stack, workspace):
    assert stack.client().get(PHASE2).status_code == 401
    assert stack.client("staff", workspace).get(PHASE2).status_code == 403
    assert stack.client("ingest").get(PHASE2).status_code == 403


def test_the_read_ceiling_is_reported(stack, loaded):
    from chalicelib.phase2.service import phase2_plan

    # Given a plan allowed to read 5 items of August's 14
    settings = stack.settings().model_copy(update={"phase2_max_items_read": 5})
    # When it is computed
    plan = phase2_plan(AUGUST, settings=settings)
    # Then it read 5, says it covers only the newest part of the window, and counts only that part
    assert plan["itemsRead"] == 5 and plan["complete"] is False
    assert AUGUST["start"] < plan["coveredFrom"][:10] <= AUGUST["end"]
    covered = [i for i in plan["items"] for _ in i["evidence"]["feedbackIds"]]
    assert plan["requests"] == len(covered) <= 5
    assert all(i["evidence"]["firstAsked"] >= plan["coveredFrom"] for i in plan["items"])
