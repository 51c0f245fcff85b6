"""The documented deploy works as written, checked without AWS or Docker: README's `make deploy` settings, given to
deploy/deploy.sh in its dry run (HERALD_DEPLOY_DRY_RUN=1), make it build with `make images`, push what the stack runs,
and run `aws cloudformation deploy` through S3 with every parameter the template requires."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "deploy.sh"
TEMPLATE_PATH = ROOT / "deploy" / "cloudformation" / "herald.yaml"
README = ROOT / "README.md"
# CloudFormation's limit for a template passed inline (TemplateBody); a larger one must be read from S3.
INLINE_TEMPLATE_LIMIT = 51_200


@pytest.fixture(scope="module")
def parameters() -> dict[str, dict[str, Any]]:
    decoded, problems = decode(str(TEMPLATE_PATH))
    assert not problems, problems
    assert decoded is not None
    return dict(decoded["Parameters"])


def required(parameters: dict[str, dict[str, Any]]) -> set[str]:
    return {name for name, body in parameters.items() if "Default" not in body}


def env_name(parameter: str) -> str:
    return "HERALD_DEPLOY_" + re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", parameter).upper()


def deploy_section() -> str:
    text = README.read_text()
    start = text.index("### Deploy on AWS")
    return text[start : text.index("\n## ", start)]


def documented_settings() -> dict[str, str]:
    """The `export NAME=value` lines of the README's deploy command block (the one that runs `make deploy`)."""
    blocks = re.findall(r"```bash\n(.*?)```", deploy_section(), flags=re.DOTALL)
    (block,) = [block for block in blocks if "make deploy" in block]
    settings = {}
    for line in block.splitlines():
        match = re.match(r"\s*export\s+(\w+)=(\S+)", line)
        if match:
            settings[match[1]] = match[2]
    return settings


def dry_run(settings: dict[str, str], script: Path = SCRIPT) -> subprocess.CompletedProcess[str]:
    """The script run as a user would, with only these settings in its environment."""
    environment = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        ["bash", str(script)],
        env=environment | settings | {"HERALD_DEPLOY_DRY_RUN": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",  # the script finds the repository itself
    )


def printed_commands(output: str) -> list[list[str]]:
    return [shlex.split(line[2:]) for line in output.splitlines() if line.startswith("+ ")]


def stack_deploy(commands: list[list[str]]) -> list[str]:
    (deploy,) = [command for command in commands if command[:3] == ["aws", "cloudformation", "deploy"]]
    return deploy


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def overrides(deploy: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in deploy[deploy.index("--parameter-overrides") + 1 :])


def test_script_is_valid_bash() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, timeout=30).returncode == 0
    broken = SCRIPT.read_text().replace("\nfi\n", "\n", 1)
    assert subprocess.run(["bash", "-n"], input=broken.encode(), capture_output=True, timeout=30).returncode != 0


