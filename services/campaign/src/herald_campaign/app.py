"""The campaign service's FastAPI app: AWS clients, the template client and the background fan-out live as long as
the process, opened once in the lifespan and closed in reverse order."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import httpx
import structlog

from herald_campaign.audit.api import router as audit_router
from herald_campaign.audit.repository import DynamoAuditReader
from herald_campaign.audit.routes import AUDITED_ROUTES
from herald_campaign.audit.service import AuditService
from herald_campaign.campaigns.api import router as campaigns_router
from herald_campaign.campaigns.fanout import FanoutRunner, FanoutSupervisor, Scheduler
from herald_campaign.campaigns.fanout_store import DynamoFanoutStore
from herald_campaign.campaigns.job_queue import SqsJobQueue
from herald_campaign.campaigns.ledger import DynamoLedger
from herald_campaign.campaigns.recipient_store import S3RecipientStore
from herald_campaign.campaigns.repository import DynamoCampaignStore
from herald_campaign.campaigns.retry import RetryResumer, RetryRunner
from herald_campaign.campaigns.retry_store import DynamoRetryStore
from herald_campaign.campaigns.service import CampaignService
from herald_campaign.campaigns.status_news import QueueStatusAnnouncer
from herald_campaign.campaigns.templates import HttpTemplateCatalog
from herald_campaign.campaigns.testsend_quota import DynamoTestSendQuota
from herald_campaign.config import Settings
from herald_campaign.idempotency.middleware import IdempotencyKeys
from herald_campaign.idempotency.store import IdempotencyStore
from herald_campaign.preview.api import router as preview_router
from herald_campaign.reputation.api import router as reputation_router
from herald_campaign.reputation.repository import DynamoReputationReader
from herald_campaign.senders.api import router as senders_router
from herald_campaign.senders.identities import SesIdentities
from herald_campaign.senders.service import SenderAuthenticator, SenderAuthMode
from herald_campaign.sending_policy.api import router as sending_policy_router
from herald_campaign.sending_policy.repository import DynamoSendingPolicyStore
from herald_campaign.sending_policy.service import SendingPolicyService
from herald_campaign.suppressions.api import router as suppressions_router
from herald_campaign.suppressions.repository import DynamoSuppressionStore
from herald_campaign.suppressions.service import SuppressionService
from herald_campaign.unsubscribe.api import router as unsubscribe_router
from herald_campaign.webhooks.api import router as webhooks_router
from herald_campaign.webhooks.delivery import DeliveryPolicy, WebhookDispatcher
from herald_campaign.webhooks.repository import DeliveryLog, WebhookStore
from herald_campaign.webhooks.service import WebhookService
from herald_campaign.webhooks.status import CampaignStatusLog
from herald_common.audit import AuditLog, AuditTrail
from herald_common.aws import open_clients
from herald_common.dns import DnspythonResolver
from herald_common.resources import EMAIL_JOB_PRIORITIES
from herald_common.ses import RawEmailSender
from herald_common.settings import Environment
from herald_common.sqs import SqsPoller
from herald_common.web import create_service_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

    from herald_campaign.senders.dns import DnsResolver
    from herald_common.aws import AwsClients

log = structlog.get_logger("herald.campaign")

DESCRIPTION = (
    "Campaigns, their recipients, send (answered at once, fanned out onto the priority's email-jobs queue in the "
    "background), pause/resume/cancel, the tenant's suppression list, and the public unsubscribe link."
)


def create_app(
    settings: Settings | None = None,
    *,
    template_client: httpx.AsyncClient | None = None,
    dns_resolver: DnsResolver | None = None,
) -> FastAPI:
    """The app. `template_client` (an `httpx.AsyncClient` whose base URL is the template service) replaces the one
    built from `HERALD_TEMPLATE_URL`; the app does not close a client it was given. `dns_resolver` replaces the
    system's resolver for sender authentication (tests give it a zone of their own)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        names = settings.resources
        async with AsyncExitStack() as stack:
            ses_name = "sesv2" if settings.ses_api_version == "v2" else "ses"
            aws = await open_clients(stack, settings, "dynamodb", "s3", "sqs", ses_name)
            dynamodb, s3, sqs = aws.require_dynamodb(), aws.require_s3(), aws.require_sqs()
            queue_urls = {
                priority: (await sqs.get_queue_url(QueueName=names.email_jobs_queue_for(priority)))["QueueUrl"]
                for priority in EMAIL_JOB_PRIORITIES
            }
            http = template_client
            if http is None:
                http = httpx.AsyncClient(
                    base_url=settings.template_url,
                    timeout=settings.template_timeout_seconds,
                    limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
                )
                stack.push_async_callback(http.aclose)
            recipients = S3RecipientStore(s3, names.bucket)
            # Status moves are announced on the webhooks queue for `campaign.status` (campaigns/status_news.py).
            webhooks_url = (await sqs.get_queue_url(QueueName=names.webhooks_queue))["QueueUrl"]
            announcer = QueueStatusAnnouncer(sqs, webhooks_url)
            fanout_store = DynamoFanoutStore(dynamodb, names.campaigns_table, announcer)
            queue = SqsJobQueue(sqs, queue_urls)
            runner = FanoutRunner(
                recipients=recipients,
                queue=queue,
                store=fanout_store,
                owner=f"campaign-{uuid.uuid4().hex[:12]}",
                lease_seconds=settings.fanout_lease_seconds,
                default_batch_size=settings.batch_size,
            )
            supervisor = FanoutSupervisor(runner, fanout_store)
            campaign_store = DynamoCampaignStore(dynamodb, names.campaigns_table, announcer)
            retry_store = DynamoRetryStore(dynamodb, names.campaigns_table)
            retries = RetryRunner(
                store=retry_store,
                campaigns=campaign_store,
                ledger=DynamoLedger(dynamodb, names.ledger_table, names.campaigns_table),
                recipients=recipients,
                queue=queue,
                owner=runner.owner,
                lease_seconds=settings.fanout_lease_seconds,
                default_batch_size=settings.batch_size,
            )
            resumer = RetryResumer(retries, retry_store)
            app.state.aws = aws
            senders = await _sender_authenticator(stack, settings, aws, dns_resolver)
            app.state.sender_authenticator = senders
            app.state.fanouts = supervisor
            app.state.retries = resumer
            suppression_store = DynamoSuppressionStore(dynamodb, names.suppressions_table)
            app.state.campaign_service = CampaignService(
                store=campaign_store,
                recipients=recipients,
                templates=HttpTemplateCatalog(http),
                runner=runner,
                supervisor=supervisor,
                batch_size=settings.batch_size,
                max_inline_recipients=settings.max_recipients_per_request,
                max_upload_recipients=settings.max_upload_recipients,
                max_campaign_recipients=settings.max_campaign_recipients,
                recipients_per_part=settings.recipients_per_part,
                retries=retries,
                retry_store=retry_store,
                mailer=RawEmailSender(names.configuration_set, sesv2=aws.sesv2, ses=aws.ses),
                public_url=settings.public_url,
                senders=senders,
                suppressions=suppression_store,
                test_quota=DynamoTestSendQuota(dynamodb, names.throttle_table, per_window=settings.test_send_per_hour),
                unsubscribe_secret=settings.unsubscribe_secret,
            )
            audit_log = AuditLog(
                dynamodb,
                names.audit_table,
                spool_size=settings.audit_spool_size,
                flush_interval=settings.audit_flush_seconds,
            )
            app.state.audit_log = audit_log
            stack.push_async_callback(audit_log.flush)  # last chance for spooled records, after the retry task
            stack.push_async_callback(_stop, asyncio.create_task(audit_log.run(), name="campaign-audit-spool"))
            app.state.campaign_store = campaign_store  # the preview's sample recipient (preview/api.py)
            app.state.recipient_store = recipients
            app.state.idempotency_store = IdempotencyStore(dynamodb, names.idempotency_table)
            app.state.audit_service = AuditService(DynamoAuditReader(dynamodb, names.audit_table))
            app.state.suppression_service = SuppressionService(suppression_store)
            app.state.sending_policy_service = SendingPolicyService(
                DynamoSendingPolicyStore(dynamodb, names.throttle_table)
            )
            app.state.reputation_reader = DynamoReputationReader(dynamodb, names.throttle_table)
            await _start_webhooks(app, stack, settings, aws)
            # Closed in reverse: the scheduler stops first, then running fan-outs finish (or are cancelled and
            # release their lease), then the clients close.
            stack.push_async_callback(supervisor.shutdown, settings.shutdown_grace_seconds)
            stack.push_async_callback(resumer.shutdown, settings.shutdown_grace_seconds)
            scheduler = Scheduler(
                fanout_store, supervisor, runner, settings.scheduler_interval_seconds, retries=resumer
            )
            app.state.scheduler = scheduler
            scheduler_task = asyncio.create_task(scheduler.run(), name="campaign-scheduler")
            stack.push_async_callback(_stop, scheduler_task)
            log.info("campaign.started", prefix=names.prefix, owner=runner.owner)
            yield

    async def readiness(app: FastAPI) -> None:
        await app.state.aws.require_dynamodb().describe_table(TableName=settings.resources.campaigns_table)

    app = create_service_app(
        title="Herald campaign service",
        description=DESCRIPTION,
        settings=settings,
        lifespan=lifespan,
        readiness=readiness,
        body_limit_overrides=[("POST", r"/campaigns/[^/]+/recipients", settings.max_upload_bytes)],
    )
    app.include_router(campaigns_router)
    app.include_router(suppressions_router)
    app.include_router(unsubscribe_router)
    app.include_router(audit_router)
    app.include_router(senders_router)
    app.include_router(sending_policy_router)
    app.include_router(reputation_router)
    app.include_router(webhooks_router)
    app.include_router(preview_router)
    # Inside the audit trail (a replay is a call too), outside the rate limit and body limit (a replay costs a read).
    app.add_middleware(IdempotencyKeys, max_body_bytes=settings.max_upload_bytes)
    app.add_middleware(AuditTrail, routes=AUDITED_ROUTES)
    return app


