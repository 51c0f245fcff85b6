"""docker-compose.yml, validated without a Docker engine: the compose-spec JSON schema, `docker-compose config` where
that binary exists, the wiring the stack needs (LocalStack, one-shot provisioning, health-gated start order), and the
provisioning command itself, run against the embedded emulator exactly as the compose service runs it."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from herald_common.resources import ResourceNames
from herald_common.settings import DEV_JWT_SECRET, DEV_UNSUBSCRIBE_SECRET

if TYPE_CHECKING:
    from herald_emulator import Emulator

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SERVICES = {"campaign": 8001, "template": 8002, "analytics": 8003, "processor": 8004}
# herald-emulator's SES v1 is what LocalStack speaks; every service must be told.
REQUIRED_ENVIRONMENT = {
    "AWS_ENDPOINT_URL": "http://localstack:4566",
    "HERALD_SES_API_VERSION": "v1",
    "HERALD_TEMPLATE_URL": "http://template:8002",
    "HERALD_ENV": "dev",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


def _tool(name: str) -> str | None:
    venv_tool = Path(sys.executable).parent / name
    return str(venv_tool) if venv_tool.exists() else shutil.which(name)


def test_compose_file_matches_the_compose_specification() -> None:
    tool = _tool("check-jsonschema")
    assert tool is not None, "check-jsonschema is in requirements-dev.txt"
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_compose_file_is_rejected_by_the_same_check(tmp_path: Path) -> None:
    """The schema check can fail: a service with an unknown key does not pass."""
    tool = _tool("check-jsonschema")
    assert tool is not None
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  campaign:\n    image: x\n    healthcheck:\n      tset: [CMD, true]\n")
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.compose-spec", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="no docker-compose binary (Debian: docker-compose)")
def test_docker_compose_config_accepts_the_file() -> None:
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_localstack_runs_the_aws_services_herald_uses_and_reports_health(compose: dict[str, Any]) -> None:
    localstack = compose["services"]["localstack"]
    assert localstack["image"].split(":")[0] == "localstack/localstack"
    assert set(localstack["environment"]["SERVICES"].split(",")) == {"dynamodb", "s3", "sqs", "sns", "ses"}
    assert "_localstack/health" in " ".join(localstack["healthcheck"]["test"])


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_is_built_configured_and_started_after_provisioning(compose: dict[str, Any], service: str) -> None:
    spec = compose["services"][service]
    assert spec["build"]["context"] == "."
    assert spec["build"]["dockerfile"] == f"services/{service}/Dockerfile"
    assert (ROOT / spec["build"]["dockerfile"]).exists()
    environment = spec["environment"]
    for key, value in REQUIRED_ENVIRONMENT.items():
        assert environment[key] == value, key
    assert "HERALD_PUBLIC_URL" in environment
    # the only secrets in the file are the code's own dev defaults, which HERALD_ENV=prod refuses
    assert environment["HERALD_JWT_SECRET"] == DEV_JWT_SECRET
    assert environment["HERALD_UNSUBSCRIBE_SECRET"] == DEV_UNSUBSCRIBE_SECRET
    depends = spec["depends_on"]
    assert depends["localstack"]["condition"] == "service_healthy"
    assert depends["provision"]["condition"] == "service_completed_successfully"
    port = SERVICES[service]
    assert any(str(entry).endswith(f":{port}") for entry in spec["ports"])
    probe = " ".join(spec["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/healthz" in probe  # liveness, the probe the image and ECS run
    assert "urllib" in probe


def test_services_calling_the_template_service_wait_for_it_to_be_healthy(compose: dict[str, Any]) -> None:
    for caller in ("campaign", "processor"):
        assert compose["services"][caller]["depends_on"]["template"]["condition"] == "service_healthy"


def test_every_dependency_condition_names_a_service_that_can_satisfy_it(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, spec in services.items():
        for dependency, rule in (spec.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency] or dependency in SERVICES, (name, dependency)
                assert not services[dependency].get("healthcheck", {}).get("disable"), (name, dependency)


def test_provisioning_is_a_one_shot_against_localstack(compose: dict[str, Any]) -> None:
    provision = compose["services"]["provision"]
    entrypoint = provision["entrypoint"]
    assert entrypoint[:3] == ["python", "-m", "herald_common.provisioning"]
    assert entrypoint[entrypoint.index("--endpoint") + 1] == "http://localstack:4566"
    assert provision["depends_on"]["localstack"]["condition"] == "service_healthy"
    assert provision.get("restart", "no") == "no"
    prefixes = {compose["services"][s]["environment"]["HERALD_RESOURCE_PREFIX"] for s in SERVICES}
    assert prefixes == {entrypoint[entrypoint.index("--prefix") + 1]}


def test_the_provisioning_command_of_compose_creates_every_resource(
    compose: dict[str, Any], emulator: Emulator
) -> None:
    """Run the compose entrypoint as a process, with the emulator standing in for LocalStack."""
    entrypoint = list(compose["services"]["provision"]["entrypoint"])
    prefix = "ops" + secrets.token_hex(4)
    entrypoint[entrypoint.index("--endpoint") + 1] = emulator.url
    entrypoint[entrypoint.index("--prefix") + 1] = prefix
    result = subprocess.run([sys.executable, *entrypoint[1:]], capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    created = json.loads(result.stdout[result.stdout.index("{") :])
    names = ResourceNames(prefix)
    assert set(created["tables"]) == set(names.tables)
    assert created["bucket"] == names.bucket
    assert created["configuration_set"] == names.configuration_set
    assert created["email_jobs_queue_url"].endswith("/" + names.email_jobs_queue)
    assert created["ses_events_dlq_url"].endswith("/" + names.dead_letter_queue(names.ses_events_queue))
    # a second run (compose re-up) succeeds too: provisioning is idempotent
    again = subprocess.run([sys.executable, *entrypoint[1:]], capture_output=True, text=True, timeout=90)
    assert again.returncode == 0, again.stderr[-2000:]


def test_prometheus_profile_scrapes_every_service_of_the_compose_stack(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    assert targets == {f"{name}:{port}" for name, port in SERVICES.items()}
    mounted = {volume.split(":")[0] for volume in prometheus["volumes"]}
    for path in mounted:
        assert (ROOT / path).exists(), path
    assert set(config["rule_files"]) >= {"alerts.yml"}


def test_prometheus_gets_every_rule_file_it_loads(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    mounted = {volume.split(":")[1] for volume in compose["services"]["prometheus"]["volumes"]}
    for rule_file in config["rule_files"]:
        assert f"/etc/prometheus/{rule_file}" in mounted, rule_file
