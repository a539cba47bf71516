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


def dead_letter_queues() -> set[str]:
    """Queues that only receive what another queue gave up on (engineers read them, not the app)."""
    return {
        RESOURCES[name]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for name in of_type("AWS::SQS::Queue")
        if "RedrivePolicy" in RESOURCES[name]["Properties"]
    }


def test_every_resource_the_functions_use_is_in_the_access_policy():
    statements = RESOURCES["AppAccessPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    text = json.dumps(statements)
    queues = [q for q in of_type("AWS::SQS::Queue") if q not in dead_letter_queues()]
    for name in of_type("AWS::DynamoDB::Table") + of_type("AWS::SNS::Topic") + queues:
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


# ---- releases: machine
def test_the_rollout_state_machine_comes_from_one_asl_file_with_its_queue_substituted():
    machine = RESOURCES["ReleaseRolloutStateMachine"]
    # No copy of the ASL here: `make package` inlines the file (postlaunch/package.py).
    assert "Definition" not in machine["Properties"]
    path = ROOT / machine["Metadata"]["DefinitionFile"]
    asl = path.read_text()
    assert "${GateQueueUrl}" in asl
    assert machine["Properties"]["DefinitionSubstitutions"] == {"GateQueueUrl": {"Ref": "ReleaseGateQueue"}}
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["RELEASE_STATE_MACHINE_ARN"] == {"Ref": "ReleaseRolloutStateMachine"}


def test_the_gate_queue_is_encrypted_and_gives_up_on_a_message_after_five_receives_with_an_alarm():
    props = RESOURCES["ReleaseGateQueue"]["Properties"]
    assert props["SqsManagedSseEnabled"] is True
    assert props["RedrivePolicy"]["maxReceiveCount"] == 5
    dlq = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert RESOURCES[dlq]["Properties"]["SqsManagedSseEnabled"] is True
    alarm = RESOURCES["ReleaseGateDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["AlarmActions"] == [{"Ref": "AlertsPagingTopic"}]


def test_the_state_machine_role_may_send_to_the_queue_move_target_aliases_and_back_up_every_table():
    [policy] = RESOURCES["ReleaseRolloutRole"]["Properties"]["Policies"]
    by_sid = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert by_sid["GateQueue"]["Resource"] == {"Fn::GetAtt": ["ReleaseGateQueue", "Arn"]}
    assert set(by_sid["ReleaseTargetAliases"]["Action"]) == {"lambda:UpdateAlias", "lambda:GetAlias"}
    assert "${ReleaseTargetFunctions}" in json.dumps(by_sid["ReleaseTargetAliases"]["Resource"])
    backed_up = {r["Fn::GetAtt"][0] for r in by_sid["TableBackups"]["Resource"]}
    assert backed_up == set(of_type("AWS::DynamoDB::Table"))


# ---- performance: capacity (docs/performance.md)
CHALICE_CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
ACCOUNT_CONCURRENCY = 1000  # Lambda's default concurrency limit per account and region
UNRESERVED_MINIMUM = 100  # what AWS keeps unreserved for the functions without a reservation


def alarms() -> dict[str, dict]:
    return {name: RESOURCES[name]["Properties"] for name in of_type("AWS::CloudWatch::Alarm")}


def description(props: dict) -> str:
    described = props["AlarmDescription"]
    if isinstance(described, dict):  # an Fn::Sub naming the stack: the JSON must hold either way
        described = described["Fn::Sub"].replace("${AWS::StackName}", "plm")
    return described


def test_every_alarm_describes_itself_as_an_alert_the_alarm_handler_understands():
    from chalicelib.alerts.alarms import _described

    for name, props in alarms().items():
        assert _described({"AlarmName": name, "AlarmDescription": description(props)}) is not None, name


def test_the_api_function_reserves_a_parameterised_concurrency_that_leaves_the_account_its_minimum():
    parameter = TEMPLATE["Parameters"]["ApiReservedConcurrency"]
    assert parameter["Type"] == "Number" and parameter["MinValue"] == 0
    assert 0 < parameter["Default"] <= parameter["MaxValue"] <= ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM
    # Merged into the function Chalice generates (`chalice package --merge-template`); 0 means none.
    handler = RESOURCES["APIHandler"]
    assert handler["Type"] == "AWS::Serverless::Function"
    reserved = handler["Properties"]["ReservedConcurrentExecutions"]
    assert reserved == {
        "Fn::If": ["HasApiReservedConcurrency", {"Ref": "ApiReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    condition = TEMPLATE["Conditions"]["HasApiReservedConcurrency"]
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ApiReservedConcurrency"}, 0]}]}
    # Nothing else of Chalice's function is overridden here: code, handler, role stay Chalice's.
    assert set(handler["Properties"]) == {"ReservedConcurrentExecutions"}


def test_the_api_function_pages_when_it_is_throttled():
    props = RESOURCES["ApiThrottlesAlarm"]["Properties"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == ("AWS/Lambda", "Throttles", "Sum")
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "APIHandler"}}]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)
    assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "AlertsPagingTopic"}]
    assert json.loads(props["AlarmDescription"])["severity"] == "error"


