"""The processor against the emulator: real DynamoDB, S3, SQS and SES; the template service is a stand-in
(httpx.MockTransport) that checks the token and renders `Hello {first_name}`."""

from __future__ import annotations

import asyncio
import gzip
import json
import secrets
import time
from typing import Any

import httpx
import pytest

from herald_common.api_keys import ApiKeyRegistry
from herald_processor.app import build_service, create_app, use_fast_json
from herald_processor.config import Settings
from herald_processor.domain import (
    QUOTA_PAUSE_REASON,
    Campaign,
    CampaignStatus,
    LedgerState,
    SendOutcome,
    SendResult,
    Settlement,
    TemplateMissing,
)
from herald_processor.ledger import DynamoDeliveryLedger
from herald_processor.repository import DynamoCampaignStore
from herald_processor.schemas import parse_job
from herald_processor.templates import S3TemplateSource, template_key

TENANT = "acme"


def stand_in_template_service(settings: Settings, calls: list[dict[str, Any]]) -> httpx.MockTransport:
    keys = ApiKeyRegistry([], service_key=settings.service_key.get_secret_value())

    def handle(request: httpx.Request) -> httpx.Response:
        holder = keys.resolve(request.headers.get("x-api-key", ""), request.headers.get("x-herald-tenant"))
        if holder is None:
            return httpx.Response(401, json={"error": "Unauthorized", "detail": "A valid bearer token is required."})
        body = json.loads(request.content)
        calls.append({"path": request.url.path, "tenant": holder.tenant_id, "body": body})
        if request.url.path != "/templates/newsletter/render":
            return httpx.Response(404, json={"error": "TemplateNotFound", "detail": "no"})
        results = [
            {"email": r["email"], "error": "first_name is undefined"}
            if "first_name" not in r["data"]
            else {
                "email": r["email"],
                "subject": f"Hello {r['data']['first_name']}",
                "html": f'<p>Hello {r["data"]["first_name"]}</p><a href="{r["unsubscribeUrl"]}">unsubscribe</a>',
                "text": f"Hello {r['data']['first_name']}",
            }
            for r in body["recipients"]
        ]
        return httpx.Response(200, json={"templateId": "newsletter", "version": body["version"], "results": results})

    return httpx.MockTransport(handle)


def processor_settings(herald_settings, **overrides: Any) -> Settings:
    return Settings(
        resource_prefix=herald_settings.resource_prefix,
        aws_endpoint_url=herald_settings.aws_endpoint_url,
        template_url="http://template.test",
        public_url="https://herald.test",
        **overrides,
    )


async def put_campaign(aws, settings: Settings, recipient_count: int, **extra: Any) -> str:
    campaign_id = "camp_" + secrets.token_hex(10)
    item: dict[str, Any] = {
        "tenantId": {"S": TENANT},
        "campaignId": {"S": campaign_id},
        "name": {"S": "Spring"},
        "templateId": {"S": "newsletter"},
        "templateVersion": {"N": "2"},
        "fromAddress": {"S": "news@example.com"},
        "fromName": {"S": "Acme News"},
        "status": {"S": "sending"},
        "recipientCount": {"N": str(recipient_count)},
        "throttle": {"M": {"emailsPerMinute": {"N": "6000"}}},
        **extra,
    }
    await aws.dynamodb.put_item(TableName=settings.resources.campaigns_table, Item=item)
    return campaign_id


async def put_template(aws, settings: Settings, version: int, *, compress: bool = False) -> None:
    document = json.dumps(
        {
            "templateId": "newsletter",
            "version": version,
            "name": "N",
            "subject": "Hello {{ first_name }}",
            "html": "<p>x</p>",
            "text": "x",
        }
    ).encode()
    extra = {"ContentEncoding": "gzip"} if compress else {}
    await aws.s3.put_object(
        Bucket=settings.resources.bucket,
        Key=template_key(TENANT, "newsletter", version),
        Body=gzip.compress(document) if compress else document,
        ContentType="application/json",
        **extra,
    )


