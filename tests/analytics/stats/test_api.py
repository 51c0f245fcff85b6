"""`GET /campaigns/{id}/stats` and the live `GET /campaigns/{id}/stream`, against the emulator."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn

from herald_analytics.app import create_app
from herald_common.auth import mint_token

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

CAMPAIGN = "camp_0123456789abcdefghij"


def _auth(harness, tenant: str = "acme", role: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(harness.settings, tenant_id=tenant, roles=[role])}"}


async def test_stats_route_answers_the_computed_statistics(harness):
    await harness.seed_campaign(
        recipientCount=10, intakeInvalidCount=2, finalCount=6, sentCount=5, invalidCount=1, deliveredCount=4,
        bouncedCount=1, openedCount=2, machineOpenedCount=1, clickedCount=1, softBouncedCount=1, statsVersion=3,
    )  # fmt: skip
    async with harness.running() as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as client:
            ok = await client.get(f"/campaigns/{CAMPAIGN}/stats", headers=_auth(harness))
            other_tenant = await client.get(f"/campaigns/{CAMPAIGN}/stats", headers=_auth(harness, "globex"))
            missing = await client.get("/campaigns/camp_nope/stats", headers=_auth(harness))
            anonymous = await client.get(f"/campaigns/{CAMPAIGN}/stats")

    assert ok.status_code == 200
    assert ok.json() == {
        "campaignId": CAMPAIGN,
        "status": "sending",
        "recipients": 12,
        "queued": 4,
        "sent": 5,
        "delivered": 4,
        "bounced": 1,
        "complained": 0,
        "rejected": 0,
        "failed": 0,
        "suppressed": 0,
        "invalid": 3,
        "unknown": 0,
        "opened": 2,
        "clicked": 1,
        "deliveryRate": 0.8,
        "bounceRate": 0.2,
        "complaintRate": 0.0,
        "updatedAt": "2024-01-15T10:00:00.000Z",
        "softBounced": 1,
        "machineOpened": 1,
        "machineClicked": 0,
        "openRate": 0.5,  # human opens of delivered: 2 / 4
        "clickRate": 0.25,
        "statusReason": None,
    }
    for response in (other_tenant, missing):
        assert response.status_code == 404
        assert response.json()["error"] == "CampaignNotFound"
    assert anonymous.status_code == 401


@asynccontextmanager
async def _served(app: FastAPI, port: int) -> AsyncIterator[str]:
    """The app under uvicorn on a free port: ASGITransport buffers a response until it ends, a stream never does."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _next_stats(lines: AsyncIterator[str]) -> dict[str, Any]:
    """The data of the next `stats` event (pings and other fields skipped)."""
    event = None
    async for line in lines:
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == "stats":
            return dict(json.loads(line.split(":", 1)[1]))
    raise AssertionError("stream ended")


async def test_stream_sends_stats_at_once_and_again_when_an_event_is_counted(harness, make_event, free_port):
    await harness.seed_campaign(recipientCount=1, sentCount=1, finalCount=1)
    await harness.seed_ledger("ada@example.com")
    app = create_app(harness.settings)
    async with _served(app, free_port()) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        missing = await client.get("/campaigns/camp_nope/stream", headers=_auth(harness))
        assert missing.status_code == 404
        assert missing.json()["error"] == "CampaignNotFound"

        async with client.stream("GET", f"/campaigns/{CAMPAIGN}/stream", headers=_auth(harness)) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            first = await asyncio.wait_for(_next_stats(lines), timeout=5)
            assert (first["delivered"], first["sent"], first["campaignId"]) == (0, 1, CAMPAIGN)

            await harness.publish(make_event("Delivery", recipient="ada@example.com"))  # SES → SNS → SQS → us
            second = await asyncio.wait_for(_next_stats(lines), timeout=2)  # SPEC: within 2 s of the SES event

    assert (second["delivered"], second["deliveryRate"]) == (1, 1.0)
    assert second["updatedAt"] != first["updatedAt"]
