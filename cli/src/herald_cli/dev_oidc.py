"""The development identity provider (`ui/dev-oidc/server.mjs`, npm `oidc-provider`) as a subprocess of `herald dev`.

It issues RS256 access tokens with `tenant_id` and `roles` for the audience `herald-api`; `service_env()` is what
the services need to verify them (its JWKS and issuer), and keeps `herald token`'s HS256 tokens working beside them
(`HERALD_JWT_DEV_TOKENS`, development only).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self

from herald_cli.stack import stop_process

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_PORT = 9010
DEFAULT_DASHBOARDS = ("http://127.0.0.1:4200", "http://localhost:4200")  # `make ui`'s dev server
# Node starts the provider in well under a second; a loaded CI box may take a few.
STARTUP_TIMEOUT = 30.0
_REPO = Path(__file__).resolve().parents[3]
SCRIPT = Path(os.environ.get("HERALD_DEV_OIDC_SCRIPT", _REPO / "ui" / "dev-oidc" / "server.mjs"))


class DevIdentityProviderError(RuntimeError):
    """The provider could not be started (no Node, no `make ui-install`, a busy port)."""


@dataclass(frozen=True)
class SeededUser:
    email: str
    password: str
    tenant: str
    role: str


def _first_line(stream: IO[bytes], timeout: float) -> bytes:
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    try:
        if not selector.select(timeout):
            return b""
        return stream.readline()
    finally:
        selector.close()


class DevIdentityProvider:
    """`with DevIdentityProvider(port=...) as idp:` the provider runs, `idp.users` holds its seeded people."""

    def __init__(
        self,
        *,
        port: int = DEFAULT_PORT,
        dashboards: Sequence[str] = DEFAULT_DASHBOARDS,
        log_path: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port = port
        self.dashboards = tuple(dashboards)
        self.log_path = log_path
        self.extra_args = tuple(extra_args)
        self.report: dict[str, Any] = {}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return str(self.report["issuer"])

    @property
    def users(self) -> list[SeededUser]:
        return [SeededUser(**user) for user in self.report.get("users", [])]

    def service_env(self) -> dict[str, str]:
        """The services' settings for tokens from this provider (and, in dev, from `herald token`)."""
        return {
            "HERALD_JWKS_URL": str(self.report["jwksUrl"]),
            "HERALD_JWT_ISSUER": self.issuer,
            "HERALD_JWT_AUDIENCE": str(self.report["audience"]),
            "HERALD_JWT_TENANT_CLAIM": "tenant_id",
            "HERALD_JWT_ROLES_CLAIM": "roles",
            "HERALD_JWT_DEV_TOKENS": "true",
        }

    def dashboard_config(self) -> dict[str, Any]:
        """What the dashboard's `/config.json` says to sign in here."""
        return {
            "oidc": {"issuer": self.issuer, "clientId": self.report["clientId"], "scope": self.report["scope"]},
            "tokenSignIn": True,
        }

    def start(self) -> Self:
        node = shutil.which("node")
        if node is None:
            raise DevIdentityProviderError("Node.js is not installed (the dev identity provider runs on it)")
        if not (SCRIPT.parent.parent / "node_modules" / "oidc-provider").is_dir():
            raise DevIdentityProviderError("the dashboard's packages are missing; run `make ui-install`")
        command = [node, str(SCRIPT), "--port", str(self.port), *self.extra_args]
        for origin in self.dashboards:
            command += ["--dashboard", origin]
        if self.log_path is None:
            self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        else:
            with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
                self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
        assert self._process.stdout is not None
        line = _first_line(self._process.stdout, STARTUP_TIMEOUT)
        if not line:
            self.stop()
            where = f" (see {self.log_path})" if self.log_path else ""
            raise DevIdentityProviderError(f"the dev identity provider did not start on port {self.port}{where}")
        self.report = json.loads(line)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        stop_process(process)

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
