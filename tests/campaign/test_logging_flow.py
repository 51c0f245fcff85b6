"""What the campaign service logs on a real create-and-send (JSON, as in prod): the request id and the campaign's
ids on its lines, never the caller's token or a secret, never more than one recipient on a line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.campaign.conftest import create_campaign, recipients, wait_for_fanouts
from tests.common.log_capture import json_logs

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from herald_campaign.config import Settings
    from tests.campaign.conftest import Tokens

pytestmark = pytest.mark.timeout(60)


async def test_create_and_send_log_ids_and_no_token_secret_or_recipient_list(
    client: httpx.AsyncClient, app: FastAPI, auth: Tokens, campaign_settings: Settings
) -> None:
    headers = auth() | {"x-request-id": "req-send-1"}
    people = recipients(60)
    with json_logs() as logs:
        created = await create_campaign(client, headers, recipients=people)
        cid = created["campaignId"]
        response = await client.post(f"/campaigns/{cid}/send", json={"campaignId": cid}, headers=headers)
        assert response.status_code == 202, response.text
        await wait_for_fanouts(app)
    token = headers["Authorization"].removeprefix("Bearer ")
    secrets = [token, campaign_settings.jwt_secret, campaign_settings.unsubscribe_secret]
    logs.assert_no_secrets(secrets, [p["email"] for p in people])

    (accepted,) = logs.events("campaign.send_accepted")
    assert (accepted["requestId"], accepted["tenantId"], accepted["campaignId"]) == ("req-send-1", "acme", cid)
    (done,) = logs.events("campaign.fanout_done")
    assert (done["tenantId"], done["campaignId"], done["recipients"]) == ("acme", cid, 60)
    assert all({"event", "level", "timestamp"} <= set(record) for record in logs.records())
