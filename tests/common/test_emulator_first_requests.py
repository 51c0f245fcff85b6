"""A freshly started emulator answers concurrent first requests to every service it serves without a 500.

moto used to build each service's routes on the first requests' own threads, several at once; werkzeug compiles
rules through `ast.parse`, and CPython 3.11's AST conversion breaks ("AST constructor recursion depth mismatch")
when the garbage collector runs a finalizer in the middle of it and another thread parses meanwhile: seen on 3 of
about 15 stacks. Each emulator here runs with `ast.parse` wrapped to make that likely (finalizer garbage before
each parse, frequent collections, a short sleep) and to count two threads parsing at once, the condition the crash
needs. On the old emulator all of 6 rounds counted thousands of overlaps (2,562 to 2,782) and one got the 500
itself (4 of 6 did with the garbage but without the sleep, which orders the parses a little); here there are none.

Each round is a new process: moto's routes are process-global, so only a fresh process has none built.
"""

from __future__ import annotations

import ast
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest
from botocore.config import Config
from moto.core.routing import ServiceOperationRouter
from moto.core.utils import get_service_model

from herald_emulator import moto_routes

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.timeout(120)

ROUNDS = 3
CALLS_PER_SERVICE = 4

# The emulator in the foreground, `ast.parse` instrumented; at exit it prints what it counted as JSON.
PROBE = """
import ast, gc, json, sys, threading, time
from herald_emulator.cli import main

class Litter:
    # Garbage whose finalizer runs Python code, as a busy server's does (generators, sockets): the collector running
    # it inside an AST conversion is what lets another thread's parse in.
    def __init__(self):
        self.me = self
    def __del__(self):
        [i for i in range(2)]

original, lock = ast.parse, threading.Lock()
seen = {"parses": 0, "overlaps": 0, "inside": 0}

def parse(*args, **kwargs):
    with lock:
        seen["parses"] += 1
        seen["inside"] += 1
        seen["overlaps"] += seen["inside"] > 1
    try:
        time.sleep(0.002)  # a wider window for another thread to enter
        for _ in range(30):
            Litter()
        return original(*args, **kwargs)
    finally:
        with lock:
            seen["inside"] -= 1

ast.parse = parse
gc.set_threshold(5, 10, 10)  # collect often, so a collection falls inside the conversion
main(sys.argv[1:])
print(json.dumps(seen), flush=True)
"""

# One call per service that goes through moto's routing for that service's protocol (SES v1 and v2 are routed apart).
CALLS: dict[str, Callable[[Any], Any]] = {
    "dynamodb": lambda c: c.list_tables(),
    "s3": lambda c: c.list_buckets(),
    "sqs": lambda c: c.list_queues(),
    "sns": lambda c: c.list_topics(),
    "ses": lambda c: c.list_identities(),
    "sesv2": lambda c: c.list_email_identities(),
}


def _wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120  # a start on a busy machine: the timeout only ends a hung one
    while time.monotonic() < deadline:
        assert process.poll() is None, "the emulator exited"
        try:
            if httpx.get(f"{url}/_emulator/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("the emulator never became healthy")


def _first_requests(url: str) -> Counter[str]:
    """Every service's first calls, all released at once; the failures by service and error."""
    # One attempt: a retried 500 would hide the crash.
    config = Config(retries={"total_max_attempts": 1}, read_timeout=30, max_pool_connections=CALLS_PER_SERVICE)
    session = boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
    jobs = [
        (name, session.client(name, endpoint_url=url, config=config), call)  # type: ignore[call-overload]
        for name, call in CALLS.items()
        for _ in range(CALLS_PER_SERVICE)
    ]
    start = threading.Barrier(len(jobs))
    failures: Counter[str] = Counter()

    def run(name: str, client: Any, call: Callable[[Any], Any]) -> None:
        start.wait()
        try:
            call(client)
        except Exception as exc:
            failures[f"{name}: {exc}"[:200]] += 1

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_first_requests_to_every_service(free_port, round_: int) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", PROBE, "--no-provision", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        failures = _first_requests(url)
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not failures, dict(failures)
    seen = json.loads(stdout.strip().splitlines()[-1])
    assert seen["overlaps"] == 0, f"two threads parsed at once {seen['overlaps']} times ({seen['parses']} parses)"


def test_a_router_herald_did_not_build_ahead_is_built_once_by_one_thread(monkeypatch) -> None:
    # A service outside Herald's (Lambda, REST-JSON: a werkzeug map of ~80 rules), asked for by 8 threads at once.
    moto_routes.apply()
    router = ServiceOperationRouter(get_service_model("lambda"))
    original, lock, seen = ast.parse, threading.Lock(), Counter[str]()

    def parse(*args: Any, **kwargs: Any) -> Any:
        with lock:
            seen["parses"] += 1
            seen["inside"] += 1
            seen["overlaps"] += seen["inside"] > 1
        try:
            time.sleep(0.001)
            return original(*args, **kwargs)
        finally:
            with lock:
                seen["inside"] -= 1

    monkeypatch.setattr(ast, "parse", parse)
    start = threading.Barrier(8)
    built: list[object] = []

    def build() -> None:
        start.wait()
        built.append(router._get_router("rest-json"))

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(r) for r in built}) == 1, "one router, shared"
    assert seen["parses"] > 0, "building the router parsed nothing: this test no longer looks at the hazard"
    assert seen["overlaps"] == 0
