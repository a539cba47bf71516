"""CloudWatch alarm state changes, published to the alert topics on the moto server, read back
through an SQS queue subscribed to the topic (as the dev stack delivers SNS to the handlers), and
handed to the alarm handler: they become the same alert records the evaluator writes.

Each test watches an API name of its own, so tests sharing the session's table do not meet."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.alerts import engine, rules
from chalicelib.alerts.model import Condition, fingerprint
from chalicelib.store import alerts as store
from postlaunch.devstack import LambdaContext, load_app, sns_event

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(stack):
    return stack.settings()


@pytest.fixture
def api() -> str:
    return f"api-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def app_module():
    return load_app()


class Topic:
    """An SQS queue subscribed to one of the alert topics on the moto server; `deliver()` reads back
    what arrived and hands each notification, in the SNS event shape, to the app's handler for that
    topic (as the dev stack's SNS bridge does), returning the alert records it touched."""

    def __init__(self, stack, logical_id: str, handler) -> None:
        self.sqs, self.sns = stack.aws_client("sqs"), stack.aws_client("sns")
        self.topic = stack.physical[logical_id]
        self.handler = handler
        self.url = self.sqs.create_queue(QueueName=f"alarm-test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]
        self.subscription = self.sns.subscribe(
            TopicArn=self.topic, Protocol="sqs", Endpoint=arn["QueueArn"], ReturnSubscriptionArn=True
        )["SubscriptionArn"]

    def publish(self, message: dict) -> None:
        # As CloudWatch does: the alarm's JSON as the Message, "<STATE>: <name> ..." as the Subject.
        subject = f'{message["NewStateValue"]}: "{message["AlarmName"]}" in US East (N. Virginia)'
        self.sns.publish(TopicArn=self.topic, Subject=subject[:100], Message=json.dumps(message))

    def deliver(self) -> list[dict | None]:
        touched = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                assert touched, "nothing arrived on the queue"
                return touched
            for m in batch:
                event = sns_event(json.loads(m["Body"]), self.subscription)
                result = self.handler(event, LambdaContext("test-alarms"))
                touched.append(store.get(result["alertId"]) if result["alertId"] else None)
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])

    def close(self) -> None:
        self.sns.unsubscribe(SubscriptionArn=self.subscription)
        self.sqs.delete_queue(QueueUrl=self.url)


@pytest.fixture
def paging(stack, app_module):
    topic = Topic(stack, "AlertsPagingTopic", app_module.notify_slack_paging)
    yield topic
    topic.close()


@pytest.fixture
def warning(stack, app_module):
    topic = Topic(stack, "AlertsWarningTopic", app_module.notify_slack_warning)
    yield topic
    topic.close()


def alarm_message(
    api: str, state: str, at: datetime, reason: str | None = None, rule: str = "HighErrorRate"
) -> dict:
    """The JSON CloudWatch publishes for a state change of our HighErrorRate alarm (metric math)."""
    described = {
        "rule": rule,
        "severity": "critical",
        "labels": {"api": api},
        "summary": "API 5xx rate above 10 %",
    }
    return {
        "AlarmName": f"plm-prod-{rule}",
        "AlarmDescription": json.dumps(described),
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2026-03-01T08:00:00.000+0000",
        "NewStateValue": state,
        "NewStateReason": reason
        or (
            "Threshold Crossed: 2 out of the last 2 datapoints [12.5 (02/03/26 09:00:00), 11.0 "
            "(02/03/26 08:59:00)] were greater than the threshold (10.0) (minimum 2 datapoints "
            "for OK -> ALARM transition)."
        ),
        "StateChangeTime": at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:plm-prod-{rule}",
        "OldStateValue": "OK" if state == "ALARM" else "ALARM",
        "OKActions": [],
        "AlarmActions": [],
        "InsufficientDataActions": [],
        "Trigger": {
            "Metrics": [
                {
                    "Id": "errorRate",
                    "Expression": "100 * errors / requests",
                    "Label": "5xx rate (%)",
                    "ReturnData": True,
                }
            ],
            "Period": 60,
            "EvaluationPeriods": 2,
            "DatapointsToAlarm": 2,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 10.0,
            "TreatMissingData": "notBreaching",
        },
    }