def test_make_deploy_runs_the_script() -> None:
    result = subprocess.run(["make", "-n", "deploy"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "deploy/deploy.sh" in result.stdout


def test_the_parameter_reader_agrees_with_cloudformations_parse(parameters: dict[str, dict[str, Any]]) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "cfn_parameters.py"), str(TEMPLATE_PATH)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    read = dict(line.split("\t") for line in result.stdout.splitlines())
    assert read == {name: ("optional" if "Default" in body else "required") for name, body in parameters.items()}


def test_the_parameter_reader_sees_flow_style_entries_and_empty_defaults() -> None:
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        from cfn_parameters import template_parameters
    finally:
        sys.path.remove(str(ROOT / "deploy"))
    text = (
        "Parameters:\n  A: {Type: String}\n  B: {Type: String, Default: x}\n"
        '  # a comment\n  C:\n    Type: String\n    Default: ""\n  D:\n    Type: Number\n'
        "Resources:\n  Thing:\n    Type: AWS::SNS::Topic\n    Properties: {Default: 1}\n"
    )
    assert template_parameters(text) == {"A": True, "B": False, "C": False, "D": True}


def test_the_documented_deploy_passes_every_required_parameter_through_s3(
    parameters: dict[str, dict[str, Any]],
) -> None:
    settings = documented_settings()
    result = dry_run(settings)
    assert result.returncode == 0, result.stderr
    commands = printed_commands(result.stdout)
    deploy = stack_deploy(commands)
    assert option(deploy, "--template-file") == str(TEMPLATE_PATH)
    assert option(deploy, "--s3-bucket") == settings["HERALD_DEPLOY_BUCKET"]
    given = overrides(deploy)
    assert required(parameters) <= set(given), sorted(required(parameters) - set(given))
    assert all(given.values())
    assert set(given) <= set(parameters)  # CloudFormation refuses an unknown parameter
    for variable, value in settings.items():  # each documented setting reaches its parameter
        parameter = next((name for name in parameters if env_name(name) == variable), None)
        if parameter:
            assert given[parameter] == value, parameter


def test_images_are_built_by_make_images_then_pushed_before_the_stack_uses_them(
    parameters: dict[str, dict[str, Any]],
) -> None:
    result = dry_run(documented_settings() | {"HERALD_DEPLOY_REGISTRY": "registry.example", "HERALD_DEPLOY_TAG": "c0"})
    assert result.returncode == 0, result.stderr
    commands = printed_commands(result.stdout)
    deploy_at = commands.index(stack_deploy(commands))
    assert commands[0] == ["make", "-C", str(ROOT), "images"]
    image_parameters = {name for name in parameters if parameters[name]["Type"] == "String" and name.endswith("Image")}
    assert image_parameters
    for parameter, image in overrides(stack_deploy(commands)).items():
        if parameter not in image_parameters:
            continue
        repository = image.removeprefix("registry.example/").removesuffix(":c0")
        assert image == f"registry.example/{repository}:c0", parameter
        tag = ["docker", "tag", f"{repository}:dev", image]
        assert commands.index(tag) < commands.index(["docker", "push", image]) < deploy_at, parameter
        image_parameters.discard(parameter)
    assert not image_parameters, "every image parameter gets a pushed image"


def test_default_tag_is_the_commit() -> None:
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    commands = printed_commands(dry_run(documented_settings()).stdout)
    pushed = [command[2] for command in commands if command[:2] == ["docker", "push"]]
    assert pushed
    assert all(commit.startswith(image.rsplit(":", 1)[1]) for image in pushed), pushed


def test_missing_settings_are_all_named_before_anything_runs(parameters: dict[str, dict[str, Any]]) -> None:
    result = dry_run({})
    assert result.returncode == 2
    assert not printed_commands(result.stdout)
    needed = {env_name(name) for name in required(parameters) if not name.endswith("Image")}
    needed |= {"HERALD_DEPLOY_BUCKET", "AWS_REGION"}
    named = set(re.findall(r"^\s+(\w+)", result.stderr, flags=re.MULTILINE))
    assert named == needed


def test_one_missing_setting_is_named_alone() -> None:
    settings = documented_settings()
    del settings["HERALD_DEPLOY_VPC_ID"]
    result = dry_run(settings)
    assert result.returncode == 2
    assert re.findall(r"^\s+(\w+)", result.stderr, flags=re.MULTILINE) == ["HERALD_DEPLOY_VPC_ID"]


def test_a_parameter_added_to_the_template_is_demanded_without_editing_the_script(tmp_path: Path) -> None:
    copy = tmp_path / "deploy"
    shutil.copytree(ROOT / "deploy", copy, ignore=shutil.ignore_patterns("__pycache__"))
    template = copy / "cloudformation" / "herald.yaml"
    template.write_text(
        template.read_text().replace("\nParameters:\n", "\nParameters:\n  SenderDomain:\n    Type: String\n")
    )
    settings = documented_settings() | {"HERALD_DEPLOY_TAG": "c0"}  # the copy is not a git checkout
    result = dry_run(settings, script=copy / "deploy.sh")
    assert result.returncode == 2
    assert "HERALD_DEPLOY_SENDER_DOMAIN" in result.stderr
    result = dry_run(settings | {"HERALD_DEPLOY_SENDER_DOMAIN": "mail.example.com"}, script=copy / "deploy.sh")
    assert result.returncode == 0, result.stderr
    assert overrides(stack_deploy(printed_commands(result.stdout)))["SenderDomain"] == "mail.example.com"


def test_no_documented_command_deploys_a_template_over_the_inline_limit_without_s3() -> None:
    """`aws cloudformation deploy --template-file` without `--s3-bucket` sends the template inline."""
    blocks = re.sub(r"\\\n\s*", " ", "\n".join(re.findall(r"```\w*\n(.*?)```", deploy_section(), flags=re.DOTALL)))
    commands = re.findall(r"aws cloudformation deploy[^\n]*", blocks)
    if TEMPLATE_PATH.stat().st_size > INLINE_TEMPLATE_LIMIT:
        assert all("--s3-bucket" in command for command in commands), commands
    script = re.sub(r"\\\n\s*", " ", SCRIPT.read_text())
    (in_script,) = re.findall(r"run aws cloudformation deploy[^\n]*", script)
    assert "--s3-bucket" in in_script


def test_the_script_checks_images_against_the_architecture_the_tasks_run() -> None:
    decoded, _ = decode(str(TEMPLATE_PATH))
    assert decoded is not None
    architectures = {
        body["Properties"]["RuntimePlatform"]["CpuArchitecture"]
        for body in decoded["Resources"].values()
        if body["Type"] == "AWS::ECS::TaskDefinition"
    }
    docker_name = {"X86_64": "amd64", "ARM64": "arm64"}
    (checked,) = re.findall(r"^TASK_ARCHITECTURE=(\w+)$", SCRIPT.read_text(), flags=re.MULTILINE)
    assert {docker_name[architecture] for architecture in architectures} == {checked}


def _stub_tools(bin_dir: Path, log: Path, architecture: str) -> None:
    """aws, docker and make that log each call; ECR knows every repository but herald-ui."""
    bin_dir.mkdir()
    scripts = {
        "aws": (
            'case "$*" in\n'
            "  'sts get-caller-identity'*) echo 123456789012 ;;\n"
            "  'ecr get-login-password'*) echo secret-token ;;\n"
            "  *'describe-repositories'*'herald-ui'*) exit 254 ;;\n"
            "esac\n"
        ),
        "docker": f"""case "$*" in 'image inspect'*) echo {architecture} ;; login*) cat >/dev/null ;; esac\n""",
        "make": "",
    }
    for name, body in scripts.items():
        stub = bin_dir / name
        stub.write_text(f'#!/bin/bash\necho "{name} $*" >> {log}\n{body}')
        stub.chmod(0o755)


def test_a_real_run_makes_the_calls_it_prints_in_that_order(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    _stub_tools(tmp_path / "bin", log, "amd64")
    settings = documented_settings() | {"HERALD_DEPLOY_TAG": "c0"}
    environment = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp_path)} | settings
    result = subprocess.run(["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    printed = [" ".join(command) for command in printed_commands(result.stdout) if "|" not in command]
    remaining = iter(calls)
    assert all(command in remaining for command in printed), (printed, calls)  # a subsequence, in order
    registry = f"123456789012.dkr.ecr.{settings['AWS_REGION']}.amazonaws.com"
    assert f"docker login --username AWS --password-stdin {registry}" in calls
    assert calls.index(f"make -C {ROOT} images") < min(i for i, call in enumerate(calls) if call.startswith("docker"))
    created = [call for call in calls if "ecr create-repository" in call]
    assert len(created) == 1
    assert "--repository-name herald-ui " in created[0]
    deploy = next(i for i, call in enumerate(calls) if call.startswith("aws cloudformation deploy"))
    pushes = [i for i, call in enumerate(calls) if call.startswith(f"docker push {registry}/herald-")]
    assert pushes
    assert max(pushes) < deploy
    assert f"--s3-bucket {settings['HERALD_DEPLOY_BUCKET']}" in calls[deploy]
    assert "secret-token" not in result.stdout + result.stderr


def test_images_of_another_architecture_are_refused_before_any_push(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    _stub_tools(tmp_path / "bin", log, "arm64")
    environment = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        env=environment | documented_settings() | {"HERALD_DEPLOY_TAG": "c0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "built for arm64" in result.stderr
    assert not [call for call in log.read_text().splitlines() if call.startswith(("docker push", "aws cloudformation"))]
