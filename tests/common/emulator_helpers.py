"""Helpers for the emulator tests: read SES events off a queue, read the emulator's message log."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx


async def drain_ses_events(sqs: Any, queue_url: str, expected: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Receive (and delete) SES events from an SNS-envelope queue until `expected` arrived or `timeout` passed."""
    return [event for _, event in await drain_ses_envelopes(sqs, queue_url, expected, timeout)]


async def drain_ses_envelopes(
    sqs: Any, queue_url: str, expected: int, timeout: float = 10.0
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """`drain_ses_events`, each event with its SNS envelope (whose `Timestamp` is when it was published)."""
    events: list[tuple[dict[str, Any], dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    while len(events) < expected and time.monotonic() < deadline:
        response = await sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = response.get("Messages", [])
        if not messages:
            await asyncio.sleep(0.02)
        for message in messages:
            envelope = json.loads(message["Body"])
            assert envelope["Type"] == "Notification"
            events.append((envelope, json.loads(envelope["Message"])))
        if messages:
            await sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
    return events


async def emulator_messages(url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/_emulator/ses/messages")
        response.raise_for_status()
        return list(response.json()["messages"])


async def settle(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)
