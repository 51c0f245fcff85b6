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
- `free_port` (fixture returning a callable): `free_port()` gives a TCP port free right now on 127.0.0.1. The plain
  function is `tests.conftest.free_port_number` for code that cannot take fixtures (with `--import-mode=importlib`
  importing `tests.conftest` needs the repository root on `sys.path`; prefer the fixture).
"""

from __future__ import annotations

import os
import secrets
import socket
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import pytest

from herald_common.aws import make_session, open_clients
from herald_common.provisioning import provision
from herald_common.settings import HeraldSettings
from herald_emulator import Emulator

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    import aioboto3

    from herald_common.aws import AwsClients
    from herald_common.provisioning import Provisioned

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port_number() -> int:
    """A TCP port that is free on 127.0.0.1 at this instant."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
