"""The analytics service: consumes SES events (flow steps 19–22) and serves live statistics (steps 23–24)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import structlog
from botocore.config import Config

from herald_analytics.config import Settings
from herald_analytics.events.batch import BatchIngestor
from herald_analytics.events.batch_store import CountingStore
from herald_analytics.events.clicks import ClickRules
from herald_analytics.events.consumer import SesEventHandler, retry_policy
from herald_analytics.events.enforcement import AccountEnforcementWatch
from herald_analytics.events.guard import ReputationGuard, ReputationPolicy
from herald_analytics.events.ledger import DeliveryLedger
from herald_analytics.events.pushback import DynamoPushbackSignals
from herald_analytics.events.repository import CampaignCounters, EventLog, SuppressionList
from herald_analytics.events.reputation_windows import ReputationWindows
from herald_analytics.events.retries import RetryJobs
from herald_analytics.events.service import EventIngestor, IngestPolicy
from herald_analytics.events.updates import CampaignUpdatePublisher
from herald_analytics.events.webhook_relay import WebhookEndpoints, WebhookRelay
from herald_analytics.recipients.api import router as recipients_router
from herald_analytics.recipients.repository import LedgerReader
from herald_analytics.recipients.service import RecipientsService
from herald_analytics.report.api import router as report_router
from herald_analytics.report.repository import LedgerReport
from herald_analytics.report.service import ReportService
from herald_analytics.stats.api import router as stats_router
from herald_analytics.stats.repository import CampaignReader
from herald_analytics.stats.service import StatsService
from herald_analytics.stats.watchers import CampaignWatchers
from herald_common.announcements import TopicAnnouncer
from herald_common.aws import find_topic_arn, open_clients
from herald_common.fast_json import pass_through_json
from herald_common.metrics import sample_every, sample_queue_depth
from herald_common.resources import EMAIL_JOB_PRIORITIES
from herald_common.sqs_batch import SqsBatchPoller
from herald_common.web import create_service_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

log = structlog.get_logger("herald.analytics")

# The DynamoDB calls of the event path (counting) and of the announcements.
HOT_DYNAMODB_OPERATIONS = ("BatchGetItem", "TransactWriteItems", "GetItem", "UpdateItem", "PutItem")
# The SES-events consumer's receive, delete and heartbeat (the kit's SqsBatchPoller).
HOT_SQS_OPERATIONS = ("ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibilityBatch")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The analytics app. Its lifespan opens the AWS clients once and runs the SES-events consumer."""
    settings = settings or Settings()
    names = settings.resources

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            # Every call the service makes is exercised by its tests against the emulator, and AWS validates
            # again on arrival: botocore's client-side validation of large transactions is CPU for nothing.
            aws = await open_clients(
                stack, settings, "dynamodb", "sqs", "sns", "s3", "sesv2", config=Config(parameter_validation=False)
            )
            dynamodb, sqs, sns = aws.require_dynamodb(), aws.require_sqs(), aws.require_sns()
            # Their requests are built in wire form by code: their JSON is the body (fast_json.py).
            pass_through_json(dynamodb, *HOT_DYNAMODB_OPERATIONS)
            pass_through_json(sqs, *HOT_SQS_OPERATIONS)
            queue_url = (await sqs.get_queue_url(QueueName=names.ses_events_queue))["QueueUrl"]
            email_jobs_urls = {  # soft-bounce retries go to the campaign priority's queue
                priority: (await sqs.get_queue_url(QueueName=names.email_jobs_queue_for(priority)))["QueueUrl"]
                for priority in EMAIL_JOB_PRIORITIES
            }
            # Counted events of tenants with a webhook go on to the campaign service's queue (webhook_relay.py).
            webhooks_url = (await sqs.get_queue_url(QueueName=names.webhooks_queue))["QueueUrl"]
            dlq_name = names.dead_letter_queue(names.ses_events_queue)
            dead_letter_url = (await sqs.get_queue_url(QueueName=dlq_name))["QueueUrl"]
            campaigns = CampaignReader(dynamodb, names.campaigns_table)
            updates_topic = await find_topic_arn(sns, names.campaign_updates_topic)
            counters = CampaignCounters(dynamodb, names.campaigns_table, TopicAnnouncer(sns, updates_topic))
            guard_policy = ReputationPolicy(
                min_sends=settings.analytics_guard_min_sends,
                max_bounce_rate=settings.analytics_guard_max_bounce_rate,
                max_complaint_rate=settings.analytics_guard_max_complaint_rate,
            )
            guard = ReputationGuard(counters, guard_policy)
            publisher = CampaignUpdatePublisher(
                sns,
                updates_topic,
                campaigns,
                window=settings.analytics_update_window_seconds,
                inspect=guard.inspect,
            )
            ledger = DeliveryLedger(dynamodb, names.ledger_table)
            single = EventIngestor(
                events=EventLog(
                    dynamodb,
                    names.events_table,
                    lease_seconds=settings.analytics_event_lease_seconds,
                    ttl_seconds=settings.analytics_event_dedupe_ttl_seconds,
                ),
                ledger=ledger,
                counters=counters,
                suppressions=SuppressionList(dynamodb, names.suppressions_table),
                updates=publisher,
                retries=RetryJobs(
                    sqs,
                    email_jobs_urls,
                    aws.require_s3(),
                    names.bucket,
                    campaigns,
                    delay_seconds=settings.analytics_soft_bounce_retry_delay_seconds,
                ),
                settlements=TopicAnnouncer(sns, updates_topic),
                policy=IngestPolicy(
                    soft_bounce_retries=settings.analytics_soft_bounce_retries,
                    machine_open_window_seconds=settings.analytics_machine_open_window_seconds,
                    clicks=ClickRules(
                        window_seconds=settings.analytics_machine_click_window_seconds,
                        burst_seconds=settings.analytics_click_burst_seconds,
                        unsubscribe_prefix=settings.public_url.rstrip("/") + "/u/",
                    ),
                ),
            )
            store = CountingStore(
                dynamodb,
                events_table=names.events_table,
                ledger_table=names.ledger_table,
                campaigns_table=names.campaigns_table,
                suppressions_table=names.suppressions_table,
                ttl_seconds=settings.analytics_event_dedupe_ttl_seconds,
            )
            poller = SqsBatchPoller(
                sqs,
                queue_url,
                SesEventHandler(
                    BatchIngestor(single, ledger, store),
                    [
                        DynamoPushbackSignals(dynamodb, names.throttle_table),
                        ReputationWindows(
                            dynamodb,
                            names.throttle_table,
                            names.campaigns_table,
                            counters,
                            guard_policy,
                            announce=publisher.announce,
                        ),
                    ],
                    WebhookRelay(WebhookEndpoints(dynamodb, names.webhooks_table), sqs, webhooks_url),
                ),
                receives=settings.analytics_batch_receives,
                concurrency=settings.analytics_concurrency,
                handler_timeout=settings.analytics_handler_timeout,
                visibility_timeout=max(30, int(settings.analytics_handler_timeout * 1.5)),
                retry_policy=retry_policy,
                dead_letter_url=dead_letter_url,
                name="ses-events",
            )
            app.state.aws = aws
            watchers = CampaignWatchers(
                campaigns, poll_interval=settings.stream_poll_interval, max_per_tenant=settings.stream_max_per_tenant
            )
            stack.push_async_callback(watchers.close)
            app.state.stats_service = StatsService(campaigns, watchers)
            app.state.recipients_service = RecipientsService(campaigns, LedgerReader(dynamodb, names.ledger_table))
            app.state.report_service = ReportService(campaigns, LedgerReport(dynamodb, names.ledger_table))
            # A replica may serve the API and streams only (reads scaled apart from ingestion): streams read the
            # campaign items, so they show what any replica counted.
            consuming = (
                asyncio.create_task(poller.run(), name="analytics:ses-events")
                if settings.analytics_consume_events
                else None
            )
            announcing = asyncio.create_task(publisher.run(), name="analytics:campaign-updates")
            enforcement = None
            if settings.analytics_enforcement_check_seconds > 0 and aws.sesv2 is not None:
                watch = AccountEnforcementWatch(aws.sesv2, dynamodb, names.campaigns_table, counters)
                enforcement = asyncio.create_task(
                    watch.run(settings.analytics_enforcement_check_seconds), name="analytics:ses-enforcement"
                )
            depths = {names.ses_events_queue: queue_url, dlq_name: dead_letter_url}
            sampling_stopped = asyncio.Event()
            sampler = asyncio.create_task(
                sample_every(
                    lambda: sample_queue_depth(sqs, depths),
                    interval=settings.analytics_queue_depth_interval,
                    stopping=sampling_stopped,
                    name="queue_depth",
                ),
                name="analytics:queue-depth",
            )
            log.info("analytics.started", queue=names.ses_events_queue, consuming=consuming is not None)
            try:
                yield
            finally:
                sampling_stopped.set()
                await asyncio.gather(sampler, return_exceptions=True)
                if enforcement is not None:
                    enforcement.cancel()
                    await asyncio.gather(enforcement, return_exceptions=True)
                if consuming is not None:
                    poller.stop()
                    await asyncio.gather(consuming, return_exceptions=True)
                publisher.stop()  # after the poller: the last batch's counts are announced too
                await asyncio.gather(announcing, return_exceptions=True)
                log.info("analytics.stopped")

    async def readiness(app: FastAPI) -> None:
        await app.state.aws.require_dynamodb().describe_table(TableName=names.campaigns_table)

    app = create_service_app(
        title="Herald analytics",
        description="Live campaign statistics from SES events, and the suppression list they feed.",
        settings=settings,
        lifespan=lifespan,
        readiness=readiness,
    )
    app.include_router(stats_router)
    app.include_router(recipients_router)
    app.include_router(report_router)
    return app
