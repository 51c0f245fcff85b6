"""Recipient list parts in S3: `recipients/{tenantId}/{campaignId}/part-{n:05d}.jsonl`, one `{"email", "data"}`
per line, valid and unique (docs/architecture.md). Parts are immutable once written and read as streams."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from herald_campaign.campaigns.intake import Recipient

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import ObjectIdentifierTypeDef


def part_key(tenant_id: str, campaign_id: str, part: int) -> str:
    return f"recipients/{tenant_id}/{campaign_id}/part-{part:05d}.jsonl"


def invalid_key(tenant_id: str, campaign_id: str, part: int) -> str:
    return f"recipients/{tenant_id}/{campaign_id}/invalid-{part}.jsonl"


def campaign_prefix(tenant_id: str, campaign_id: str) -> str:
    return f"recipients/{tenant_id}/{campaign_id}/"


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
        async for line in self._lines(part_key(tenant_id, campaign_id, part)):
            yield _decode(line)

    async def iter_recipients(self, tenant_id: str, campaign_id: str, parts: int) -> AsyncIterator[Recipient]:
        """Every stored recipient of the campaign, in list order (part 1 first)."""
        for part in range(1, parts + 1):
            async for recipient in self.iter_part(tenant_id, campaign_id, part):
                yield recipient

    async def write_invalid(self, tenant_id: str, campaign_id: str, part: int, rows: Sequence[dict[str, Any]]) -> None:
        """Store one file of rows refused at intake (`{row, email, reason, data?}` per line)."""
        body = b"".join(
            json.dumps(r, separators=(",", ":"), ensure_ascii=False, default=str).encode() + b"\n" for r in rows
        )
        await self._s3.put_object(
            Bucket=self._bucket,
            Key=invalid_key(tenant_id, campaign_id, part),
            Body=body,
            ContentType="application/x-ndjson",
        )

    async def delete_invalid(self, tenant_id: str, campaign_id: str, part: int) -> None:
        await self._s3.delete_object(Bucket=self._bucket, Key=invalid_key(tenant_id, campaign_id, part))

    async def iter_invalid(self, tenant_id: str, campaign_id: str, parts: int) -> AsyncIterator[dict[str, Any]]:
        """Every row refused at intake, file by file, streamed (a missing file is empty)."""
        for part in range(1, parts + 1):
            async for line in self._lines(invalid_key(tenant_id, campaign_id, part)):
                row: dict[str, Any] = json.loads(line)
                yield row

    async def delete_all(self, tenant_id: str, campaign_id: str) -> int:
        """Delete every object of the campaign (recipient parts and invalid rows); how many there were."""
        deleted = 0
        paginator = self._s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self._bucket, Prefix=campaign_prefix(tenant_id, campaign_id)):
            keys: list[ObjectIdentifierTypeDef] = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                await self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        return deleted

    async def _lines(self, key: str) -> AsyncIterator[bytes]:
        try:
            response = await self._s3.get_object(Bucket=self._bucket, Key=key)
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
                        yield line
        finally:
            body.close()
        if pending.strip():
            yield pending


def _decode(line: bytes) -> Recipient:
    values = json.loads(line)
    return Recipient(values["email"], values.get("data") or {})
