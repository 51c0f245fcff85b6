"""The logging promises (SPEC.md "Metrics and logs"): one JSON object per line in prod with `event`, `level` and
`timestamp`; ids bound through contextvars on every line logged inside their scope; the web kit's request id."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest
import structlog

from herald_common.settings import HeraldSettings
from herald_common.web import create_service_app
from tests.common.log_capture import json_logs

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

pytestmark = pytest.mark.timeout(30)

log = structlog.get_logger("herald.test")


def test_a_prod_line_is_one_json_object_with_event_level_and_timestamp() -> None:
    with json_logs(level="INFO") as logs:
        log.info("campaign.created", recipients=3)
        log.debug("campaign.hidden_below_info")
        log.warning("processor.send_failed", reason='quote " and\nnewline')
    first, second = logs.records()
    assert len(logs.lines) == 2
    assert first["event"] == "campaign.created"
    assert (first["level"], first["recipients"]) == ("info", 3)
    assert (second["level"], second["reason"]) == ("warning", 'quote " and\nnewline')
    stamp = datetime.fromisoformat(first["timestamp"])
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=1)


def test_an_exception_is_rendered_inside_the_json_line() -> None:
    with json_logs() as logs:
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("processor.batch_failed")
    (record,) = logs.records()
    assert record["level"] == "error"
    assert "ValueError: boom" in record["exception"]


def test_dev_mode_writes_console_lines_not_json() -> None:
    with json_logs(prod=False) as logs:
        log.info("processor.batch_done", batchId="batch_000001")
    (line,) = logs.lines
    assert "processor.batch_done" in line
    assert "batchId=batch_000001" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


async def test_ids_bound_through_contextvars_are_on_every_line_of_their_scope_only() -> None:
    ids = {"campaignId": "camp_1", "batchId": "batch_000002", "tenantId": "acme", "requestId": "req-1"}

    async def batch() -> None:
        structlog.contextvars.bind_contextvars(**ids)
        log.info("processor.batch_started")
        await asyncio.sleep(0)
        log.warning("processor.send_failed", recipient="a@example.com")

    with json_logs() as logs:
        await asyncio.create_task(batch())  # a task has its own copy of the context, like each SQS message
        log.info("sqs.poller_stopped")
    started, failed, outside = logs.records()
    assert {k: started[k] for k in ids} == ids
    assert {k: failed[k] for k in ids} == ids
    assert not set(ids) & set(outside)


def _app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield

    app = create_service_app(title="t", description="t", settings=HeraldSettings(), lifespan=lifespan)

    @app.get("/work")
    async def work() -> dict[str, str]:
        log.info("campaign.updated")
        return {}

    return app


async def test_the_web_kit_binds_the_request_id_on_lines_logged_by_a_route() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        with json_logs() as logs:
            given = await client.get("/work", headers={"x-request-id": "req-from-the-caller"})
            generated = await client.get("/work")
    first, second = logs.events("campaign.updated")
    assert first["requestId"] == given.headers["x-request-id"] == "req-from-the-caller"
    assert second["requestId"] == generated.headers["x-request-id"]
    assert second["requestId"] != first["requestId"]


def test_the_leak_check_catches_a_secret_and_a_recipient_list() -> None:
    with json_logs() as logs:
        log.info("processor.batch_started", recipient="a@example.com")
    logs.assert_no_secrets(["s3cret"], ["a@example.com", "b@example.com"])
    with json_logs() as logs:
        log.info("processor.batch_started", body='[{"email":"a@example.com"},{"email":"B@example.com"}]')
    with pytest.raises(AssertionError, match="several recipients"):
        logs.assert_no_secrets([], ["a@example.com", "b@example.com"])
    with json_logs() as logs:
        log.info("http.unhandled_error", header="Bearer s3cret")
    with pytest.raises(AssertionError, match="a secret"):
        logs.assert_no_secrets(["s3cret"], [])
