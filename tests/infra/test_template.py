"""The merge template on its own: the tables are durable and encrypted, and IAM covers every resource."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = json.loads((ROOT / "infra" / "template.json").read_text())
RESOURCES = TEMPLATE["Resources"]


def of_type(kind: str) -> list[str]:
    return [name for name, r in RESOURCES.items() if r["Type"] == kind]


def test_every_table_has_point_in_time_recovery_and_encryption_and_on_demand_billing():
    for name in of_type("AWS::DynamoDB::Table"):
        props = RESOURCES[name]["Properties"]
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        assert props["SSESpecification"]["SSEEnabled"] is True, name
        assert props["BillingMode"] == "PAY_PER_REQUEST", name


def test_every_resource_the_functions_use_is_in_the_access_policy():
    statements = RESOURCES["AppAccessPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    text = json.dumps(statements)
    for name in of_type("AWS::DynamoDB::Table") + of_type("AWS::SNS::Topic") + of_type("AWS::SQS::Queue"):
        assert f'"{name}' in text, f"{name} is not covered by AppAccessPolicy"


def test_every_environment_reference_names_a_template_resource():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    for var, value in variables.items():
        if isinstance(value, dict) and "Ref" in value:
            assert value["Ref"] in RESOURCES or value["Ref"] in TEMPLATE.get("Parameters", {}), var


def test_the_slack_webhook_is_read_from_a_secret_never_written_into_the_template():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert "SLACK_WEBHOOK_URL" not in variables
    assert variables["SLACK_WEBHOOK_SECRET_ARN"] == {"Ref": "SlackWebhookSecretArn"}
    assert "hooks.slack.com" not in json.dumps(TEMPLATE)
    statements = RESOURCES["AppAccessPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    secret = [s["Fn::If"][1] for s in statements if "Fn::If" in s]
    assert secret == [
        {
            "Sid": "SlackWebhookSecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": {"Ref": "SlackWebhookSecretArn"},
        }
    ]


def test_each_severity_route_has_its_own_encrypted_topic_named_for_the_sns_handlers():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    # The CloudWatch alarms publish to the paging and warning topics: those need a key whose policy
    # can grant CloudWatch (AlertsTopicKey); the AWS managed SNS key cannot.
    for var, topic, suffix, key in (
        ("ALERTS_PAGING_TOPIC_ARN", "AlertsPagingTopic", "paging", {"Ref": "AlertsTopicKey"}),
        ("ALERTS_WARNING_TOPIC_ARN", "AlertsWarningTopic", "warning", {"Ref": "AlertsTopicKey"}),
        ("ALERTS_DIGEST_TOPIC_ARN", "AlertsDigestTopic", "digest", "alias/aws/sns"),
    ):
        assert variables[var] == {"Ref": topic}
        props = RESOURCES[topic]["Properties"]
        assert props["KmsMasterKeyId"] == key
        # The name app.py's @app.on_sns_message handlers subscribe to (Settings.alerts_*_topic).
        assert props["TopicName"] == {"Fn::Sub": "${AWS::StackName}-alerts-" + suffix}


def test_stateful_tables_survive_stack_deletion():
    for name in (
        "FeedbackTable",
        "RollupsTable",
        "IssuesTable",
        "HealthTable",
        "AlertsTable",
        "SilencesTable",
        "ReleasesTable",
    ):
        assert RESOURCES[name]["DeletionPolicy"] == "Retain"