def job_body(campaign_id: str, emails: list[str], batch: str = "batch_000001") -> str:
    return json.dumps(
        {
            "campaignId": campaign_id,
            "tenantId": TENANT,
            "batchId": batch,
            "recipients": [{"email": e, "data": {"first_name": e.split("@")[0]}} for e in emails],
            "templateId": "newsletter",
            "templateVersion": 2,
            "priority": "normal",
        }
    )


async def sent_messages(emulator, campaign_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{emulator.url}/_emulator/ses/messages", params={"tag": f"herald-campaign:{campaign_id}"}
        )
    response.raise_for_status()
    return list(response.json()["messages"])


async def campaign_item(aws, settings: Settings, campaign_id: str) -> dict[str, Any]:
    response = await aws.dynamodb.get_item(
        TableName=settings.resources.campaigns_table,
        Key={"tenantId": {"S": TENANT}, "campaignId": {"S": campaign_id}},
        ConsistentRead=True,
    )
    return response["Item"]


async def ledger_states(aws, settings: Settings, campaign_id: str) -> dict[str, dict[str, Any]]:
    response = await aws.dynamodb.query(
        TableName=settings.resources.ledger_table,
        KeyConditionExpression="campaignKey = :k",
        ExpressionAttributeValues={":k": {"S": f"{TENANT}#{campaign_id}"}},
        ConsistentRead=True,
    )
    return {i["email"]["S"]: i for i in response["Items"]}


async def test_a_batch_is_sent_recorded_counted_and_never_resent(emulator, herald_settings, aws):
    settings = processor_settings(herald_settings)
    use_fast_json(aws)  # the processor's own clients
    campaign_id = await put_campaign(aws, settings, recipient_count=5)
    await put_template(aws, settings, 2, compress=True)
    await aws.dynamodb.put_item(
        TableName=settings.resources.suppressions_table,
        Item={"tenantId": {"S": TENANT}, "email": {"S": "gone@example.com"}, "reason": {"S": "bounce"}},
    )
    calls: list[dict[str, Any]] = []
    emails = ["ada@example.com", "Bob@Example.com", "gone@example.com", "not-an-address", "cy@example.com"]
    async with httpx.AsyncClient(
        base_url=settings.template_url, transport=stand_in_template_service(settings, calls)
    ) as http:
        service = build_service(settings, aws, http)
        report = await service.process(parse_job(job_body(campaign_id, emails)))
        assert report.campaign_completed

        messages = await sent_messages(emulator, campaign_id)
        assert sorted(d for m in messages for d in m["destinations"]) == [
            "Bob@example.com",
            "ada@example.com",
            "cy@example.com",
        ]
        first = next(m for m in messages if m["destinations"] == ["ada@example.com"])
        assert first["subject"] == "Hello ada"
        assert first["configurationSet"] == settings.resources.configuration_set
        assert first["tags"] == {
            "herald-tenant": TENANT,
            "herald-campaign": campaign_id,
            "herald-batch": "batch_000001",
            "herald-attempt": "1",
        }
        headers = {k.lower(): v for k, v in first["headers"].items()}
        assert headers["x-herald-recipient"] == "ada@example.com"
        assert headers["list-unsubscribe"].startswith("<https://herald.test/u/")
        assert headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"
        assert "Acme News" in headers["from"]
        assert calls[0]["tenant"] == TENANT
        assert len(calls[0]["body"]["recipients"]) == 3

        ledger = await ledger_states(aws, settings, campaign_id)
        assert {e: i["state"]["S"] for e, i in ledger.items()} == {
            "ada@example.com": "sent",
            "bob@example.com": "sent",
            "cy@example.com": "sent",
            "gone@example.com": "suppressed",
            "not-an-address": "invalid",
        }
        assert all(i["counted"]["BOOL"] for i in ledger.values())
        sent = ledger["ada@example.com"]
        assert sent["messageId"]["S"] == first["messageId"]
        assert sent["batchId"]["S"] == "batch_000001"
        assert sent["attempt"]["N"] == "1"
        assert "sentAt" in sent

        item = await campaign_item(aws, settings, campaign_id)
        counts = {k: int(v["N"]) for k, v in item.items() if k.endswith("Count") and k != "recipientCount"}
        assert counts == {"finalCount": 5, "sentCount": 3, "suppressedCount": 1, "invalidCount": 1}
        assert item["status"]["S"] == "sent"
        assert "sentAt" in item

        # Redelivery (SQS is at-least-once): nothing sent, nothing counted again.
        again = await service.process(parse_job(job_body(campaign_id, emails)), receive_count=2)
        assert again.counted == {}
        assert not again.campaign_completed
        assert len(await sent_messages(emulator, campaign_id)) == 3
        assert int((await campaign_item(aws, settings, campaign_id))["finalCount"]["N"]) == 5


