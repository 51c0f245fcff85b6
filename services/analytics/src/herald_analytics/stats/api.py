"""`GET /campaigns/{id}/stats` and `GET /campaigns/{id}/stream` (flow steps 23–24)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from herald_analytics.stats.schemas import CampaignStats
from herald_analytics.stats.service import StatsService, StreamEnd
from herald_common.auth import StreamViewer, Viewer  # noqa: TC001 (FastAPI resolves route annotations at runtime)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from herald_analytics.stats.watchers import Subscription

router = APIRouter(prefix="/campaigns", tags=["statistics"])


def stats_service(request: Request) -> StatsService:
    service: StatsService = request.app.state.stats_service
    return service


Stats = Annotated[StatsService, Depends(stats_service)]


@router.get("/{campaign_id}/stats", response_model=CampaignStats)
async def campaign_stats(campaign_id: str, principal: Viewer, service: Stats) -> CampaignStats:
    """The campaign's statistics: counts by outcome and delivery, bounce and complaint rates (of `sent`)."""
    return await service.get_stats(principal.tenant_id, campaign_id)


@router.get(
    "/{campaign_id}/stream",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "`stats` events, then `expired` at the token's exp"},
        429: {
            "description": "The tenant holds as many streams on this replica as it may (`TooManyStreams`)",
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ErrorOut"},
                    "example": {"error": "TooManyStreams", "detail": "At most 10 live streams per tenant at once."},
                }
            },
        },
    },
)
async def campaign_stream(
    campaign_id: str, principal: StreamViewer, service: Stats, request: Request
) -> EventSourceResponse:
    """A server-sent event stream: a `stats` event with the statistics at once, then at every change. It ends at
    the token's `exp` with an `expired` event (reconnect with a fresh token); a tenant holds at most
    `HERALD_STREAM_MAX_PER_TENANT` streams per replica at once (429 `TooManyStreams` beyond)."""
    first = await service.get_stats(principal.tenant_id, campaign_id)  # 404 before the stream starts
    subscription = service.subscribe(principal.tenant_id, campaign_id, first)
    updates = service.watch(subscription, first, until=principal.expires_at)
    return EventSourceResponse(
        _sse(updates),
        ping=request.app.state.settings.stream_ping_seconds,
        # The slot is given back when the stream's generator ends; this also covers one that never started.
        background=BackgroundTask(_release, subscription),
    )


async def _release(subscription: Subscription) -> None:
    # A coroutine, so Starlette runs it on the event loop (a plain function would go to a worker thread, and the
    # watchers' bookkeeping and task cancellation are not thread-safe).
    subscription.close()


async def _sse(updates: AsyncIterator[CampaignStats | StreamEnd]) -> AsyncIterator[ServerSentEvent]:
    async for update in updates:
        if isinstance(update, StreamEnd):
            yield ServerSentEvent(data=json.dumps({"reason": update.value}), event="expired")
        else:
            yield ServerSentEvent(data=update.model_dump_json(), event="stats")
