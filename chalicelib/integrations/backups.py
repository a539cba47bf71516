"""DynamoDB point-in-time recovery status: one DescribeContinuousBackups call per table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings
from chalicelib.errors import UpstreamUnavailable
from chalicelib.integrations.aws import aws_client


@dataclass(frozen=True)
class RecoveryStatus:
    table: str
    enabled: bool
    latest_restorable: datetime | None


def continuous_backups(table: str, *, client: Any = None, settings: Settings | None = None) -> RecoveryStatus:
    client = client or aws_client("dynamodb", settings)
    try:
        answer = client.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    except (ClientError, BotoCoreError) as exc:
        code = (
            exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
        )
        raise UpstreamUnavailable(
            f"DynamoDB DescribeContinuousBackups for {table} failed ({code}).", details={"awsCode": code}
        ) from exc
    pitr = answer.get("PointInTimeRecoveryDescription") or {}
    return RecoveryStatus(
        table=table,
        enabled=pitr.get("PointInTimeRecoveryStatus") == "ENABLED",
        latest_restorable=pitr.get("LatestRestorableDateTime"),
    )
