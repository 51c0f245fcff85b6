"""Create every AWS resource Herald needs, idempotently, with real AWS APIs only.

The same code provisions the embedded emulator (moto), LocalStack (docker compose) and a real account, so it uses no
emulator back door: each step is "create, and treat already-exists as success". Run it as a one-shot with
`python -m herald_common.provisioning [--endpoint URL] [--prefix P] [--identity example.com]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import ClientError

from herald_common.aws import open_clients
from herald_common.resources import DELIVERIES_BY_TIME_INDEX, EMAIL_JOB_PRIORITIES
from herald_common.settings import HeraldSettings

if TYPE_CHECKING:
    from collections.abc import Sequence

    import aioboto3
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import CreateGlobalSecondaryIndexActionTypeDef
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_ses import SESClient
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sqs import SQSClient

    from herald_common.resources import ResourceNames

log = structlog.get_logger("herald.provisioning")

DEFAULT_MAX_RECEIVE_COUNT = 5
EMAIL_JOBS_VISIBILITY_SECONDS = 60
SES_EVENTS_VISIBILITY_SECONDS = 30
# A webhooks message may make a few HTTP calls (one per endpoint, each at most 10 s by default).
WEBHOOKS_VISIBILITY_SECONDS = 120
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # SQS maximum: keep dead letters as long as possible for inspection
EVENTS_TTL_ATTRIBUTE = "expiresAt"

# Every event type SES can publish to a configuration set's event destination (SES v1 EventType enum).
SES_EVENT_TYPES = (
    "send",
    "reject",
    "bounce",
    "complaint",
    "delivery",
    "open",
    "click",
    "renderingFailure",
    "deliveryDelay",
    "subscription",
)

# pk, sk of each table (docs/architecture.md).
_TABLE_KEYS: dict[str, tuple[str, str | None]] = {
    "campaigns": ("tenantId", "campaignId"),
    "ledger": ("campaignKey", "email"),
    "events": ("eventId", None),
    "suppressions": ("tenantId", "email"),
    "throttle": ("bucketKey", None),
    "audit": ("tenantId", "recordId"),
    "idempotency": ("recordKey", None),
    "webhooks": ("tenantId", "webhookId"),
    "webhook-deliveries": ("webhookKey", "deliveryId"),
}


@dataclass(frozen=True)
class TableIndex:
    """A global secondary index (docs/architecture.md): its name, keys and the attributes it carries."""

    name: str
    pk: str
    sk: str
    attributes: tuple[str, ...]


# The one index: an endpoint's delivery log newest first (its sort key, the event id, orders nothing).
DELIVERIES_BY_TIME = TableIndex(
    DELIVERIES_BY_TIME_INDEX,
    "webhookKey",
    "createdAt",
    ("type", "status", "attempts", "lastStatusCode", "lastError", "nextAttemptAt", "deliveredAt"),
)
_TABLE_INDEXES: dict[str, tuple[TableIndex, ...]] = {"webhook-deliveries": (DELIVERIES_BY_TIME,)}


@dataclass(frozen=True)
class Provisioned:
    """What provisioning created (or found): the URLs and ARNs a process needs. `email_jobs_queue_url` and
    `email_jobs_dlq_url` are the `normal` priority's; `email_jobs_queue_urls` / `email_jobs_dlq_urls` hold each
    priority's (`high`, `normal`, `low`)."""

    email_jobs_queue_url: str
    email_jobs_dlq_url: str
    ses_events_queue_url: str
    ses_events_dlq_url: str
    ses_events_topic_arn: str
    campaign_updates_topic_arn: str
    configuration_set: str
    bucket: str
    tables: tuple[str, ...]
    email_jobs_queue_urls: dict[str, str] = field(default_factory=dict)
    email_jobs_dlq_urls: dict[str, str] = field(default_factory=dict)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _index_spec(index: TableIndex) -> CreateGlobalSecondaryIndexActionTypeDef:
    return {
        "IndexName": index.name,
        "KeySchema": [{"AttributeName": index.pk, "KeyType": "HASH"}, {"AttributeName": index.sk, "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(index.attributes)},
    }


async def _create_table(
    dynamodb: DynamoDBClient, table: str, pk: str, sk: str | None, indexes: tuple[TableIndex, ...] = ()
) -> None:
    keys: list[Any] = [{"AttributeName": pk, "KeyType": "HASH"}]
    names = [pk, *([sk] if sk else []), *(k for i in indexes for k in (i.pk, i.sk))]
    attrs: list[Any] = [{"AttributeName": name, "AttributeType": "S"} for name in dict.fromkeys(names)]
    if sk is not None:
        keys.append({"AttributeName": sk, "KeyType": "RANGE"})
    extra: dict[str, Any] = {"GlobalSecondaryIndexes": [_index_spec(i) for i in indexes]} if indexes else {}
    try:
        created = await dynamodb.create_table(
            TableName=table, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST", **extra
        )
        status = created["TableDescription"].get("TableStatus")
    except ClientError as exc:
        if _code(exc) != "ResourceInUseException":
            raise
        status = None
        await _add_missing_indexes(dynamodb, table, indexes, attrs)
    if status != "ACTIVE":  # AWS takes seconds to create a table; emulators answer ACTIVE at once
        waiter = dynamodb.get_waiter("table_exists")
        await waiter.wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


async def _add_missing_indexes(
    dynamodb: DynamoDBClient, table: str, indexes: tuple[TableIndex, ...], attrs: list[Any]
) -> None:
    """A table made before an index was defined gets it (DynamoDB builds it in the background)."""
    if not indexes:
        return
    described = (await dynamodb.describe_table(TableName=table))["Table"]
    present = {i["IndexName"] for i in described.get("GlobalSecondaryIndexes", [])}
    for index in indexes:
        if index.name not in present:
            await dynamodb.update_table(
                TableName=table,
                AttributeDefinitions=attrs,
                GlobalSecondaryIndexUpdates=[{"Create": _index_spec(index)}],
            )
            log.info("provisioning.index_added", table=table, index=index.name)


async def _create_tables(dynamodb: DynamoDBClient, names: ResourceNames) -> None:
    kinds = ("campaigns", "ledger", "events", "suppressions", "throttle", "audit", "idempotency", "webhooks",
             "webhook-deliveries")  # fmt: skip
    await asyncio.gather(
        *(
            _create_table(dynamodb, table, *_TABLE_KEYS[kind], _TABLE_INDEXES.get(kind, ()))
            for kind, table in zip(kinds, names.tables, strict=True)
        )
    )
    # Idle throttle buckets expire too (`expiresAt`, a week after their last lease), idempotency records after 24 h,
    # webhook delivery logs after their retention.
    for table in (names.events_table, names.throttle_table, names.idempotency_table, names.webhook_deliveries_table):
        try:
            await dynamodb.update_time_to_live(
                TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": EVENTS_TTL_ATTRIBUTE}
            )
        except ClientError as exc:
            # Already enabled answers ValidationException on AWS; some emulators lack TTL. Both work without it.
            log.debug("provisioning.ttl_skipped", table=table, error=_code(exc))


async def _create_bucket(s3: S3Client, bucket: str, region: str) -> None:
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        await s3.create_bucket(**kwargs)
    except ClientError as exc:
        if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


async def _ensure_queue(sqs: SQSClient, name: str, attributes: dict[str, str]) -> str:
    try:
        response = await sqs.create_queue(QueueName=name, Attributes=attributes)  # type: ignore[arg-type]
        return response["QueueUrl"]
    except ClientError as exc:
        # Exists with other attributes (say a new maxReceiveCount): adopt it and bring its attributes up to date.
        if _code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
    url = (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
    await sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)  # type: ignore[arg-type]
    return url


async def _queue_arn(sqs: SQSClient, url: str) -> str:
    attrs = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attrs["Attributes"]["QueueArn"]


async def _queue_with_dlq(sqs: SQSClient, name: str, visibility: int, max_receive_count: int) -> tuple[str, str, str]:
    """(queue url, queue arn, dlq url)."""
    dlq_url = await _ensure_queue(sqs, name + "-dlq", {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})
    redrive = {"deadLetterTargetArn": await _queue_arn(sqs, dlq_url), "maxReceiveCount": str(max_receive_count)}
    url = await _ensure_queue(sqs, name, {"VisibilityTimeout": str(visibility), "RedrivePolicy": json.dumps(redrive)})
    return url, await _queue_arn(sqs, url), dlq_url


async def _create_topic(sns: SNSClient, name: str) -> str:
    return (await sns.create_topic(Name=name))["TopicArn"]


async def _subscribe_queue(
    sqs: SQSClient, sns: SNSClient, topic_arns: Sequence[str], queue_url: str, queue_arn: str
) -> None:
    """Subscribe the queue to each topic; its policy lets exactly those topics send to it."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowSubscribedTopics",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": list(topic_arns)}},
            }
        ],
    }
    await sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    # Subscribe answers the existing subscription for the same topic/protocol/endpoint, so this is idempotent.
    for topic_arn in topic_arns:
        await sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "false"},
            ReturnSubscriptionArn=True,
        )


async def _unsubscribe_queue(sns: SNSClient, topic_arn: str, queue_arn: str) -> None:
    """Remove the queue's subscriptions to the topic, if any: a stack provisioned before the webhooks queue lost its
    subscription to the SES events topic still has one (provisioning runs again on every deploy)."""
    async for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for subscription in page.get("Subscriptions", []):
            arn = subscription.get("SubscriptionArn", "")
            # A subscription awaiting confirmation lists "PendingConfirmation" for its ARN: nothing to unsubscribe.
            if subscription.get("Endpoint") == queue_arn and arn.startswith("arn:"):
                await sns.unsubscribe(SubscriptionArn=arn)
                log.info("provisioning.unsubscribed", topic=topic_arn, endpoint=queue_arn)


async def _configure_ses(ses: SESClient, identities: Sequence[str], config_set: str, topic_arn: str) -> None:
    for identity in identities:
        if "@" in identity:
            await ses.verify_email_identity(EmailAddress=identity)
        else:
            await ses.verify_domain_identity(Domain=identity)
            # Easy DKIM: SES answers the three `<token>._domainkey` CNAMEs the domain must publish (checked by the
            # campaign service's sender authentication before a send).
            await ses.verify_domain_dkim(Domain=identity)
    try:
        await ses.create_configuration_set(ConfigurationSet={"Name": config_set})
    except ClientError as exc:
        if _code(exc) != "ConfigurationSetAlreadyExists":
            raise
    destination: Any = {
        "Name": f"{config_set}-sns",  # unique per prefix: moto keys destination names account-wide
        "Enabled": True,
        "MatchingEventTypes": list(SES_EVENT_TYPES),
        "SNSDestination": {"TopicARN": topic_arn},
    }
    described = await ses.describe_configuration_set(
        ConfigurationSetName=config_set, ConfigurationSetAttributeNames=["eventDestinations"]
    )
    existing = [d for d in described.get("EventDestinations") or [] if d and d.get("Name") == destination["Name"]]
    if not existing:
        await ses.create_configuration_set_event_destination(
            ConfigurationSetName=config_set, EventDestination=destination
        )
    elif existing[0].get("SNSDestination", {}).get("TopicARN") != topic_arn:
        await ses.update_configuration_set_event_destination(
            ConfigurationSetName=config_set, EventDestination=destination
        )


async def provision(
    settings: HeraldSettings,
    *,
    identities: Sequence[str] = ("example.com",),
    session: aioboto3.Session | None = None,
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT,
) -> Provisioned:
    """Create (or find) every table, bucket, queue, topic, subscription and SES setting for `settings`' prefix."""
    names = settings.resources
    async with AsyncExitStack() as stack:
        aws = await open_clients(stack, settings, "dynamodb", "s3", "sqs", "sns", "ses", session=session)
        assert aws.ses is not None
        sqs, sns = aws.require_sqs(), aws.require_sns()
        # Independent resources are created concurrently: provisioning runs once per test prefix.
        (
            _,
            _,
            jobs,
            (events_url, events_arn, events_dlq),
            events_topic,
            updates_topic,
        ) = await asyncio.gather(
            _create_tables(aws.require_dynamodb(), names),
            _create_bucket(aws.require_s3(), names.bucket, settings.aws_region),
            asyncio.gather(  # one queue (and dead-letter queue) per priority
                *(
                    _queue_with_dlq(sqs, queue, EMAIL_JOBS_VISIBILITY_SECONDS, max_receive_count)
                    for queue in names.email_jobs_queues
                )
            ),
            _queue_with_dlq(sqs, names.ses_events_queue, SES_EVENTS_VISIBILITY_SECONDS, max_receive_count),
            _create_topic(sns, names.ses_events_topic),
            _create_topic(sns, names.campaign_updates_topic),
        )
        webhooks_url, webhooks_arn, _ = await _queue_with_dlq(
            sqs, names.webhooks_queue, WEBHOOKS_VISIBILITY_SECONDS, max_receive_count
        )
        await asyncio.gather(
            _subscribe_queue(sqs, sns, [events_topic], events_url, events_arn),
            # The campaign service's webhooks: the announcements on the campaign-updates topic. SES's events reach
            # it from analytics, only those of tenants with a webhook (herald_analytics.events.webhook_relay).
            _subscribe_queue(sqs, sns, [updates_topic], webhooks_url, webhooks_arn),
            _unsubscribe_queue(sns, events_topic, webhooks_arn),
        )
        await _configure_ses(aws.ses, identities, names.configuration_set, events_topic)
    log.info("provisioning.done", prefix=names.prefix, endpoint=settings.aws_endpoint_url)
    queue_urls = {priority: url for priority, (url, _, _) in zip(EMAIL_JOB_PRIORITIES, jobs, strict=True)}
    dlq_urls = {priority: dlq for priority, (_, _, dlq) in zip(EMAIL_JOB_PRIORITIES, jobs, strict=True)}
    return Provisioned(
        email_jobs_queue_url=queue_urls["normal"],
        email_jobs_dlq_url=dlq_urls["normal"],
        ses_events_queue_url=events_url,
        ses_events_dlq_url=events_dlq,
        ses_events_topic_arn=events_topic,
        campaign_updates_topic_arn=updates_topic,
        configuration_set=names.configuration_set,
        bucket=names.bucket,
        tables=names.tables,
        email_jobs_queue_urls=queue_urls,
        email_jobs_dlq_urls=dlq_urls,
    )


def provision_sync(settings: HeraldSettings, *, identities: Sequence[str] = ("example.com",)) -> Provisioned:
    """`provision` for synchronous callers (the emulator's threads, one-shot scripts), even inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(provision(settings, identities=identities))
    with ThreadPoolExecutor(max_workers=1) as pool:  # this thread's loop is busy: run on a fresh one
        return pool.submit(lambda: asyncio.run(provision(settings, identities=identities))).result()


def main(argv: list[str] | None = None) -> None:
    """One-shot provisioning, e.g. from docker compose against LocalStack."""
    parser = argparse.ArgumentParser(prog="python -m herald_common.provisioning", description=__doc__)
    parser.add_argument("--endpoint", help="AWS endpoint URL (default: AWS_ENDPOINT_URL, else AWS itself)")
    parser.add_argument("--prefix", help="resource prefix (default: HERALD_RESOURCE_PREFIX or herald)")
    parser.add_argument("--identity", action="append", help="SES identity to verify (repeatable; default example.com)")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.endpoint:
        overrides["aws_endpoint_url"] = args.endpoint
    if args.prefix:
        overrides["resource_prefix"] = args.prefix
    settings = HeraldSettings(**overrides)
    result = provision_sync(settings, identities=args.identity or ("example.com",))
    print(json.dumps(result.__dict__, default=list, indent=2))


if __name__ == "__main__":
    main()
