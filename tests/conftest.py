"""Shared fixtures for the whole suite.

- `emulator` (session): one in-process herald emulator on a free port. It sets the standard AWS variables
  (`AWS_ENDPOINT_URL`, dummy credentials, `us-east-1`) in `os.environ`, so anything built from the environment talks to
  it. moto's state is process-global: never reset it from a test (use a subprocess `herald-emulator` for that).
- `aws_session` (session): one aioboto3 session (client creation reuses its loaded service models).
- `herald_settings` (function): a `HeraldSettings` with a fresh prefix (`t` + 8 hex chars), everything provisioned.
  Subclass settings the same way: `MySettings(resource_prefix=herald_settings.resource_prefix,
  aws_endpoint_url=emulator.url)`.
- `provisioned` (function): the `Provisioned` (queue URLs, DLQ URLs, topic ARNs) for `herald_settings`.
- `aws` (function): an `AwsClients` with dynamodb, s3, sqs, sns, ses and sesv2 open for `herald_settings`.
- `rng` (function): a `random.Random` seeded for this test. The seed is fresh each run unless `HERALD_TEST_SEED` sets
  it; a failing test's report shows it (section "random seed"), so `HERALD_TEST_SEED=<seed> pytest <test>` replays
  the sequence. Use it for every random choice a test makes (hypothesis prints its own reproduction).
- `tenant_emulator` (module) and `sesv2` (function): a second in-process emulator (its own SES faults and tenants;
  moto's data is shared) and an SES v2 client on it, for the SES tenant tests.
- `free_port` (fixture returning a callable): `free_port()` gives a TCP port free right now on 127.0.0.1. The plain
  function is `tests.conftest.free_port_number` for code that cannot take fixtures (with `--import-mode=importlib`
  importing `tests.conftest` needs the repository root on `sys.path`; prefer the fixture).
"""

from __future__ import annotations

import os
import random
import secrets
import socket
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import structlog

from herald_common.aws import make_session, open_clients
from herald_common.provisioning import provision
from herald_common.settings import HeraldSettings
from herald_emulator import Emulator

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Generator, Iterator

    import aioboto3

    from herald_common.aws import AwsClients
    from herald_common.provisioning import Provisioned

pytest_plugins = ["pytester"]  # tests/test_random_seed.py runs pytest on the suite's own fixtures

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


SEED_VARIABLE = "HERALD_TEST_SEED"
_SEED_KEY = pytest.StashKey[int]()


def free_port_number() -> int:
    """A TCP port that is free on 127.0.0.1 at this instant."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    chosen = os.environ.get(SEED_VARIABLE)
    seed = int(chosen) if chosen else secrets.randbits(32)
    request.node.stash[_SEED_KEY] = seed
    return random.Random(seed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    seed = item.stash.get(_SEED_KEY, None)
    if seed is not None and report.failed:
        report.sections.append(("random seed", f"{SEED_VARIABLE}={seed} (set it to replay this test's sequence)"))
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups and order for pytest-xdist's `--dist loadgroup --no-loadscope-reorder` (`make test`).

    A file whose tests share a module- or package-scoped fixture (a stack of real processes, a server), or that has
    `timing` tests, runs on one worker: the fixture starts once, and a file's timing tests run one at a time. A test
    marked with an `xdist_group` of its own keeps it; every other test goes wherever a worker is free.

    Groups are handed out in the order of the items, so the longest come first: the files on the fault tests'
    package stack (tests/faults), those with timing tests first (minutes of paced sending each), then the other
    end-to-end files. A long file started last would be what the whole suite waits for."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        if item.get_closest_marker("timing") or _fixture_scopes(item) & {"class", "module", "package"}:
            item.add_marker(pytest.mark.xdist_group(_file_of(item)))
    timed_files = {_file_of(item) for item in items if item.get_closest_marker("timing")}
    items.sort(
        key=lambda item: (
            "package" not in _fixture_scopes(item),
            _file_of(item) not in timed_files,
            item.get_closest_marker("e2e") is None,
        )
    )


def _file_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def _fixture_scopes(item: pytest.Item) -> set[str]:
    fixtures = getattr(item, "_fixtureinfo", None)
    if fixtures is None:
        return set()
    return {definition.scope for definitions in fixtures.name2fixturedefs.values() for definition in definitions}


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """A test that configures the process's logging as a service does (`configure_logging`: loggers cached on first
    use) fails here: a logger cached after it keeps that sink for good, and a later test that captures logs
    (tests/common/log_capture.py) would read nothing from it, depending on the order tests ran in."""
    yield
    assert not structlog.get_config()["cache_logger_on_first_use"], (
        "this test left structlog configured process-wide (configure_logging); keep it in a subprocess, or patch "
        "the call out"
    )


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    return free_port_number


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    saved = {key: os.environ.get(key) for key in (*AWS_ENV, "AWS_ENDPOINT_URL")}
    instance = Emulator("127.0.0.1", 0).start()
    os.environ.update(AWS_ENV)
    os.environ["AWS_ENDPOINT_URL"] = instance.url
    try:
        yield instance
    finally:
        instance.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def aws_session(emulator: Emulator) -> aioboto3.Session:
    return make_session(HeraldSettings(aws_endpoint_url=emulator.url))


@pytest.fixture
async def _herald_environment(emulator: Emulator, aws_session: aioboto3.Session) -> tuple[HeraldSettings, Provisioned]:
    settings = HeraldSettings(resource_prefix="t" + secrets.token_hex(4), aws_endpoint_url=emulator.url)
    return settings, await provision(settings, session=aws_session)


@pytest.fixture
def herald_settings(_herald_environment: tuple[HeraldSettings, Provisioned]) -> HeraldSettings:
    return _herald_environment[0]


@pytest.fixture
def provisioned(_herald_environment: tuple[HeraldSettings, Provisioned]) -> Provisioned:
    return _herald_environment[1]


@pytest.fixture
async def aws(herald_settings: HeraldSettings, aws_session: aioboto3.Session) -> AsyncIterator[AwsClients]:
    async with AsyncExitStack() as stack:
        yield await open_clients(
            stack, herald_settings, "dynamodb", "s3", "sqs", "sns", "ses", "sesv2", session=aws_session
        )


@pytest.fixture(scope="module")
def tenant_emulator(emulator: Emulator) -> Iterator[Emulator]:
    """An emulator of its own (SES faults and tenants; moto's data is shared) for the SES tenant tests."""
    instance = Emulator("127.0.0.1", 0).start()
    yield instance
    instance.stop()


@pytest.fixture
async def sesv2(tenant_emulator: Emulator, herald_settings: HeraldSettings, aws_session: Any) -> AsyncIterator[Any]:
    """An SES v2 client on `tenant_emulator`; its faults cleared afterwards."""
    settings = HeraldSettings(resource_prefix=herald_settings.resource_prefix, aws_endpoint_url=tenant_emulator.url)
    async with AsyncExitStack() as stack:
        yield (await open_clients(stack, settings, "sesv2", session=aws_session)).sesv2
    httpx.delete(f"{tenant_emulator.url}/_emulator/faults", timeout=10)
