"""SES tenants (SES v2 `CreateTenant`, `GetTenant`, `ListTenants`, `CreateTenantResourceAssociation`,
`ListTenantResources`, `DeleteTenant`), which moto lacks: each tenant has its own sending status, and a send naming a
`TenantName` goes out only when that tenant exists, has the send's configuration set and sending identity among its
resources, and its sending is not `DISABLED` (otherwise `SendingPausedException`, as for a paused account).

A tenant's sending status is `ENABLED` when created; the `sesTenantStatus` fault (`{tenantName: status}`) sets what
SES would after a review (DISABLED, REINSTATED), so tests can pause one tenant and not the others.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from herald_emulator.faults import FaultResponse, v2_error

if TYPE_CHECKING:
    from herald_emulator.messages import SendRequest

TENANTS_PATH = "/v2/email/tenants"
SENDING_STATUSES = ("ENABLED", "REINSTATED", "DISABLED")


@dataclass
class Tenant:
    name: str
    tenant_id: str
    arn: str
    created: float
    tags: list[dict[str, str]]
    resources: set[str] = field(default_factory=set)

    def view(self, status: str) -> dict[str, Any]:
        return {
            "TenantName": self.name,
            "TenantId": self.tenant_id,
            "TenantArn": self.arn,
            "CreatedTimestamp": self.created,
            "Tags": self.tags,
            "SendingStatus": status,
        }


def _ok(payload: dict[str, Any]) -> FaultResponse:
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4()))]
    return FaultResponse("200 OK", headers, json.dumps(payload).encode())


def _bad(message: str) -> FaultResponse:
    return v2_error("400 Bad Request", "BadRequestException", message)


def _missing(name: str) -> FaultResponse:
    return v2_error("404 Not Found", "NotFoundException", f"Tenant <{name}> does not exist.")


class TenantRegistry:
    """The account's SES tenants (per region). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tenants: dict[tuple[str, str], Tenant] = {}

    def clear(self) -> None:
        with self._lock:
            self._tenants.clear()

    def handles(self, method: str, path: str) -> bool:
        return method == "POST" and path.startswith(TENANTS_PATH)

    def call(
        self, path: str, body: bytes, region: str, account_id: str, statuses: dict[str, str] | None
    ) -> FaultResponse:
        """Answer one tenant operation (REST-JSON, as SES v2 does)."""
        try:
            params: dict[str, Any] = json.loads(body or b"{}")
        except ValueError:
            return _bad("The request body is not JSON.")
        if not isinstance(params, dict):
            return _bad("The request body is not a JSON object.")
        operation = path.removeprefix(TENANTS_PATH).rstrip("/")
        if operation == "/list":
            with self._lock:
                names = sorted(n for (r, n) in self._tenants if r == region)
            listed = [self._tenants[(region, n)] for n in names]
            return _ok({"Tenants": [{"TenantName": t.name, "TenantId": t.tenant_id, "TenantArn": t.arn,
                                     "CreatedTimestamp": t.created} for t in listed]})  # fmt: skip
        name = params.get("TenantName")
        if not isinstance(name, str) or not name:
            return _bad("TenantName is required.")
        if operation == "":
            return self._create(name, params, region, account_id)
        with self._lock:
            tenant = self._tenants.get((region, name))
        if tenant is None:
            return _missing(name)
        status = (statuses or {}).get(name, "ENABLED")
        if operation == "/get":
            return _ok({"Tenant": tenant.view(status)})
        if operation == "/delete":
            with self._lock:
                self._tenants.pop((region, name), None)
            return _ok({})
        if operation in ("/resources", "/resources/delete"):
            arn = params.get("ResourceArn")
            if not isinstance(arn, str) or not arn.startswith("arn:"):
                return _bad("ResourceArn must be an ARN.")
            with self._lock:
                if operation == "/resources":
                    tenant.resources.add(arn)
                else:
                    tenant.resources.discard(arn)
            return _ok({})
        if operation == "/resources/list":
            with self._lock:
                resources = sorted(tenant.resources)
            return _ok({"TenantResources": [{"ResourceType": _resource_type(a), "ResourceArn": a} for a in resources]})
        return v2_error("404 Not Found", "NotFoundException", f"no SES tenant operation {path}")

    def _create(self, name: str, params: dict[str, Any], region: str, account_id: str) -> FaultResponse:
        if len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
            return _bad("TenantName is 1 to 64 letters, digits, hyphens and underscores.")
        with self._lock:
            if (region, name) in self._tenants:
                return v2_error("400 Bad Request", "AlreadyExistsException", f"Tenant <{name}> already exists.")
            tenant_id = "tn-" + secrets.token_hex(12)
            tenant = Tenant(
                name=name,
                tenant_id=tenant_id,
                arn=f"arn:aws:ses:{region}:{account_id}:tenant/{name}/{tenant_id}",
                created=time.time(),
                tags=list(params.get("Tags") or []),
            )
            self._tenants[(region, name)] = tenant
        return _ok(tenant.view("ENABLED") | {"Tags": tenant.tags})

    def refuse(
        self, request: SendRequest, region: str, account_id: str, statuses: dict[str, str] | None
    ) -> FaultResponse | None:
        """Why a send naming a tenant is refused (None: it may go)."""
        name = request.tenant_name
        if not name:
            return None
        with self._lock:
            tenant = self._tenants.get((region, name))
            resources = set(tenant.resources) if tenant else set()
        if tenant is None:
            return _missing(name)
        prefix = f"arn:aws:ses:{region}:{account_id}:"
        if request.configuration_set and f"{prefix}configuration-set/{request.configuration_set}" not in resources:
            return _bad(f"Configuration set <{request.configuration_set}> is not associated with tenant <{name}>.")
        identities = {f"{prefix}identity/{request.from_domain}", f"{prefix}identity/{request.source_address.lower()}"}
        if not identities & resources:
            return _bad(f"Identity <{request.from_domain}> is not associated with tenant <{name}>.")
        if (statuses or {}).get(name) == "DISABLED":
            return v2_error("400 Bad Request", "SendingPausedException", f"Sending is disabled for tenant <{name}>.")
        return None


def _resource_type(arn: str) -> str:
    kind = arn.split(":", 5)[-1].split("/", 1)[0]
    return {"configuration-set": "CONFIGURATION_SET", "identity": "EMAIL_IDENTITY"}.get(kind, "EMAIL_TEMPLATE")
