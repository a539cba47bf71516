"""DynamoDB table descriptions (DescribeTable): status, capacity mode, item count and size, indexes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings
from chalicelib.errors import NotFound, UpstreamUnavailable
from chalicelib.integrations.aws import aws_client


@dataclass(frozen=True)
class IndexInfo:
    name: str
    kind: str  # "global" or "local"
    status: str  # GSIs: CREATING | UPDATING | DELETING | ACTIVE; LSIs have none and count as ACTIVE
    backfilling: bool
    item_count: int | None
    size_bytes: int | None


@dataclass(frozen=True)
class TableInfo:
    name: str
    status: str
    billing_mode: str
    provisioned_read: int | None
    provisioned_write: int | None
    item_count: int | None
    size_bytes: int | None
    indexes: list[IndexInfo] = field(default_factory=list)


def describe_table(table: str, *, client: Any = None, settings: Settings | None = None) -> TableInfo:
    client = client or aws_client("dynamodb", settings)
    try:
        t = client.describe_table(TableName=table)["Table"]
    except (ClientError, BotoCoreError) as exc:
        code = (
            exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
        )
        if code == "ResourceNotFoundException":
            raise NotFound(f"DynamoDB table {table} does not exist.", details={"awsCode": code}) from exc
        raise UpstreamUnavailable(
            f"DynamoDB DescribeTable for {table} failed ({code}).", details={"awsCode": code}
        ) from exc
    # Tables created on demand report PAY_PER_REQUEST here; older provisioned ones may omit the summary.
    mode = (t.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
    throughput = t.get("ProvisionedThroughput") or {}
    provisioned = mode == "PROVISIONED"
    indexes = [
        IndexInfo(
            name=i["IndexName"],
            kind="global",
            status=i.get("IndexStatus", "ACTIVE"),
            backfilling=bool(i.get("Backfilling")),
            item_count=i.get("ItemCount"),
            size_bytes=i.get("IndexSizeBytes"),
        )
        for i in t.get("GlobalSecondaryIndexes") or []
    ] + [
        IndexInfo(
            name=i["IndexName"],
            kind="local",
            status="ACTIVE",
            backfilling=False,
            item_count=i.get("ItemCount"),
            size_bytes=i.get("IndexSizeBytes"),
        )
        for i in t.get("LocalSecondaryIndexes") or []
    ]
    return TableInfo(
        name=t["TableName"],
        status=t.get("TableStatus", "UNKNOWN"),
        billing_mode=mode,
        provisioned_read=throughput.get("ReadCapacityUnits") if provisioned else None,
        provisioned_write=throughput.get("WriteCapacityUnits") if provisioned else None,
        item_count=t.get("ItemCount"),
        size_bytes=t.get("TableSizeBytes"),
        indexes=indexes,
    )
