"""Soft-bounce retries: one recipient back on the email-jobs queue, with a delay (the flow document's message).

The job is the processor's ordinary batch message with one recipient: the processor claims the `pending` ledger row
(resends.py re-queued it) and sends as usual, so a duplicate job (a replay after a crash) sends nothing twice.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_sqs import SQSClient

    from herald_analytics.events.schemas import CampaignRef
    from herald_analytics.stats.watchers import CampaignSource

log = structlog.get_logger("herald.analytics")

# SQS: DelaySeconds is 0–900 (SendMessage API reference).
SQS_MAX_DELAY_SECONDS = 900


def retry_batch_id(attempt: int, email: str) -> str:
    """`retry_<n>_<hash>`: deterministic, within the batch id alphabet, one per recipient and retry."""
    return f"retry_{attempt}_{hashlib.sha256(email.encode()).hexdigest()[:16]}"


def retry_job(ref: CampaignRef, campaign: dict[str, Any], email: str, data: dict[str, Any], attempt: int) -> str:
    """The email-jobs message (docs/architecture.md, SQS) for one recipient's retry."""
    job: dict[str, Any] = {
        "campaignId": ref.campaign_id,
        "tenantId": ref.tenant_id,
        "batchId": retry_batch_id(attempt, email),
        "recipients": [{"email": email, "data": data}],
        "templateId": campaign.get("templateId"),
        "priority": campaign.get("priority") or "normal",
    }
    if campaign.get("templateVersion"):
        job["templateVersion"] = int(campaign["templateVersion"])
    return json.dumps(job, separators=(",", ":"))


class RetryJobs:
    """Puts retry jobs on `{prefix}-email-jobs-{priority}` (the campaign's priority); reads the recipient's
    personalisation data from its list in S3."""

    def __init__(
        self,
        sqs: SQSClient,
        queue_urls: Mapping[str, str],
        s3: S3Client,
        bucket: str,
        campaigns: CampaignSource,
        *,
        delay_seconds: int,
    ) -> None:
        self._sqs = sqs
        self._queue_urls = dict(queue_urls)
        self._s3 = s3
        self._bucket = bucket
        self._campaigns = campaigns
        self._delay = min(delay_seconds, SQS_MAX_DELAY_SECONDS)

    async def schedule(self, ref: CampaignRef, email: str, attempt: int) -> bool:
        """Queue retry `attempt` of `email`; False when the campaign is gone (nothing to retry)."""
        campaign = await self._campaigns.get(ref.tenant_id, ref.campaign_id)
        if campaign is None:
            return False
        data = await self._recipient_data(ref, email, int(campaign.get("recipientParts") or 0))
        priority = str(campaign.get("priority") or "normal")
        await self._sqs.send_message(
            QueueUrl=self._queue_urls.get(priority) or self._queue_urls["normal"],
            MessageBody=retry_job(ref, campaign, email, data, attempt),
            DelaySeconds=self._delay,
        )
        return True

    async def _recipient_data(self, ref: CampaignRef, email: str, parts: int) -> dict[str, Any]:
        """The recipient's `data` from the campaign's list, part by part (soft bounces are few, parts bounded)."""
        for part in range(1, parts + 1):
            key = f"recipients/{ref.tenant_id}/{ref.campaign_id}/part-{part:05d}.jsonl"
            try:
                response = await self._s3.get_object(Bucket=self._bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    continue  # a reserved part whose upload was abandoned
                raise
            async with response["Body"] as body:
                content = await body.read()
            for line in content.splitlines():
                if email.encode() in line.lower():
                    row = json.loads(line)
                    if str(row.get("email", "")).lower() == email:
                        data = row.get("data")
                        return data if isinstance(data, dict) else {}
        log.warning("analytics.retry_recipient_data_missing", tenantId=ref.tenant_id, campaignId=ref.campaign_id)
        return {}
