"""Mailbox-provider pacing with real processes: the tenant's sending policy limits google for the whole fleet, two
processors share it, and the batch's other recipients are not held back behind it."""

from __future__ import annotations

import bisect
import secrets
import signal
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.faults.conftest import (
    audit,
    aws_client,
    extra_processor,
    sent_times,
    set_faults,
    start_campaign,
    wait_until_sent,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from herald_cli.client import HeraldClient
    from herald_cli.stack import DevStack

# Real processes sending at measured rates over wall-clock windows: a file's timing tests run one at a time.
pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.timing]

GOOGLE_PER_MINUTE = 60
GOOGLE_BLOCK = 1  # shared_throttle.Limit.block at 60/min: max(1, min(5, int(60 / 63 × 0.5)))


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
            started = time.time()
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
        print(  # the figures, for `pytest -s`
            f"\ngoogle: busiest 60 s {worst}, span {google[-1] - google[0]:.1f} s; "
            f"example.com: done {other[-1] - other[0]:.1f} s after its first send, before google's 20th"
        )
        assert worst <= GOOGLE_PER_MINUTE + GOOGLE_BLOCK, f"{worst} google sends within 60 s"

        # Both processors sent some (a batch's google part often ends on the other one, so not every batch is "done"
        # where it started).
        second = second_log.read_text(errors="replace").splitlines()
        assert any("processor.batch_counted" in line and "'sent':" in line for line in second), "both must send"
        # Both paced to SES's rate as they read it: they took their tokens from the fleet's `account` bucket at 20 a
        # second, leased during this campaign. (SES's refusals are no measure here: on a loaded machine the emulator
        # answers the processors' chunk claims late and together, so their paced sends reach it in bursts. A run at
        # the suite's start met 13 refusals in one 0.7 s burst; the same fleet with SES's rate read as 1,000 a second
        # met 37 on a quiet machine. The single-processor rate test, tests/processor/test_emulator_send_rate.py,
        # counts refusals.)
        account = aws_client(stack, "dynamodb").get_item(
            TableName=stack.settings.resources.throttle_table, Key={"bucketKey": {"S": "account"}}, ConsistentRead=True
        )["Item"]
        assert float(account["rate"]["N"]) == 20.0
        assert float(account["refilledAt"]["N"]) > started
        log_text = stack.log_path("processor").read_text(errors="replace") + second_log.read_text(errors="replace")
        refused = sum("processor.send_throttled" in line and campaign_id in line for line in log_text.splitlines())
        print(f"SES refused {refused} sends (throttled; each sent again later)")
    finally:
        httpx.delete(f"{stack.emulator_url}/_emulator/faults", timeout=10).raise_for_status()
        stack.restart("processor")


def google_factor(url: str) -> float | None:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith("herald_provider_rate_factor{") and 'provider="google"' in line and 'tenant="acme"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_for_factor(urls: list[str], done: Callable[[float], bool], timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        factors = [f for f in (google_factor(url) for url in urls) if f is not None]
        if factors and all(done(f) for f in factors):
            return time.time()
        time.sleep(0.5)
    raise AssertionError(f"google's rate factor never got there (last: {[google_factor(u) for u in urls]})")


@pytest.mark.timeout(420)
def test_delivery_delays_lower_a_providers_rate_and_it_recovers(
    stack: DevStack, client: HeraldClient, policy: Any, tmp_path: Path
) -> None:
    # 10-second intervals, so the test sees several within a minute; steps as the default's, but a faster climb.
    pacing = {
        "HERALD_PACING_INTERVAL_SLOTS": "1",
        "HERALD_PACING_THRESHOLD": "3",
        "HERALD_PACING_DECREASE": "0.5",
        "HERALD_PACING_INCREASE": "0.5",
    }
    stack.kill("processor", signal.SIGTERM)  # only the two paced processors take this campaign
    try:
        policy({"providers": {"google": {"perMinute": 600}}})
        set_faults(stack, domainFaults={"gmail.com": {"deliveryDelayRate": 1}})
        tag = secrets.token_hex(3)
        rows = [{"email": f"g{i:03d}.{tag}@gmail.com", "data": {"first_name": f"G{i}"}} for i in range(400)]
        with (
            extra_processor(stack, tmp_path, "paced-1", pacing) as first,
            extra_processor(stack, tmp_path, "paced-2", pacing) as second,
        ):
            campaign_id = start_campaign(client, rows)
            lowered_at = wait_for_factor([first.url, second.url], lambda f: f <= 0.25, timeout=90)
            time.sleep(10)  # an interval at the lowered rate
            httpx.delete(f"{stack.emulator_url}/_emulator/faults", timeout=10).raise_for_status()
            cleared_at = time.time()
            recovered_at = wait_for_factor([first.url, second.url], lambda f: f == 1.0, timeout=90)
            campaign = wait_until_sent(client, campaign_id, timeout=240)
        assert campaign["status"] == "sent", campaign
        result = audit(stack, campaign_id)
        assert result.duplicates == {}
        google = sent_times(result.messages, "gmail.com")
        lowered = bisect.bisect_left(google, cleared_at) - bisect.bisect_left(google, lowered_at)
        # At a quarter of 10/s or less (plus a block per processor); the policy rate would have sent ~100.
        assert lowered / (cleared_at - lowered_at) <= 0.25 * 600 / 60 + 1, f"{lowered} sends while lowered"
        assert recovered_at - cleared_at < 60
        print(
            f"\ngoogle while lowered: {lowered / (cleared_at - lowered_at):.2f}/s (policy 10/s); "
            f"recovered {recovered_at - cleared_at:.1f} s after the delays stopped"
        )
    finally:
        httpx.delete(f"{stack.emulator_url}/_emulator/faults", timeout=10).raise_for_status()
        stack.restart("processor")
