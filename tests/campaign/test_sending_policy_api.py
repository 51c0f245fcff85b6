"""The tenant's sending policy (admin): stored in the throttle table where the processors read it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from herald_campaign.config import Settings
    from herald_common.aws import AwsClients
    from tests.campaign.conftest import Tokens


async def test_policy_round_trip_per_tenant(
    client: httpx.AsyncClient, auth: Tokens, aws: AwsClients, campaign_settings: Settings
) -> None:
    admin = auth(role="admin")
    empty = await client.get("/sending-policy", headers=admin)
    assert (empty.status_code, empty.json()) == (200, {"providers": {}})
    body = {
        "providers": {"google": {"perMinute": 60, "perHour": 2000}, "microsoft": {"perHour": 500}},
        "warmup": {"startPerDay": 100, "dailyGrowth": 1.5},
    }
    stored = await client.put("/sending-policy", json=body, headers=admin)
    assert stored.status_code == 200
    expected = body | {"warmup": {"enabled": True, "startPerDay": 100, "dailyGrowth": 1.5}}
    assert stored.json() == expected
    assert (await client.get("/sending-policy", headers=admin)).json() == expected
    # another tenant has its own (none)
    assert (await client.get("/sending-policy", headers=auth("globex", "admin"))).json() == {"providers": {}}
    # the processors' copy: JSON in the throttle table under policy#{tenant}
    item = await aws.require_dynamodb().get_item(
        TableName=campaign_settings.resources.throttle_table, Key={"bucketKey": {"S": "policy#acme"}}
    )
    assert json.loads(item["Item"]["policy"]["S"])["providers"]["google"] == {"perMinute": 60, "perHour": 2000}


async def test_policy_is_admin_only_and_validated(client: httpx.AsyncClient, auth: Tokens) -> None:
    marketer = auth(role="marketer")
    assert (await client.get("/sending-policy", headers=marketer)).status_code == 403
    assert (await client.put("/sending-policy", json={"providers": {}}, headers=marketer)).status_code == 403
    admin = auth(role="admin")
    for bad in (
        {"providers": {"aol": {"perMinute": 5}}},  # not a provider
        {"providers": {"google": {"perMinute": 0}}},
        {"providers": {"google": {"perMinute": "many"}}},
        {"providers": {"google": {"perDay": 5}}},  # unknown field
        {"warmup": {"dailyGrowth": 1.0}},  # a ramp that never grows
        {"providers": {}, "extra": True},
    ):
        response = await client.put("/sending-policy", json=bad, headers=admin)
        assert response.status_code == 422, bad
        assert set(response.json()) >= {"error", "detail"}, response.json()
    assert (await client.get("/sending-policy", headers=admin)).json() == {"providers": {}}


async def test_reputation_is_the_guards_last_verdict_for_the_tenant(
    client: httpx.AsyncClient, auth: Tokens, aws: AwsClients, campaign_settings: Settings
) -> None:
    viewer = auth(role="viewer")  # the dashboard's banner: every role reads it
    assert (await client.get("/reputation", headers=viewer)).json() == {"level": "ok"}
    warning = {
        "level": "warn",
        "scope": "domain:news.example",
        "window": "1h",
        "reason": "bounce rate 2.60% (26 of 1000) over the last 1h for news.example",
        "at": "2026-12-07T01:00:00Z",
    }
    # As analytics' guard writes it (herald_analytics.events.reputation_windows)
    await aws.require_dynamodb().put_item(
        TableName=campaign_settings.resources.throttle_table,
        Item={"bucketKey": {"S": "reputation-state#acme"}} | {k: {"S": v} for k, v in warning.items()},
    )
    answer = await client.get("/reputation", headers=viewer)
    assert (answer.status_code, answer.json()) == (200, warning)
    assert (await client.get("/reputation", headers=auth("globex", "viewer"))).json() == {"level": "ok"}
    assert (await client.get("/reputation")).status_code == 401
