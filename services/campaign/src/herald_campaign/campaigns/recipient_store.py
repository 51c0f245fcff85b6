"""Recipient list parts in S3: `recipients/{tenantId}/{campaignId}/part-{n:05d}.jsonl`, one `{"email", "data"}`
per line, valid and unique (docs/architecture.md). Parts are immutable once written and read as streams."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from herald_campaign.campaigns.intake import Recipient

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from types_aiobotocore_s3 import S3Client


def part_key(tenant_id: str, campaign_id: str, part: int) -> str:
    return f"recipients/{tenant_id}/{campaign_id}/part-{part:05d}.jsonl"


def encode_part(recipients: Sequence[Recipient]) -> bytes:
    return b"".join(
        json.dumps(r.to_json(), separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for r in recipients
    )


class S3RecipientStore:
    """The `RecipientStore` port over one long-lived S3 client."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    async def write_part(self, tenant_id: str, campaign_id: str, part: int, recipients: Sequence[Recipient]) -> None:
        """Store one part (the caller has reserved its number)."""
        await self._s3.put_object(
            Bucket=self._bucket,
            Key=part_key(tenant_id, campaign_id, part),
            Body=encode_part(recipients),
            ContentType="application/x-ndjson",
        )

    async def delete_part(self, tenant_id: str, campaign_id: str, part: int) -> None:
        await self._s3.delete_object(Bucket=self._bucket, Key=part_key(tenant_id, campaign_id, part))

    async def iter_part(self, tenant_id: str, campaign_id: str, part: int) -> AsyncIterator[Recipient]:
        """The recipients of one part, streamed. A missing part (a reserved number whose upload was abandoned) is
        empty."""
        try:
            response = await self._s3.get_object(Bucket=self._bucket, Key=part_key(tenant_id, campaign_id, part))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return
            raise
        pending = b""
        body = response["Body"]
        try:
            async for chunk in body.iter_chunks(64 * 1024):
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    if line.strip():
                        yield _decode(line)
        finally:
            body.close()
        if pending.strip():
            yield _decode(pending)

    async def iter_recipients(self, tenant_id: str, campaign_id: str, parts: int) -> AsyncIterator[Recipient]:
        """Every stored recipient of the campaign, in list order (part 1 first)."""
        for part in range(1, parts + 1):
            async for recipient in self.iter_part(tenant_id, campaign_id, part):
                yield recipient


def _decode(line: bytes) -> Recipient:
    values = json.loads(line)
    return Recipient(values["email"], values.get("data") or {})
