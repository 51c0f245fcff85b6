"""Mailbox-provider pacing with real processes: the tenant's sending policy limits google for the whole fleet, two
processors share it, and the batch's other recipients are not held back behind it."""

from __future__ import annotations

import bisect
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.faults.conftest import audit, extra_processor, set_faults, start_campaign, wait_until_sent

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from herald_cli.client import HeraldClient
    from herald_cli.stack import DevStack

GOOGLE_PER_MINUTE = 60
GOOGLE_BLOCK = 1  # shared_throttle.Limit.block at 60/min: max(1, min(5, int(60 / 63 × 0.5)))


@pytest.fixture
def policy(stack: DevStack) -> Iterator[Any]:
    headers = {"Authorization": f"Bearer {stack.token('acme', 'admin')}"}

    def put(body: dict[str, Any]) -> None:
        httpx.put(f"{stack.urls.campaign}/sending-policy", json=body, headers=headers, timeout=10).raise_for_status()

    yield put
    put({"providers": {}})


def sent_times(messages: list[dict[str, Any]], domain: str) -> list[float]:
    return sorted(
        datetime.fromisoformat(m["sentAt"].replace("Z", "+00:00")).timestamp()
        for m in messages
        if m["destinations"][0].lower().endswith("@" + domain)
    )


def busiest(times: list[float], window: float) -> int:
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


@pytest.mark.timeout(420)
def test_google_limited_to_60_a_minute_across_two_processors(
    stack: DevStack, client: HeraldClient, policy: Any, tmp_path: Path
) -> None:
    set_faults(stack, sesMaxSendRate=20)  # SES's own rate, which the processors read and must never trip
    stack.restart("processor")
    try:
        policy({"providers": {"google": {"perMinute": GOOGLE_PER_MINUTE}}})
        tag = secrets.token_hex(3)
        rows = []
        for i in range(100):  # interleaved: every batch holds both kinds
            rows.append({"email": f"g{i:03d}.{tag}@gmail.com", "data": {"first_name": f"G{i}"}})
            rows.append({"email": f"e{i:03d}.{tag}@example.com", "data": {"first_name": f"E{i}"}})
        second_log = tmp_path / "processor-2.log"
        with extra_processor(stack, tmp_path):
            campaign_id = start_campaign(client, rows)
            campaign = wait_until_sent(client, campaign_id, timeout=360)
        assert campaign["status"] == "sent", campaign
        result = audit(stack, campaign_id)
        assert result.duplicates == {}
        assert result.states() == {"sent": 200}
        google, other = sent_times(result.messages, "gmail.com"), sent_times(result.messages, "example.com")
        assert (len(google), len(other)) == (100, 100)

        # example.com is not held back behind google's pace: all of it is out before google's 20th message.
        assert other[-1] < google[19], f"example.com ended {other[-1] - google[0]:.1f} s after google's first send"
        assert google[-1] - google[0] >= (100 - GOOGLE_PER_MINUTE - GOOGLE_BLOCK) / GOOGLE_PER_MINUTE * 60
        worst = busiest(google, 60.0)
        assert worst <= GOOGLE_PER_MINUTE + GOOGLE_BLOCK, f"{worst} google sends within 60 s"

        assert "processor.batch_done" in second_log.read_text(errors="replace"), "both processors must take part"
        log_text = stack.log_path("processor").read_text(errors="replace") + second_log.read_text(errors="replace")
        throttled = [
            line for line in log_text.splitlines() if "processor.send_throttled" in line and campaign_id in line
        ]
        assert throttled == [], "SES never had to throttle"
    finally:
        httpx.delete(f"{stack.emulator_url}/_emulator/faults", timeout=10).raise_for_status()
        stack.restart("processor")
