"""SES's account enforcement status (GetAccount, set through the emulator's `accountEnforcementStatus` fault): any
status but HEALTHY pauses every sending campaign of every tenant. Own emulator instance, so the fault never leaks."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import httpx
import pytest

from herald_analytics.events.enforcement import AccountEnforcementWatch
from herald_analytics.events.repository import CampaignCounters
from herald_common.aws import open_clients
from herald_common.settings import HeraldSettings
from herald_emulator import Emulator

if TYPE_CHECKING:
    from herald_common.aws import AwsClients


@pytest.fixture(scope="module")
def own_emulator(emulator):
    instance = Emulator("127.0.0.1", 0).start()
    yield instance
    instance.stop()


async def put_campaign(aws: AwsClients, table: str, tenant: str, campaign_id: str, status: str) -> None:
    item = {"tenantId": {"S": tenant}, "campaignId": {"S": campaign_id}, "status": {"S": status}}
    await aws.require_dynamodb().put_item(TableName=table, Item=item)


async def statuses(aws: AwsClients, table: str) -> dict[str, str]:
    page = await aws.require_dynamodb().scan(TableName=table, ConsistentRead=True)
    return {i["campaignId"]["S"]: i["status"]["S"] for i in page["Items"]}


async def test_enforcement_other_than_healthy_pauses_all_sending(
    own_emulator, herald_settings: HeraldSettings, aws: AwsClients, aws_session
) -> None:
    table = herald_settings.resources.campaigns_table
    await put_campaign(aws, table, "acme", "camp_a", "sending")
    await put_campaign(aws, table, "globex", "camp_g", "sending")
    await put_campaign(aws, table, "acme", "camp_done", "sent")
    settings = HeraldSettings(resource_prefix=herald_settings.resource_prefix, aws_endpoint_url=own_emulator.url)
    async with AsyncExitStack() as stack, httpx.AsyncClient(base_url=own_emulator.url) as control:
        ses = (await open_clients(stack, settings, "sesv2", session=aws_session)).sesv2
        assert ses is not None
        watch = AccountEnforcementWatch(
            ses, aws.require_dynamodb(), table, CampaignCounters(aws.require_dynamodb(), table)
        )
        assert await watch.check() == ("HEALTHY", [])
        assert await statuses(aws, table) == {"camp_a": "sending", "camp_g": "sending", "camp_done": "sent"}
        try:
            await control.put("/_emulator/faults", json={"accountEnforcementStatus": "PROBATION"})
            status, paused = await watch.check()
        finally:
            await control.delete("/_emulator/faults")
    assert status == "PROBATION"
    assert sorted(ref.campaign_id for ref in paused) == ["camp_a", "camp_g"]
    assert await statuses(aws, table) == {"camp_a": "paused", "camp_g": "paused", "camp_done": "sent"}
