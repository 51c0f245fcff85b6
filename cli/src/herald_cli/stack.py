"""`DevStack`: the embedded AWS emulator and the four services, run as real subprocesses on one machine.

`herald dev`, `herald demo` and the end-to-end tests all start Herald through this class, so they exercise exactly the
console scripts a user runs:

    with DevStack(ports="free") as stack:
        token = stack.token("acme", "marketer")
        httpx.get(f"{stack.urls.campaign}/campaigns", headers={"Authorization": f"Bearer {token}"})
        stack.kill("processor")       # SIGKILL, as a crash would
        stack.restart("processor")    # back on the same port, healthy
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import httpx

from herald_cli.client import DEFAULT_HOST, DEFAULT_PORTS, ServiceUrls
from herald_common.auth import mint_token
from herald_common.settings import DEV_AWS_KEY, HeraldSettings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

SERVICES = ("template", "campaign", "analytics", "processor")
COMPONENTS = ("emulator", *SERVICES)
PortChoice = Literal["default", "free"] | dict[str, int]

# The emulator imports moto and provisions every resource before services may use it; services import FastAPI and
# aioboto3. On a loaded 2-core machine the whole stack is up in 5-15 s; the timeout leaves room for a slow CI box.
DEFAULT_STARTUP_TIMEOUT = 90.0
# uvicorn drains in-flight requests and the processor releases its claimed batches on SIGTERM; past this, SIGKILL.
DEFAULT_GRACE_PERIOD = 10.0
_POLL_INTERVAL = 0.1
DEV_SOFT_BOUNCE_RETRY_DELAY = "5"  # seconds; the analytics default is 30


class StackError(RuntimeError):
    """A component could not be started (or died while starting). The message names its log file."""


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port the OS considers free right now (another process may still take it before we bind; unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int, host: str = DEFAULT_HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def stack_is_up(campaign_url: str | None = None, timeout: float = 1.0) -> bool:
    """Whether a Herald stack already answers at `campaign_url` (default: the campaign service's default address)."""
    url = (campaign_url or ServiceUrls.defaults().campaign).rstrip("/")
    try:
        return httpx.get(f"{url}/healthz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _resolve_ports(ports: PortChoice, host: str) -> dict[str, int]:
    if ports == "default":
        return dict(DEFAULT_PORTS)
    if ports == "free":
        return {name: free_port(host) for name in COMPONENTS}
    missing = set(COMPONENTS) - set(ports)
    if missing:
        raise ValueError(f"ports is missing {sorted(missing)}")
    return {name: ports[name] for name in COMPONENTS}


@dataclass
class _Component:
    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class DevStack:
    """The emulator and the four services as subprocesses of this process, from this interpreter's venv."""

    def __init__(
        self,
        *,
        prefix: str = "herald",
        ports: PortChoice = "default",
        host: str = DEFAULT_HOST,
        log_dir: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        provision: bool = True,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        grace_period: float = DEFAULT_GRACE_PERIOD,
        bin_dir: Path | str | None = None,
    ) -> None:
        self.prefix = prefix
        self.host = host
        self.ports = _resolve_ports(ports, host)
        self.urls = ServiceUrls.for_ports(self.ports, host)
        self.log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="herald-stack-"))
        self.provision = provision
        self.startup_timeout = startup_timeout
        self.grace_period = grace_period
        # The console scripts of this interpreter's venv, unless told otherwise.
        self.bin_dir = Path(bin_dir) if bin_dir is not None else Path(sys.executable).parent
        # The secrets and JWT settings come from this process's environment, so `herald token` run alongside
        # mints tokens the stack accepts.
        base = HeraldSettings()
        self.settings = HeraldSettings(
            resource_prefix=prefix,
            aws_endpoint_url=self.urls.emulator,
            aws_region=base.aws_region,
            template_url=self.urls.template,
            public_url=self.urls.campaign,
            jwt_secret=base.jwt_secret,
            jwt_issuer=base.jwt_issuer,
            jwt_audience=base.jwt_audience,
            jwt_tenant_claim=base.jwt_tenant_claim,
            jwt_roles_claim=base.jwt_roles_claim,
            jwt_dev_tokens=base.jwt_dev_tokens,
            unsubscribe_secret=base.unsubscribe_secret,
        )
        self.env = self._child_env(env or {})
        self._components = {
            name: _Component(name, self.ports[name], self.log_dir / f"{name}.log") for name in COMPONENTS
        }

    # Public API ---------------------------------------------------------------------------------------------
    @property
    def emulator_url(self) -> str:
        return self.urls.emulator

    def token(self, tenant_id: str, *roles: str, ttl_seconds: int = 3600) -> str:
        """A dev JWT this stack accepts."""
        return mint_token(self.settings, tenant_id=tenant_id, roles=roles or ("marketer",), ttl_seconds=ttl_seconds)

    def log_path(self, name: str) -> Path:
        return self._component(name).log_path

    def process(self, name: str) -> subprocess.Popen[bytes] | None:
        return self._component(name).process

    def is_running(self, name: str) -> bool:
        return self._component(name).running

    def start(self) -> Self:
        """Start the emulator (and wait until its resources are provisioned), then the four services (healthy)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        busy = [f"{name} ({port})" for name, port in self.ports.items() if port_in_use(port, self.host)]
        if busy:
            raise StackError(f"ports already in use: {', '.join(busy)}; is another Herald stack running?")
        atexit.register(self.stop)
        try:
            self._spawn("emulator")
            self._wait_ready(["emulator"])
            for name in SERVICES:
                self._spawn(name)
            self._wait_ready(SERVICES)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM the services, then the emulator they drain against; SIGKILL whatever outlives the grace period."""
        self._terminate([self._components[name] for name in SERVICES])
        self._terminate([self._components["emulator"]])
        atexit.unregister(self.stop)

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send `sig` to one component (default SIGKILL: a crash, no cleanup) and wait for it to exit; one still
        running after the grace period is killed, so a caller never shares the stack with it."""
        component = self._component(name)
        if component.process is None or not component.running:
            return
        component.process.send_signal(sig)
        try:
            component.process.wait(timeout=self.grace_period)
        except subprocess.TimeoutExpired:
            component.process.kill()
            component.process.wait()

    def restart(self, name: str) -> None:
        """Stop one component (gracefully unless it is already dead), start it again on its port, wait healthy."""
        self._terminate([self._component(name)])
        self._spawn(name)
        self._wait_ready([name])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Internals ----------------------------------------------------------------------------------------------
    def _component(self, name: str) -> _Component:
        try:
            return self._components[name]
        except KeyError:
            raise ValueError(f"unknown component {name!r}; one of {', '.join(COMPONENTS)}") from None

    def _child_env(self, extra: Mapping[str, str]) -> dict[str, str]:
        # A dev stack retries soft bounces after seconds, not the service's default half minute, so a demo shows
        # the whole retry chain; the environment still wins.
        env = {"HERALD_ANALYTICS_SOFT_BOUNCE_RETRY_DELAY_SECONDS": DEV_SOFT_BOUNCE_RETRY_DELAY} | dict(os.environ)
        # The stack always talks to its own emulator: never hand it a real profile or session.
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
            env.pop(key, None)
        s = self.settings
        env |= {
            "AWS_ENDPOINT_URL": self.urls.emulator,
            "AWS_REGION": s.aws_region,
            "AWS_DEFAULT_REGION": s.aws_region,
            "AWS_ACCESS_KEY_ID": DEV_AWS_KEY,
            "AWS_SECRET_ACCESS_KEY": DEV_AWS_KEY,
            "HERALD_ENV": "dev",
            "HERALD_RESOURCE_PREFIX": self.prefix,
            "HERALD_TEMPLATE_URL": self.urls.template,
            "HERALD_PUBLIC_URL": self.urls.campaign,
            "HERALD_JWT_SECRET": s.jwt_secret,
            "HERALD_JWT_ISSUER": s.jwt_issuer,
            "HERALD_JWT_AUDIENCE": s.jwt_audience,
            "HERALD_JWT_TENANT_CLAIM": s.jwt_tenant_claim,
            "HERALD_JWT_ROLES_CLAIM": s.jwt_roles_claim,
            "HERALD_UNSUBSCRIBE_SECRET": s.unsubscribe_secret,
            "PYTHONUNBUFFERED": "1",
        }
        env |= extra
        return env

    def _command(self, name: str) -> list[str]:
        script = self.bin_dir / f"herald-{name}"
        if not script.exists():
            raise StackError(f"{script} is not installed; run `make install`")
        command = [str(script), "--host", self.host, "--port", str(self.ports[name])]
        if name == "emulator":
            command += ["--prefix", self.prefix] if self.provision else ["--no-provision"]
        return command

    def _spawn(self, name: str) -> None:
        component = self._components[name]
        command = self._command(name)
        with component.log_path.open("ab") as log:
            log.write(f"\n=== {datetime.now(UTC).isoformat()} {' '.join(command)}\n".encode())
            log.flush()
            # A session of its own: Ctrl-C in `herald dev` reaches only the launcher, which then stops the
            # components in order (services first, emulator last) instead of all of them at once.
            component.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip

    def _terminate(self, components: Iterable[_Component]) -> None:
        alive = [c for c in components if c.process is not None and c.running]
        for c in alive:
            assert c.process is not None
            c.process.terminate()
        deadline = time.monotonic() + self.grace_period
        for c in alive:
            assert c.process is not None
            try:
                c.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                c.process.kill()
                c.process.wait(timeout=5)

    def _wait_ready(self, names: Iterable[str]) -> None:
        pending = {name: self._readiness_check(name) for name in names}
        deadline = time.monotonic() + self.startup_timeout
        while pending:
            for name, ready in list(pending.items()):
                component = self._components[name]
                if not component.running:
                    raise StackError(
                        f"{name} exited while starting (see {component.log_path}):\n{component.log_tail()}"
                    )
                if ready():
                    del pending[name]
            if not pending:
                return
            if time.monotonic() > deadline:
                names_left = ", ".join(sorted(pending))
                raise StackError(f"not healthy after {self.startup_timeout:.0f} s: {names_left} (logs: {self.log_dir})")
            time.sleep(_POLL_INTERVAL)

    def _readiness_check(self, name: str) -> Callable[[], bool]:
        if name != "emulator":
            url = f"{getattr(self.urls, name)}/healthz"
            return lambda: _answers(url, expect_ok=True)
        url = f"{self.urls.emulator}/_emulator/ses/messages"
        if not self.provision:
            return lambda: _answers(url, expect_ok=False)
        return lambda: _answers(url, expect_ok=False) and _provisioned(self.settings)


@contextlib.contextmanager
def serving(
    command: Sequence[str],
    url: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 30.0,
    name: str = "server",
) -> Iterator[subprocess.Popen[bytes]]:
    """One server process, yielded once `{url}/healthz` answers 200; SIGTERM on exit, SIGKILL if it lingers.

    For the single servers benchmarks and tests start (a stub, one service); DevStack runs the whole stack."""
    process = subprocess.Popen(
        list(command), env=dict(env) if env is not None else None, cwd=cwd, stdin=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(f"{url.rstrip('/')}/healthz", expect_ok=True):
            if process.poll() is not None:
                raise StackError(f"{name} exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise StackError(f"{name} did not answer on {url} within {timeout:.0f} s")
            time.sleep(0.05)
        yield process
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `grace` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _answers(url: str, *, expect_ok: bool) -> bool:
    try:
        response = httpx.get(url, timeout=1.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 or not expect_ok


def _provisioned(settings: HeraldSettings) -> bool:
    """The emulator provisions after it starts listening; its last step is the SES configuration set's destination."""
    # Imported here: only the launcher pays for botocore's import, and only when it waits for provisioning.
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.session import get_session

    ses: Any = get_session().create_client(  # botocore clients are typed only through their generated stubs
        "ses",
        endpoint_url=settings.aws_endpoint_url,
        region_name=settings.aws_region,
        aws_access_key_id=DEV_AWS_KEY,
        aws_secret_access_key=DEV_AWS_KEY,
    )
    try:
        answer = ses.describe_configuration_set(
            ConfigurationSetName=settings.resources.configuration_set,
            ConfigurationSetAttributeNames=["eventDestinations"],
        )
    except (BotoCoreError, ClientError):
        return False
    finally:
        ses.close()
    return any(d.get("Name") for d in answer.get("EventDestinations", []) if d)
