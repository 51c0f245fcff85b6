"""DevStack's process management (start in order, health, kill, restart, stop, failures), with stand-in components.

The stand-ins are tiny HTTP servers installed as `herald-*` scripts in a temporary bin dir: the launcher runs them
exactly as it runs the real console scripts. The real stack is exercised by the end-to-end tests.
"""

import signal
import socket
import stat
import sys
import textwrap

import httpx
import pytest

from herald_cli.stack import COMPONENTS, DevStack, StackError, stack_is_up
from herald_common.auth import Authenticator

FAKE_COMPONENT = textwrap.dedent(
    """\
    #!{python}
    import argparse, json, os, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    parser = argparse.ArgumentParser()
    parser.add_argument("--host"); parser.add_argument("--port", type=int)
    args, rest = parser.parse_known_args()
    print("starting", sys.argv[0], rest, flush=True)
    {before_serving}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            env = {{k: v for k, v in os.environ.items() if k.startswith(("HERALD_", "AWS_"))}}
            body = json.dumps({{"status": "ok", "argv": sys.argv[1:], "env": env}}).encode()
            self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a): pass

    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()
    """
)


def _install(bin_dir, name, before_serving=""):
    script = bin_dir / f"herald-{name}"
    script.write_text(FAKE_COMPONENT.format(python=sys.executable, before_serving=before_serving))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def bin_dir(tmp_path):
    path = tmp_path / "bin"
    path.mkdir()
    for name in COMPONENTS:
        _install(path, name)
    return path


def _stack(bin_dir, tmp_path, **kwargs):
    options = {"ports": "free", "provision": False, "log_dir": tmp_path / "logs", "grace_period": 3.0}
    return DevStack(bin_dir=bin_dir, startup_timeout=20.0, **options | kwargs)


def test_start_configures_and_health_checks_every_component(bin_dir, tmp_path):
    with _stack(bin_dir, tmp_path, prefix="clitest", env={"HERALD_LOG_LEVEL": "DEBUG"}) as stack:
        assert all(stack.is_running(name) for name in COMPONENTS)
        assert len(set(stack.ports.values())) == len(COMPONENTS)
        assert stack_is_up(stack.urls.campaign)

        processor = httpx.get(f"{stack.urls.processor}/healthz").json()
        env = processor["env"]
        assert processor["argv"] == ["--host", "127.0.0.1", "--port", str(stack.ports["processor"])]
        assert env["AWS_ENDPOINT_URL"] == stack.emulator_url
        assert env["HERALD_TEMPLATE_URL"] == stack.urls.template
        assert env["HERALD_PUBLIC_URL"] == stack.urls.campaign
        assert env["HERALD_RESOURCE_PREFIX"] == "clitest"
        assert env["HERALD_ENV"] == "dev"
        assert env["HERALD_JWT_SECRET"] == stack.settings.jwt_secret
        assert env["HERALD_LOG_LEVEL"] == "DEBUG"
        emulator = httpx.get(f"{stack.emulator_url}/healthz").json()
        assert emulator["argv"][-1] == "--no-provision"
        processes = {name: stack.process(name) for name in COMPONENTS}

    assert not any(stack.is_running(name) for name in COMPONENTS)
    assert all(p is not None and p.returncode == -signal.SIGTERM for p in processes.values())
    assert not stack_is_up(stack.urls.campaign)
    assert "starting" in stack.log_path("template").read_text()


def test_kill_and_restart_one_component(bin_dir, tmp_path):
    with _stack(bin_dir, tmp_path) as stack:
        before = stack.process("processor")
        stack.kill("processor")
        assert before.returncode == -signal.SIGKILL
        assert not stack.is_running("processor")
        assert stack.is_running("campaign")

        stack.restart("processor")
        assert stack.process("processor").pid != before.pid
        assert httpx.get(f"{stack.urls.processor}/healthz").status_code == 200
        # Both runs log to the same file, one header per start.
        assert stack.log_path("processor").read_text().count("=== ") == 2


def test_a_component_that_dies_at_start_fails_the_stack_with_its_log(bin_dir, tmp_path):
    _install(bin_dir, "analytics", before_serving='print("boom: table herald-events missing", flush=True); sys.exit(3)')
    stack = _stack(bin_dir, tmp_path)
    with pytest.raises(StackError, match=r"analytics exited(.|\n)*boom: table herald-events missing"):
        stack.start()
    assert not any(stack.is_running(name) for name in COMPONENTS)


def test_busy_ports_are_refused_before_anything_starts(bin_dir, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ports = {name: i for i, name in enumerate(COMPONENTS, start=1)} | {"campaign": busy.getsockname()[1]}
        stack = _stack(bin_dir, tmp_path, ports=ports)
        with pytest.raises(StackError, match="in use"):
            stack.start()
    assert stack.process("emulator") is None


def test_missing_console_script_is_reported(tmp_path):
    stack = _stack(tmp_path / "empty-bin", tmp_path)
    with pytest.raises(StackError, match="not installed"):
        stack.start()


async def test_tokens_are_minted_for_the_stack(bin_dir, tmp_path):
    stack = _stack(bin_dir, tmp_path)
    principal = await Authenticator(stack.settings).authenticate(f"Bearer {stack.token('acme', 'admin')}")
    assert (principal.tenant_id, {r.value for r in principal.roles}) == ("acme", {"admin"})
    with pytest.raises(ValueError, match="unknown component"):
        stack.kill("gateway")
