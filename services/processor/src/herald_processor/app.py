"""The email processor: a long-running SQS consumer with a small HTTP face (health, readiness, metrics)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import httpx

from herald_common.aws import find_topic_arn, open_clients
from herald_common.dns import DnspythonResolver
from herald_common.fast_json import pass_through_json
from herald_common.web import create_service_app
from herald_processor.adaptive_pacing import AimdPolicy, DynamoAdaptiveRates
from herald_processor.announcements import SnsAnnouncer
from herald_processor.config import Settings
from herald_processor.daily_pacing import AccountQuota, DailyPacer
from herald_processor.ledger import DynamoDeliveryLedger
from herald_processor.policy import BatchPolicy, Ports
from herald_processor.provider_pacing import DynamoPolicySource, ProviderPacer
from herald_processor.providers import ProviderDirectory
from herald_processor.quota_lease import QuotaLeases
from herald_processor.repository import DynamoCampaignStore, DynamoSuppressionList
from herald_processor.service import BatchService
from herald_processor.ses import SesEmailSender, account_send_rate, send_quota_used
from herald_processor.ses_tenants import SesTenants, TenantEmailSender
from herald_processor.shared_throttle import DynamoThrottleBucket
from herald_processor.templates import HttpTemplateRenderer, S3TemplateSource
from herald_processor.throttle import LocalThrottleBucket
from herald_processor.warmup import DynamoWarmup
from herald_processor.warmup import daily_quota as account_daily_quota
from herald_processor.worker import ProcessorWorker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

    from herald_common.aws import AwsClients
    from herald_processor.ports import EmailSender, ThrottleBucket

RENDER_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
# The processor's AWS requests are built by its own tested code, never from input, and AWS validates them anyway:
# botocore's client-side model check of each one is about a tenth of the processor's CPU per email.
CLIENT_PARAMETER_VALIDATION = False
# The same requests, in DynamoDB's wire form already: their JSON is the request body, and their answers' JSON is the
# parse, instead of botocore's walks of the API model (herald_common.fast_json). Every ledger write and read is one.
HOT_DYNAMODB_OPERATIONS = ("TransactWriteItems", "BatchGetItem", "GetItem", "UpdateItem", "PutItem")
# The email-jobs poller's receive, batched delete and heartbeat (the kit's SqsPoller and BatchDeleter).
HOT_SQS_OPERATIONS = ("ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibility")


def use_fast_json(aws: AwsClients) -> None:
    """The processor's DynamoDB and SQS clients take the hot operations' bodies as JSON (`HOT_*_OPERATIONS`)."""
    pass_through_json(aws.require_dynamodb(), *HOT_DYNAMODB_OPERATIONS)
    if aws.sqs is not None:
        pass_through_json(aws.sqs, *HOT_SQS_OPERATIONS)


def build_service(
    settings: Settings,
    aws: AwsClients,
    http: httpx.AsyncClient,
    *,
    account_rate: float | None = None,
    daily_quota: float | None = None,
    updates_topic_arn: str | None = None,
) -> BatchService:
    """The batch service wired to DynamoDB, S3, SES and the template service; with `updates_topic_arn`, it announces
    what it settles by itself there (announcements.py)."""
    names = settings.resources
    dynamodb = aws.require_dynamodb()
    announcer = (
        SnsAnnouncer(aws.require_sns(), updates_topic_arn, dynamodb, names.ledger_table) if updates_topic_arn else None
    )
    rate = settings.ses_max_send_rate or account_rate
    throttle: ThrottleBucket = (
        DynamoThrottleBucket(dynamodb, names.throttle_table, rate)
        if settings.throttle_backend == "dynamodb"
        else LocalThrottleBucket(rate)
    )
    pacer = None
    if isinstance(throttle, DynamoThrottleBucket):
        directory = ProviderDirectory(DnspythonResolver(lifetime=settings.mx_lookup_timeout))
        aimd = AimdPolicy(
            interval_slots=settings.pacing_interval_slots,
            threshold=settings.pacing_threshold,
            increase=settings.pacing_increase,
            decrease=settings.pacing_decrease,
        )
        day = settings.pacing_day_seconds
        warmup = DynamoWarmup(dynamodb, names.throttle_table, daily_quota, day_seconds=day)
        quota = AccountQuota(sesv2=aws.sesv2, ses=aws.ses, refresh=settings.ses_quota_interval)
        pacer = ProviderPacer(
            directory,
            DynamoPolicySource(dynamodb, names.throttle_table),
            throttle,
            DynamoAdaptiveRates(dynamodb, names.throttle_table, directory, aimd),
            warmup,
            DailyPacer(throttle, quota, warmup, leases=QuotaLeases(dynamodb, names.throttle_table), day_seconds=day),
        )
    ses = SesEmailSender(
        names.configuration_set,
        sesv2=aws.sesv2 if settings.ses_api_version == "v2" else None,
        ses=aws.ses if settings.ses_api_version == "v1" else None,
    )
    sender: EmailSender = ses
    if settings.ses_tenants and aws.sesv2 is not None:
        sender = TenantEmailSender(ses, SesTenants(aws.sesv2, settings.resource_prefix, names.configuration_set))
    ports = Ports(
        campaigns=DynamoCampaignStore(dynamodb, names.campaigns_table, announcer),
        ledger=DynamoDeliveryLedger(dynamodb, names.ledger_table, names.campaigns_table),
        suppressions=DynamoSuppressionList(dynamodb, names.suppressions_table),
        templates=S3TemplateSource(aws.require_s3(), names.bucket),
        renderer=HttpTemplateRenderer(http, settings.service_key.get_secret_value()),
        sender=sender,
        throttle=throttle,
        pacer=pacer,
        announcer=announcer,
    )
    policy = BatchPolicy(
        processor_id=settings.processor_id,
        public_url=settings.public_url,
        unsubscribe_secret=settings.unsubscribe_secret,
        lease_seconds=settings.lease_seconds,
        send_concurrency=settings.send_concurrency,
        status_check_interval=settings.status_check_interval,
        batch_time_budget=settings.batch_time_budget,
        paused_retry_seconds=settings.paused_retry_seconds,
        reconcile_window=settings.reconcile_window,
        throttle_retries=settings.throttle_retries,
        quota_pause_seconds=settings.quota_pause_seconds,
        in_doubt=settings.in_doubt,
        in_doubt_max_resends=settings.in_doubt_max_resends,
    )
    return BatchService(ports, policy)


def create_app(
    settings: Settings | None = None, *, template_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The processor app. `template_transport` replaces the network to the template service (tests)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            ses = "sesv2" if settings.ses_api_version == "v2" else "ses"
            aws = await open_clients(
                stack,
                settings,
                "dynamodb",
                "s3",
                "sqs",
                "sns",
                ses,
                parameter_validation=CLIENT_PARAMETER_VALIDATION,
            )
            use_fast_json(aws)
            pool = settings.concurrency * settings.send_concurrency
            http = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=settings.template_url,
                    timeout=RENDER_TIMEOUT,
                    limits=httpx.Limits(max_connections=pool, max_keepalive_connections=settings.concurrency),
                    transport=template_transport,
                )
            )
            account_rate = None
            if settings.ses_max_send_rate is None:
                # SES's quota, on AWS and on Herald's emulator alike (it reports its `sesMaxSendRate` fault).
                account_rate = await account_send_rate(sesv2=aws.sesv2, ses=aws.ses)
            # The warm-up ramp ends at SES's daily quota (warmup.py).
            quota = await account_daily_quota(sesv2=aws.sesv2, ses=aws.ses)
            # The webhooks' `email.failed`, `email.unknown` and `campaign.status` of what no SES event reports.
            topic = await find_topic_arn(aws.require_sns(), settings.resources.campaign_updates_topic)
            service = build_service(
                settings, aws, http, account_rate=account_rate, daily_quota=quota, updates_topic_arn=topic
            )
            worker = ProcessorWorker(
                settings,
                aws.require_sqs(),
                service,
                ses_quota=lambda: send_quota_used(sesv2=aws.sesv2, ses=aws.ses),
            )
            app.state.worker = worker
            task = asyncio.create_task(worker.run(), name="email-jobs-worker")
            try:
                yield
            finally:
                # SIGTERM: uvicorn ends the lifespan; stop receiving, let in-flight batches finish or release them.
                worker.stop()
                await task

    async def readiness(app: FastAPI) -> None:
        worker: ProcessorWorker = app.state.worker
        if not worker.ready:
            raise RuntimeError("the email-jobs queue is not reachable yet")

    return create_service_app(
        title="Herald email processor",
        description="Consumes email-job batches, renders through the template service and sends through SES.",
        settings=settings,
        lifespan=lifespan,
        readiness=readiness,
    )
