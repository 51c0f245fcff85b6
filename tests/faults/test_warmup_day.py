"""Warm-up across the fleet with real processes: a new sending domain's day-0 allowance holds across two processors,
spread over the day (a day of 75 to 110 s: HERALD_PACING_DAY_SECONDS). A file of its own, so it runs
beside the other provider-pacing tests (test_deliverability.py)."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.faults.conftest import (
    audit,
    day_starting_soon,
    extra_processor,
    recipients,
    sent_times,
    start_campaign,
)

if TYPE_CHECKING:
    from pathlib import Path

    from herald_cli.client import HeraldClient
    from herald_cli.stack import DevStack

# Real processes sending at measured rates over wall-clock windows.
pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.timing]


@pytest.mark.timeout(420)
def test_the_days_warmup_ramp_holds_across_two_processors_spread_over_the_day(
    stack: DevStack, client: HeraldClient, policy: Any, tmp_path: Path
) -> None:
    length = day_starting_soon()
    day = {"HERALD_PACING_DAY_SECONDS": str(length)}
    stack.kill("processor", signal.SIGTERM)  # only the two processors with the short day take this campaign
    try:
        with (
            extra_processor(stack, tmp_path, "warm-1", day),
            extra_processor(stack, tmp_path, "warm-2", day),
        ):
            while time.time() % length > 10:  # start early in a day (a condition on the clock, not a guess)
                time.sleep(0.5)
            # example.com's first send under this ramp makes today its day 0: 30 sends, across the whole fleet.
            policy({"warmup": {"startPerDay": 30, "dailyGrowth": 2.0}})
            started = time.time()
            day_end = started - started % length + length
            campaign_id = start_campaign(client, recipients(200))
            while time.time() < day_end:
                time.sleep(1.0)
            status = client.get_campaign(campaign_id)["status"]
            result = audit(stack, campaign_id)
            headers = {"Authorization": f"Bearer {stack.token('acme', 'marketer')}"}
            httpx.post(f"{stack.urls.campaign}/campaigns/{campaign_id}/cancel", headers=headers, timeout=10)
        logs = [(tmp_path / f"{name}.log").read_text(errors="replace") for name in ("warm-1", "warm-2")]
    finally:
        stack.restart("processor")
    today = [t for t in sent_times(result.messages, "example.com") if t < day_end]
    window = day_end - started
    print(f"\nwarm-up day 0: {len(today)} sent over {window:.0f} s, the last {today[-1] - started:.1f} s in")
    # Never more than the day's 30 across the fleet; a processor's leased slots left unspent at the day's end
    # (up to a block of 5 less the one it spent) are lost, never sent twice.
    assert 30 - 2 * 4 <= len(today) <= 30, f"{len(today)} sent on day 0 of a 30-a-day ramp"
    assert status == "sending"  # the rest waits for the next day's allowance
    assert today[-1] - started >= 0.7 * window, "spread over the day, not sent at once"
    for count, at in enumerate(today, start=1):
        assert count <= 30 * (at - started) / window + 2, f"{count} sent {at - started:.1f} s into the day"
    for log_text in logs:
        assert campaign_id in log_text, "both processors must take part"
