"""The images for real: `make images` builds all six, the emulator variant of docker-compose.yml starts them, and a
campaign goes out through the dashboard's gateway (:8080) with every address mailed exactly once.

Where no Docker engine (or no Compose v2) runs, this module skips, except in CI (`CI=true`): there it fails, because a
skip is how images that crashed at start once shipped. `.ci/run` installs the engine and Compose. Host ports are free
ones, never the fixed 4566/8001–8004/8080.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from herald_cli.client import HeraldClient, ServiceUrls
from herald_common.auth import mint_token
from herald_common.settings import HeraldSettings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("campaign", "template", "analytics", "processor")
IMAGES = (*(f"herald-{name}" for name in SERVICES), "herald-emulator", "herald-ui")
COMPOSE_FILES = ("-f", "docker-compose.yml", "-f", "docker-compose.emulator.yml")
RECIPIENTS = 40


def _docker_problem() -> str | None:
    """Why no container can run here, or None."""
    if shutil.which("docker") is None:
        return "no docker CLI"
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode != 0:
        return "no Docker engine answers (start dockerd)"
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode != 0:
        return "no Compose v2 (`docker compose`)"
    return None


@pytest.fixture(scope="module")
def docker_ready() -> None:
    problem = _docker_problem()
    if problem and os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the container test: {problem}")
    if problem:
        pytest.skip(problem)


@pytest.fixture(scope="module")
def images(docker_ready: None) -> None:
    built = subprocess.run(["make", "images"], cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]


def _compose(project: str, *args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "compose", "-p", project, *COMPOSE_FILES, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def stack(images: None, free_port: Callable[[], int]) -> Iterator[tuple[str, dict[str, int]]]:
    project = "heraldct" + secrets.token_hex(3)
    ports = {name: free_port() for name in (*SERVICES, "localstack", "ui", "prometheus")}
    env = {**os.environ, **{f"HERALD_{name.upper()}_PORT": str(port) for name, port in ports.items()}}
    started = _compose(project, "up", "--detach", "--wait", "--no-build", "--pull", "never", env=env)
    try:
        assert started.returncode == 0, started.stderr[-3000:] + _compose(project, "logs", env=env).stdout[-5000:]
        yield project, ports
    finally:
        _compose(project, "down", "--volumes", "--timeout", "20", env=env, timeout=180)


def _containers(project: str) -> list[dict[str, object]]:
    ids = subprocess.run(
        ["docker", "ps", "--all", "--quiet", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    inspected = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout
    return list(json.loads(inspected))


def test_every_long_running_container_is_healthy_and_not_root(stack: tuple[str, dict[str, int]]) -> None:
    project, _ = stack
    seen = set()
    for container in _containers(project):
        labels = container["Config"]["Labels"]  # type: ignore[index]
        service = labels["com.docker.compose.service"]
        state = container["State"]
        if service == "provision":  # the one-shot provisioner has run and left
            assert state["ExitCode"] == 0, state  # type: ignore[index]
            continue
        seen.add(service)
        assert state["Health"]["Status"] == "healthy", (service, state)  # type: ignore[index]
        user = str(container["Config"]["User"]).split(":")[0]  # type: ignore[index]
        assert user not in ("", "0", "root"), f"{service} runs as root"
    assert seen == {*SERVICES, "localstack", "ui"}


def test_a_campaign_goes_out_through_the_gateway(stack: tuple[str, dict[str, int]]) -> None:
    _, ports = stack
    gateway = f"http://127.0.0.1:{ports['ui']}"
    emulator = f"http://127.0.0.1:{ports['localstack']}"
    assert httpx.get(f"{gateway}/healthz", timeout=10).status_code == 200
    assert "<app-root" in httpx.get(f"{gateway}/", timeout=10).text  # the dashboard itself
    # its runtime config, written from the container's environment at start (compose offers token sign-in)
    assert httpx.get(f"{gateway}/config.json", timeout=10).json()["tokenSignIn"] is True
    urls = ServiceUrls(
        emulator=emulator, campaign=gateway, template=gateway, analytics=gateway, processor="http://unrouted.invalid"
    )
    token = mint_token(HeraldSettings(), tenant_id="containers", roles=["marketer"])  # compose runs the dev secret
    emails = [f"reader{i}@example.com" for i in range(RECIPIENTS)]
    with HeraldClient(urls, token) as client:
        client.put_template("hello", subject="Hi {{ first_name }}", html="<p>Hi {{ first_name }}</p>")
        campaign = client.create_campaign(
            name="Containers",
            template_id="hello",
            from_address="news@example.com",
            recipients=[{"email": email, "data": {"first_name": f"R{i}"}} for i, email in enumerate(emails)],
        )
        client.send_campaign(campaign["campaignId"])
        deadline = time.monotonic() + 300
        stats: dict[str, object] = {}
        while time.monotonic() < deadline:
            stats = client.campaign_stats(campaign["campaignId"])
            if stats["status"] == "sent" and stats["delivered"] == RECIPIENTS:
                break
            time.sleep(2)
    assert stats["status"] == "sent", stats
    for counter, expected in (("recipients", RECIPIENTS), ("sent", RECIPIENTS), ("delivered", RECIPIENTS)):
        assert stats[counter] == expected, (counter, stats)
    for counter in ("failed", "unknown", "bounced", "invalid", "suppressed"):
        assert stats[counter] == 0, (counter, stats)
    messages = httpx.get(f"{emulator}/_emulator/ses/messages", timeout=30).json()["messages"]
    per_address = Counter(address for message in messages for address in message["destinations"])
    assert per_address == Counter(emails)


@pytest.mark.parametrize("image", IMAGES[:4])
def test_service_images_carry_no_emulator_or_test_tools(images: None, image: str) -> None:
    for module in ("moto", "herald_emulator", "a2wsgi", "pytest"):
        probe = subprocess.run(
            ["docker", "run", "--rm", "--entrypoint", "python", f"{image}:dev", "-c", f"import {module}"],
            capture_output=True,
            timeout=120,
        )
        assert probe.returncode != 0, f"{image} can import {module}"


@pytest.mark.parametrize("image", IMAGES[:4])
def test_a_service_image_adds_at_most_150_mb_to_its_base(images: None, image: str) -> None:
    def size(name: str) -> int:
        out = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", name], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return int(out.stdout)

    added = size(f"{image}:dev") - size("python:3.11-slim")
    assert added <= 150_000_000, f"{image} adds {added / 1e6:.0f} MB to python:3.11-slim"
