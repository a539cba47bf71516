"""The dev stack's stand-in for Lambda's SQS event source mapping (postlaunch.devstack.SqsBridge):
it finds the app's @app.on_sqs_message handlers and their queues as `chalice package` wires them,
and hands each batch over in the event shape Lambda uses."""

from __future__ import annotations

from postlaunch.devstack import SqsBridge, load_app, queue_name, sqs_event
from postlaunch.localstack import load_template


def test_queue_names_resolve_as_chalice_package_writes_them():
    assert queue_name("${AWS::StackName}-release-gate", "plm") == "plm-release-gate"
    assert queue_name("arn:aws:sqs:eu-west-1:1:other", "plm") == "other"
    assert queue_name("plain", "plm") == "plain"


def test_the_release_worker_reads_the_gate_queue_the_template_creates_one_message_at_a_time():
    # Given the app and the merge template
    module = load_app()
    template = load_template()
    # When the bridge discovers the app's SQS handlers for a stack named plm
    bridge = SqsBridge.discover(module.app, module, "http://127.0.0.1:1", "plm")
    # Then the release worker is one, on the queue the template names for that stack, batch size 1
    [route] = [r for r in bridge.routes if r.name == "release_worker"]
    created = template["Resources"]["ReleaseGateQueue"]["Properties"]["QueueName"]["Fn::Sub"]
    assert route.queue == created.replace("${AWS::StackName}", "plm")
    assert route.batch_size == 1
    assert route.handler is module.release_worker


def test_received_messages_become_the_event_lambda_would_get():
    from chalice.app import SQSEvent

    messages = [
        {"MessageId": "m1", "ReceiptHandle": "r1", "Body": '{"op": "gate"}', "Attributes": {"x": "1"}},
        {"MessageId": "m2", "ReceiptHandle": "r2", "Body": "second"},
    ]
    event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:q")
    assert [r["eventSource"] for r in event["Records"]] == ["aws:sqs", "aws:sqs"]
    records = list(SQSEvent(event, context=None))
    assert [(r.body, r.receipt_handle) for r in records] == [('{"op": "gate"}', "r1"), ("second", "r2")]
