"""Provisioning creates every resource of docs/architecture.md, wired together, and can run again safely."""

from __future__ import annotations

import json
import secrets

from herald_common.provisioning import DEFAULT_MAX_RECEIVE_COUNT, provision
from herald_common.resources import DELIVERIES_BY_TIME_INDEX
from herald_common.settings import HeraldSettings


async def test_creates_tables_bucket_queues_topics_and_ses(herald_settings, provisioned, aws):
    names = herald_settings.resources
    for table in names.tables:  # describe, not list: other tests' tables fill list_tables' first page
        assert (await aws.dynamodb.describe_table(TableName=table))["Table"]["TableStatus"] == "ACTIVE"
    ledger = (await aws.dynamodb.describe_table(TableName=names.ledger_table))["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in ledger["KeySchema"]} == {"campaignKey": "HASH", "email": "RANGE"}
    assert ledger["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = await aws.dynamodb.describe_time_to_live(TableName=names.events_table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiresAt"

    await aws.s3.head_bucket(Bucket=names.bucket)

    jobs = (await aws.sqs.get_queue_attributes(QueueUrl=provisioned.email_jobs_queue_url, AttributeNames=["All"]))[
        "Attributes"
    ]
    dlq_arn = (
        await aws.sqs.get_queue_attributes(QueueUrl=provisioned.email_jobs_dlq_url, AttributeNames=["QueueArn"])
    )["Attributes"]["QueueArn"]
    assert jobs["VisibilityTimeout"] == "60"
    redrive = json.loads(jobs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn
    assert int(redrive["maxReceiveCount"]) == DEFAULT_MAX_RECEIVE_COUNT
    events = (await aws.sqs.get_queue_attributes(QueueUrl=provisioned.ses_events_queue_url, AttributeNames=["All"]))[
        "Attributes"
    ]
    assert events["VisibilityTimeout"] == "30"
    assert "RedrivePolicy" in events
    assert provisioned.ses_events_topic_arn in events["Policy"]

    webhooks_url = (await aws.sqs.get_queue_url(QueueName=names.webhooks_queue))["QueueUrl"]
    webhooks = (await aws.sqs.get_queue_attributes(QueueUrl=webhooks_url, AttributeNames=["All"]))["Attributes"]
    assert "RedrivePolicy" in webhooks
    # Analytics alone hears the SES events (it forwards those of tenants with a webhook); the webhooks queue hears
    # the campaign-updates announcements, and only that topic may send to it.
    assert await _subscribers(aws, provisioned.ses_events_topic_arn) == [("sqs", events["QueueArn"])]
    assert await _subscribers(aws, provisioned.campaign_updates_topic_arn) == [("sqs", webhooks["QueueArn"])]
    (statement,) = json.loads(webhooks["Policy"])["Statement"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == [provisioned.campaign_updates_topic_arn]

    verified = await aws.ses.get_identity_verification_attributes(Identities=["example.com"])
    assert "example.com" in verified["VerificationAttributes"]
    config = await aws.ses.describe_configuration_set(
        ConfigurationSetName=names.configuration_set, ConfigurationSetAttributeNames=["eventDestinations"]
    )
    (destination,) = config["EventDestinations"]
    assert destination["SNSDestination"]["TopicARN"] == provisioned.ses_events_topic_arn
    assert {"send", "delivery", "bounce", "complaint"} <= set(destination["MatchingEventTypes"])


async def test_is_idempotent_and_adopts_a_new_max_receive_count(herald_settings, provisioned, aws, aws_session):
    again = await provision(herald_settings, session=aws_session, identities=("example.com", "ops@example.org"))
    assert again == provisioned
    third = await provision(herald_settings, session=aws_session, max_receive_count=3)
    assert third == provisioned
    attrs = await aws.sqs.get_queue_attributes(QueueUrl=provisioned.email_jobs_queue_url, AttributeNames=["All"])
    assert json.loads(attrs["Attributes"]["RedrivePolicy"])["maxReceiveCount"] in (3, "3")
    assert len(await _subscribers(aws, provisioned.ses_events_topic_arn)) == 1  # analytics' queue, once
    assert len(await _subscribers(aws, provisioned.campaign_updates_topic_arn)) == 1  # the webhooks queue, once
    verified = await aws.ses.get_identity_verification_attributes(Identities=["ops@example.org"])
    assert "ops@example.org" in verified["VerificationAttributes"]


async def _subscribers(aws, topic_arn: str) -> list[tuple[str, str]]:
    subscriptions = (await aws.sns.list_subscriptions_by_topic(TopicArn=topic_arn))["Subscriptions"]
    return sorted((s["Protocol"], s["Endpoint"]) for s in subscriptions)


async def test_provisioning_again_removes_the_webhooks_queues_old_subscription_to_the_ses_events(
    emulator, aws, aws_session
):
    older = HeraldSettings(resource_prefix="t" + secrets.token_hex(4), aws_endpoint_url=emulator.url)
    first = await provision(older, session=aws_session)
    webhooks_url = (await aws.sqs.get_queue_url(QueueName=older.resources.webhooks_queue))["QueueUrl"]
    webhooks_arn = (await aws.sqs.get_queue_attributes(QueueUrl=webhooks_url, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    # As provisioning left a stack before analytics forwarded the SES events: the webhooks queue subscribed too.
    await aws.sns.subscribe(
        TopicArn=first.ses_events_topic_arn,
        Protocol="sqs",
        Endpoint=webhooks_arn,
        Attributes={"RawMessageDelivery": "false"},
        ReturnSubscriptionArn=True,
    )
    assert ("sqs", webhooks_arn) in await _subscribers(aws, first.ses_events_topic_arn)

    again = await provision(older, session=aws_session)
    assert again == first
    assert ("sqs", webhooks_arn) not in await _subscribers(aws, first.ses_events_topic_arn)
    assert len(await _subscribers(aws, first.ses_events_topic_arn)) == 1  # analytics' own stays
    assert await _subscribers(aws, first.campaign_updates_topic_arn) == [("sqs", webhooks_arn)]


async def _log_index(aws, table: str) -> tuple[str, list[str]]:
    (index,) = (await aws.dynamodb.describe_table(TableName=table))["Table"]["GlobalSecondaryIndexes"]
    return index["IndexName"], [k["AttributeName"] for k in index["KeySchema"]]


async def test_the_deliveries_table_has_its_log_index_even_when_made_before_it(
    emulator, herald_settings, provisioned, aws, aws_session
):
    expected = (DELIVERIES_BY_TIME_INDEX, ["webhookKey", "createdAt"])
    assert await _log_index(aws, herald_settings.resources.webhook_deliveries_table) == expected

    older = HeraldSettings(resource_prefix="t" + secrets.token_hex(4), aws_endpoint_url=emulator.url)
    table = older.resources.webhook_deliveries_table
    await aws.dynamodb.create_table(  # as the table was first made: no index
        TableName=table,
        KeySchema=[
            {"AttributeName": "webhookKey", "KeyType": "HASH"},
            {"AttributeName": "deliveryId", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "webhookKey", "AttributeType": "S"},
            {"AttributeName": "deliveryId", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    await provision(older, session=aws_session)
    assert await _log_index(aws, table) == expected
