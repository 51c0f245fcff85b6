"""The processor paces itself to SES's maximum send rate as the emulator reports it (GetAccount / GetSendQuota),
without `HERALD_SES_MAX_SEND_RATE`, as it does on AWS: the emulator enforces that rate, and never has to throttle.

Faults belong to one emulator instance, so the processor talks to one of its own (moto's data is shared).
"""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from herald_emulator import Emulator
from herald_processor.app import create_app
from tests.common.log_capture import json_logs
from tests.processor.test_against_emulator import (
    campaign_item,
    job_body,
    processor_settings,
    put_campaign,
    put_template,
    sent_messages,
    stand_in_template_service,
    wait_for,
)

pytestmark = [pytest.mark.timing, pytest.mark.timeout(60)]

RATE = 4.0  # emails per second the emulator allows
RECIPIENTS = 12  # three seconds' worth: unpaced, 16 concurrent sends would be throttled from the fifth on


@pytest.fixture
def paced_emulator(emulator):
    instance = Emulator("127.0.0.1", 0).start()
    httpx.put(f"{instance.url}/_emulator/faults", json={"sesMaxSendRate": RATE}).raise_for_status()
    yield instance
    instance.stop()


@pytest.mark.parametrize("ses_api_version", ["v1", "v2"])
async def test_the_processor_sends_at_the_rate_the_emulator_reports(
    paced_emulator, herald_settings, provisioned, aws, ses_api_version
) -> None:
    settings = processor_settings(herald_settings, ses_api_version=ses_api_version)
    settings = settings.model_copy(update={"aws_endpoint_url": paced_emulator.url})
    assert settings.ses_max_send_rate is None
    campaign_id = await put_campaign(aws, settings, recipient_count=RECIPIENTS)
    await put_template(aws, settings, 2)
    emails = [f"r{i:02d}@example.com" for i in range(RECIPIENTS)]
    app = create_app(settings, template_transport=stand_in_template_service(settings, []))
    with json_logs(level="INFO") as logs:
        async with app.router.lifespan_context(app):
            await aws.sqs.send_message(
                QueueUrl=provisioned.email_jobs_queue_url, MessageBody=job_body(campaign_id, emails)
            )

            async def campaign_sent() -> bool:
                return (await campaign_item(aws, settings, campaign_id))["status"]["S"] == "sent"

            await wait_for(campaign_sent, timeout=40)

    messages = await sent_messages(paced_emulator, campaign_id)
    assert sorted(d for m in messages for d in m["destinations"]) == emails
    # The emulator's own bucket caps what it accepts either way; a processor that does not pace itself is refused from
    # the fifth send on (8 of 12). One refusal is allowed: the emulator judges the rate when it gets to a request, and
    # on a loaded machine two paced sends can reach it together (SES, too, may throttle any call; it is retried).
    throttled = logs.events("processor.send_throttled")
    assert len(throttled) <= 1, f"SES throttled {len(throttled)} sends: the processor did not pace itself"
    sent_at = sorted(datetime.fromisoformat(m["sentAt"].replace("Z", "+00:00")).timestamp() for m in messages)
    assert sent_at[-1] - sent_at[0] >= (RECIPIENTS - RATE) / RATE - 0.5  # and it did not just happen to be slow
