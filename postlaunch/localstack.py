"""The embedded AWS stand-in: an in-process moto server, provisioned from infra/template.json.

`make run` (postlaunch.devstack) and the integration tests both use this module, so the tables,
topics and state machine the tests see are the ones production's CloudFormation creates.

What moto's CloudFormation does not do is done here through the services' own APIs, from the same
sources: the state machines (from the ASL file the template names; a machine moto's CloudFormation
created is not seen by its executing Step Functions backend) and the default release target (a Lambda
function with version 1 behind the staging and production aliases, which a deployment already has).
"""

from __future__ import annotations

import base64
import copy
import functools
import inspect
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from postlaunch.awsenv import env_from_resources, template_parameters, template_variables
from postlaunch.package import STATE_MACHINE, definition_of

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.json"
REGION = "us-east-1"

# Resource types moto's CloudFormation creates from the merge template. The rest (policies that
# name Chalice's own roles, the CloudWatch alarms on the API) only exist once `chalice package`
# merges. The KMS key is here because the alert topics are encrypted with it.
LOCAL_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::KMS::Key",
    "AWS::SNS::Topic",
    "AWS::SNS::Subscription",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
}

LOCAL_ACCOUNT = "123456789012"  # moto's default account id

# The release targets `make run` provisions (the RELEASE_* settings' defaults; docs/releases.md).
DEFAULT_RELEASE_TARGETS = "patient-engagement-api"
DEFAULT_STAGING_ALIAS = "staging"
DEFAULT_PRODUCTION_ALIAS = "live"
# What the default target runs: moto keeps the code without running it, so this only has to be a
# valid deployment package. A new build for a release is `aws lambda update-function-code` (README).
TARGET_HANDLER = 'def handler(event, context):\n    return {"service": "patient-engagement-api"}\n'

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout:.0f}s")


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return json.loads(path.read_text())


def _refs(node: Any) -> set[str]:
    """Logical ids a template fragment refers to (Ref, Fn::GetAtt)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                found.add(target)
            else:
                found |= _refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _refs(item)
    return found


def local_template(template: dict[str, Any]) -> dict[str, Any]:
    """The part of the merge template that stands on its own on moto."""
    resources = {
        name: res for name, res in template.get("Resources", {}).items() if res.get("Type") in LOCAL_TYPES
    }
    # Drop resources that point at something not created locally (transitively).
    changed = True
    while changed:
        changed = False
        for name, res in list(resources.items()):
            if not _refs(res) <= set(resources) | {"AWS::Region", "AWS::AccountId", "AWS::StackName"}:
                del resources[name]
                changed = True
    outputs = {name: out for name, out in template.get("Outputs", {}).items() if _refs(out) <= set(resources)}
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources, "Outputs": outputs}


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class Provisioned:
    stack_name: str
    physical: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)
    # The release targets created on the local stack: function name -> {alias: version}.
    release_targets: dict[str, dict[str, str]] = field(default_factory=dict)


def provision(
    endpoint: str, stack_name: str = "post-launch-monitor-local", path: Path = TEMPLATE
) -> Provisioned:
    """Create the template's resources on moto and return the environment the app needs."""
    template = load_template(path)
    body = local_template(template)
    cfn = client("cloudformation", endpoint)
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(body))
    status = "CREATE_IN_PROGRESS"
    for _ in range(300):
        status = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
        if status != "CREATE_IN_PROGRESS":
            break
        time.sleep(0.1)
    if status != "CREATE_COMPLETE":
        raise RuntimeError(f"local stack {stack_name} ended {status}")
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    }
    _apply_table_settings(endpoint, body, physical)
    physical.update(create_state_machines(endpoint, template, physical, stack_name))
    targets = create_release_targets(endpoint, stack_name)
    # The same variable -> resource mapping the CLI uses against a deployed stack (postlaunch.awsenv).
    env = env_from_resources(template_variables(template), physical, template_parameters(template))
    env.update(verify_report_sender(endpoint))
    return Provisioned(stack_name=stack_name, physical=physical, env=env, release_targets=targets)


