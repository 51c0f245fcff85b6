"""`docker compose up` for real, where a Docker engine runs: the images build, LocalStack is provisioned by the
one-shot service, every service becomes ready, and a small campaign goes out through LocalStack's SES. Skipped
cleanly where there is no engine (or no `docker compose`). Host ports are free ones, never 4566/8001–8004."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from herald_cli.client import HeraldClient, ServiceUrls
from herald_common.auth import mint_token
from herald_common.settings import HeraldSettings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("campaign", "template", "analytics", "processor")


def _docker_problem() -> str | None:
    """Why the stack cannot run here, or None."""
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:  # no socket, no daemon, no permission: all mean "no engine"
        return f"no Docker engine ({type(exc).__name__})"
    if shutil.which("docker") is None:
        return "no docker CLI"
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    if plugin.returncode != 0:
        return "no `docker compose` plugin"
    return None


@pytest.fixture(scope="module")
def stack(free_port: Callable[[], int]) -> Iterator[ServiceUrls]:
    problem = _docker_problem()
    if problem:
        pytest.skip(problem)
    from testcontainers.compose import DockerCompose

    ports = {name: free_port() for name in (*SERVICES, "localstack", "prometheus")}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("COMPOSE_PROJECT_NAME", "heraldsmoke" + secrets.token_hex(3))
        for name, port in ports.items():
            env.setenv(f"HERALD_{name.upper()}_PORT", str(port))
        compose = DockerCompose(
            context=ROOT, compose_file_name="docker-compose.yml", build=True, wait=True, services=list(SERVICES)
        )
        with compose:
            yield ServiceUrls.for_ports({**{n: ports[n] for n in SERVICES}, "emulator": ports["localstack"]})


def test_every_service_is_ready_against_localstack(stack: ServiceUrls) -> None:
    for service in SERVICES:
        response = httpx.get(f"{getattr(stack, service)}/readyz", timeout=10)
        assert response.status_code == 200, (service, response.text)


def test_a_campaign_is_sent_through_localstack(stack: ServiceUrls) -> None:
    token = mint_token(HeraldSettings(), tenant_id="smoke", roles=["marketer"])  # compose runs the dev secret
    with HeraldClient(stack, token) as client:
        client.put_template("hello", subject="Hi {{ first_name }}", html="<p>Hi {{ first_name }}</p>")
        campaign = client.create_campaign(
            name="Smoke",
            template_id="hello",
            from_address="news@example.com",
            recipients=[{"email": f"reader{i}@example.com", "data": {"first_name": f"R{i}"}} for i in range(5)],
        )
        client.send_campaign(campaign["campaignId"])
        deadline = time.monotonic() + 180
        status = ""
        while time.monotonic() < deadline and status != "sent":
            status = client.get_campaign(campaign["campaignId"])["status"]
            time.sleep(2)
        assert status == "sent"
    metrics = httpx.get(f"{stack.processor}/metrics", timeout=10).text
    assert 'herald_emails_total{result="sent"} 5.0' in metrics
    for priority in ("high", "normal", "low"):
        assert f'herald_queue_depth{{queue="herald-email-jobs-{priority}"}}' in metrics