async def test_the_ledger_adapter_keeps_its_conditions(herald_settings, aws):
    settings = processor_settings(herald_settings)
    campaign_id = await put_campaign(aws, settings, recipient_count=2)
    campaign = Campaign(
        TENANT, campaign_id, CampaignStatus.SENDING, "newsletter", "news@example.com", recipient_count=2
    )
    ledger = DynamoDeliveryLedger(aws.dynamodb, settings.resources.ledger_table, settings.resources.campaigns_table)

    entry = await ledger.claim(campaign, "a@example.com", owner="p1", batch_id="batch_000001", lease_seconds=60)
    assert entry is not None
    assert entry.state is LedgerState.SENDING
    assert entry.attempt == 1
    assert await ledger.claim(campaign, "a@example.com", owner="p2", batch_id="batch_000001", lease_seconds=60) is None
    assert not await ledger.finalize_unclaimed(
        campaign, "a@example.com", LedgerState.INVALID, batch_id="b", reason=None
    )
    assert not await ledger.resolve_in_doubt(campaign, entry)  # the lease is alive
    assert not await ledger.mark(campaign, "a@example.com", "p2", SendOutcome(SendResult.SENT, "m"), LedgerState.SENT)
    assert await ledger.release(campaign, "a@example.com", "p1")
    entry = await ledger.claim(campaign, "a@example.com", owner="p2", batch_id="batch_000001", lease_seconds=60)
    assert entry is not None
    assert entry.attempt == 2
    assert await ledger.mark(campaign, "a@example.com", "p2", SendOutcome(SendResult.SENT, "m-1"), LedgerState.SENT)

    # An expired claim is in doubt: it becomes unknown, and nobody may claim it.
    gone = await ledger.claim(campaign, "b@example.com", owner="dead", batch_id="batch_000001", lease_seconds=-5)
    assert gone is not None
    assert not await ledger.resolve_in_doubt(campaign, gone, reconcile_window=60)  # its Send event may still come
    assert await ledger.resolve_in_doubt(campaign, gone, reconcile_window=2)
    assert await ledger.claim(campaign, "b@example.com", owner="p2", batch_id="batch_000001", lease_seconds=60) is None

    finals = {"a@example.com": LedgerState.SENT, "b@example.com": LedgerState.UNKNOWN}
    assert await ledger.count(campaign, finals) == {LedgerState.SENT: 1, LedgerState.UNKNOWN: 1}
    assert await ledger.count(campaign, finals) == {}  # exactly once
    item = await campaign_item(aws, settings, campaign_id)
    assert (item["finalCount"]["N"], item["sentCount"]["N"], item["unknownCount"]["N"]) == ("2", "1", "1")
    assert item["statsVersion"]["N"] == "1"
    snapshot = await ledger.snapshot(campaign, ["a@example.com", "b@example.com", "c@example.com"])
    assert {e: (s.state, s.counted) for e, s in snapshot.items()} == {
        "a@example.com": (LedgerState.SENT, True),
        "b@example.com": (LedgerState.UNKNOWN, True),
    }


async def test_templates_come_from_s3_latest_version_gzip_aware(herald_settings, aws):
    settings = processor_settings(herald_settings)
    source = S3TemplateSource(aws.s3, settings.resources.bucket)
    await put_template(aws, settings, 1)
    await put_template(aws, settings, 12, compress=True)
    latest = await source.get(TENANT, "newsletter", None)
    assert (latest.version, latest.subject) == (12, "Hello {{ first_name }}")
    assert (await source.get(TENANT, "newsletter", 1)).version == 1
    with pytest.raises(TemplateMissing):
        await source.get(TENANT, "newsletter", 3)
    with pytest.raises(TemplateMissing):
        await source.get("other-tenant", "newsletter", None)