# ---- moto's Query: read the partition, not the table
_QUERY_PARTITION = threading.local()
# Per moto Table object: key attribute -> {key value: the items holding it}. Built by the first Query
# on an attribute, dropped by any write to the table. Kept beside the tables (not on them) so a
# transaction's deep copy of a table does not copy it.
_PARTITIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _partition_queries() -> None:
    """Make moto answer a Query from the queried partition instead of from the whole table.

    moto 5 answers every Query, on the table or an index, by sorting every item of the table and
    then keeping the partition asked for, so the time of a Query that reads 59 items grew from 0.3 s
    with 1,000 items stored to 5 s with 100,000: the local stack (and the scale bench) measured
    moto's table size, where DynamoDB reads only the key range. Now the items a Query starts from
    are the partition's alone: on the table, moto's own per-hash-key dict; on an index, a grouping of
    the table's items by the index's partition attribute, built on first use and dropped by any write
    to the table (PutItem, DeleteItem, UpdateItem, and the batch and transaction paths, which go
    through them). moto's own code still does everything after that (key conditions, sort, paging,
    filters, projection), so answers are unchanged. DynamoDB requests run one at a time
    (`_serialize_dynamodb`), so the groupings are never read while a write changes the table.
    Patched once per process.
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_plm_patched", False):
        return
    original_query, original_all_items = Table.query, Table.all_items
    query_signature = inspect.signature(original_query)

    def partition(table: Table, call: inspect.BoundArguments) -> list | None:
        if not call.arguments.get("index_name"):
            stored = table.items.get(call.arguments["hash_key"])
            if stored is None:
                return []
            return list(stored.values()) if table.range_key_attr else [stored]
        conditions = call.arguments.get("hash_key_conditions")
        if not conditions:
            return None  # not a call shape we know: moto's own path
        attribute, value = conditions[0]
        groups = _PARTITIONS.setdefault(table, {})
        if attribute not in groups:
            grouped: dict = {}
            for stored in table.items.values():
                for item in stored.values() if table.range_key_attr else (stored,):
                    key = item.attrs.get(attribute)
                    if key is not None:
                        grouped.setdefault(key, []).append(item)
            groups[attribute] = grouped
        return groups[attribute].get(value, [])

    def query(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            items = partition(self, query_signature.bind(self, *args, **kwargs))
        except TypeError:  # an unhashable key value, or a signature moto changed: moto's own path
            items = None
        if items is None:
            return original_query(self, *args, **kwargs)
        _QUERY_PARTITION.scope = (self, items)
        try:
            return original_query(self, *args, **kwargs)
        finally:
            _QUERY_PARTITION.scope = None

    def all_items(self):  # type: ignore[no-untyped-def]
        scope = getattr(_QUERY_PARTITION, "scope", None)
        if scope is not None and scope[0] is self:
            return list(scope[1])
        return original_all_items(self)

    def dropping(method):  # type: ignore[no-untyped-def]
        @functools.wraps(method)
        def write(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            try:
                return method(self, *args, **kwargs)
            finally:
                _PARTITIONS.pop(self, None)

        return write

    def update_item(self, table_name, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return original_update(self, table_name, *args, **kwargs)
        finally:
            try:
                _PARTITIONS.pop(self.get_table(table_name), None)
            except Exception:  # the table is gone: nothing cached for it is reachable
                pass

    original_update = DynamoDBBackend.update_item
    query._plm_patched = True  # type: ignore[attr-defined]
    Table.query, Table.all_items = query, all_items
    Table.put_item, Table.delete_item = dropping(Table.put_item), dropping(Table.delete_item)
    DynamoDBBackend.update_item = update_item


# ---- moto's transactions: keep what they touch, not the whole table
_TRANSACTION = threading.local()


class _TransactionCopy:
    """Stands in for the `copy` module in moto's DynamoDB models: while a TransactWriteItems runs,
    the rollback copy of a table is `_rollback_copy` (below); everything else is `copy` itself."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        keys = getattr(_TRANSACTION, "keys", None)
        if keys is not None and type(value) is Table:
            try:
                return _rollback_copy(value, keys.get(value.name, ()))
            except Exception:  # a key shape moto will refuse anyway: its own full copy
                pass
        return copy.deepcopy(value, memo)


