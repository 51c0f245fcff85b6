"""What the running processor logs and exports on a real flow (emulator, JSON logs as in prod): the batch's ids on
its lines, no token or secret, never more than one recipient per line; `herald_ses_quota_used_ratio` sampled."""

from __future__ import annotations

import json
import secrets
from typing import Any

import boto3
import httpx
import pytest
from prometheus_client import REGISTRY

from herald_common.metrics import SES_QUOTA_USED
from herald_processor.app import create_app
from herald_processor.ses import account_send_rate, send_quota_used
from tests.common.log_capture import json_logs
from tests.processor.test_against_emulator import (
    TENANT,
    campaign_item,
    processor_settings,
    put_campaign,
    put_template,
    stand_in_template_service,
    wait_for,
)

pytestmark = pytest.mark.timeout(240)  # the waits inside stop a hang first; a loaded CI machine is slow


@pytest.fixture
def daily_quota(emulator) -> Any:
    """A daily quota on the session's emulator (it has none by default), far above what a test sends; the quota's
    use is then SentLast24Hours over it. Tests of one process run one at a time, so no other test sees it."""
    assert httpx.get(f"{emulator.url}/_emulator/faults", timeout=10).json() == {}  # nothing else to keep
    quota = boto3.client("ses", endpoint_url=emulator.url).get_send_quota()
    limit = quota["SentLast24Hours"] + 10_000
    httpx.put(f"{emulator.url}/_emulator/faults", json={"sesMax24HourSend": limit}, timeout=10).raise_for_status()
    yield limit
    httpx.delete(f"{emulator.url}/_emulator/faults", timeout=10).raise_for_status()


def _job(campaign_id: str, batch: str, recipients: list[dict[str, Any]]) -> str:
    body = {"campaignId": campaign_id, "tenantId": TENANT, "batchId": batch, "recipients": recipients}
    return json.dumps(body | {"templateId": "newsletter", "templateVersion": 2, "priority": "normal"})


async def test_a_send_logs_its_ids_and_no_secret_or_recipient_list(
    herald_settings, provisioned, aws, daily_quota
) -> None:
    settings = processor_settings(
        herald_settings,
        ses_api_version="v1",
        queue_depth_interval=0.2,
        ses_quota_interval=0.2,
        jwt_secret="jwt-" + secrets.token_hex(16),
        unsubscribe_secret="unsub-" + secrets.token_hex(16),
        service_key="svc-" + secrets.token_hex(16),
    )
    campaign_id = await put_campaign(aws, settings, recipient_count=4)
    await put_template(aws, settings, 2)
    calls: list[dict[str, Any]] = []
    tokens: list[str] = []
    stand_in = stand_in_template_service(settings, calls)

    def template_service(request: httpx.Request) -> httpx.Response:
        tokens.append(request.headers["x-api-key"])
        return stand_in.handler(request)  # type: ignore[no-any-return]

    ok = [{"email": f"{name}@example.com", "data": {"first_name": name}} for name in ("ann", "bob", "dan")]
    unrenderable = {"email": "cid@example.com", "data": {}}  # the stand-in refuses it: render_failed
    malformed = json.dumps(
        {"tenantId": TENANT, "recipients": [{"email": "x1@example.com"}, {"email": "x2@example.com"}]}
    )
    recipients = [r["email"] for r in [*ok, unrenderable]] + ["x1@example.com", "x2@example.com"]

    SES_QUOTA_USED.set(-1.0)
    app = create_app(settings, template_transport=httpx.MockTransport(template_service))
    with json_logs(level="INFO") as logs:
        async with app.router.lifespan_context(app):
            queue = provisioned.email_jobs_queue_url
            await aws.sqs.send_message(QueueUrl=queue, MessageBody=_job(campaign_id, "batch_000001", ok[:2]))
            await aws.sqs.send_message(
                QueueUrl=queue, MessageBody=_job(campaign_id, "batch_000002", [ok[2], unrenderable])
            )
            await aws.sqs.send_message(QueueUrl=queue, MessageBody=malformed)

            async def finished() -> bool:
                status = (await campaign_item(aws, settings, campaign_id))["status"]["S"]
                return status == "sent" and bool(logs.events("processor.malformed_job"))

            await wait_for(finished)

            async def quota_sampled() -> bool:
                return (REGISTRY.get_sample_value("herald_ses_quota_used_ratio") or -1.0) > 0

            await wait_for(quota_sampled)

    assert tokens, "the flow never called the template service"
    assert set(tokens) == {settings.service_key.get_secret_value()}
    logs.assert_no_secrets([*set(tokens), settings.jwt_secret, settings.unsubscribe_secret], recipients)

    records = logs.records()
    assert all({"event", "level", "timestamp"} <= set(r) for r in records)
    done = {r["batchId"]: r for r in logs.events("processor.batch_done")}
    assert set(done) == {"batch_000001", "batch_000002"}
    for record in records:
        if record.get("batchId") in done:
            assert (record["campaignId"], record["tenantId"]) == (campaign_id, TENANT), record
    (render_failed,) = logs.events("processor.render_failed")
    assert (render_failed["recipient"], render_failed["batchId"]) == ("cid@example.com", "batch_000002")
    (completed,) = logs.events("campaign.completed")
    assert (completed["campaignId"], completed["tenantId"]) == (campaign_id, TENANT)
    (refused,) = logs.events("processor.malformed_job")
    assert refused["level"] == "error"
    assert refused["bodyChars"] == len(malformed)


class FakeSesV2:
    """SES v2's GetAccount with any quota; only SendQuota matters here."""

    def __init__(self, quota: dict[str, float]) -> None:
        self.quota = quota

    async def get_account(self) -> dict[str, Any]:
        return {"SendQuota": self.quota}


async def test_quota_used_is_sent_over_max_from_ses_v1(aws, daily_quota) -> None:
    quota = await aws.ses.get_send_quota()
    used = await send_quota_used(ses=aws.ses)
    assert quota["Max24HourSend"] == daily_quota
    assert used == pytest.approx(quota["SentLast24Hours"] / daily_quota)
    assert 0 <= used < 1


async def test_quota_used_from_ses_v2_and_none_when_unlimited_or_unknown() -> None:
    v2 = FakeSesV2({"Max24HourSend": 50000.0, "SentLast24Hours": 12500.0, "MaxSendRate": 14.0})
    assert await send_quota_used(sesv2=v2) == 0.25  # type: ignore[arg-type]
    assert await send_quota_used(sesv2=FakeSesV2({"Max24HourSend": -1.0, "SentLast24Hours": 9.0})) is None  # type: ignore[arg-type]
    assert await send_quota_used(sesv2=FakeSesV2({})) is None  # type: ignore[arg-type]
    assert await send_quota_used() is None


async def test_the_account_rate_is_the_quota_s_max_send_rate_and_none_when_unlimited_or_unknown() -> None:
    assert await account_send_rate(sesv2=FakeSesV2({"MaxSendRate": 14.0})) == 14.0  # type: ignore[arg-type]
    assert await account_send_rate(sesv2=FakeSesV2({"MaxSendRate": -1.0})) is None  # type: ignore[arg-type]
    assert await account_send_rate(sesv2=FakeSesV2({})) is None  # type: ignore[arg-type]
    assert await account_send_rate() is None
