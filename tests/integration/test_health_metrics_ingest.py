"""POST /api/monitoring/metrics over HTTP: validated, bounded, written to CloudWatch, idempotent.

Each test writes under its own WorkspaceId dimension and reads back with that dimension, so tests
sharing the session's moto CloudWatch do not see each other's datums.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

METRICS = "/api/monitoring/metrics"


def cloudwatch(stack):
    return stack.aws_client("cloudwatch")


def stored(stack, workspace: str, name: str, start: datetime, end: datetime) -> tuple[float, float]:
    """(Sum, SampleCount) of one metric of one workspace in [start, end)."""
    results = cloudwatch(stack).get_metric_data(
        MetricDataQueries=[
            {
                "Id": f"q{stat.lower()}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "PatientEngagement",
                        "MetricName": name,
                        "Dimensions": [{"Name": "WorkspaceId", "Value": workspace}],
                    },
                    "Period": int((end - start).total_seconds()),
                    "Stat": stat,
                },
            }
            for stat in ("Sum", "SampleCount")
        ],
        StartTime=start,
        EndTime=end,
    )["MetricDataResults"]
    by_id = {r["Id"]: sum(r["Values"]) for r in results}
    return by_id["qsum"], by_id["qsamplecount"]


def window(now: datetime) -> tuple[datetime, datetime]:
    return now.replace(microsecond=0) - timedelta(hours=1), now.replace(microsecond=0) + timedelta(minutes=5)


def test_engineer_pushes_a_batch_that_lands_in_cloudwatch(stack, workspace):
    now = datetime.now(UTC)
    stamp = (now - timedelta(minutes=10)).isoformat()
    batch = {
        "metrics": [
            {"name": "AppointmentsCreated", "value": 4, "timestamp": stamp, "workspaceId": workspace},
            {"name": "AppointmentsCreated", "value": 3, "timestamp": stamp, "workspaceId": workspace},
            {"name": "DailyActiveUsers", "value": 17.0, "workspaceId": workspace},
        ]
    }
    response = stack.client("engineer").post(METRICS, json=batch)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["written"], body["namespace"], body["calls"]) == (3, "PatientEngagement", 1)
    assert response.headers["Idempotent-Replayed"] == "false"
    assert stored(stack, workspace, "AppointmentsCreated", *window(now)) == (7.0, 2.0)
    assert stored(stack, workspace, "DailyActiveUsers", *window(now)) == (17.0, 1.0)


def test_each_bad_field_is_named_and_nothing_is_written(stack, workspace):
    now = datetime.now(UTC)
    good = {"name": "RemindersSent", "value": 1, "workspaceId": workspace}
    batch = {
        "metrics": [
            good,
            {**good, "value": -1},
            {**good, "timestamp": (now - timedelta(days=15)).isoformat()},
            {**good, "name": "CpuUsage"},
            {**good, "value": "12"},
            {**good, "workspaceId": "has spaces"},
            {**good, "colour": "blue"},
            {**good, "timestamp": (now + timedelta(hours=3)).isoformat()},
        ]
    }
    response = stack.client("engineer").post(METRICS, json=batch)
    assert response.status_code == 400, response.text
    fields = {f["field"] for f in response.json()["error"]["fields"]}
    # Shape errors come first (pydantic); the timestamp range is checked once the shape is right.
    assert fields == {"metrics.1.value", "metrics.3.name", "metrics.4.value", "metrics.5.workspaceId"} | {
        "metrics.6.colour"
    }
    assert stored(stack, workspace, "RemindersSent", *window(now)) == (0, 0)

    stale = {"metrics": [good, {**good, "timestamp": (now - timedelta(days=15)).isoformat()}]}
    response = stack.client("engineer").post(METRICS, json=stale)
    assert response.status_code == 400
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["metrics.1.timestamp"]
    ahead = {"metrics": [{**good, "timestamp": (now + timedelta(hours=3)).isoformat()}]}
    response = stack.client("engineer").post(METRICS, json=ahead)
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["metrics.0.timestamp"]
    assert stored(stack, workspace, "RemindersSent", *window(now)) == (0, 0)


def test_batch_size_is_bounded_at_100(stack, workspace):
    one = {"name": "NoShows", "value": 0, "workspaceId": workspace}
    api = stack.client("ingest")
    response = api.post(METRICS, json={"metrics": [one] * 101})
    assert response.status_code == 400
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["metrics"]
    assert api.post(METRICS, json={"metrics": []}).status_code == 400
    assert api.post(METRICS, json={"metrics": [one] * 100}).status_code == 200


def test_nan_and_infinity_are_refused(stack, workspace):
    raw = '{"metrics": [{"name": "NoShows", "value": NaN}, {"name": "NoShows", "value": Infinity}]}'
    response = stack.client("engineer").post(METRICS, data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert {f["field"] for f in response.json()["error"]["fields"]} == {"metrics.0.value", "metrics.1.value"}


def test_roles_and_workspace_scope(stack, workspace):
    batch = {"metrics": [{"name": "FollowUpsDue", "value": 2, "workspaceId": workspace}]}
    assert stack.client().post(METRICS, json=batch).status_code == 401
    assert stack.client("staff", workspace).post(METRICS, json=batch).status_code == 403
    # An ingest token of one workspace may report that workspace, not another one or the aggregate.
    scoped = stack.client("ingest", workspace)
    assert scoped.post(METRICS, json=batch).status_code == 200
    other = {"metrics": [{"name": "FollowUpsDue", "value": 2, "workspaceId": "ws-someone-else"}]}
    assert scoped.post(METRICS, json=other).status_code == 403
    aggregate = {"metrics": [{"name": "FollowUpsDue", "value": 2}]}
    response = scoped.post(METRICS, json=aggregate)
    assert response.status_code == 403 and "metrics.0.workspaceId" in response.json()["error"]["message"]


def test_an_idempotency_key_makes_a_retry_write_nothing_twice(stack, workspace):
    now = datetime.now(UTC)
    api = stack.client("ingest", sub=f"producer-{uuid.uuid4().hex[:6]}")
    key = str(uuid.uuid4())
    batch = {"metrics": [{"name": "PatientPortalSessions", "value": 5, "workspaceId": workspace}]}
    first = api.post(METRICS, json=batch, headers={"Idempotency-Key": key})
    again = api.post(METRICS, json=batch, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert stored(stack, workspace, "PatientPortalSessions", *window(now)) == (5.0, 1.0)

    changed = {"metrics": [{"name": "PatientPortalSessions", "value": 6, "workspaceId": workspace}]}
    reused = api.post(METRICS, json=changed, headers={"Idempotency-Key": key})
    assert reused.status_code == 422
    assert reused.json()["error"]["fields"][0]["field"] == "Idempotency-Key"
