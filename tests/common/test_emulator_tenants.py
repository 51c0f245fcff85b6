"""SES tenants on the emulator: the SES v2 calls Herald makes for them answer as SES does, a send names its tenant
(recorded on the message), and a tenant whose sending SES disabled is refused while the others go on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest
from botocore.exceptions import ClientError

from herald_common.settings import HeraldSettings
from herald_emulator import Emulator
from tests.common.emulator_helpers import emulator_messages

if TYPE_CHECKING:
    pass


async def send(sesv2: Any, tenant: str | None, configuration_set: str, to: str) -> str:
    extra = {"TenantName": tenant} if tenant else {}
    answer = await sesv2.send_email(
        FromEmailAddress="news@example.com",
        Destination={"ToAddresses": [to]},
        Content={"Simple": {"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "x"}}}},
        ConfigurationSetName=configuration_set,
        **extra,
    )
    return str(answer["MessageId"])


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


async def test_tenants_are_created_read_and_associated(sesv2: Any, herald_settings: HeraldSettings) -> None:
    name = herald_settings.resource_prefix + "-acme"
    created = await sesv2.create_tenant(TenantName=name, Tags=[{"Key": "herald-tenant", "Value": "acme"}])
    assert created["TenantName"] == name
    assert created["SendingStatus"] == "ENABLED"
    assert created["TenantArn"].startswith("arn:aws:ses:us-east-1:")
    assert f":tenant/{name}/" in created["TenantArn"]
    with pytest.raises(ClientError) as again:
        await sesv2.create_tenant(TenantName=name)
    assert code(again) == "AlreadyExistsException"
    tenant = (await sesv2.get_tenant(TenantName=name))["Tenant"]
    assert (tenant["TenantId"], tenant["SendingStatus"]) == (created["TenantId"], "ENABLED")
    with pytest.raises(ClientError) as missing:
        await sesv2.get_tenant(TenantName=name + "-nope")
    assert code(missing) == "NotFoundException"
    arn = created["TenantArn"].split("tenant/")[0] + "identity/example.com"
    await sesv2.create_tenant_resource_association(TenantName=name, ResourceArn=arn)
    resources = (await sesv2.list_tenant_resources(TenantName=name))["TenantResources"]
    assert resources == [{"ResourceType": "EMAIL_IDENTITY", "ResourceArn": arn}]
    with pytest.raises(ClientError) as bad:
        await sesv2.create_tenant(TenantName="no spaces allowed")
    assert code(bad) == "BadRequestException"


async def test_a_send_goes_under_its_tenant_and_a_disabled_tenant_is_refused(
    sesv2: Any, herald_settings: HeraldSettings, tenant_emulator: Emulator
) -> None:
    configuration_set = herald_settings.resources.configuration_set
    names = [f"{herald_settings.resource_prefix}-{t}" for t in ("acme", "globex")]
    for name in names:
        prefix = (await sesv2.create_tenant(TenantName=name))["TenantArn"].split("tenant/")[0]
        with pytest.raises(ClientError) as unassociated:  # SES sends for a tenant only with its own resources
            await send(sesv2, name, configuration_set, "ada@example.org")
        assert code(unassociated) == "BadRequestException"
        for arn in (f"{prefix}configuration-set/{configuration_set}", f"{prefix}identity/example.com"):
            await sesv2.create_tenant_resource_association(TenantName=name, ResourceArn=arn)
    first = await send(sesv2, names[0], configuration_set, "ada@example.org")
    second = await send(sesv2, names[1], configuration_set, "bob@example.org")
    plain = await send(sesv2, None, configuration_set, "cy@example.org")
    recorded = {m["messageId"]: m.get("tenantName") for m in await emulator_messages(tenant_emulator.url)}
    assert (recorded[first], recorded[second], recorded[plain]) == (names[0], names[1], None)

    async with httpx.AsyncClient(base_url=tenant_emulator.url) as control:
        faults = {"sesTenantStatus": {names[0]: "DISABLED"}}
        (await control.put("/_emulator/faults", json=faults)).raise_for_status()
        bad = await control.put("/_emulator/faults", json={"sesTenantStatus": {names[1]: "PAUSED"}})
    assert bad.status_code == 400
    assert "sesTenantStatus" in bad.json()["detail"]
    assert (await sesv2.get_tenant(TenantName=names[0]))["Tenant"]["SendingStatus"] == "DISABLED"
    assert (await sesv2.get_tenant(TenantName=names[1]))["Tenant"]["SendingStatus"] == "ENABLED"
    with pytest.raises(ClientError) as paused:
        await send(sesv2, names[0], configuration_set, "ada@example.org")
    assert code(paused) == "SendingPausedException"
    assert await send(sesv2, names[1], configuration_set, "bob@example.org")  # the other tenant goes on
