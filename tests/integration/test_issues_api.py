"""BUG-### issues over HTTP against the moto-backed stack: create, read, list with filters and
cursors, the lifecycle and its refusals, optimistic locking, redaction, and issues made from
feedback (linked both ways, counted once by health)."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.payloads import SEED_FEEDBACK

ISSUES = "/api/issues"
FEEDBACK = "/api/monitoring/feedback"


def new_issue(api, **over) -> dict:
    body = {"title": f"Reminders late {uuid.uuid4().hex[:6]}", "severity": "medium"} | over
    response = api.post(ISSUES, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def patch(api, issue: dict, **body):
    return api.patch(f"{ISSUES}/{issue['id']}", json=body, headers={"If-Match": f'"{issue["version"]}"'})


def fields(response) -> set[str]:
    return {f["field"] for f in response.json()["error"].get("fields", [])}


def submit(stack, workspace: str, **over) -> dict:
    response = stack.client("staff", workspace).post(FEEDBACK, json=SEED_FEEDBACK | over)
    assert response.status_code == 201, response.text
    return response.json()


def stability_problems(stack) -> dict[str, str]:
    """id -> which stability input counted it, from a fresh evaluation over HTTP."""
    body = stack.client("engineer").get("/api/monitoring/system-health?refresh=true&verbose=true").json()
    return {p["id"]: p["counts"] for p in body["stability"]["problems"]}


def test_an_engineer_creates_an_issue_and_reads_it_back(stack):
    # Given an engineer
    api = stack.client("engineer", sub="eng-ana")
    # When they file an issue with every field
    response = api.post(
        ISSUES,
        json={
            "title": "Reminder times off by an hour after DST",
            "description": "Since the clocks changed, reminders go out an hour early.",
            "severity": "high",
            "featureAreas": ["reminders", "appointments"],
            "assignee": "eng-bo",
            "estimateHours": 6,
        },
    )
    # Then it is stored open with a BUG id, a derived priority and a first history entry
    assert response.status_code == 201, response.text
    issue = response.json()
    assert re.fullmatch(r"BUG-\d{3,}", issue["id"])
    assert response.headers["ETag"] == '"1"' and response.headers["Location"] == f"{ISSUES}/{issue['id']}"
    assert issue["status"] == "open" and issue["priority"] == "P2" and issue["prioritySource"] == "derived"
    assert issue["featureAreas"] == ["reminders", "appointments"] and issue["estimateHours"] == 6
    assert issue["reach"] == {"feedback": 0, "workspaces": 0} and issue["activeRelease"] is None
    assert issue["history"][0] | {"at": None} == {
        "at": None,
        "by": "eng-ana",
        "action": "created",
        "to": "open",
    }
    read = api.get(f"{ISSUES}/{issue['id']}")
    assert read.status_code == 200 and read.json() == issue and read.headers["ETag"] == '"1"'


def test_bad_fields_are_400s_naming_them_and_staff_may_not_file(stack, workspace):
    api = stack.client("engineer")
    bad = api.post(
        ISSUES,
        json={
            "title": "ok title",
            "severity": "urgent",
            "featureAreas": ["billing"],
            "estimateHours": 5000,
            "priority": "P0",
            "color": "red",
        },
    )
    assert bad.status_code == 400
    assert fields(bad) == {"severity", "featureAreas.0", "estimateHours", "priority", "color"}
    assert fields(api.post(ISSUES, json={"title": "    ", "severity": "low"})) == {"title"}
    dup = {"title": "Dup areas", "severity": "low", "featureAreas": ["reminders", "reminders"]}
    assert fields(api.post(ISSUES, json=dup)) == {"featureAreas"}
    assert (
        stack.client("staff", workspace).post(ISSUES, json={"title": "Hello", "severity": "low"}).status_code
        == 403
    )
    assert api.get(f"{ISSUES}/BUG-999999999").status_code == 404
    assert api.get(f"{ISSUES}/not-an-id").status_code == 404


def test_titles_and_descriptions_are_redacted_before_storage(stack):
    issue = new_issue(
        stack.client("engineer"),
        title="Reminder failed for Patient John Smith",
        description="Call back on 415-555-0132, MRN 88412, about the missed refill.",
    )
    assert "John Smith" not in issue["title"] and "[REDACTED:name]" in issue["title"]
    assert "415-555-0132" not in issue["description"] and "88412" not in issue["description"]
    assert {"name", "phone", "mrn"} <= set(issue["redactions"])


def test_the_lifecycle_over_http_with_its_refusals(stack):
    api = stack.client("engineer", sub="eng-cy")
    issue = new_issue(api)

    # open -> fixed skips the work: 409 naming where it can go
    skip = patch(api, issue, status="fixed")
    assert skip.status_code == 409 and skip.json()["error"]["code"] == "invalid_transition"
    assert skip.json()["error"]["allowed"] == ["closed", "triaged", "wont_fix"]
    assert "cannot move from open to fixed" in skip.json()["error"]["message"]

    issue = patch(api, issue, status="triaged", reason="Reproduced on staging").json()
    # assigned needs an assignee
    no_one = patch(api, issue, status="assigned")
    assert no_one.status_code == 400 and fields(no_one) == {"assignee"}
    issue = patch(api, issue, status="assigned", assignee="eng-dee").json()
    issue = patch(api, issue, status="in_progress").json()
    cleared = patch(api, issue, assignee=None)
    assert cleared.status_code == 400 and fields(cleared) == {"assignee"}
    issue = patch(api, issue, status="fixed").json()
    assert issue["status"] == "fixed"

    # released only through a release
    by_hand = patch(api, issue, status="released")
    assert by_hand.status_code == 409 and "only through a release" in by_hand.json()["error"]["message"]

    # the history says who moved it, when, from where to where, and why
    moves = [(h["from"], h["to"], h["by"]) for h in issue["history"] if h["action"] == "status"]
    assert moves == [
        ("open", "triaged", "eng-cy"),
        ("triaged", "assigned", "eng-cy"),
        ("assigned", "in_progress", "eng-cy"),
        ("in_progress", "fixed", "eng-cy"),
    ]
    assert issue["history"][1]["reason"] == "Reproduced on staging"
    assert issue["history"][2]["changes"]["assignee"] == {"from": None, "to": "eng-dee"}

    # closed, then reopened
    issue = patch(api, issue, status="closed").json()
    assert patch(api, issue, status="triaged").status_code == 409
    assert patch(api, issue, status="open", reason="Seen again").json()["status"] == "open"


def test_a_stale_if_match_is_a_conflict_and_concurrent_writers_never_both_win(stack):
    api = stack.client("engineer")
    issue = new_issue(api)
    first = patch(api, issue, assignee="eng-a")
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    stale = patch(api, issue, assignee="eng-b")  # still If-Match "1"
    assert stale.status_code == 409 and stale.json()["error"]["currentVersion"] == 2

    # Given one version read by eight writers at once
    current = first.json()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: patch(api, current, estimateHours=n + 1).status_code, range(8)))
    # Then exactly one write lands; the others are told to read again
    assert sorted(answers) == [200] + [409] * 7
    assert api.get(f"{ISSUES}/{issue['id']}").json()["version"] == 3


def test_priority_is_derived_from_severity_and_reach_unless_set(stack):
    api = stack.client("engineer")
    issue = new_issue(api, severity="low")
    assert issue["priority"] == "P4"
    issue = patch(api, issue, severity="critical").json()
    assert issue["priority"] == "P1" and issue["history"][-1]["changes"]["priority"] == {
        "from": "P4",
        "to": "P1",
    }
    issue = patch(api, issue, priority="P3").json()
    assert issue["priority"] == "P3" and issue["prioritySource"] == "explicit"
    issue = patch(api, issue, severity="high").json()
    assert issue["priority"] == "P3"  # explicit stays
    issue = patch(api, issue, priority=None).json()
    assert issue["priority"] == "P2" and issue["prioritySource"] == "derived"


def test_an_issue_from_feedback_links_both_ways_and_health_counts_it_once(stack, workspace):
    engineer = stack.client("engineer", sub="eng-fay")
    # Given a critical bug report: alone, it is a critical error
    item = submit(stack, workspace, severity="critical", title="All reminders stopped this morning")
    assert stability_problems(stack)[item["id"]] == "criticalErrors"

    # When an engineer makes an issue of it
    response = engineer.post(f"{FEEDBACK}/{item['id']}/issue", json={})
    assert response.status_code == 201, response.text
    issue = response.json()

    # Then the issue carries the item's text, severity and area, and links it; the item links back
    assert issue["title"] == item["title"] and issue["severity"] == "critical"
    assert issue["featureAreas"] == ["reminders"] and issue["feedbackIds"] == [item["id"]]
    assert issue["reach"] == {"feedback": 1, "workspaces": 1}
    linked = engineer.get(f"{FEEDBACK}/{item['id']}")
    assert linked.json()["issueId"] == issue["id"]
    assert linked.headers["ETag"] != f'"{item["version"]}"'  # the link is a change of the item

    # And health counts the problem once, as the issue
    seen = stability_problems(stack)
    assert seen[issue["id"]] == "criticalErrors" and item["id"] not in seen

    # A second issue for the same item is refused
    again = engineer.post(f"{FEEDBACK}/{item['id']}/issue", json={"title": "Another issue for it"})
    assert again.status_code == 409 and issue["id"] in again.json()["error"]["message"]

    # Closing the issue as won't fix: it no longer counts, nor does its linked item
    issue = patch(engineer, issue, status="wont_fix", reason="Superseded by the new reminder service").json()
    seen = stability_problems(stack)
    assert issue["id"] not in seen and item["id"] not in seen
    engineer.patch(f"{FEEDBACK}/{item['id']}", json={"status": "resolved", "resolution": "Superseded."})


def test_more_feedback_joins_an_existing_issue_and_widens_its_reach(stack):
    engineer = stack.client("engineer")
    workspaces = [f"ws-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    items = [submit(stack, ws, severity="medium") for ws in workspaces]
    issue, created = engineer.post(f"{FEEDBACK}/{items[0]['id']}/issue").json(), True
    assert issue["priority"] == "P3" and created

    for item in items[1:]:
        joined = engineer.post(f"{FEEDBACK}/{item['id']}/issue", json={"issueId": issue["id"]})
        assert joined.status_code == 200, joined.text
    issue = joined.json()
    # Three workspaces: wide reach, one level up
    assert issue["reach"] == {"feedback": 3, "workspaces": 3} and issue["priority"] == "P2"
    assert [h["action"] for h in issue["history"]] == ["created", "linked", "linked"]
    assert all(engineer.get(f"{FEEDBACK}/{i['id']}").json()["issueId"] == issue["id"] for i in items)

    # Linking takes nothing else, and an item links once
    mixed = engineer.post(
        f"{FEEDBACK}/{items[1]['id']}/issue", json={"issueId": issue["id"], "title": "x y z w"}
    )
    assert mixed.status_code == 400
    assert (
        engineer.post(f"{FEEDBACK}/{items[1]['id']}/issue", json={"issueId": issue["id"]}).status_code == 409
    )
    assert engineer.post(f"{FEEDBACK}/no-such-item/issue").status_code == 404
    fresh = submit(stack, workspaces[0])
    closed = patch(engineer, issue, status="closed").json()
    late = engineer.post(f"{FEEDBACK}/{fresh['id']}/issue", json={"issueId": closed["id"]})
    assert late.status_code == 409 and "reopen it" in late.json()["error"]["message"]
    no_issue = engineer.post(f"{FEEDBACK}/{fresh['id']}/issue", json={"issueId": "BUG-999999999"})
    assert no_issue.status_code == 400 and fields(no_issue) == {"issueId"}


def test_filing_an_issue_with_feedback_ids_links_them_or_nothing(stack, workspace):
    engineer = stack.client("engineer")
    one, two = submit(stack, workspace), submit(stack, workspace)
    taken = engineer.post(f"{FEEDBACK}/{two['id']}/issue").json()

    # An item already linked: 409 naming it, and nothing written (the free one stays free)
    both = {"title": "Both reports", "severity": "high", "feedbackIds": [one["id"], two["id"]]}
    refused = engineer.post(ISSUES, json=both)
    assert refused.status_code == 409 and two["id"] in refused.json()["error"]["message"]
    assert engineer.get(f"{FEEDBACK}/{one['id']}").json()["issueId"] is None
    assert engineer.get(f"{FEEDBACK}/{two['id']}").json()["issueId"] == taken["id"]

    unknown = {"title": "A report", "severity": "high", "feedbackIds": [one["id"], "no-such-item"]}
    assert fields(engineer.post(ISSUES, json=unknown)) == {"feedbackIds.1"}

    ok = engineer.post(ISSUES, json={"title": "First report", "severity": "high", "feedbackIds": [one["id"]]})
    assert ok.status_code == 201 and ok.json()["feedbackIds"] == [one["id"]]
    assert engineer.get(f"{FEEDBACK}/{one['id']}").json()["issueId"] == ok.json()["id"]


def test_the_list_filters_and_pages_with_cursors(stack):
    engineer = stack.client("engineer")
    area = "analytics"
    mine = [new_issue(engineer, severity="low", featureAreas=[area]) for _ in range(5)]
    triaged = patch(engineer, mine[0], status="triaged").json()

    # Following the cursor two at a time returns every issue once, newest first
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, "severity": "low", "featureArea": area} | ({"cursor": cursor} if cursor else {})
        page = engineer.get(ISSUES, params=params).json()
        pages += 1
        assert len(page["items"]) <= 2 and page["scanned"]["index"] == "byCreated"
        seen += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    ids = [i["id"] for i in seen]
    assert len(ids) == len(set(ids)) and {i["id"] for i in mine} <= set(ids)
    assert [i["createdAt"] for i in seen] == sorted((i["createdAt"] for i in seen), reverse=True)
    assert all(i["severity"] == "low" and area in i["featureAreas"] for i in seen)

    # The status filter reads the byStatus index
    by_status = engineer.get(ISSUES, params={"status": "triaged", "limit": 100}).json()
    assert by_status["scanned"]["index"] == "byStatus"
    assert triaged["id"] in {i["id"] for i in by_status["items"]}
    assert {i["status"] for i in by_status["items"]} == {"triaged"}

    # A cursor of another query, or a forged one, is a 400 naming cursor
    other = engineer.get(ISSUES, params={"status": "open", "cursor": cursor or page_cursor(engineer)})
    assert other.status_code == 400 and fields(other) == {"cursor"}
    assert fields(engineer.get(ISSUES, params={"cursor": "!!!"})) == {"cursor"}
    assert fields(engineer.get(ISSUES, params={"status": "resolved"})) == {"status"}


def page_cursor(api) -> str:
    page = api.get(ISSUES, params={"limit": 1}).json()
    assert page["nextCursor"]
    return page["nextCursor"]


@pytest.mark.parametrize("budget", [3])
def test_one_list_request_reads_at_most_its_budget(stack, monkeypatch, budget):
    """LIST_MAX_ITEMS_READ bounds what one request reads, whatever the filters' selectivity."""
    from chalicelib.config import reset_settings
    from chalicelib.issues import service

    engineer = stack.client("engineer")
    for _ in range(4):
        new_issue(engineer, severity="low")
    monkeypatch.setenv("LIST_MAX_ITEMS_READ", str(budget))
    reset_settings()
    try:
        page = service.list_issues({"severity": "critical", "limit": 50})
    finally:
        monkeypatch.delenv("LIST_MAX_ITEMS_READ")
        reset_settings()
    assert page["scanned"]["itemsRead"] <= budget and page["nextCursor"] is not None
