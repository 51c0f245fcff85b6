"""The service images: built from the same packages as `make install`, dependencies before code, non-root, and a
HEALTHCHECK that really tells a live /healthz from a dead one. No Docker engine needed: the Dockerfiles are read as
text, and the health probe and the dependency script are run as they run inside the image."""

from __future__ import annotations

import fnmatch
import http.server
import importlib.metadata
import json
import re
import subprocess
import sys
import threading
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging.requirements import Requirement

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
# SPEC.md, "Ports and configuration".
SERVICE_PORTS = {"campaign": 8001, "template": 8002, "analytics": 8003, "processor": 8004}
DEPS_SCRIPT = ROOT / "deploy" / "docker" / "pyproject_deps.py"


def instructions(service: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages(service: str) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(service):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


def healthcheck_command(service: str) -> list[str]:
    (rest,) = [rest for keyword, rest in instructions(service) if keyword == "HEALTHCHECK"]
    exec_form = rest.split("CMD", 1)[1].strip()
    command = json.loads(exec_form)
    assert isinstance(command, list)
    return [str(part) for part in command]


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_image_is_multi_stage_slim_python_311_and_runs_as_an_unprivileged_user(service: str) -> None:
    built = stages(service)
    assert len(built) >= 2
    args = {rest.split("=", 1)[0]: rest.split("=", 1)[1] for keyword, rest in instructions(service) if keyword == "ARG"}
    for stage in built:
        image = stage[0][1].split(" AS ")[0].strip()
        image = args.get(image.strip("${}"), image)
        assert image == "python:3.11-slim"
    runtime = built[-1]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users, "the runtime stage must switch user"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # the runtime stage installs nothing from the network and copies only the built virtualenv
    copies = [rest for keyword, rest in runtime if keyword == "COPY"]
    assert copies
    assert all(rest.startswith("--from=build ") for rest in copies)


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_dependencies_are_installed_before_the_code_is_copied(service: str) -> None:
    build = stages(service)[0]
    steps = [(keyword, rest) for keyword, rest in build if keyword in ("COPY", "RUN")]
    first_code_copy = next(
        i
        for i, (keyword, rest) in enumerate(steps)
        if keyword == "COPY" and rest.split()[0] in ("libs/common", f"services/{service}")
    )
    before = steps[:first_code_copy]
    copied_before = [rest.split()[0] for keyword, rest in before if keyword == "COPY"]
    assert set(copied_before) <= {
        "deploy/docker/pyproject_deps.py",
        "libs/common/pyproject.toml",
        f"services/{service}/pyproject.toml",
    }
    assert any(keyword == "RUN" and "pip install -r" in rest for keyword, rest in before)
    after = steps[first_code_copy:]
    install = [rest for keyword, rest in after if keyword == "RUN" and "pip install" in rest]
    assert install
    assert "--no-deps" in install[0]
    assert "./libs/common" in install[0]
    assert f"./services/{service}" in install[0]


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_entrypoint_is_the_services_console_script_on_its_spec_port(service: str) -> None:
    (entrypoint,) = [json.loads(rest) for keyword, rest in instructions(service) if keyword == "ENTRYPOINT"]
    scripts = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint[0] in scripts
    assert entrypoint[entrypoint.index("--host") + 1] == "0.0.0.0"  # reachable from outside the container
    port = SERVICE_PORTS[service]
    assert entrypoint[entrypoint.index("--port") + 1] == str(port)
    assert [rest for keyword, rest in instructions(service) if keyword == "EXPOSE"] == [str(port)]
    assert f":{port}/healthz" in " ".join(healthcheck_command(service))


def _dependency_names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower().replace("_", "-") for r in requirements}


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_the_image_installs_the_packages_make_install_installs(service: str) -> None:
    """The script the build stage runs lists exactly the third-party requirements pip recorded for the editable
    installs in .venv (the kit's and the service's), so image and `make install` cannot drift apart."""
    out = subprocess.run(
        [
            sys.executable,
            str(DEPS_SCRIPT),
            str(ROOT / "libs/common/pyproject.toml"),
            str(ROOT / f"services/{service}/pyproject.toml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    installed = [
        r
        for dist in ("herald-common", f"herald-{service}")
        for r in importlib.metadata.requires(dist) or []
        if "extra ==" not in r and not r.lower().startswith("herald")
    ]
    assert _dependency_names(out) == _dependency_names(installed)
    assert not any(name.startswith("herald") for name in _dependency_names(out))


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

    for service in SERVICE_PORTS:
        for keyword, rest in instructions(service):
            if keyword == "COPY" and not rest.startswith("--from"):
                source = rest.split()[0]
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


def _probe(service: str, port: int) -> int:
    command = healthcheck_command(service)
    assert command[0] == "python"  # slim images have no curl
    script = command[-1].replace(f":{SERVICE_PORTS[service]}/", f":{port}/")
    return subprocess.run([sys.executable, *command[1:-1], script], capture_output=True, timeout=20).returncode


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_healthcheck_passes_on_a_live_healthz_and_fails_otherwise(
    service: str, health_server: Callable[[int], int], free_port: Callable[[], int]
) -> None:
    assert _probe(service, health_server(200)) == 0
    assert _probe(service, health_server(503)) != 0
    assert _probe(service, free_port()) != 0  # nothing listening
