"""The local stack's two changes to moto's DynamoDB (postlaunch/localstack.py), held to what DynamoDB
answers:

- a Query starts from the queried partition (`_partition_queries`): the answers must be exactly
  what the keys say, through paging, both sort orders, filters, and after every kind of write that
  moves an item into or out of a partition;
- a transaction's rollback copy holds only what it names (`_cheap_transaction_rollback`): a
  cancelled transaction must leave every item as it was, the one it updated in place included;
- reads are answered by `json.dumps` of their result (`_fast_read_answers`): every attribute type
  must read back as it was written, through each read operation.

The expected answers are computed here from what was written, not asked of moto."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError


@pytest.fixture
def table(stack):
    """A table with a range key, an index with a range key, and an index with a hash key only."""
    ddb = stack.aws_client("dynamodb")
    name = f"query-partitions-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": t}
            for a, t in (("pk", "S"), ("sk", "N"), ("group", "S"), ("rank", "N"), ("tag", "S"))
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byGroup",
                "KeySchema": [
                    {"AttributeName": "group", "KeyType": "HASH"},
                    {"AttributeName": "rank", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "byTag",
                "KeySchema": [{"AttributeName": "tag", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
    )
    import boto3

    resource = boto3.resource("dynamodb", endpoint_url=stack.aws.endpoint, region_name=ddb.meta.region_name)
    yield resource.Table(name)
    ddb.delete_table(TableName=name)


def _items(n: int = 120) -> list[dict]:
    # 4 partitions of the table, 3 groups (one sparse: only every 10th item has a group), tags on odd.
    items = []
    for i in range(n):
        item = {"pk": f"p{i % 4}", "sk": i, "rank": (i * 7) % 50, "payload": f"x{i}"}
        if i % 10 == 0:
            item["group"] = "sparse"
        elif i % 2:
            item["group"] = "odd"
        else:
            item["group"] = "even"
        if i % 2:
            item["tag"] = f"t{i % 3}"
        items.append(item)
    return items


def _put(table, items: list[dict]) -> None:
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)


def _query_all(table, **kw) -> list[dict]:
    """Every page, in order, with a small page size so paging is exercised."""
    out, start = [], None
    while True:
        page = table.query(Limit=7, **kw, **({"ExclusiveStartKey": start} if start else {}))
        out.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return out


def _sks(items: list[dict]) -> list[int]:
    return [int(i["sk"]) for i in items]


def test_table_partition_with_range_condition_paging_and_both_orders(table):
    items = _items()
    _put(table, items)
    want = sorted(i["sk"] for i in items if i["pk"] == "p1" and 20 <= i["sk"] <= 90)
    got = _query_all(table, KeyConditionExpression=Key("pk").eq("p1") & Key("sk").between(20, 90))
    assert _sks(got) == want
    backwards = _query_all(
        table, KeyConditionExpression=Key("pk").eq("p1") & Key("sk").between(20, 90), ScanIndexForward=False
    )
    assert _sks(backwards) == want[::-1]
    assert _query_all(table, KeyConditionExpression=Key("pk").eq("absent")) == []


def test_index_partition_sorted_by_the_index_range_with_filter_and_paging(table):
    items = _items()
    _put(table, items)
    odd = [i for i in items if i.get("group") == "odd"]
    want = [i["sk"] for i in sorted(odd, key=lambda i: (i["rank"], i["pk"], i["sk"]))]
    got = _query_all(table, IndexName="byGroup", KeyConditionExpression=Key("group").eq("odd"))
    assert sorted(_sks(got)) == sorted(want)
    assert [int(i["rank"]) for i in got] == sorted(i["rank"] for i in odd)
    ranged = _query_all(
        table,
        IndexName="byGroup",
        KeyConditionExpression=Key("group").eq("sparse") & Key("rank").gte(20),
        FilterExpression=Attr("pk").eq("p0"),
    )
    assert sorted(_sks(ranged)) == sorted(
        i["sk"] for i in items if i.get("group") == "sparse" and i["rank"] >= 20 and i["pk"] == "p0"
    )
    keys_only = _query_all(table, IndexName="byTag", KeyConditionExpression=Key("tag").eq("t1"))
    assert sorted(_sks(keys_only)) == sorted(i["sk"] for i in items if i.get("tag") == "t1")
    assert all("payload" not in i for i in keys_only)


def _group(table, group: str) -> set[int]:
    return set(_sks(_query_all(table, IndexName="byGroup", KeyConditionExpression=Key("group").eq(group))))


def test_every_write_moves_items_between_index_partitions(table):
    items = _items(40)
    _put(table, items)
    sparse = {i["sk"] for i in items if i.get("group") == "sparse"}
    assert _group(table, "sparse") == sparse  # builds the grouping

    # UpdateItem moves an item to another partition (and out of the index when the key is removed).
    table.update_item(
        Key={"pk": "p1", "sk": 1},
        UpdateExpression="SET #g = :g",
        ExpressionAttributeNames={"#g": "group"},
        ExpressionAttributeValues={":g": "sparse"},
    )
    assert _group(table, "sparse") == sparse | {1}
    table.update_item(
        Key={"pk": "p0", "sk": 0}, UpdateExpression="REMOVE #g", ExpressionAttributeNames={"#g": "group"}
    )
    assert _group(table, "sparse") == (sparse | {1}) - {0}

    # PutItem replaces, DeleteItem removes, BatchWriteItem adds.
    table.put_item(Item={"pk": "p2", "sk": 10, "group": "odd", "rank": 1})
    assert _group(table, "sparse") == (sparse | {1}) - {0, 10}
    table.delete_item(Key={"pk": "p1", "sk": 1})
    assert _group(table, "sparse") == sparse - {0, 10}
    _put(table, [{"pk": "p3", "sk": 1003, "group": "sparse", "rank": 3}])
    assert _group(table, "sparse") == (sparse - {0, 10}) | {1003}

    # A transaction that commits moves items; one that is cancelled leaves every partition as it was.
    client = table.meta.client
    new_sparse = {"pk": "p0", "sk": 2000, "group": "sparse", "rank": 9}
    client.transact_write_items(
        TransactItems=[
            _op("Put", table, Item=new_sparse),
            _set(table, {"pk": "p3", "sk": 1003}, group="even"),
        ]
    )
    after = (sparse - {0, 10}) | {2000}
    assert _group(table, "sparse") == after
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                _op("Put", table, Item={**new_sparse, "sk": 3000}),
                _op(
                    "ConditionCheck",
                    table,
                    Key={"pk": "p0", "sk": 2000},
                    ConditionExpression="attribute_not_exists(pk)",
                ),
            ]
        )
    assert _group(table, "sparse") == after
    assert 1003 in _group(table, "even")


def _op(kind: str, table, **fields) -> dict:
    """One TransactWriteItems entry on `table`."""
    return {kind: {"TableName": table.name, **fields}}


def _set(table, key: dict, **values) -> dict:
    """An Update entry that sets each of `values` (names and values by placeholder)."""
    names = {f"#a{i}": name for i, name in enumerate(values)}
    return _op(
        "Update",
        table,
        Key=key,
        UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":v{i}": value for i, value in enumerate(values.values())},
    )


def test_a_cancelled_transaction_undoes_its_update_and_delete_and_keeps_the_rest(table):
    items = _items(40)
    _put(table, items)
    client = table.meta.client
    writes = [
        _set(table, {"pk": "p1", "sk": 1}, group="moved", payload="changed"),
        _op("Delete", table, Key={"pk": "p2", "sk": 2}),
        _op("Put", table, Item={"pk": "p3", "sk": 999, "group": "moved", "rank": 1}),
    ]
    absent = {"pk": "p0", "sk": 12345}
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                *writes,
                _op("ConditionCheck", table, Key=absent, ConditionExpression="attribute_exists(pk)"),
            ]
        )
    assert table.get_item(Key={"pk": "p1", "sk": 1})["Item"]["payload"] == "x1"
    assert table.get_item(Key={"pk": "p1", "sk": 1})["Item"]["group"] == "odd"
    assert "Item" in table.get_item(Key={"pk": "p2", "sk": 2})
    assert "Item" not in table.get_item(Key={"pk": "p3", "sk": 999})
    assert _group(table, "moved") == set()
    scanned = table.scan()["Items"]
    assert sorted((i["pk"], int(i["sk"]), i["payload"]) for i in scanned) == sorted(
        (i["pk"], i["sk"], i["payload"]) for i in items
    )

    # The same transaction without the failing check commits all three.
    client.transact_write_items(TransactItems=writes)
    assert table.get_item(Key={"pk": "p1", "sk": 1})["Item"]["payload"] == "changed"
    assert "Item" not in table.get_item(Key={"pk": "p2", "sk": 2})
    assert _group(table, "moved") == {1, 999}


def test_every_attribute_type_reads_back_as_written_through_every_read(table):
    from boto3.dynamodb.types import Binary

    item = {
        "pk": "types",
        "sk": 1,
        "group": "typed",
        "rank": 7,
        "s": 'text with ünïcode and "quotes" and \n newline',
        "n": Decimal("-12.50"),
        "big": Decimal("123456789012345678901234567890"),
        "b": Binary(b"\x00\xffbinary"),
        "bool": False,
        "null": None,
        "l": ["a", Decimal(1), {"nested": [True, None, Binary(b"\x01")]}],
        "m": {"inner": {"deeper": "x"}, "n": Decimal("0.5")},
        "ss": {"a", "b"},
        "ns": {Decimal(1), Decimal("2.5")},
        "bs": {Binary(b"\x01"), Binary(b"\x02")},
    }
    table.put_item(Item=item)
    key = {"pk": "types", "sk": 1}
    assert table.get_item(Key=key)["Item"] == item
    assert table.query(KeyConditionExpression=Key("pk").eq("types"))["Items"] == [item]
    by_index = table.query(IndexName="byGroup", KeyConditionExpression=Key("group").eq("typed"))
    assert by_index["Items"] == [item] and by_index["Count"] == 1
    assert table.scan(FilterExpression=Attr("pk").eq("types"))["Items"] == [item]
    got = table.meta.client.batch_get_item(RequestItems={table.name: {"Keys": [key]}})
    assert got["Responses"][table.name] == [item] and got["UnprocessedKeys"] == {}
    projected = table.get_item(Key=key, ProjectionExpression="b, m.inner")["Item"]
    assert projected == {"b": item["b"], "m": {"inner": {"deeper": "x"}}}
    counted = table.query(
        KeyConditionExpression=Key("pk").eq("types"), Select="COUNT", ReturnConsumedCapacity="TOTAL"
    )
    assert counted["Count"] == 1 and "Items" not in counted
    assert counted["ConsumedCapacity"]["TableName"] == table.name
    with pytest.raises(ClientError) as absent:
        table.meta.client.query(
            TableName=f"{table.name}-absent",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": "x"},
        )
    assert absent.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_the_changes_are_in_force_on_the_local_stack(stack):
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    from postlaunch.localstack import _TransactionCopy

    assert getattr(Table.query, "_plm_patched", False)
    assert isinstance(models.copy, _TransactionCopy)
    from moto.dynamodb.responses import DynamoHandler

    assert getattr(DynamoHandler.serialized, "_plm_patched", False)
