"""DynamoDB backups: point-in-time recovery (DescribeContinuousBackups) and on-demand backups
(ListBackups), one call each per table; and restoring an on-demand backup a release took into a new
table (bug-fix-manage restore)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings
from chalicelib.errors import Conflict, NotFound, UpstreamUnavailable
from chalicelib.integrations.aws import aws_client

# ListBackups types made on request (by us or by AWS Backup); SYSTEM ones are the copies DynamoDB
# keeps of a deleted table, not something to restore a live table from.
ON_DEMAND_TYPES = ("USER", "AWS_BACKUP")


@dataclass(frozen=True)
class RecoveryStatus:
    table: str
    enabled: bool
    latest_restorable: datetime | None
    earliest_restorable: datetime | None = None


@dataclass(frozen=True)
class Backup:
    name: str
    arn: str
    created: datetime
    status: str
    type: str
    size_bytes: int | None


@dataclass(frozen=True)
class BackupListing:
    """The newest on-demand backup in the one page read, and whether that page was all there is."""

    table: str
    latest: Backup | None
    count: int
    complete: bool


def _upstream(exc: Exception, action: str, table: str) -> UpstreamUnavailable:
    code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
    return UpstreamUnavailable(f"DynamoDB {action} for {table} failed ({code}).", details={"awsCode": code})


def continuous_backups(table: str, *, client: Any = None, settings: Settings | None = None) -> RecoveryStatus:
    client = client or aws_client("dynamodb", settings)
    try:
        answer = client.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    except (ClientError, BotoCoreError) as exc:
        raise _upstream(exc, "DescribeContinuousBackups", table) from exc
    pitr = answer.get("PointInTimeRecoveryDescription") or {}
    return RecoveryStatus(
        table=table,
        enabled=pitr.get("PointInTimeRecoveryStatus") == "ENABLED",
        latest_restorable=pitr.get("LatestRestorableDateTime"),
        earliest_restorable=pitr.get("EarliestRestorableDateTime"),
    )


def latest_backup(table: str, *, client: Any = None, settings: Settings | None = None) -> BackupListing:
    """One ListBackups call (up to 100 backups, the API's page). The API documents no order, so the
    newest is picked by creation time; a table with more than a page says so (`complete` False)."""
    client = client or aws_client("dynamodb", settings)
    try:
        page = client.list_backups(TableName=table, BackupType="ALL", Limit=100)
    except (ClientError, BotoCoreError) as exc:
        raise _upstream(exc, "ListBackups", table) from exc
    backups = [
        Backup(
            name=b.get("BackupName", ""),
            arn=b["BackupArn"],
            created=b["BackupCreationDateTime"],
            status=b.get("BackupStatus", ""),
            type=b.get("BackupType", ""),
            size_bytes=b.get("BackupSizeBytes"),
        )
        for b in page.get("BackupSummaries", [])
        if b.get("BackupType", "USER") in ON_DEMAND_TYPES
    ]
    return BackupListing(
        table=table,
        latest=max(backups, key=lambda b: b.created) if backups else None,
        count=len(backups),
        complete=not page.get("LastEvaluatedBackupArn"),
    )


def table_exists(table: str, *, client: Any = None, settings: Settings | None = None) -> bool:
    client = client or aws_client("dynamodb", settings)
    try:
        client.describe_table(TableName=table)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise _failed("DescribeTable", table, exc) from exc
    except BotoCoreError as exc:
        raise _failed("DescribeTable", table, exc) from exc
    return True


def restore_into_new_table(
    backup_arn: str, target_table: str, *, client: Any = None, settings: Settings | None = None
) -> dict[str, Any]:
    """RestoreTableFromBackup into `target_table`, which must not exist: a restore never writes over
    a table (live data stays as it is; the operator compares and copies what they need). Returns
    {table, status, backupArn}; Conflict when the table exists (DynamoDB would refuse it too, as
    TableAlreadyExistsException: checked first so the answer names the rule)."""
    client = client or aws_client("dynamodb", settings)
    if table_exists(target_table, client=client):
        raise Conflict(
            f"Table {target_table} exists: a backup is restored into a new table only, never over one.",
            details={"field": "into", "table": target_table},
        )
    try:
        answer = client.restore_table_from_backup(TargetTableName=target_table, BackupArn=backup_arn)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "TableAlreadyExistsException":
            raise Conflict(
                f"Table {target_table} exists: a backup is restored into a new table only.",
                details={"field": "into", "table": target_table},
            ) from exc
        if code in ("BackupNotFoundException", "ResourceNotFoundException"):
            raise NotFound(f"Backup {backup_arn} does not exist (any more).") from exc
        raise _failed("RestoreTableFromBackup", target_table, exc) from exc
    except BotoCoreError as exc:
        raise _failed("RestoreTableFromBackup", target_table, exc) from exc
    description = answer.get("TableDescription") or {}
    return {
        "table": description.get("TableName", target_table),
        "status": description.get("TableStatus"),
        "tableArn": description.get("TableArn"),
        "backupArn": backup_arn,
    }


def _failed(action: str, table: str, exc: Exception) -> UpstreamUnavailable:
    code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
    return UpstreamUnavailable(f"DynamoDB {action} for {table} failed ({code}).", details={"awsCode": code})
