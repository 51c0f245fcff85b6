"""SES tenants with real processes (HERALD_SES_TENANTS=true): two Herald tenants' campaigns go out under their own SES
tenants; once SES disables one tenant's sending, that tenant's campaign pauses while the other's is sent."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_cli.client import HeraldClient
from tests.faults.conftest import (
    TEMPLATE_HTML,
    audit,
    extra_processor,
    recipients,
    set_faults,
    start_campaign,
    wait_until_sent,
)

if TYPE_CHECKING:
    from pathlib import Path

    from herald_cli.stack import DevStack


# Real processes on the fault stack.
pytestmark = [pytest.mark.faults, pytest.mark.e2e]


def wait_for_status(client: HeraldClient, campaign_id: str, status: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    campaign = client.get_campaign(campaign_id)
    while campaign["status"] != status and time.monotonic() < deadline:
        time.sleep(0.5)
        campaign = client.get_campaign(campaign_id)
    return campaign


@pytest.mark.timeout(420)
def test_each_tenant_sends_under_its_ses_tenant_and_a_disabled_one_stops_alone(
    stack: DevStack, client: HeraldClient, tmp_path: Path
) -> None:
    stack.kill("processor", signal.SIGTERM)  # only processors with SES tenants on take these campaigns
    with HeraldClient(stack.urls, stack.token("globex", "marketer"), timeout=60) as globex:
        globex.put_template("faults", subject="News for {{ first_name }}", html=TEMPLATE_HTML)
        try:
            with extra_processor(stack, tmp_path, "tenants", {"HERALD_SES_TENANTS": "true"}):
                before = {
                    name: start_campaign(api, recipients(20)) for name, api in (("acme", client), ("globex", globex))
                }
                for name, api in (("acme", client), ("globex", globex)):
                    assert wait_until_sent(api, before[name], timeout=120)["status"] == "sent"
                    names = {m.get("tenantName") for m in audit(stack, before[name]).messages}
                    assert names == {f"{stack.prefix}-{name}"}, names

                set_faults(stack, sesTenantStatus={f"{stack.prefix}-acme": "DISABLED"})
                acme_id = start_campaign(client, recipients(40))
                globex_id = start_campaign(globex, recipients(40))
                acme = wait_for_status(client, acme_id, "paused", timeout=120)
                other = wait_until_sent(globex, globex_id, timeout=120)
        finally:
            httpx.delete(f"{stack.emulator_url}/_emulator/faults", timeout=10).raise_for_status()
            stack.restart("processor")
    assert acme["status"] == "paused", acme
    assert f"{stack.prefix}-acme" in acme["statusReason"], acme["statusReason"]
    assert audit(stack, acme_id).messages == []  # nothing sent for the disabled tenant
    assert other["status"] == "sent", other
    result = audit(stack, globex_id)
    assert len(result.messages) == 40
    assert {m["tenantName"] for m in result.messages} == {f"{stack.prefix}-globex"}
    headers = {"Authorization": f"Bearer {stack.token('acme', 'marketer')}"}
    httpx.post(f"{stack.urls.campaign}/campaigns/{acme_id}/cancel", headers=headers, timeout=10)
