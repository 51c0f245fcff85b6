"""Daily pacing with real processes: a campaign four times larger than what is left of SES's daily quota is spread
over the rest of the day by two processors (a day of 75 to 110 s here, HERALD_PACING_DAY_SECONDS), never ahead of
the even spread, and still sending at the day's end rather than stopped at the quota."""

from __future__ import annotations

import signal
import time
from datetime import datetime
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.faults.conftest import (
    audit,
    aws_client,
    day_starting_soon,
    extra_processor,
    recipients,
    set_faults,
    start_campaign,
)

if TYPE_CHECKING:
    from pathlib import Path

    from herald_cli.client import HeraldClient
    from herald_cli.stack import DevStack

# Real processes sending at measured rates over wall-clock windows: a file's timing tests run one at a time.
pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.timing]

LEFT = 20  # what is left of the day's quota when the campaign starts


@pytest.mark.timeout(420)
def test_a_campaign_larger_than_the_quota_left_is_spread_over_the_rest_of_the_day(
    stack: DevStack, client: HeraldClient, tmp_path: Path
) -> None:
    day = day_starting_soon()
    paced = {"HERALD_PACING_DAY_SECONDS": str(day), "HERALD_SES_QUOTA_INTERVAL": "1"}
    stack.kill("processor", signal.SIGTERM)  # only the two processors with the short day take this campaign
    try:
        with (
            extra_processor(stack, tmp_path, "paced-1", paced),
            extra_processor(stack, tmp_path, "paced-2", paced),
        ):
            # Start early in a day, so most of it is left to spread over (a condition on the clock, not a guess).
            while time.time() % day > 10:
                time.sleep(0.5)
            sent_before = aws_client(stack, "sesv2").get_account()["SendQuota"]["SentLast24Hours"]
            set_faults(stack, sesMax24HourSend=sent_before + LEFT)
            started = time.time()
            day_end = started - started % day + day
            campaign_id = start_campaign(client, recipients(4 * LEFT))
            observed: list[tuple[float, str]] = []
            while time.time() < day_end:
                observed.append((time.time(), client.get_campaign(campaign_id)["status"]))
                time.sleep(1.0)
            time.sleep(2)  # a moment for the day's last sends to be recorded
            result = audit(stack, campaign_id)
            headers = {"Authorization": f"Bearer {stack.token('acme', 'marketer')}"}
            httpx.post(f"{stack.urls.campaign}/campaigns/{campaign_id}/cancel", headers=headers, timeout=10)
    finally:
        httpx.delete(f"{stack.emulator_url}/_emulator/faults", timeout=10).raise_for_status()
        stack.restart("processor")

    times = sorted(datetime.fromisoformat(m["sentAt"].replace("Z", "+00:00")).timestamp() for m in result.messages)
    today = [t for t in times if t < day_end]
    window = day_end - started
    print(
        f"\n{len(today)} sent over {window:.0f} s; first {today[0] - started:.1f} s, last {today[-1] - started:.1f} s"
    )
    # The campaign stays `sending` all day, the quota's end included: it never meets SES's refusal (and a quota
    # pause). Over the last 10 sends of the quota each send holds the fleet's lease (quota_lease.py) from a fresh read
    # of what is left to SES's answer, so the two processors never both read "one left" and both send it.
    assert {status for _, status in observed} == {"sending"}, f"left `sending` before the day's end: {observed}"
    assert LEFT - 3 <= len(today) <= LEFT  # the day's quota is used, never passed
    assert today[-1] - started >= 0.8 * window, "still sending towards the day's end: spread, not front-loaded"
    for count, at in enumerate(today, start=1):
        # Never ahead of the even spread by more than the shared bucket's one token and a quota read's lag.
        assert count <= LEFT * (at - started) / window + 2, f"{count} sent {at - started:.1f} s into the day"
    assert result.duplicates == {}