async def wait_for(predicate, timeout: float = 90.0) -> None:
    """Polls until the predicate holds; the timeout only stops a hang (a busy 2-core machine can take a while)."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("ses_api_version", ["v1", "v2"])
async def test_the_running_app_consumes_the_queue(emulator, herald_settings, provisioned, aws, ses_api_version):
    settings = processor_settings(herald_settings, ses_api_version=ses_api_version, queue_depth_interval=0.2)
    campaign_id = await put_campaign(aws, settings, recipient_count=4)
    await put_template(aws, settings, 2)
    calls: list[dict[str, Any]] = []
    app = create_app(settings, template_transport=stand_in_template_service(settings, calls))
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://processor")
        async with client:
            await wait_for(lambda: _ready(client))
            queue = provisioned.email_jobs_queue_url
            await aws.sqs.send_message(
                QueueUrl=queue, MessageBody=job_body(campaign_id, ["a@example.com", "b@example.com"])
            )
            await aws.sqs.send_message(
                QueueUrl=queue, MessageBody=job_body(campaign_id, ["c@example.com", "d@example.com"], "batch_000002")
            )
            await aws.sqs.send_message(QueueUrl=queue, MessageBody='{"not": "a job"}')

            async def campaign_sent() -> bool:
                return (await campaign_item(aws, settings, campaign_id))["status"]["S"] == "sent"

            await wait_for(campaign_sent)
            messages = await sent_messages(emulator, campaign_id)
            assert sorted(d for m in messages for d in m["destinations"]) == [f"{c}@example.com" for c in "abcd"]

            async def dead_lettered() -> bool:
                response = await aws.sqs.receive_message(QueueUrl=provisioned.email_jobs_dlq_url, WaitTimeSeconds=0)
                return any(m["Body"] == '{"not": "a job"}' for m in response.get("Messages", []))

            await wait_for(dead_lettered)
            metrics = (await client.get("/metrics")).text
            assert 'herald_emails_total{result="sent"}' in metrics
            assert 'herald_batches_total{result="malformed"}' in metrics
            names = settings.resources
            for queue in names.email_jobs_queues:  # every priority's queue and its dead-letter queue
                assert f'herald_queue_depth{{queue="{queue}"}}' in metrics
                assert f'herald_queue_depth{{queue="{names.dead_letter_queue(queue)}"}}' in metrics
            assert (await client.get("/healthz")).json() == {"status": "ok"}


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def test_a_quota_pause_is_resumed_only_when_due_and_only_if_it_is_ours(herald_settings, aws):
    settings = processor_settings(herald_settings)
    store = DynamoCampaignStore(aws.dynamodb, settings.resources.campaigns_table)
    campaign_id = await put_campaign(aws, settings, recipient_count=3)
    now = time.time()
    reason = f"{QUOTA_PAUSE_REASON}: sending resumes automatically after soon"
    assert await store.pause(TENANT, campaign_id, reason, resume_at=now + 100)
    paused = await store.get(TENANT, campaign_id)
    assert paused is not None
    assert (paused.status, paused.status_reason, paused.quota_resume_at) == (
        CampaignStatus.PAUSED,
        reason,
        int(now + 100),
    )
    assert not await store.resume_after_quota(TENANT, campaign_id, now)  # not due yet
    assert await store.resume_after_quota(TENANT, campaign_id, now + 101)
    resumed = await store.get(TENANT, campaign_id)
    assert resumed is not None
    assert (resumed.status, resumed.status_reason, resumed.quota_resume_at) == (CampaignStatus.SENDING, None, None)

    # A user's pause (another reason) is left alone even with an old resume time on the item.
    user_paused = await put_campaign(
        aws, settings, 3, status={"S": "paused"}, statusReason={"S": "paused by user"}, quotaResumeAt={"N": "1"}
    )
    assert not await store.resume_after_quota(TENANT, user_paused, now)


async def test_batched_claims_and_settlements_drop_only_what_is_not_ours(herald_settings, aws):
    settings = processor_settings(herald_settings)
    campaign_id = await put_campaign(aws, settings, recipient_count=150)
    campaign = Campaign(
        TENANT, campaign_id, CampaignStatus.SENDING, "newsletter", "news@example.com", recipient_count=150
    )
    ledger = DynamoDeliveryLedger(aws.dynamodb, settings.resources.ledger_table, settings.resources.campaigns_table)
    emails = [f"r{i:03d}@example.com" for i in range(150)]  # more than one transaction's 100 writes
    # Another worker holds r000; r001 was claimed and given back since we looked (its attempt moved on).
    assert await ledger.claim(campaign, emails[0], owner="other", batch_id="b", lease_seconds=60) is not None
    assert await ledger.claim(campaign, emails[1], owner="other", batch_id="b", lease_seconds=60) is not None
    assert await ledger.release(campaign, emails[1], "other")

    taken = await ledger.claim_many(
        campaign, dict.fromkeys(emails, 0), owner="me", batch_id="batch_000001", lease_seconds=60
    )
    assert set(taken) == set(emails[2:])
    assert {e.attempt for e in taken.values()} == {1}
    assert await ledger.claim_many(campaign, {emails[2]: 0}, owner="late", batch_id="b", lease_seconds=60) == {}
    again = await ledger.claim_many(campaign, {emails[1]: 1}, owner="me", batch_id="b", lease_seconds=60)
    assert again[emails[1]].attempt == 2

    # Our claims settle in one go; r000 is not ours, so it is reported lost and left as it was.
    settlements = [Settlement(emails[0], LedgerState.SENT, SendOutcome(SendResult.SENT, "m-0"))]
    settlements += [Settlement(e, LedgerState.SENT, SendOutcome(SendResult.SENT, f"m-{e}")) for e in emails[1:140]]
    settlements += [Settlement(emails[140], LedgerState.FAILED, SendOutcome(SendResult.FAILED, reason="rejected"))]
    settlements += [Settlement(e, None) for e in emails[141:148]]  # throttled: claims given back
    # A 5xx: in doubt, still ours and `sending`, its lease ended now.
    doubt = SendOutcome(SendResult.UNKNOWN, reason="InternalFailure")
    settlements += [Settlement(e, LedgerState.SENDING, doubt) for e in emails[148:]]
    before = int(time.time())
    assert await ledger.settle_many(campaign, "me", settlements) == {emails[0]}
    snapshot = await ledger.snapshot(campaign, emails)
    for email in emails[148:]:
        entry = snapshot[email]
        assert (entry.state, entry.lease_owner, entry.counted) == (LedgerState.SENDING, "me", False)
        assert entry.lease_expires_at is not None
        assert before <= entry.lease_expires_at <= time.time()
    assert snapshot[emails[0]].state is LedgerState.SENDING
    assert snapshot[emails[0]].lease_owner == "other"
    assert {snapshot[e].state for e in emails[1:140]} == {LedgerState.SENT}
    assert snapshot[emails[140]].state is LedgerState.FAILED
    assert {(snapshot[e].state, snapshot[e].lease_owner) for e in emails[141:148]} == {(LedgerState.PENDING, None)}
    raw = await aws.dynamodb.get_item(
        TableName=settings.resources.ledger_table,
        Key={"campaignKey": {"S": campaign.key}, "email": {"S": emails[5]}},
        ConsistentRead=True,
    )
    assert raw["Item"]["messageId"]["S"] == f"m-{emails[5]}"
    assert "sentAt" in raw["Item"]
    # A settlement after the lease moved on (someone made it unknown) is lost, not applied.
    assert await ledger.settle_many(campaign, "me", [Settlement(emails[5], LedgerState.FAILED)]) == {emails[5]}

    finals = dict.fromkeys(emails[1:140], LedgerState.SENT) | {emails[140]: LedgerState.FAILED}
    assert await ledger.count(campaign, finals) == {LedgerState.SENT: 139, LedgerState.FAILED: 1}
    assert await ledger.count(campaign, finals) == {}
    item = await campaign_item(aws, settings, campaign_id)
    assert (item["finalCount"]["N"], item["sentCount"]["N"], item["failedCount"]["N"]) == ("140", "139", "1")


async def test_a_chunk_of_fresh_and_in_doubt_recipients_is_claimed_in_one_transaction(herald_settings, aws):
    settings = processor_settings(herald_settings)
    campaign_id = await put_campaign(aws, settings, recipient_count=3)
    campaign = Campaign(
        TENANT, campaign_id, CampaignStatus.SENDING, "newsletter", "news@example.com", recipient_count=3
    )
    ledger = DynamoDeliveryLedger(aws.dynamodb, settings.resources.ledger_table, settings.resources.campaigns_table)
    fresh, doubt, live = "fresh@example.com", "doubt@example.com", "live@example.com"
    # `doubt`: a 5xx left it in doubt (lease ended now); `live`: another worker's claim, its lease running for 60 s.
    assert await ledger.claim(campaign, doubt, owner="dead", batch_id="b", lease_seconds=60) is not None
    unknown = SendOutcome(SendResult.UNKNOWN, reason="InternalFailure")
    assert await ledger.settle_many(campaign, "dead", [Settlement(doubt, LedgerState.SENDING, unknown)]) == set()
    assert await ledger.claim(campaign, live, owner="other", batch_id="b", lease_seconds=60) is not None
    cutoff = int(time.time()) + 1  # past the in-doubt lease's end, well before the live one's
    transactions: list[int] = []
    aws.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems",
        lambda params, **_: transactions.append(len(params["TransactItems"])),
    )

    taken = await ledger.claim_many(
        campaign,
        {fresh: 0, doubt: 1, live: 1},
        owner="me",
        batch_id="batch_000002",
        lease_seconds=60,
        in_doubt={doubt: cutoff, live: cutoff},
    )

    assert set(taken) == {fresh, doubt}
    assert (taken[fresh].attempt, taken[doubt].attempt) == (1, 2)
    # One transaction of three writes, then the same two without the one whose condition failed.
    assert transactions == [3, 2]
    rows = await ledger_states(aws, settings, campaign_id)
    assert {e: (r["state"]["S"], r["leaseOwner"]["S"]) for e, r in rows.items()} == {
        fresh: ("sending", "me"),
        doubt: ("sending", "me"),
        live: ("sending", "other"),
    }
    # Only the recipient sent again carries why and how often.
    assert (rows[doubt]["reason"]["S"], rows[doubt]["inDoubtResends"]["N"]) == ("in_doubt_resend", "1")
    assert "reason" not in rows[fresh]
    assert "inDoubtResends" not in rows[fresh]


async def test_a_batch_writes_the_ledger_once_to_claim_and_once_to_record_each_chunk(emulator, herald_settings, aws):
    # Counted on the processor's own DynamoDB client as the calls go to the emulator: a claim or an outcome written per
    # recipient (two transactions per email, as the per-call design did) makes 48 of each here.
    settings = processor_settings(herald_settings, send_concurrency=16, throttle_backend="local")
    unlimited = {"throttle": {"M": {"emailsPerMinute": {"N": "6000000"}}}}
    campaign_id = await put_campaign(aws, settings, recipient_count=48, **unlimited)
    await put_template(aws, settings, 2)
    writes: list[tuple[str, int]] = []

    def classify(params: dict[str, Any], **_: Any) -> None:
        update = params["TransactItems"][0]["Update"]["UpdateExpression"]
        kind = "claim" if "leaseOwner = :owner" in update else "count" if "counted" in update else "outcome"
        writes.append((kind, len(params["TransactItems"])))

    use_fast_json(aws)  # the processor's own clients
    aws.dynamodb.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", classify)
    emails = [f"r{i:02d}@example.com" for i in range(48)]
    async with httpx.AsyncClient(
        base_url=settings.template_url, transport=stand_in_template_service(settings, [])
    ) as http:
        report = await build_service(settings, aws, http).process(parse_job(job_body(campaign_id, emails)))

    assert report.campaign_completed
    assert len(await sent_messages(emulator, campaign_id)) == 48
    # No rate limit: every chunk is `send_concurrency` recipients, so 48 are three chunks of 16.
    assert [n for kind, n in writes if kind == "claim"] == [16, 16, 16]
    assert [n for kind, n in writes if kind == "outcome"] == [16, 16, 16]
    assert [n for kind, n in writes if kind == "count"] == [48 + 1]  # the batch's count, with the campaign's counters
