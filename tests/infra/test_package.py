"""The deployable artefact as `make package` builds it (postlaunch.package: infra/template.json with
the state machine's ASL file inlined, then `chalice package --merge-template`), linted by cfn-lint.

Slow (it builds the Lambda bundle from requirements.txt with manylinux wheels), so marked; `make test`
runs it, `make test-fast` skips it. The `packaged` fixture (tests/conftest.py) builds it once per
session; tests/unit/test_package_bundle.py checks the bundle's contents.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_packaged_template_passes_cfn_lint(packaged):
    result = subprocess.run(
        [str(BIN / "cfn-lint"), str(packaged / "sam.json")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_packaged_template_wires_resources_into_every_function(packaged):
    template = json.loads((packaged / "sam.json").read_text())
    resources = template["Resources"]
    functions = [name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    assert "APIHandler" in functions
    # Every function gets the resource names through Globals, and runs under the role our policy is on.
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["FEEDBACK_TABLE"] == {"Ref": "FeedbackTable"}
    for name in functions:
        assert resources[name]["Properties"]["Role"] == {"Fn::GetAtt": ["DefaultRole", "Arn"]}, name
    assert resources["AppAccessPolicy"]["Properties"]["Roles"] == [{"Ref": "DefaultRole"}]


@pytest.mark.slow
def test_bundle_holds_only_what_requirements_txt_names(packaged):
    import zipfile

    names = zipfile.ZipFile(packaged / "deployment.zip").namelist()
    top = {n.split("/")[0] for n in names}
    assert "app.py" in top and "chalicelib" in top
    # (Chalice adds its own small runtime package to every bundle; boto3 and botocore are the Lambda
    # runtime's: tests/unit/test_package_bundle.py.)
    assert not {"moto", "pytest", "postlaunch", "tests", "rich", "click", "awscli"} & top
    assert {"pynamodb", "pydantic", "jwt", "aws_lambda_powertools"} <= top
    assert "snowballstemmer" in top  # the Phase 2 plan groups titles by word stems


@pytest.mark.slow
def test_bundle_ships_the_built_dashboard(packaged):
    # The page works with no internet: its script and stylesheet are in the Lambda bundle
    import zipfile

    names = set(zipfile.ZipFile(packaged / "deployment.zip").namelist())
    built = {f"chalicelib/static/dashboard/{name}" for name in ("index.html", "app.js", "app.css")}
    assert built <= names, sorted(n for n in names if "static" in n)


def _alarm(resources: dict, name: str) -> tuple[dict, dict]:
    props = resources[name]["Properties"]
    assert resources[name]["Type"] == "AWS::CloudWatch::Alarm", name
    return props, json.loads(props["AlarmDescription"])


@pytest.mark.slow
def test_packaged_template_holds_the_seeds_two_prometheus_rules_as_alarms(packaged):
    from chalicelib.config import Settings

    template = json.loads((packaged / "sam.json").read_text())
    resources = template["Resources"]
    # The API the alarms watch is the one Chalice creates (named after the app, as the health
    # evaluator's default HEALTH_API_NAME is), so the alarm and the evaluator label one API alike.
    api_name = resources["RestAPI"]["Properties"]["DefinitionBody"]["info"]["title"]
    assert api_name == Settings().health_api_name
    api = [{"Name": "ApiName", "Value": api_name}]

    # HighErrorRate: 5xx / requests over 1-minute periods, above 10 % in 2 of 2 datapoints, paging.
    props, described = _alarm(resources, "HighErrorRateAlarm")
    assert described == {
        "rule": "HighErrorRate",
        "severity": "critical",
        "labels": {"api": api_name},
        "summary": described["summary"],
    }
    stats = {m["Id"]: m["MetricStat"] for m in props["Metrics"] if "MetricStat" in m}
    assert {s["Metric"]["MetricName"] for s in stats.values()} == {"5XXError", "Count"}
    for stat in stats.values():
        assert stat["Metric"]["Namespace"] == "AWS/ApiGateway" and stat["Metric"]["Dimensions"] == api
        assert (stat["Period"], stat["Stat"]) == (60, "Sum")
    [rate] = [m for m in props["Metrics"] if m.get("ReturnData")]
    assert rate["Expression"] == "100 * errors / requests"
    assert stats["errors"]["Metric"]["MetricName"] == "5XXError"
    assert stats["requests"]["Metric"]["MetricName"] == "Count"
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 10)
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (2, 2)
    assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "AlertsPagingTopic"}]

    # SlowAPIResponse: p95 latency over 1-minute periods, above 500 ms in 5 of 5 datapoints, warning.
    props, described = _alarm(resources, "SlowAPIResponseAlarm")
    assert (described["rule"], described["severity"], described["labels"]) == (
        "SlowAPIResponse",
        "warning",
        {"api": api_name},
    )
    assert (props["Namespace"], props["MetricName"], props["Dimensions"]) == (
        "AWS/ApiGateway",
        "Latency",
        api,
    )
    assert (props["ExtendedStatistic"], props["Period"]) == ("p95", 60)
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 500)
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (5, 5)
    assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "AlertsWarningTopic"}]

    # CloudWatch can only publish to those topics if their key lets it (not the AWS managed SNS key).
    for topic in ("AlertsPagingTopic", "AlertsWarningTopic"):
        assert resources[topic]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertsTopicKey"}
    grants = resources["AlertsTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(
        g["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and "kms:GenerateDataKey*" in g["Action"]
        for g in grants
    )


@pytest.mark.slow
def test_each_slack_notifier_is_subscribed_to_its_severity_topic(packaged):
    template = json.loads((packaged / "sam.json").read_text())
    resources = template["Resources"]
    for function, topic in (
        ("NotifySlackPaging", "AlertsPagingTopic"),
        ("NotifySlackWarning", "AlertsWarningTopic"),
        ("NotifySlackDigest", "AlertsDigestTopic"),
    ):
        # Chalice writes the topic name of app.py's @app.on_sns_message into an ARN; its
        # ${AWS::StackName} resolves to the TopicName the merge template gives the topic.
        [event] = resources[function]["Properties"]["Events"].values()
        arn = event["Properties"]["Topic"]["Fn::Sub"]
        name = resources[topic]["Properties"]["TopicName"]["Fn::Sub"]
        assert arn == "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:" + name
        # A subscription by name has no dependency of its own; the function's (and so the
        # subscription's) comes from the topic ARN every function gets in Globals.
        assert {"Ref": topic} in template["Globals"]["Function"]["Environment"]["Variables"].values()
        assert resources[function]["Properties"]["Handler"] == "app.notify_slack_" + function[11:].lower()


# ---- releases: machine
@pytest.mark.slow
def test_the_packaged_state_machine_is_the_asl_file_with_the_gate_queue_substituted(packaged):
    template = json.loads((packaged / "sam.json").read_text())
    machine = template["Resources"]["ReleaseRolloutStateMachine"]["Properties"]
    # The definition is the file's, whole (cfn-lint above checked it with the rest of the template)
    assert machine["Definition"] == json.loads((ROOT / "infra" / "release-rollout.asl.json").read_text())
    assert machine["DefinitionSubstitutions"] == {"GateQueueUrl": {"Ref": "ReleaseGateQueue"}}
    # And the release worker is wired to the gate queue the machine sends to, one message at a time
    [event] = template["Resources"]["ReleaseWorker"]["Properties"]["Events"].values()
    assert event["Type"] == "SQS" and event["Properties"]["BatchSize"] == 1
    queue_name = template["Resources"]["ReleaseGateQueue"]["Properties"]["QueueName"]["Fn::Sub"]
    assert event["Properties"]["Queue"] == {
        "Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:" + queue_name
    }
    # A queue named in an Fn::Sub brings no dependency: the mapping (made with the function) waits for
    # the queue because every function gets its URL in Globals, as the SNS subscriptions do for topics
    assert {"Ref": "ReleaseGateQueue"} in template["Globals"]["Function"]["Environment"]["Variables"].values()
    # The queue outlives a slow worker: visibility at least the function's timeout
    timeout = template["Resources"]["ReleaseWorker"]["Properties"].get("Timeout", 60)
    assert template["Resources"]["ReleaseGateQueue"]["Properties"]["VisibilityTimeout"] >= timeout


def test_the_packager_inlines_each_state_machine_file_and_leaves_the_source_alone():
    from postlaunch.package import inline_definitions

    source = json.loads((ROOT / "infra" / "template.json").read_text())
    merged = inline_definitions(source)
    machine = merged["Resources"]["ReleaseRolloutStateMachine"]
    assert machine["Properties"]["Definition"]["StartAt"] == "Validate"
    assert "DefinitionFile" not in machine.get("Metadata", {})
    assert "Definition" not in source["Resources"]["ReleaseRolloutStateMachine"]["Properties"]


# ---- performance: capacity
@pytest.mark.slow
def test_the_packaged_functions_get_the_memory_size_and_the_api_its_reserved_concurrency(packaged):
    template = json.loads((packaged / "sam.json").read_text())
    resources = template["Resources"]
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    functions = [name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    for name in functions:
        assert resources[name]["Properties"]["MemorySize"] == config["lambda_memory_size"], name
    # The merge template's partial APIHandler was merged into Chalice's, not put beside it.
    api = resources["APIHandler"]["Properties"]
    assert api["Handler"] == "app.app" and "CodeUri" in api
    assert api["ReservedConcurrentExecutions"]["Fn::If"][1] == {"Ref": "ApiReservedConcurrency"}
    assert template["Parameters"]["ApiReservedConcurrency"]["Default"] > 0
