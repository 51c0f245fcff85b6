"""The email-jobs queues: the shape of one message (what the fan-out and retry-failed both queue, so it lives with
the queue rather than in either of them) and the adapter, SendMessageBatch within SQS's limits onto the campaign
priority's queue, retrying entries SQS reports as failed."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from herald_campaign.campaigns.rules import batch_id
from herald_common.sqs import group_messages

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from types_aiobotocore_sqs import SQSClient

    from herald_campaign.campaigns.intake import Recipient
    from herald_campaign.campaigns.models import Campaign, Priority

# Entries SQS rejects inside a successful call (throttled, internal error) are re-sent this many times.
ENTRY_RETRIES = 3


def job_message(
    c: Campaign, position: int, recipients: Sequence[Recipient], *, batch: str | None = None
) -> tuple[str, str]:
    """(entry id, body) of one email-jobs message, in the shape of docs/architecture.md. The batch id is the
    position's (`batch_000001`) unless `batch` names another (retry-failed's `retry_1_000001`)."""
    bid = batch or batch_id(position)
    body = {
        "campaignId": c.campaign_id,
        "tenantId": c.tenant_id,
        "batchId": bid,
        "recipients": [r.to_json() for r in recipients],
        "templateId": c.template_id,
        "templateVersion": c.template_version,
        "priority": c.priority.value,
    }
    return bid, json.dumps(body, separators=(",", ":"), ensure_ascii=False)


class JobQueueError(RuntimeError):
    """SQS kept refusing some messages."""


class SqsJobQueue:
    """The `JobQueue` port: one long-lived SQS client and each priority's queue URL, resolved once at startup."""

    def __init__(self, sqs: SQSClient, queue_urls: Mapping[str, str]) -> None:
        self._sqs = sqs
        self._urls = dict(queue_urls)

    async def send(self, messages: Sequence[tuple[str, str]], priority: Priority) -> None:
        """Send (entry id, body) messages to the `priority` queue; the entry id is the batch id, unique within a
        call."""
        url = self._urls[priority.value]
        for group in group_messages(messages):
            await self._send_group(url, group)

    async def _send_group(self, url: str, group: list[tuple[str, str]]) -> None:
        pending = dict(group)
        for attempt in range(ENTRY_RETRIES + 1):
            response = await self._sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": entry_id, "MessageBody": body} for entry_id, body in pending.items()],
            )
            failed = response.get("Failed", [])
            if not failed:
                return
            # A sender fault (malformed entry) will not get better by retrying.
            if any(f.get("SenderFault") for f in failed):
                raise JobQueueError(f"SQS refused {len(failed)} message(s): {failed[0].get('Message')}")
            pending = {f["Id"]: pending[f["Id"]] for f in failed}
            await asyncio.sleep(0.2 * 2**attempt)
        raise JobQueueError(f"SQS failed {len(pending)} message(s) after {ENTRY_RETRIES} retries")
