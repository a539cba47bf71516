"""The AWS CLI, as an engineer would use it with `make run`'s exports, sees what infra/ defines on the
local stack: tables with TTL and point-in-time recovery, the alerts topic, the stack itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

AWS = str(Path(sys.executable).with_name("aws"))


def aws(stack, *args: str) -> dict:
    env = {**os.environ, **stack.env}
    result = subprocess.run(
        [AWS, *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout or "{}")


@pytest.mark.slow
def test_aws_cli_reads_the_provisioned_stack(stack):
    stacks = aws(stack, "cloudformation", "describe-stacks", "--stack-name", "post-launch-monitor-local")
    assert stacks["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"

    idempotency = stack.env["IDEMPOTENCY_TABLE"]
    ttl = aws(stack, "dynamodb", "describe-time-to-live", "--table-name", idempotency)
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}

    for table in (stack.env["FEEDBACK_TABLE"], stack.env["HEALTH_TABLE"]):
        backups = aws(stack, "dynamodb", "describe-continuous-backups", "--table-name", table)
        pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert pitr["PointInTimeRecoveryStatus"] == "ENABLED", table

    indexes = aws(stack, "dynamodb", "describe-table", "--table-name", stack.env["FEEDBACK_TABLE"])
    names = {i["IndexName"] for i in indexes["Table"]["GlobalSecondaryIndexes"]}
    assert {"byMonth", "byWorkspace", "openBySeverity", "pendingNotification"} <= names

    topics = aws(stack, "sns", "list-topics")
    assert stack.env["ALERTS_TOPIC_ARN"] in {t["TopicArn"] for t in topics["Topics"]}