async def _start_webhooks(app: FastAPI, stack: AsyncExitStack, settings: Settings, aws: AwsClients) -> None:
    """The webhook routes' service and the consumer of `{prefix}-webhooks` (webhooks/delivery.py)."""
    names = settings.resources
    dynamodb, sqs = aws.require_dynamodb(), aws.require_sqs()
    allow_loopback = settings.env is not Environment.PROD
    webhooks = WebhookStore(dynamodb, names.webhooks_table)
    deliveries = DeliveryLog(dynamodb, names.webhook_deliveries_table)
    app.state.webhook_service = WebhookService(webhooks, deliveries, allow_loopback=allow_loopback)
    if not settings.webhooks_consume:
        return
    queue_url = (await sqs.get_queue_url(QueueName=names.webhooks_queue))["QueueUrl"]
    dead_letter_url = (await sqs.get_queue_url(QueueName=names.dead_letter_queue(names.webhooks_queue)))["QueueUrl"]
    # Receivers are other people's servers: no redirects followed (a 3xx is a failed attempt), no cookies kept.
    http = httpx.AsyncClient(follow_redirects=False, limits=httpx.Limits(max_connections=50))
    stack.push_async_callback(http.aclose)
    policy = DeliveryPolicy(
        allow_loopback=allow_loopback,
        retry_base_seconds=settings.webhook_retry_base_seconds,
        retry_window_seconds=settings.webhook_retry_window_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
    )
    statuses = CampaignStatusLog(dynamodb, names.webhooks_table)
    dispatcher = WebhookDispatcher(webhooks, deliveries, http, sqs, queue_url, policy, statuses)
    poller = SqsPoller(
        sqs,
        queue_url,
        dispatcher,
        concurrency=settings.webhook_concurrency,
        visibility_timeout=120,
        handler_timeout=100.0,
        dead_letter_url=dead_letter_url,
        name="webhooks",
    )
    task = asyncio.create_task(poller.run(), name="campaign-webhooks")

    async def stop() -> None:
        poller.stop()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(stop)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _sender_authenticator(
    stack: AsyncExitStack, settings: Settings, aws: AwsClients, dns_resolver: DnsResolver | None
) -> SenderAuthenticator:
    """The checker for `HERALD_SENDER_AUTH`; SES v1 answers the identity questions whichever API sends."""
    mode = settings.sender_auth_mode
    if mode is SenderAuthMode.OFF:
        return SenderAuthenticator(mode, None, None)
    ses = aws.ses or (await open_clients(stack, settings, "ses")).ses
    assert ses is not None
    resolver = dns_resolver or DnspythonResolver(lifetime=settings.dns_timeout_seconds)
    return SenderAuthenticator(mode, SesIdentities(ses), resolver)
