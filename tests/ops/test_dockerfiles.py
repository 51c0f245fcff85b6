"""The service images: one Dockerfile for the four services (the service a build argument), a dependency layer shared
by all four and installed from the hashed lock before any code, non-root, and a HEALTHCHECK that really tells a live
/healthz from a dead one. No Docker engine needed: the Dockerfiles are read as text, and the health probe runs as it
runs inside the image. tests/ops/test_containers.py builds and runs the images themselves."""

from __future__ import annotations

import fnmatch
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
# SPEC.md, "Ports and configuration".
SERVICE_PORTS = {"campaign": 8001, "template": 8002, "analytics": 8003, "processor": 8004}
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERFILES = (DOCKERFILE, ROOT / "deploy" / "docker" / "emulator.Dockerfile", ROOT / "ui" / "Dockerfile")


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages(path: Path = DOCKERFILE) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for keyword, rest in instructions(path):
        if keyword == "FROM":
            current = found.setdefault(rest.split(" AS ")[-1].strip(), [])
        if current is not None:
            current.append((keyword, rest))
    return found


def test_the_bases_are_the_official_images_users_pull() -> None:
    """The Dockerfiles stay what users with Docker Hub need; stand-ins are built under these names where needed."""
    for path in DOCKERFILES:
        args = {
            rest.split("=", 1)[0]: rest.split("=", 1)[1]
            for keyword, rest in instructions(path)
            if keyword == "ARG" and "=" in rest
        }
        for stage in stages(path).values():
            image = stage[0][1].split(" AS ")[0].strip()
            image = args.get(image.strip("${}"), image)
            assert image in {
                "python:3.11-slim",
                "node:20-slim",
                "nginxinc/nginx-unprivileged:1.27-alpine",
            } or image in stages(path), image


def test_the_dependency_layer_is_the_lock_alone_and_shared_by_the_four_services() -> None:
    deps = stages()["deps"]
    assert not [rest for keyword, rest in deps if keyword == "ARG"], "a build argument before the deps layer splits it"
    copies = [rest.split()[0] for keyword, rest in deps if keyword == "COPY"]
    assert copies == ["deploy/docker/requirements.lock"]
    installs = [rest for keyword, rest in deps if keyword == "RUN" and "pip install" in rest]
    assert installs == ["pip install --require-hashes --no-deps -r /tmp/requirements.lock"]


def test_the_service_build_installs_only_the_kit_and_one_service_without_resolving() -> None:
    build = stages()["build"]
    assert build[0][1].startswith("deps ")
    copies = [rest.split()[0] for keyword, rest in build if keyword == "COPY"]
    assert copies == ["libs/common", "services/${SERVICE}"]
    (install,) = [rest for keyword, rest in build if keyword == "RUN" and "pip install" in rest]
    assert "--no-deps" in install
    assert "--no-build-isolation" in install  # the build backend is the locked setuptools, not a fresh download


def test_the_runtime_is_the_virtualenv_only_run_as_an_unprivileged_user() -> None:
    runtime = stages()["runtime"]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    copies = [rest for keyword, rest in runtime if keyword == "COPY"]
    assert copies == ["--from=build /opt/herald /opt/herald"]
    env = " ".join(rest for keyword, rest in runtime if keyword == "ENV")
    assert "HERALD_HOST=0.0.0.0" in env
    assert "HERALD_PORT=${PORT}" in env


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_the_entrypoint_is_the_services_console_script_on_its_spec_port(service: str) -> None:
    """`herald-service` is linked to `herald-<SERVICE>`, whose --host/--port defaults come from HERALD_HOST/HERALD_PORT;
    the build refuses a service and port that SPEC does not pair."""
    (entrypoint,) = [json.loads(rest) for keyword, rest in instructions() if keyword == "ENTRYPOINT"]
    assert entrypoint == ["herald-service"]
    link = " ".join(rest for keyword, rest in stages()["build"] if keyword == "RUN")
    assert "ln -s herald-${SERVICE} /opt/herald/bin/herald-service" in link
    scripts = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())["project"]["scripts"]
    assert f"herald-{service}" in scripts
    checks = " ".join(rest for keyword, rest in stages()["runtime"] if keyword == "RUN")
    assert f"{service}:{SERVICE_PORTS[service]}" in checks


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_the_console_script_takes_host_and_port_from_the_image_environment(service: str) -> None:
    """What the entrypoint runs, run with the image's environment: it listens where HERALD_HOST/HERALD_PORT say."""
    from herald_common import serve

    seen: dict[str, object] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HERALD_HOST", "0.0.0.0")
        patch.setenv("HERALD_PORT", str(SERVICE_PORTS[service]))
        patch.setattr(serve.uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
        # structlog's global configuration (loggers cached on first use) must not leak into later tests' captures
        patch.setattr(serve, "configure_logging", lambda **kwargs: None)
        serve.serve(service, lambda: None, _Settings(), 9999, [])  # type: ignore[arg-type,return-value]
    assert (seen["host"], seen["port"]) == ("0.0.0.0", SERVICE_PORTS[service])


class _Settings:
    json_logs = True
    log_level = "INFO"


def test_the_docker_build_context_admits_exactly_what_the_dockerfiles_copy() -> None:
    """.dockerignore excludes everything but the copied paths (no .venv, no caches, no tests in the context)."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            body = pattern[1:] if negate else pattern
            body = body.rstrip("/")
            if body == "**" or fnmatch.fnmatch(path, body) or path.startswith(body + "/"):
                keep = negate
            elif body.startswith("**/") and any(fnmatch.fnmatch(part, body[3:]) for part in path.split("/")):
                keep = negate
        return keep

    for path in DOCKERFILES:
        for keyword, rest in instructions(path):
            if keyword == "COPY" and not rest.startswith("--from"):
                for service in SERVICE_PORTS:
                    source = rest.split()[0].replace("${SERVICE}", service)
                    assert included(source), source
                    assert (ROOT / source).exists(), source
    for excluded in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "bench/run.py",
        "libs/common/src/herald_common/__pycache__/web.cpython-311.pyc",
    ):
        assert not included(excluded), excluded


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server(free_port: Callable[[], int]) -> Iterator[Callable[[int], int]]:
    servers: list[http.server.HTTPServer] = []

    def start(status: int) -> int:
        handler = type("Handler", (_Health,), {"status": status})
        server = http.server.HTTPServer(("127.0.0.1", free_port()), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _probe(port: int) -> int:
    """The image's HEALTHCHECK command, run as the container runs it (HERALD_PORT from the image's environment)."""
    (rest,) = [rest for keyword, rest in stages()["runtime"] if keyword == "HEALTHCHECK"]
    command = json.loads(rest.split("CMD", 1)[1].strip())
    assert command[0] == "python"  # slim images have no curl
    env = {**os.environ, "HERALD_PORT": str(port)}
    return subprocess.run([sys.executable, *command[1:]], capture_output=True, timeout=20, env=env).returncode


def test_healthcheck_passes_on_a_live_healthz_and_fails_otherwise(
    health_server: Callable[[int], int], free_port: Callable[[], int]
) -> None:
    assert _probe(health_server(200)) == 0
    assert _probe(health_server(503)) != 0
    assert _probe(free_port()) != 0  # nothing listening