def _rollback_copy(table: Any, keys: Any) -> Any:
    """What a cancelled transaction restores the table to: the table's item dicts copied (the items
    shared), and a deep copy of each item the transaction names, the only ones it can change (an
    UpdateItem changes its item in place)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    snapshot = copy.copy(table)
    if table.range_key_attr:
        snapshot.items = defaultdict(dict, {h: dict(by_range) for h, by_range in table.items.items()})
    else:
        snapshot.items = defaultdict(dict, table.items)
    for key in keys:
        hash_value = DynamoType(key[table.hash_key_attr])
        if table.range_key_attr:
            range_value = DynamoType(key[table.range_key_attr])
            item = table.items.get(hash_value, {}).get(range_value)
            if item is not None:
                snapshot.items[hash_value][range_value] = copy.deepcopy(item)
        elif (item := table.items.get(hash_value)) is not None:
            snapshot.items[hash_value] = copy.deepcopy(item)
    return snapshot


def _cheap_transaction_rollback() -> None:
    """Make a TransactWriteItems cost what it writes, not what the table holds.

    moto 5 deep-copies every table a transaction names before it runs, to restore them if it is
    cancelled: 5 ms a transaction on an empty table, 190 ms with 3,000 items, 710 ms with 10,000
    (measured here). Every rated or idempotent feedback POST is a transaction, so the local API
    slowed as the tables filled (a test session's, the throughput bench's). The rollback copy now
    shares the items the transaction does not name (it cannot change them) and deep-copies those
    it names; moto's own code still runs the transaction and restores the copy when it is
    cancelled. DynamoDB requests run one at a time (`_serialize_dynamodb`). Patched once per process.
    """
    from moto.dynamodb import models

    if isinstance(models.copy, _TransactionCopy):
        return
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items, *args, **kwargs):  # type: ignore[no-untyped-def]
        keys: dict[str, list] = defaultdict(list)
        for entry in transact_items:
            for op in entry.values():
                key = op.get("Key") or op.get("Item")
                if op.get("TableName") and isinstance(key, dict):
                    keys[op["TableName"]].append(key)
        _TRANSACTION.keys = keys
        try:
            return original(self, transact_items, *args, **kwargs)
        finally:
            _TRANSACTION.keys = None

    models.DynamoDBBackend.transact_write_items = transact_write_items
    models.copy = _TransactionCopy()


# ---- moto's DynamoDB reads: answered as JSON directly
FAST_READ_ACTIONS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem"})


def _read_json_default(value: Any) -> Any:
    if isinstance(value, bytes):  # B and BS values: base64 on the wire
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _fast_read_answers() -> None:
    """Answer DynamoDB's reads by `json.dumps` of their result instead of moto's shape-driven serializer.

    moto 5.2 serializes every response by walking the operation's output shape value by value: a
    Query returning 654 feedback items spent 3.7 of its 4.7 s there (profiled here), about 5 ms an
    item, so every read of the local stack cost moto's serializer more than anything else. A read's
    result is already the JSON protocol's document (attribute values as `{type: value}`, binary as
    bytes, which the wire carries as base64), so Query, Scan, GetItem and BatchGetItem answers are
    dumped as they are; errors and every other operation still go through moto's serializer.
    `tests/integration/test_local_moto.py` reads back every attribute type. Patched once per process.
    """
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    if getattr(DynamoHandler.serialized, "_plm_patched", False):
        return
    original = DynamoHandler.serialized

    def serialized(self, action_result):  # type: ignore[no-untyped-def]
        result = action_result.result
        if (
            type(action_result) is DynamoResult
            and isinstance(result, dict)
            and self._get_action() in FAST_READ_ACTIONS
        ):
            headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
            return 200, headers, json.dumps(result, default=_read_json_default)
        return original(self, action_result)

    serialized._plm_patched = True  # type: ignore[attr-defined]
    DynamoHandler.serialized = serialized


# ---- reports: delivery
def verify_report_sender(
    endpoint: str, environ: dict[str, str] | os._Environ | None = None
) -> dict[str, str]:
    """Verify the report's sender on moto's SES, which refuses to send from an unverified address as
    SES does (on AWS the sender is verified once, by its owner: docs/reports.md, "Delivery"). The
    addresses are REPORT_SENDER/REPORT_RECIPIENTS when set, else the local stage's own; returned as
    the environment the app and the CLI read."""
    from chalicelib.config import LOCAL_REPORT_RECIPIENTS, LOCAL_REPORT_SENDER

    environ = os.environ if environ is None else environ
    sender = environ.get("REPORT_SENDER") or LOCAL_REPORT_SENDER
    recipients = environ.get("REPORT_RECIPIENTS") or ",".join(LOCAL_REPORT_RECIPIENTS)
    client("ses", endpoint).verify_email_identity(EmailAddress=sender)
    return {"REPORT_SENDER": sender, "REPORT_RECIPIENTS": recipients}


def _pseudo(value: Any, stack_name: str) -> str:
    """A string or an Fn::Sub over pseudo parameters only, as CloudFormation would resolve it here."""
    text = value["Fn::Sub"] if isinstance(value, dict) and "Fn::Sub" in value else value
    if not isinstance(text, str):
        raise ValueError(f"cannot resolve {value!r} locally")
    return (
        text.replace("${AWS::StackName}", stack_name)
        .replace("${AWS::Region}", REGION)
        .replace("${AWS::AccountId}", LOCAL_ACCOUNT)
        .replace("${AWS::Partition}", "aws")
    )


def local_definition(resource: dict[str, Any], physical: dict[str, str], endpoint: str) -> str:
    """The state machine's ASL with its DefinitionSubstitutions applied, as CloudFormation applies them
    (`${Name}` replaced in the definition text). A queue's Ref becomes its URL on this moto server."""
    text = json.dumps(definition_of(resource))
    for key, value in resource["Properties"].get("DefinitionSubstitutions", {}).items():
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in physical:
            resolved = physical[value["Ref"]]
            if resolved.startswith("https://sqs."):
                # moto's CloudFormation names a queue by its AWS URL; the interpreter sends to this server.
                resolved = f"{endpoint}/{LOCAL_ACCOUNT}/{resolved.rsplit('/', 1)[-1]}"
        elif isinstance(value, str | int | float | bool):
            resolved = str(value)
        else:
            raise ValueError(
                f"DefinitionSubstitutions.{key}: {value!r} cannot be resolved on the local stack"
            )
        text = text.replace("${" + key + "}", resolved)
    return text


