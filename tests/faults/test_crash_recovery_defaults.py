"""No recipient left unsent after a crash, with the default settings (issue 15): the time from a kill -9 to `sent`
when a batch of the killed processor waits out the visibility timeout, its claims their lease, and the reconcile
window before a recipient in doubt is sent again. A file of its own, so it runs beside the other fault files."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

import pytest

from herald_cli.client import HeraldClient
from herald_cli.stack import DevStack
from tests.faults.conftest import (
    TEMPLATE_HTML,
    assert_everyone_once,
    claimed_by,
    extra_processor,
    recipients,
    ses_messages,
    set_faults,
    start_campaign,
    wait_until_sent,
)

if TYPE_CHECKING:
    from pathlib import Path

# The recovery time is measured on the wall clock.
pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.timing]


@pytest.mark.timeout(400)
def test_a_kill_9_with_default_settings_heals_within_90_seconds(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    # The defaults, not the fault tests' short settings: a batch of a killed processor stays invisible for the
    # visibility timeout (kept alive by the heartbeat while its owner lives), its claims for their lease, then the
    # reconcile window passes before a recipient in doubt is sent again. No campaign rate limit and slow SES calls
    # (200 ms, 30 % throttled) keep many calls in flight when the kill lands.
    logs = tmp_path_factory.mktemp("default-logs")
    with DevStack(prefix="dfl" + secrets.token_hex(4), ports="free", log_dir=logs) as defaults:
        set_faults(defaults, sesLatencyMs=200, sesThrottleRate=0.3)
        with HeraldClient(defaults.urls, defaults.token("acme", "marketer"), timeout=60) as api:
            api.put_template("faults", subject="News for {{ first_name }}", html=TEMPLATE_HTML)
            rows = recipients(1000)
            emails = [r["email"] for r in rows]
            with extra_processor(defaults, tmp_path) as second:
                campaign_id = start_campaign(api, rows)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and len(ses_messages(defaults, campaign_id)) < 200:
                    time.sleep(0.1)
                second.process.kill()  # kill -9 of one of the two processors; it stays dead
                second.process.wait()
                killed = time.monotonic()
                in_doubt = claimed_by(defaults, campaign_id, second.process.pid)
                campaign = wait_until_sent(api, campaign_id, timeout=300)
                recovery = time.monotonic() - killed
            print(
                f"\ndefault settings: {in_doubt} recipients in doubt after the kill -9; kill to sent: {recovery:.1f} s"
            )
            assert campaign["status"] == "sent"
            assert_everyone_once(defaults, api, campaign_id, emails)
            assert recovery < 90
