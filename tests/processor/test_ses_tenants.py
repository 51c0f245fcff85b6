"""SES tenants (HERALD_SES_TENANTS): each Herald tenant's messages go out under its own SES tenant, created with its
resources on first use; a tenant SES disabled pauses (no send), the others go on. Against the emulator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from herald_common.settings import HeraldSettings
from herald_emulator import Emulator
from herald_processor.domain import OutgoingEmail, SendResult
from herald_processor.ses import SesEmailSender
from herald_processor.ses_tenants import SesTenants, TenantEmailSender, tenant_name
from tests.common.emulator_helpers import emulator_messages

if TYPE_CHECKING:
    pass


def email(tenant: str, to: str) -> OutgoingEmail:
    raw = f"From: news@example.com\r\nTo: {to}\r\nSubject: hi\r\n\r\nHello\r\n".encode()
    return OutgoingEmail(to, raw, {"herald-tenant": tenant}, tenant_id=tenant, from_address="news@example.com")


def test_the_ses_tenant_name_is_prefixed_and_fits_ses_limits() -> None:
    assert tenant_name("herald", "acme") == "herald-acme"
    long = tenant_name("herald", "t" * 64)
    assert len(long) == 64
    assert long != tenant_name("herald", "t" * 63 + "u")  # a hash keeps long names apart


async def test_each_tenant_sends_under_its_own_ses_tenant_and_a_disabled_one_pauses(
    sesv2: Any, herald_settings: HeraldSettings, tenant_emulator: Emulator
) -> None:
    prefix, configuration_set = herald_settings.resource_prefix, herald_settings.resources.configuration_set
    tenants = SesTenants(sesv2, prefix, configuration_set, clock=lambda: 0.0)  # the status cache never expires
    sender = TenantEmailSender(SesEmailSender(configuration_set, sesv2=sesv2), tenants)
    first = await sender.send(email("acme", "ada@example.org"))
    second = await sender.send(email("globex", "bob@example.org"))
    again = await sender.send(email("acme", "cy@example.org"))
    assert [o.result for o in (first, second, again)] == [SendResult.SENT] * 3
    recorded = {m["messageId"]: m.get("tenantName") for m in await emulator_messages(tenant_emulator.url)}
    assert recorded[first.message_id] == recorded[again.message_id] == f"{prefix}-acme"
    assert recorded[second.message_id] == f"{prefix}-globex"

    faults = {"sesTenantStatus": {f"{prefix}-acme": "DISABLED"}}
    httpx.put(f"{tenant_emulator.url}/_emulator/faults", json=faults, timeout=10).raise_for_status()
    # A processor that started after SES disabled the tenant (or whose cached status expired) does not even try.
    fresh = TenantEmailSender(
        SesEmailSender(configuration_set, sesv2=sesv2), SesTenants(sesv2, prefix, configuration_set)
    )
    paused = await fresh.send(email("acme", "dee@example.org"))
    assert paused.result is SendResult.PAUSE
    assert f"{prefix}-acme" in (paused.reason or "")
    assert "DISABLED" in (paused.reason or "")
    # One whose cached status is still ENABLED meets SES's refusal, which pauses the same way.
    refused = await sender.send(email("acme", "dee@example.org"))
    assert refused.result is SendResult.PAUSE
    assert (await fresh.send(email("globex", "eve@example.org"))).result is SendResult.SENT
    sent_to = [m["destinations"] for m in await emulator_messages(tenant_emulator.url)]
    assert ["dee@example.org"] not in sent_to
    assert ["eve@example.org"] in sent_to
