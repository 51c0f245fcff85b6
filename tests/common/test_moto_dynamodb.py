"""The emulator's DynamoDB keeps DynamoDB's guarantees under concurrency: one winner per conditional write, and a
transaction writes all of its items or none."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from herald_common.aws import AwsClients
    from herald_common.settings import HeraldSettings


async def test_concurrent_conditional_writes_have_one_winner(herald_settings: HeraldSettings, aws: AwsClients) -> None:
    db = aws.require_dynamodb()
    table = herald_settings.resources.campaigns_table
    wins = 0
    for race in range(10):
        key = {"tenantId": {"S": "t"}, "campaignId": {"S": f"race{race}"}}
        await db.put_item(TableName=table, Item={**key, "status": {"S": "draft"}})

        async def claim(owner: str, key: dict[str, dict[str, str]] = key) -> bool:
            try:
                await db.update_item(
                    TableName=table,
                    Key=key,
                    UpdateExpression="SET #s = :sending, #o = :owner",
                    ConditionExpression="#s = :draft",
                    ExpressionAttributeNames={"#s": "status", "#o": "owner"},
                    ExpressionAttributeValues={
                        ":sending": {"S": "sending"},
                        ":draft": {"S": "draft"},
                        ":owner": {"S": owner},
                    },
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                return False
            return True

        results = await asyncio.gather(*(claim(f"o{n}") for n in range(6)))
        assert results.count(True) == 1, f"race {race}: {results}"
        wins += 1
    assert wins == 10


async def test_transaction_with_a_failing_condition_writes_nothing(
    herald_settings: HeraldSettings, aws: AwsClients
) -> None:
    db = aws.require_dynamodb()
    table = herald_settings.resources.ledger_table
    ok = {"campaignKey": {"S": "t#c"}, "email": {"S": "a@example.com"}}
    blocked = {"campaignKey": {"S": "t#c"}, "email": {"S": "b@example.com"}}
    await db.put_item(TableName=table, Item={**blocked, "state": {"S": "sent"}})
    with pytest.raises(ClientError) as cancelled:
        await db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {**ok, "state": {"S": "sent"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": blocked,
                        "UpdateExpression": "SET #s = :p",
                        "ConditionExpression": "#s = :p",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {":p": {"S": "pending"}},
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert "Item" not in await db.get_item(TableName=table, Key=ok)
    still = await db.get_item(TableName=table, Key=blocked)
    assert still["Item"]["state"] == {"S": "sent"}


async def test_transaction_applies_every_write(herald_settings: HeraldSettings, aws: AwsClients) -> None:
    db = aws.require_dynamodb()
    ledger, campaigns = herald_settings.resources.ledger_table, herald_settings.resources.campaigns_table
    camp = {"tenantId": {"S": "t"}, "campaignId": {"S": "c"}}
    await db.put_item(TableName=campaigns, Item={**camp, "finalCount": {"N": "0"}})
    rows = [{"campaignKey": {"S": "t#c"}, "email": {"S": f"r{n}@example.com"}} for n in range(5)]
    await db.transact_write_items(
        TransactItems=[{"Put": {"TableName": ledger, "Item": {**row, "counted": {"BOOL": True}}}} for row in rows]
        + [
            {
                "Update": {
                    "TableName": campaigns,
                    "Key": camp,
                    "UpdateExpression": "ADD finalCount :n",
                    "ConditionExpression": "attribute_exists(campaignId)",
                    "ExpressionAttributeValues": {":n": {"N": "5"}},
                }
            }
        ]
    )
    item = await db.get_item(TableName=campaigns, Key=camp)
    assert item["Item"]["finalCount"] == {"N": "5"}
    for row in rows:
        assert (await db.get_item(TableName=ledger, Key=row))["Item"]["counted"] == {"BOOL": True}