def test_an_alarm_state_change_published_to_sns_becomes_one_alert_record(paging, settings, api):
    # Given CloudWatch publishing HighErrorRate going to ALARM, and the same state again later
    paging.publish(alarm_message(api, "ALARM", T0))
    paging.publish(alarm_message(api, "ALARM", T0 + timedelta(minutes=3)))

    # When the messages read back from the subscribed queue are handed over
    first, second = paging.deliver()

    # Then there is one alert record for the condition, counted twice, from the alarm's own data
    assert first["id"] == second["id"]
    alert = store.get_active(fingerprint("HighErrorRate", {"api": api}))
    assert alert["id"] == first["id"] and alert["count"] == 2
    assert (alert["rule"], alert["severity"], alert["source"]) == (
        "HighErrorRate",
        "critical",
        "cloudwatch-alarm",
    )
    assert alert["labels"] == {"api": api}
    assert (alert["value"], alert["threshold"]) == (12.5, 10.0)
    assert alert["firstSeen"] == "2026-03-02T09:00:00.000000Z"  # the alarm's StateChangeTime
    assert alert["lastSeen"] == "2026-03-02T09:03:00.000000Z"
    assert alert["deadline"] == "2026-03-02T09:15:00.000000Z"  # critical: 15 minutes
    assert "plm-prod-HighErrorRate" in alert["summary"] and alert["state"] == "firing"


def test_alarm_then_ok_resolves_the_alert(paging, settings, api):
    # Given the alarm fired
    paging.publish(alarm_message(api, "ALARM", T0))
    [fired] = paging.deliver()

    # When it goes back to OK five minutes later
    paging.publish(
        alarm_message(
            api, "OK", T0 + timedelta(minutes=5), reason="Threshold Crossed: no datapoints were breaching"
        )
    )
    [resolved] = paging.deliver()

    # Then the same alert is resolved as cleared at the alarm's time, and nothing is active
    assert resolved["id"] == fired["id"]
    alert = store.get(fired["id"])
    assert alert["state"] == "resolved" and alert["resolution"] == engine.CONDITION_CLEARED
    assert alert["resolvedBy"] == "cloudwatch-alarm"
    assert alert["resolvedAt"] == "2026-03-02T09:05:00.000000Z"
    assert store.get_active(fingerprint("HighErrorRate", {"api": api})) is None

    # ... and firing again afterwards is a new occurrence
    paging.publish(alarm_message(api, "ALARM", T0 + timedelta(minutes=30)))
    [again] = paging.deliver()
    assert again["id"] != fired["id"] and again["count"] == 1


def put_error_minutes(stack, api: str, now: datetime, counts: list[int], errors: list[int]) -> None:
    """5XXError and Count datapoints for the minutes before `now`, newest first, as API Gateway would."""
    end = now.replace(second=0, microsecond=0)
    data = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": "ApiName", "Value": api}],
            "Timestamp": end - timedelta(minutes=i + 1) + timedelta(seconds=10),
            "Value": float(v),
            "Unit": "Count",
        }
        for metric, values in (("Count", counts), ("5XXError", errors))
        for i, v in enumerate(values)
    ]
    stack.aws_client("cloudwatch").put_metric_data(Namespace="AWS/ApiGateway", MetricData=data)


def evaluate_error_rate(settings, api: str, now: datetime) -> dict:
    """The scheduled evaluation's HighErrorRate rule over the CloudWatch data of `api`, applied."""
    watching = settings.model_copy(update={"health_api_name": api})
    judged = rules.evaluate(now, watching, rules={"HighErrorRate"})
    assert judged.evaluated == {"HighErrorRate"}, judged.not_evaluated
    return engine.apply_evaluation(judged.conditions, judged.evaluated, now, watching)


def test_the_evaluator_and_the_alarm_seeing_one_condition_make_one_alert(stack, paging, settings, api):
    # Given 20 % and 15 % 5xx answers in the last two minutes of the API, in CloudWatch
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    put_error_minutes(stack, api, now, counts=[100, 200], errors=[20, 30])
    # ... and the evaluator's HighErrorRate rule saw it
    evaluated = evaluate_error_rate(settings, api, now)
    assert evaluated["new"] == 1

    # When the alarm on the same API goes to ALARM a few seconds later
    paging.publish(alarm_message(api, "ALARM", now + timedelta(seconds=20)))
    [from_alarm] = paging.deliver()

    # Then both are one alert, counted twice, and it is the only active one of that API
    assert from_alarm["id"] == evaluated["alerts"][0]["id"]
    assert store.get(from_alarm["id"])["count"] == 2
    active = [a for a in store.active_alerts(settings) if a["labels"].get("api") == api]
    assert [a["id"] for a in active] == [from_alarm["id"]]


