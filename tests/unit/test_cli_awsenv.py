"""How the CLI finds its resources: variables from the environment win, the rest come from the stack
through the template's Globals mapping (the same mapping the local provisioner uses)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from postlaunch.awsenv import (
    AwsEnvError,
    env_from_resources,
    resolve_env,
    template_variables,
)
from postlaunch.localstack import load_template, local_template

TEMPLATE = {
    "Globals": {
        "Function": {
            "Environment": {
                "Variables": {
                    "FEEDBACK_TABLE": {"Ref": "FeedbackTable"},
                    "ALERTS_TOPIC_ARN": {"Ref": "AlertsTopic"},
                    "LOG_LEVEL": "INFO",
                }
            }
        }
    }
}


def test_refs_become_physical_ids_and_literals_stay():
    env = env_from_resources(
        template_variables(TEMPLATE),
        {"FeedbackTable": "stack-FeedbackTable-ABC", "AlertsTopic": "arn:aws:sns:us-east-1:1:t"},
    )
    assert env == {
        "FEEDBACK_TABLE": "stack-FeedbackTable-ABC",
        "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:1:t",
        "LOG_LEVEL": "INFO",
    }


def test_a_resource_missing_from_the_stack_is_left_out():
    env = env_from_resources(template_variables(TEMPLATE), {"FeedbackTable": "t"})
    assert "ALERTS_TOPIC_ARN" not in env


def test_the_real_template_maps_every_variable():
    variables = template_variables()
    assert "FEEDBACK_TABLE" in variables
    template = load_template()
    known = set(template["Resources"]) | set(template.get("Parameters", {}))
    for var, value in variables.items():
        if isinstance(value, dict):
            assert value.get("Ref") in known, f"{var} refers to a resource or parameter the template lacks"


def test_a_parameter_reference_takes_the_stack_value_or_the_default():
    variables = {"SLACK_WEBHOOK_SECRET_ARN": {"Ref": "SlackWebhookSecretArn"}}

    assert env_from_resources(variables, {}, {"SlackWebhookSecretArn": ""}) == {
        "SLACK_WEBHOOK_SECRET_ARN": ""
    }
    assert env_from_resources(variables, {}, {"SlackWebhookSecretArn": "arn:s"}) == {
        "SLACK_WEBHOOK_SECRET_ARN": "arn:s"
    }
    assert env_from_resources(variables, {}) == {}


def test_environment_wins_without_asking_cloudformation():
    environ = {"FEEDBACK_TABLE": "t1", "ALERTS_TOPIC_ARN": "arn:x", "LOG_LEVEL": "DEBUG"}

    resolved = resolve_env(environ, template=TEMPLATE, cfn_client=object())  # any call would fail

    assert resolved.env == environ and resolved.from_stack == []


@mock_aws
def test_missing_variables_come_from_the_named_stack():
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    body = local_template(load_template())
    cfn.create_stack(StackName="plm-test", TemplateBody=json.dumps(body))
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName="plm-test")["StackResources"]
    }

    resolved = resolve_env({"FEEDBACK_TABLE": "mine"}, stack_name="plm-test", cfn_client=cfn)

    assert resolved.env["FEEDBACK_TABLE"] == "mine"  # set by the caller: kept
    assert resolved.env["IDEMPOTENCY_TABLE"] == physical["IdempotencyTable"]
    assert resolved.env["ALERTS_TOPIC_ARN"].startswith("arn:aws:sns:")
    assert "FEEDBACK_TABLE" not in resolved.from_stack and "IDEMPOTENCY_TABLE" in resolved.from_stack
    assert resolved.stack_name == "plm-test"


@mock_aws
def test_a_missing_stack_says_what_to_do():
    cfn = boto3.client("cloudformation", region_name="us-east-1")

    with pytest.raises(AwsEnvError, match="make run"):
        resolve_env({}, stack_name="nope", cfn_client=cfn)


@mock_aws
def test_stack_name_comes_from_plm_stack():
    cfn = boto3.client("cloudformation", region_name="us-east-1")

    with pytest.raises(AwsEnvError, match="'from-env'"):
        resolve_env({"PLM_STACK": "from-env"}, cfn_client=cfn)
