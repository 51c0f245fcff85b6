"""One Herald stack (emulator + four services as real processes) shared by the security test modules of a run.

Started on first use and stopped when the test process exits (`DevStack.start` registers that), so the route × role
matrix, the tenant isolation suite and the schemathesis run pay for one start-up between them.
"""

from __future__ import annotations

import json
import secrets
import tempfile

from herald_cli.stack import DevStack
from herald_common.api_keys import key_digest

# Render API keys configured on the template service of this stack (other teams' keys, stored as digests).
ACME_TEAM_KEY = "acme-growth-team-" + secrets.token_hex(16)
GLOBEX_TEAM_KEY = "globex-team-" + secrets.token_hex(16)
TEAM_KEYS = [
    {"name": "acme-growth", "sha256": key_digest(ACME_TEAM_KEY), "tenants": ["acme"]},
    {"name": "globex-web", "sha256": key_digest(GLOBEX_TEAM_KEY), "tenants": ["globex"]},
]
SERVICE_KEY = "security-suite-service-key-" + secrets.token_hex(16)

_stack: DevStack | None = None


def live_stack() -> DevStack:
    """The running stack (started on the first call)."""
    global _stack
    if _stack is None:
        env = {"HERALD_TEMPLATE_API_KEYS": json.dumps(TEAM_KEYS), "HERALD_SERVICE_KEY": SERVICE_KEY}
        stack = DevStack(
            prefix="sec" + secrets.token_hex(4),
            ports="free",
            env=env,
            log_dir=tempfile.mkdtemp(prefix="herald-security-"),
        )
        _stack = stack.start()
    return _stack


def bearer(stack: DevStack, tenant: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token(tenant, role)}"}