def throttle_metrics(props: dict) -> set[tuple[str, str, str | None]]:
    """(metric, table logical id, index name or None) of each metric an alarm sums."""
    found = set()
    for query in props["Metrics"]:
        if "MetricStat" not in query:
            continue
        metric = query["MetricStat"]["Metric"]
        dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert metric["Namespace"] == "AWS/DynamoDB" and query["MetricStat"]["Stat"] == "Sum"
        found.add((metric["MetricName"], dims["TableName"]["Ref"], dims.get("GlobalSecondaryIndexName")))
    return found


def test_every_table_and_index_has_its_read_and_write_throttles_watched():
    by_table = {}
    for name, props in alarms().items():
        if json.loads(description(props))["rule"] != "DynamoDBThrottled":
            continue
        watched = throttle_metrics(props)
        # CloudWatch refuses a metric-math alarm on more than 10 metrics (a hard limit).
        assert len(watched) <= 10, name
        [returned] = [q for q in props["Metrics"] if q.get("ReturnData")]
        assert returned["Expression"] == "SUM(METRICS())", name
        assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)
        assert props["TreatMissingData"] == "notBreaching"
        assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "AlertsWarningTopic"}]
        for _, table, _ in watched:
            by_table.setdefault(table, set()).update(watched)
    for table in of_type("AWS::DynamoDB::Table"):
        indexes = [None] + [
            g["IndexName"] for g in RESOURCES[table]["Properties"].get("GlobalSecondaryIndexes", [])
        ]
        wanted = {(m, table, i) for m in ("ReadThrottleEvents", "WriteThrottleEvents") for i in indexes}
        assert wanted <= by_table.get(table, set()), (
            f"{table}: unwatched {wanted - by_table.get(table, set())}"
        )


def test_every_function_has_the_memory_size_the_capacity_model_assumes():
    # Top level of .chalice/config.json: every stage and every function (docs/performance.md, "Memory").
    from bench.capacity import API_FUNCTION_MEMORY_MB, FULL_VCPU_MB

    memory = CHALICE_CONFIG["lambda_memory_size"]
    assert memory in range(128, 10241)
    # The bench scales its CPU figures by the CPU share this size gets: the same number, or they lie.
    assert memory == API_FUNCTION_MEMORY_MB
    # Above one full vCPU a second one is paid for that a one-threaded handler cannot use.
    assert memory <= FULL_VCPU_MB
    for stage, config in CHALICE_CONFIG["stages"].items():
        assert "lambda_memory_size" not in config, stage
        for function, overrides in config.get("lambda_functions", {}).items():
            assert overrides.get("lambda_memory_size", memory) >= memory, (stage, function)
