"""`herald-emulator` as a process: it provisions its prefix, `POST /_emulator/reset` empties everything and
provisions again, SIGTERM stops it cleanly; `--provision-only` provisions another endpoint and exits.

Reset is process-wide in moto, so it is only ever exercised on a separate emulator process.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from contextlib import AsyncExitStack

import httpx
import pytest

from herald_common.aws import open_clients
from herald_common.settings import HeraldSettings
from herald_emulator.cli import main


async def wait_healthy(url: str, process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url) as client:
        while time.monotonic() < deadline:
            assert process.returncode is None, "emulator exited early"
            try:
                if (await client.get("/_emulator/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("emulator did not become healthy")


@pytest.fixture
async def emulator_process(free_port):
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "herald_emulator.cli",
        "--port",
        str(port),
        "--prefix",
        "rz",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url, process)  # healthy = provisioned
        yield url, process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_reset_empties_everything_and_provisions_again(emulator_process, aws_session):
    url, process = emulator_process
    settings = HeraldSettings(resource_prefix="rz", aws_endpoint_url=url)
    async with AsyncExitStack() as stack, httpx.AsyncClient(base_url=url) as control:
        aws = await open_clients(stack, settings, "sqs", "sesv2", "dynamodb", session=aws_session)
        await aws.require_sqs().create_queue(QueueName="rz-extra")
        await aws.require_dynamodb().put_item(
            TableName="rz-campaigns", Item={"tenantId": {"S": "a"}, "campaignId": {"S": "c"}}
        )
        assert aws.sesv2 is not None
        await aws.sesv2.send_email(
            FromEmailAddress="news@example.com",
            Destination={"ToAddresses": ["ada@example.org"]},
            Content={"Simple": {"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "x"}}}},
        )
        await control.put("/_emulator/faults", json={"sesLatencyMs": 1})
        assert len((await control.get("/_emulator/ses/messages")).json()["messages"]) == 1

        response = await control.post("/_emulator/reset")
        assert response.status_code == 200

        assert (await control.get("/_emulator/ses/messages")).json() == {"messages": []}
        assert (await control.get("/_emulator/faults")).json() == {}
        queues = {u.rsplit("/", 1)[1] for u in (await aws.require_sqs().list_queues()).get("QueueUrls", [])}
        assert queues == {
            *(f"rz-email-jobs-{p}{dlq}" for p in ("high", "normal", "low") for dlq in ("", "-dlq")),
            "rz-ses-events",
            "rz-ses-events-dlq",
            "rz-webhooks",
            "rz-webhooks-dlq",
        }
        items = await aws.require_dynamodb().scan(TableName="rz-campaigns")
        assert items["Count"] == 0

    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_provision_only_provisions_another_endpoint(emulator, aws_session, monkeypatch):
    # main() configures the process's logging (loggers cached on first use): in the test process that would outlive
    # this test, and a later test capturing logs would read nothing from a logger cached meanwhile.
    monkeypatch.setattr("herald_emulator.cli.configure_logging", lambda **_: None)
    await asyncio.to_thread(main, ["--provision-only", "--endpoint", emulator.url, "--prefix", "cliprov"])
    settings = HeraldSettings(resource_prefix="cliprov", aws_endpoint_url=emulator.url)
    async with AsyncExitStack() as stack:
        aws = await open_clients(stack, settings, "sqs", session=aws_session)
        url = (await aws.require_sqs().get_queue_url(QueueName="cliprov-ses-events"))["QueueUrl"]
        assert url.endswith("/cliprov-ses-events")
