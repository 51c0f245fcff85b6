"""Every package declares what it imports: each one is installed alone (with only the Herald packages it names) into a
fresh virtualenv, and every one of its modules is imported there. The shared dev virtualenv holds the union of all
dependencies, so an undeclared import passes every other test and fails only in an image.

The service packages install against deploy/docker/requirements.lock as constraints, so they get the versions their
images get; the emulator and the CLI (never in a service image) resolve their own extras freely.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "deploy" / "docker" / "requirements.lock"
UV = Path(sys.executable).with_name("uv")

# package under test → the Herald packages installed with it (itself last)
INSTALLS = {
    "herald_common": ["libs/common"],
    "herald_emulator": ["libs/common", "libs/emulator"],
    "herald_campaign": ["libs/common", "services/campaign"],
    "herald_template": ["libs/common", "services/template"],
    "herald_analytics": ["libs/common", "services/analytics"],
    "herald_processor": ["libs/common", "services/processor"],
    "herald_cli": ["libs/common", "libs/emulator", "cli"],
}

# Imports every module of one package; prints each failure as "module: error" and exits 1 if there was one.
IMPORT_ALL = """
import importlib, pkgutil, sys, traceback
package = importlib.import_module(sys.argv[1])
failed = []
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed.append(f"{info.name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed) or "ok")
sys.exit(1 if failed else 0)
"""


def _install_alone(package: str, venv: Path) -> Path:
    subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    constraints = ["--constraint", str(LOCK)] if package not in ("herald_emulator", "herald_cli") else []
    installed = subprocess.run(
        [str(UV), "pip", "install", "--quiet", "--python", str(python), *constraints]
        + [str(ROOT / path) for path in INSTALLS[package]],
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    return python


# moto is the emulator's: a service, and the kit under it, must not pull it in.
EMULATOR_MODULES = ("moto", "herald_emulator", "a2wsgi")
WITHOUT_EMULATOR = {"herald_common", "herald_campaign", "herald_template", "herald_analytics", "herald_processor"}


@pytest.mark.parametrize("package", sorted(INSTALLS))
def test_a_package_installed_alone_imports_every_module(package: str, tmp_path: Path) -> None:
    """One install per package serves both checks: every module imports, and no service install carries the emulator."""
    assert UV.exists(), "uv is a dev requirement (requirements-dev.txt): run make install"
    python = _install_alone(package, tmp_path / "venv")
    imported = subprocess.run([str(python), "-c", IMPORT_ALL, package], capture_output=True, text=True, timeout=300)
    assert imported.returncode == 0, f"{package} installed alone cannot import:\n{imported.stdout}{imported.stderr}"
    if package in WITHOUT_EMULATOR:
        for module in EMULATOR_MODULES:
            probe = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, timeout=60)
            assert probe.returncode != 0, f"{module} is importable in an install of {package}"
    shutil.rmtree(tmp_path / "venv", ignore_errors=True)


def test_the_lock_pins_every_declared_requirement_within_its_range() -> None:
    """`make lock` was run after the last change to the kit's or a service's requirements."""
    pyprojects = [ROOT / "libs/common/pyproject.toml"] + [
        ROOT / "services" / name / "pyproject.toml" for name in ("campaign", "template", "analytics", "processor")
    ]
    declared = subprocess.run(
        [sys.executable, str(ROOT / "deploy/docker/pyproject_deps.py"), *map(str, pyprojects)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    pinned = {}
    for line in LOCK.read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, _, version = line.split(" ")[0].partition("==")
            pinned[canonicalize_name(name)] = version
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{text} is not in the lock: run make lock"
        assert requirement.specifier.contains(pinned[name]), f"the lock pins {name}=={pinned[name]} outside {text}"