def test_the_alarm_first_then_the_evaluator_is_still_one_alert(stack, paging, settings, api):
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    # Given the alarm fired first
    paging.publish(alarm_message(api, "ALARM", now - timedelta(seconds=20)))
    [from_alarm] = paging.deliver()
    # When the evaluator then sees the same condition in CloudWatch
    put_error_minutes(stack, api, now, counts=[50, 40], errors=[10, 8])
    evaluated = evaluate_error_rate(settings, api, now)
    # Then it counts a sighting of the alarm's alert instead of opening another
    assert evaluated["new"] == 0 and evaluated["alerts"][0]["id"] == from_alarm["id"]
    alert = store.get(from_alarm["id"])
    assert alert["count"] == 2 and alert["value"] == 20.0  # the evaluator's newest minute


def test_a_late_ok_does_not_resolve_a_condition_seen_since(paging, settings, api):
    paging.publish(alarm_message(api, "ALARM", T0))
    [fired] = paging.deliver()
    # Given the evaluator still saw the condition at 09:06
    seen = Condition("HighErrorRate", "critical", "5xx rate 11 %", {"api": api}, 11.0, 10.0)
    engine.apply_evaluation([seen], {"HighErrorRate"}, T0 + timedelta(minutes=6), settings)

    # When an OK stamped 09:05 arrives after that
    paging.publish(alarm_message(api, "OK", T0 + timedelta(minutes=5), reason="no datapoints were breaching"))
    [outcome] = paging.deliver()

    # Then the alert stays active
    assert outcome is None
    assert store.get(fired["id"])["state"] == "firing"


def test_insufficient_data_changes_nothing(paging, settings, api):
    paging.publish(alarm_message(api, "ALARM", T0))
    [fired] = paging.deliver()
    paging.publish(
        alarm_message(api, "INSUFFICIENT_DATA", T0 + timedelta(minutes=2), reason="Insufficient Data")
    )
    [outcome] = paging.deliver()
    assert outcome is None
    after = store.get(fired["id"])
    assert (after["state"], after["count"], after["version"]) == ("firing", 1, fired["version"])


def test_an_alarm_that_is_not_ours_still_becomes_an_alert(paging, settings):
    # Given someone else's alarm, with a plain-text description, pointed at the paging topic
    name = f"other-team-{uuid.uuid4().hex[:8]}"
    message = {**alarm_message("x", "ALARM", T0), "AlarmName": name, "AlarmDescription": "Queue depth high"}
    paging.publish(message)
    [alert] = paging.deliver()
    # Then it is recorded under the catch-all rule, labelled with the alarm's name
    assert (alert["rule"], alert["severity"], alert["labels"]) == (
        "CloudWatchAlarm",
        "error",
        {"alarm": name},
    )
    assert alert["value"] == 12.5 and alert["threshold"] == 10.0


def test_the_slow_response_alarm_on_the_warning_topic_becomes_a_warning_alert(warning, settings, api):
    # Given SlowAPIResponse going to ALARM on the warning topic, p95 quoted in the reason
    described = {
        "rule": "SlowAPIResponse",
        "severity": "warning",
        "labels": {"api": api},
        "summary": "p95 slow",
    }
    message = {
        **alarm_message(
            api, "ALARM", T0, reason="5 out of the last 5 datapoints [812.0 (02/03/26 09:00:00)]"
        ),
        "AlarmName": "plm-prod-SlowAPIResponse",
        "AlarmDescription": json.dumps(described),
        "Trigger": {
            "MetricName": "Latency",
            "Namespace": "AWS/ApiGateway",
            "ExtendedStatistic": "p95",
            "Threshold": 500.0,
            "Dimensions": [{"name": "ApiName", "value": api}],
        },
    }
    warning.publish(message)
    # When the warning topic's handler takes it
    [alert] = warning.deliver()
    # Then it is a warning alert with the 8-hour deadline, the p95 and the threshold
    assert (alert["rule"], alert["severity"], alert["labels"]) == ("SlowAPIResponse", "warning", {"api": api})
    assert (alert["value"], alert["threshold"]) == (812.0, 500.0)
    assert alert["deadline"] == "2026-03-02T17:00:00.000000Z"
