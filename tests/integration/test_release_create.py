"""POST/GET /api/releases over HTTP on the moto stack: a release of fixed issues onto a target
function of the test's own, every refusal the issue names, and a dry run that writes nothing."""

from __future__ import annotations

import pytest

from tests.release_helpers import (
    fixed_issue,
    fresh_version,
    make_target,
    new_build,
    publish_build,
    table_items,
    versions,
)

RELEASES = "/api/releases"
ISSUES = "/api/issues"


@pytest.fixture
def admin(stack):
    return stack.client("admin")


@pytest.fixture
def target(stack):
    return make_target(stack)


def body(version: str, issues: list[str], target: str, **extra) -> dict:
    return {"version": version, "issues": issues, "targets": [target], **extra}


def refusal(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_a_release_of_fixed_issues_is_planned_and_holds_them(stack, admin, target):
    # Given two fixed issues and a target whose version 2 is published
    first, second = fixed_issue("reminders"), fixed_issue("patient_portal", "reminders")
    new = publish_build(stack, target)
    version = fresh_version()

    # When an admin creates the release
    answer = admin.post(RELEASES, json=body(version, [first, second], target, functionVersion=new))

    # Then it is stored as planned, from what each alias serves now to the new version
    assert answer.status_code == 201, answer.text
    assert answer.headers["Location"] == f"{RELEASES}/{version}"
    release = answer.json()
    assert (release["version"], release["status"], release["revision"]) == (version, "planned", 1)
    assert release["issues"] == [first, second]
    assert release["featureAreas"] == ["reminders", "patient_portal"]
    moves = {"function": target, "fromVersion": "1", "toVersion": new}
    assert release["targets"] == [
        {**moves, "environment": "staging", "alias": "staging"},
        {**moves, "environment": "production", "alias": "live"},
    ]
    assert release["environments"]["production"]["state"] == "pending" and release["trafficPercent"] == 0
    assert release["history"][0]["action"] == "create" and release["createdBy"].startswith("dev-admin")
    assert "pendingToken" not in release
    # and the issues are held by it
    engineer = stack.client("engineer")
    assert engineer.get(f"{ISSUES}/{first}").json()["activeRelease"] == version
    # and engineers read it, alone and in the list (newest first)
    assert engineer.get(f"{RELEASES}/{version}").json() == release
    listed = engineer.get(RELEASES, params={"limit": 1}).json()
    assert listed["items"] == [release]
    planned = engineer.get(RELEASES, params={"status": "planned", "limit": 100}).json()["items"]
    assert version in [r["version"] for r in planned]
    assert engineer.get(RELEASES, params={"status": "released"}).status_code == 200


def test_publish_releases_the_new_build_and_refuses_an_unchanged_latest(stack, admin, target):
    # Given a new build uploaded to $LATEST (not yet published)
    new_build(stack, target)
    before = versions(stack, target)

    # When a release publishes it
    version = fresh_version()
    answer = admin.post(RELEASES, json=body(version, [fixed_issue()], target, publish=True))

    # Then version 2 is published and released
    assert answer.status_code == 201, answer.text
    assert versions(stack, target) == [*before, "2"]
    assert {t["toVersion"] for t in answer.json()["targets"]} == {"2"}
    assert "published $LATEST as " + target + " version 2" in answer.json()["history"][0]["reason"]

    # When another release asks to publish without a new build
    again = admin.post(RELEASES, json=body(fresh_version(), [fixed_issue()], target, publish=True))
    # Then it is refused, naming the version $LATEST already is, and nothing is published or stored
    error = refusal(again, 409)
    assert error["message"].startswith(f"{target}: $LATEST has not changed since version 2")
    assert versions(stack, target) == [*before, "2"]
    assert admin.get(f"{RELEASES}/{fresh_version()}").status_code == 404


def test_a_dry_run_checks_everything_and_writes_nothing_anywhere(stack, admin, target):
    # Given a fixed issue, a new build on $LATEST, and the counts of everything a release writes
    issue = fixed_issue("reminders")
    new_build(stack, target)
    tables = (stack.env["RELEASES_TABLE"], stack.env["ISSUES_TABLE"])
    counts = [table_items(stack, t) for t in tables]
    published = versions(stack, target)
    issue_before = stack.client("engineer").get(f"{ISSUES}/{issue}").json()
    version = fresh_version()

    # When a dry run of a publishing release is asked for
    answer = admin.post(RELEASES, json=body(version, [issue], target, publish=True, dryRun=True))

    # Then it answers the plan (200, not created) with what it would publish
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert plan["dryRun"] is True and plan["status"] == "planned" and plan["version"] == version
    assert plan["publish"][0]["function"] == target and len(plan["publish"][0]["codeSha256"]) > 20
    assert {t["toVersion"] for t in plan["targets"]} == {None}
    # and nothing was written or published
    assert [table_items(stack, t) for t in tables] == counts
    assert versions(stack, target) == published
    assert stack.client("engineer").get(f"{ISSUES}/{issue}").json() == issue_before
    assert admin.get(f"{RELEASES}/{version}").status_code == 404
    # and a dry run still refuses what the real one would
    late = admin.post(RELEASES, json=body("0.0.1", [issue], target, publish=True, dryRun=True))
    assert refusal(late, 409)["message"].startswith("Release 0.0.1 is not greater than")


def test_versions_must_be_semantic_unused_and_increasing(stack, admin, target):
    new = publish_build(stack, target)
    taken = fresh_version()
    created = admin.post(RELEASES, json=body(taken, [fixed_issue()], target, functionVersion=new))
    assert created.status_code == 201, created.text

    for bad in ("1.0", "v1.0.0", "01.0.0", "1.0.0+build.5", "1.0.0-"):
        error = refusal(
            admin.post(RELEASES, json=body(bad, [fixed_issue()], target, functionVersion=new)), 400
        )
        assert error["fields"][0]["field"] == "version", bad
    duplicate = admin.post(RELEASES, json=body(taken, [fixed_issue()], target, functionVersion=new))
    assert refusal(duplicate, 409)["message"] == f"Release {taken} already exists."
    major, minor, _ = (int(p) for p in taken.split("-")[0].split("."))
    lower = f"{major}.{minor - 1}.9" if minor else f"{major - 1}.9.9"
    error = refusal(admin.post(RELEASES, json=body(lower, [fixed_issue()], target, functionVersion=new)), 409)
    assert error["message"].startswith(f"Release {lower} is not greater than {taken}")
    # A pre-release of the next version sorts above the last release (semver precedence)
    pre = fresh_version() + "-rc.1"
    assert (
        admin.post(RELEASES, json=body(pre, [fixed_issue()], target, functionVersion=new)).status_code == 201
    )

    # The list pages newest first with its cursor
    first = admin.get(RELEASES, params={"limit": 1}).json()
    second = admin.get(RELEASES, params={"limit": 1, "cursor": first["nextCursor"]}).json()
    assert [first["items"][0]["version"], second["items"][0]["version"]] == [pre, taken]


def test_issues_must_exist_be_fixed_and_be_in_no_other_active_release(stack, admin, target):
    new = publish_build(stack, target)
    engineer = stack.client("engineer")
    unknown = admin.post(RELEASES, json=body(fresh_version(), ["BUG-999999"], target, functionVersion=new))
    assert refusal(unknown, 400)["fields"] == [
        {"field": "issues", "message": "Issue BUG-999999 does not exist."}
    ]

    # An open issue is not releasable
    open_issue = engineer.post(ISSUES, json={"title": "Portal logo blurry", "severity": "low"}).json()["id"]
    unfixed = admin.post(RELEASES, json=body(fresh_version(), [open_issue], target, functionVersion=new))
    assert (
        refusal(unfixed, 409)["message"] == f"Issue {open_issue} is open; only fixed issues can be released."
    )

    # An issue held by an active release is not releasable twice, even beside a free one
    held = fixed_issue()
    first = fresh_version()
    assert admin.post(RELEASES, json=body(first, [held], target, functionVersion=new)).status_code == 201
    free = fixed_issue()
    twice = admin.post(RELEASES, json=body(fresh_version(), [free, held], target, functionVersion=new))
    assert (
        refusal(twice, 409)["message"]
        == f"Issue {held} is already in release {first}, which is still active."
    )
    assert engineer.get(f"{ISSUES}/{free}").json()["activeRelease"] is None


def test_the_new_code_and_the_targets_are_checked(stack, admin, target):
    issue = fixed_issue()
    version = fresh_version()

    def post(**extra):
        return admin.post(RELEASES, json={"version": version, "issues": [issue], **extra})

    neither = refusal(post(targets=[target]), 400)["fields"][0]
    assert neither["field"] == "functionVersion"
    both = refusal(post(targets=[target], functionVersion="2", publish=True), 400)["fields"][0]
    assert both == {
        "field": "functionVersion",
        "message": "Give either functionVersion or publish, not both.",
    }
    missing = refusal(post(targets=[target], functionVersion="7"), 400)["fields"][0]
    assert missing == {"field": "functionVersion", "message": f"{target} has no published version 7."}
    serving = refusal(post(targets=[target], functionVersion="1"), 400)["fields"][0]
    assert serving["message"] == f"{target}:live serves version 1 already."
    nowhere = refusal(post(targets=["no-such-function"], functionVersion="2"), 400)["fields"][0]
    assert nowhere["field"] == "targets" and "no-such-function" in nowhere["message"]

    # A target mid-shift (weights left on its production alias) is refused until that ends
    new = publish_build(stack, target)
    stack.aws_client("lambda").update_alias(
        FunctionName=target, Name="live", RoutingConfig={"AdditionalVersionWeights": {new: 0.25}}
    )
    shifting = refusal(post(targets=[target], functionVersion=new), 409)
    assert f"{target}:live is mid-shift" in shifting["message"]
    assert admin.get(f"{RELEASES}/{version}").status_code == 404


def test_only_admins_create_and_engineers_read(stack, target):
    payload = body(fresh_version(), [fixed_issue()], target, functionVersion="1")
    assert stack.client("engineer").post(RELEASES, json=payload).status_code == 403
    assert stack.client("staff", "ws-x").get(RELEASES).status_code == 403
    assert stack.client().get(RELEASES).status_code == 401
    assert stack.client("engineer").get(f"{RELEASES}/9999.0.0").status_code == 404
    assert refusal(stack.client("engineer").get(RELEASES, params={"cursor": "zz"}), 400)