def create_state_machines(
    endpoint: str, template: dict[str, Any], physical: dict[str, str], stack_name: str
) -> dict[str, str]:
    """Create the template's state machines through the Step Functions API; logical id -> ARN."""
    sfn, iam = client("stepfunctions", endpoint), client("iam", endpoint)
    created: dict[str, str] = {}
    for logical, resource in template.get("Resources", {}).items():
        if resource.get("Type") != STATE_MACHINE:
            continue
        props = resource["Properties"]
        name = _pseudo(props.get("StateMachineName", f"{stack_name}-{logical}"), stack_name)
        # moto wants a role ARN; it does not enforce its policy (the template's role is for AWS).
        role = iam.create_role(
            RoleName=f"{name}-role"[:64],
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "states.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        created[logical] = sfn.create_state_machine(
            name=name,
            definition=local_definition(resource, physical, endpoint),
            roleArn=role,
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
    return created


def _zip(files: dict[str, str]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def create_release_target(
    lambda_client: Any, role_arn: str, function: str, aliases: tuple[str, ...]
) -> dict[str, str]:
    """A function with version 1 published and each alias on it, as a deployed target looks before
    its first release. A function that exists already (a second local stack on the same moto: targets
    belong to the account, not to a stack) is left as it is. Returns {alias: version}."""
    try:
        lambda_client.get_function(FunctionName=function)
    except lambda_client.exceptions.ResourceNotFoundException:
        lambda_client.create_function(
            FunctionName=function,
            Runtime="python3.12",
            Role=role_arn,
            Handler="handler.handler",
            Code={"ZipFile": _zip({"handler.py": TARGET_HANDLER})},
            Description="A release target on the local stack (postlaunch.localstack)",
        )
        version = lambda_client.publish_version(FunctionName=function, Description="provisioned")["Version"]
        for alias in aliases:
            lambda_client.create_alias(FunctionName=function, Name=alias, FunctionVersion=version)
    return {
        alias: lambda_client.get_alias(FunctionName=function, Name=alias)["FunctionVersion"]
        for alias in aliases
    }


def create_release_targets(
    endpoint: str, stack_name: str, environ: dict[str, str] | os._Environ | None = None
) -> dict[str, dict[str, str]]:
    """The release targets RELEASE_TARGETS names (default patient-engagement-api), with both aliases."""
    environ = os.environ if environ is None else environ
    targets = [
        t.strip() for t in (environ.get("RELEASE_TARGETS") or DEFAULT_RELEASE_TARGETS).split(",") if t.strip()
    ]
    aliases = (
        environ.get("RELEASE_STAGING_ALIAS") or DEFAULT_STAGING_ALIAS,
        environ.get("RELEASE_PRODUCTION_ALIAS") or DEFAULT_PRODUCTION_ALIAS,
    )
    iam, lam = client("iam", endpoint), client("lambda", endpoint)
    # moto's Lambda wants an existing role for create_function.
    role = iam.create_role(
        RoleName=f"{stack_name}-release-target"[:64],
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    return {target: create_release_target(lam, role, target, aliases) for target in targets}


def _apply_table_settings(endpoint: str, body: dict[str, Any], physical: dict[str, str]) -> None:
    """moto's CloudFormation ignores TTL and point-in-time recovery; apply them as AWS would."""
    ddb = client("dynamodb", endpoint)
    for name, res in body["Resources"].items():
        if res["Type"] != "AWS::DynamoDB::Table":
            continue
        props = res["Properties"]
        table = physical[name]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=table,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr and pitr.get("PointInTimeRecoveryEnabled"):
            ddb.update_continuous_backups(
                TableName=table,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )


_DYNAMODB_LOCK = threading.Lock()


def _serialize_dynamodb() -> None:
    """Run moto's DynamoDB one request at a time, as DynamoDB's per-item atomicity would have it.

    moto's DynamoDB is not thread-safe: a conditional update is a read, a check and a write, and a
    transaction deep-copies the tables it touches while other threads change them ("dictionary
    changed size during iteration", a 500). The API (`chalice local`) serves requests on threads, so
    concurrent requests would see races real DynamoDB does not have. Patched once per process.
    """
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler.call_action, "_plm_serialized", False):
        return
    original = DynamoHandler.call_action

    def call_action(self):  # type: ignore[no-untyped-def]
        with _DYNAMODB_LOCK:
            return original(self)

    call_action._plm_serialized = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action


# Services whose model instances moto does not keep for /moto-api/data.json: the stores of volume.
UNTRACKED_MODEL_SERVICES = frozenset({"dynamodb", "cloudwatch", "logs"})


def _untrack_bulk_models() -> None:
    """Stop moto keeping a reference to every DynamoDB item, metric datum and log event it ever made.

    moto's BaseModel appends each new instance to a per-class list that only /moto-api/data.json
    reads. Nothing ever removes one, so an item overwritten a thousand times stays in memory a
    thousand times, and data.json serialises them all: after a whole test session the process held
    11 GB and data.json took over 10 s to list a few emails. Instances of the services named in
    UNTRACKED_MODEL_SERVICES are no longer tracked (they stay readable through their own APIs);
    the others (SES messages, Lambda functions, state machines, queues) are, as before.
    Patched once per process.
    """
    from moto.core.common_models import BaseModel

    if getattr(BaseModel.__new__, "_plm_patched", False):
        return

    def __new__(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        instance = object.__new__(cls)
        if cls.__module__.split(".")[1] not in UNTRACKED_MODEL_SERVICES:
            cls.instances_tracked.append(instance)
        return instance

    __new__._plm_patched = True  # type: ignore[attr-defined]
    BaseModel.__new__ = staticmethod(__new__)  # type: ignore[method-assign,assignment]


# ---- reports: delivery
_LISTING = threading.local()


def _model_data_without_docker() -> None:
    """Let `GET /moto-api/data.json` answer while a Lambda function exists and no Docker daemon runs.

    data.json lists every attribute of every moto model, skipping those that raise TypeError,
    AttributeError or ValueError. A Lambda function (the release target the local stack creates)
    has a `docker_client` property that connects to Docker and raises DockerException without a
    daemon, so the whole listing answered 500. While the listing runs (on its own request thread),
    that failure reads as an absent attribute; everywhere else it is raised as before. The report
    delivery tests read the sent email back from this listing. Patched once per process.
    """
    from moto.moto_api._internal.responses import MotoAPIResponse
    from moto.utilities.docker_utilities import DockerModel

    if getattr(MotoAPIResponse.model_data, "_plm_patched", False):
        return
    original_listing, original_client = MotoAPIResponse.model_data, DockerModel.docker_client

    def docker_client(self):  # type: ignore[no-untyped-def]
        try:
            return original_client.fget(self)
        except Exception as exc:
            if getattr(_LISTING, "active", False):
                raise AttributeError("docker_client: no Docker daemon") from exc
            raise

    def model_data(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        _LISTING.active = True
        try:
            return original_listing(self, *args, **kwargs)
        finally:
            _LISTING.active = False

    model_data._plm_patched = True  # type: ignore[attr-defined]
    MotoAPIResponse.model_data = model_data
    DockerModel.docker_client = property(docker_client)


class LocalAws:
    """A moto server in this process, with Step Functions execution switched on."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = None

    def start(self) -> LocalAws:
        from moto.server import ThreadedMotoServer

        # The Step Functions interpreter calls back to localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        for key, value in LOCAL_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        _serialize_dynamodb()
        _model_data_without_docker()
        _untrack_bulk_models()
        _partition_queries()
        _cheap_transaction_rollback()
        _fast_read_answers()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # The interpreter logs an ERROR for every Choice probe of an absent field (IsPresent), which the
        # rollout's input validation makes on each execution; a real failure shows in describe-execution.
        logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").setLevel(logging.CRITICAL)
        self._server.start()
        wait_for_port(self.port)
        # Switching the config swaps the backend: switch first, then create resources.
        import requests

        requests.post(
            f"{self.endpoint}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=10,
        ).raise_for_status()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def app_env(self, provisioned: Provisioned) -> dict[str, str]:
        """Environment for the API process, the CLI and the scheduled jobs."""
        return {
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "MOTO_PORT": str(self.port),
            "STAGE": "local",
            "AUTH_MODE": "hs256",
            **provisioned.env,
        }


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM it when its parent dies, so a hard-killed dev stack or
    test run leaves no `chalice local` behind. Elsewhere this is a no-op."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:
        pass


class ChaliceLocal:
    """`chalice local` serving app.py on a port, as a child process."""

    def __init__(self, env: dict[str, str], port: int | None = None, host: str = "127.0.0.1", log=None):
        self.port = port or free_port()
        self.host = host
        self.url = f"http://{host}:{self.port}"
        self._env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self._log = log
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> ChaliceLocal:
        chalice = Path(sys.executable).with_name("chalice")
        cmd = [str(chalice) if chalice.exists() else "chalice"]
        cmd += ["local", "--no-autoreload", "--stage", "local", "--host", self.host, "--port", str(self.port)]
        self.process = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self._env,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        try:
            wait_for_port(self.port, timeout=timeout, host=self.host)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
