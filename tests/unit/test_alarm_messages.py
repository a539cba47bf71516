"""Reading CloudWatch's alarm notifications: which SNS messages are alarms, the datapoint quoted in
the reason, the state change time, and the alert condition an alarm stands for."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chalicelib.alerts import alarms


def test_alarm_messages_are_told_from_our_own_group_messages():
    assert alarms.is_alarm_message({"AlarmName": "x-HighErrorRate", "NewStateValue": "ALARM"})
    assert not alarms.is_alarm_message({"rule": "HighErrorRate", "alerts": []})
    assert not alarms.is_alarm_message({"AlarmName": "x"})
    assert not alarms.is_alarm_message("ALARM")


def test_the_newest_datapoint_is_read_from_the_reason():
    reason = (
        "Threshold Crossed: 5 out of the last 5 datapoints [812.25 (27/11/26 04:38:00), 640.0 "
        "(27/11/26 04:37:00)] were greater than the threshold (500.0)"
    )
    assert alarms.newest_datapoint(reason) == 812.25
    assert alarms.newest_datapoint("Threshold Crossed: [1.5E-1 (27/11/26 04:38:00)]") == 0.15
    assert alarms.newest_datapoint("Insufficient Data: 1 datapoint was unknown.") is None
    assert alarms.newest_datapoint(None) is None


def test_state_change_time_is_utc_with_or_without_milliseconds():
    at = datetime(2026, 11, 27, 4, 38, 0, 123000, tzinfo=UTC)
    assert alarms.state_change_time({"StateChangeTime": "2026-11-27T04:38:00.123+0000"}) == at
    assert alarms.state_change_time({"StateChangeTime": "2026-11-27T06:38:00+0200"}) == at.replace(
        microsecond=0
    )
    assert alarms.state_change_time({"StateChangeTime": "yesterday"}) is None


def test_our_alarm_description_gives_rule_severity_and_labels():
    message = {
        "AlarmName": "plm-prod-SlowAPIResponse",
        "NewStateValue": "ALARM",
        "AlarmDescription": json.dumps(
            {"rule": "SlowAPIResponse", "severity": "warning", "labels": {"api": "pe"}, "summary": "p95 slow"}
        ),
        "NewStateReason": "[640.5 (27/11/26 04:38:00)]",
        "Trigger": {"Threshold": 500.0},
    }
    seen = alarms.condition(message)
    assert (seen.rule, seen.severity, seen.labels, seen.source) == (
        "SlowAPIResponse",
        "warning",
        {"api": "pe"},
        "cloudwatch-alarm",
    )
    assert (seen.value, seen.threshold) == (640.5, 500.0)


def test_a_description_that_is_not_ours_makes_the_catch_all_rule():
    for description in ("plain words", json.dumps({"rule": "lowercase", "severity": "warning"}), None):
        seen = alarms.condition(
            {"AlarmName": "theirs", "NewStateValue": "ALARM", "AlarmDescription": description}
        )
        assert (seen.rule, seen.severity, seen.labels) == ("CloudWatchAlarm", "error", {"alarm": "theirs"})
