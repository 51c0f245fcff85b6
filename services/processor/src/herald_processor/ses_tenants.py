"""SES tenants (`HERALD_SES_TENANTS=true`): each Herald tenant sends through its own SES tenant, which SES gives its
own reputation, suppression list and sending status, so one tenant's bad list cannot pause the others.

The SES tenant of Herald tenant `acme` is `{prefix}-acme` (a hash replaces the end of a name over SES's 64
characters). On a tenant's first send a processor creates it (`CreateTenant`; one that exists is fine) and
associates the configuration set and the sending domain's identity with it (`CreateTenantResourceAssociation`);
every send then names it (`TenantName`). Its sending status is read (`GetTenant`, cached STATUS_CACHE_SECONDS): when
SES has set it to DISABLED, that tenant's campaigns pause with the reason (the send is not tried), and the other
tenants go on. A send SES refuses for the tenant (`SendingPausedException`) pauses the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import TYPE_CHECKING

import structlog
from botocore.exceptions import ClientError

from herald_processor.domain import SendOutcome, SendResult
from herald_processor.providers import domain_of
from herald_processor.repository import error_code

if TYPE_CHECKING:
    from collections.abc import Callable

    from types_aiobotocore_sesv2 import SESV2Client

    from herald_processor.domain import OutgoingEmail
    from herald_processor.ses import SesEmailSender

log = structlog.get_logger("herald.processor.ses_tenants")

STATUS_CACHE_SECONDS = 5.0  # how soon a tenant SES disabled stops sending, per processor
MAX_NAME = 64  # SES: a tenant name is 1-64 characters of [A-Za-z0-9_-]
DISABLED = "DISABLED"


def tenant_name(prefix: str, tenant_id: str) -> str:
    """The SES tenant of a Herald tenant: `{prefix}-{tenant}`, shortened with a hash when over 64 characters."""
    name = f"{prefix}-{tenant_id}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{name[: MAX_NAME - 13]}-{digest}"


class SesTenants:
    """Creates SES tenants with their resources on first use and reads their sending status."""

    def __init__(
        self,
        sesv2: SESV2Client,
        prefix: str,
        configuration_set: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ses = sesv2
        self._prefix = prefix
        self._configuration_set = configuration_set
        self._clock = clock
        self._arn_prefix: dict[str, str] = {}  # tenant name -> `arn:aws:ses:{region}:{account}:`
        self._associated: set[tuple[str, str]] = set()
        self._status: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def prepare(self, tenant_id: str, from_domain: str) -> str:
        """The tenant's SES tenant name, created and associated with the configuration set and `from_domain`."""
        name = tenant_name(self._prefix, tenant_id)
        if (name, from_domain) in self._associated:
            return name
        async with self._locks.setdefault(name, asyncio.Lock()):
            if name not in self._arn_prefix:
                self._arn_prefix[name] = await self._create(name, tenant_id)
            prefix = self._arn_prefix[name]
            for arn in (f"{prefix}configuration-set/{self._configuration_set}", f"{prefix}identity/{from_domain}"):
                await self._associate(name, arn)
            self._associated.add((name, from_domain))
        return name

    async def sending_status(self, name: str) -> str:
        """SES's sending status of the tenant (ENABLED, REINSTATED, DISABLED), read at most every few seconds."""
        cached = self._status.get(name)
        now = self._clock()
        if cached is None or cached[1] <= now:
            status = str((await self._ses.get_tenant(TenantName=name))["Tenant"].get("SendingStatus") or "ENABLED")
            if status == DISABLED and (cached is None or cached[0] != DISABLED):
                log.error("processor.ses_tenant_disabled", sesTenant=name)
            cached = self._status[name] = (status, now + STATUS_CACHE_SECONDS)
        return cached[0]

    async def _create(self, name: str, tenant_id: str) -> str:
        try:
            answer = await self._ses.create_tenant(TenantName=name, Tags=[{"Key": "herald-tenant", "Value": tenant_id}])
            arn = answer["TenantArn"]
            log.info("processor.ses_tenant_created", sesTenant=name)
        except ClientError as exc:
            if error_code(exc) != "AlreadyExistsException":
                raise
            arn = (await self._ses.get_tenant(TenantName=name))["Tenant"]["TenantArn"]
        # arn:aws:ses:{region}:{account}:tenant/{name}/{id} → the prefix of the account's SES ARNs
        return arn.split("tenant/", 1)[0]

    async def _associate(self, name: str, arn: str) -> None:
        try:
            await self._ses.create_tenant_resource_association(TenantName=name, ResourceArn=arn)
        except ClientError as exc:
            if error_code(exc) not in ("AlreadyExistsException", "ConflictException"):
                raise


class TenantEmailSender:
    """`EmailSender` that sends each message under its Herald tenant's SES tenant."""

    def __init__(self, sender: SesEmailSender, tenants: SesTenants) -> None:
        self._sender = sender
        self._tenants = tenants

    async def send(self, email: OutgoingEmail) -> SendOutcome:
        """Send under the tenant's SES tenant; a DISABLED tenant pauses its campaign without a send."""
        try:
            name = await self._tenants.prepare(email.tenant_id, domain_of(email.from_address))
            status = await self._tenants.sending_status(name)
        except ClientError as exc:
            # Nothing was sent: the claim goes back and the batch tries again after a backoff.
            log.warning("processor.ses_tenant_unavailable", error=str(exc))
            return SendOutcome(SendResult.TRANSIENT, reason=f"SES tenant: {error_code(exc)}")
        if status == DISABLED:
            return SendOutcome(SendResult.PAUSE, reason=f"SES tenant {name} sending status is {status}")
        return await self._sender.send(email, tenant_name=name)
