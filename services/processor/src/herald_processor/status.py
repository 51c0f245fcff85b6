"""Campaign status reads shared by the batches a process runs at once.

A running batch re-reads its campaign's status every `status_check_interval` seconds so that pause and cancel act
between recipients. Four batches of one campaign in one process need not read it four times: a read made at most
that long ago (counted from when it started) serves them all, and reads of one campaign are never in flight twice.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from herald_processor.domain import Campaign
    from herald_processor.ports import CampaignStore

_KEEP = 1024  # campaigns remembered at most; older reads are dropped first


class SharedStatusReads:
    def __init__(self, store: CampaignStore, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._reads: dict[tuple[str, str], tuple[float, asyncio.Future[Campaign | None]]] = {}

    async def get(self, tenant_id: str, campaign_id: str, max_age: float) -> Campaign | None:
        """The campaign as read at most `max_age` seconds ago (a read in flight counts from its start)."""
        key = (tenant_id, campaign_id)
        now = self._clock()
        known = self._reads.get(key)
        if known is not None and now - known[0] < max_age:
            return await asyncio.shield(known[1])
        read = asyncio.ensure_future(self._store.get(tenant_id, campaign_id))
        self._reads.pop(key, None)  # to the end of the order: the oldest read is dropped first
        self._reads[key] = (now, read)
        if len(self._reads) > _KEEP:
            del self._reads[next(iter(self._reads))]
        try:
            return await asyncio.shield(read)
        except BaseException:
            if self._reads.get(key, (0.0, None))[1] is read:
                del self._reads[key]  # a failed read is nobody's answer
            raise
