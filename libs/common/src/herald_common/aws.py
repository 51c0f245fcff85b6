"""aioboto3 clients, opened once per process inside an AsyncExitStack and closed in reverse order.

The endpoint comes from the standard AWS variables (`AWS_ENDPOINT_URL`), so the same code talks to the embedded
emulator, LocalStack or AWS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aioboto3
from botocore.config import Config

from herald_common.settings import DEV_AWS_KEY, Environment

if TYPE_CHECKING:
    from contextlib import AsyncExitStack

    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_ses import SESClient
    from types_aiobotocore_sesv2 import SESV2Client
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sqs import SQSClient

    from herald_common.settings import HeraldSettings

# A fixed User-Agent: left unset, botocore rebuilds the header from a dozen components on every request (feature
# ids, OS, language…), measured at 5–10 % of a call's client CPU; Herald's hot loops make thousands of calls a second.
USER_AGENT = "herald/1"  # the session appends its own extra (`botocore/<version>`)

# Ordinary clients: botocore's standard retry mode (throttling and 5xx are retried with backoff).
DEFAULT_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, max_pool_connections=64, user_agent=USER_AGENT)

# The SES client never retries by itself: a retried send after a timeout or a throttle can deliver an email
# twice. Herald's delivery ledger decides what is retried. (`total_max_attempts` counts the first attempt;
# botocore's `max_attempts` counts retries, so `max_attempts: 1` would still retry once.)
SES_CONNECT_TIMEOUT = 5
SES_READ_TIMEOUT = 15
SES_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    max_pool_connections=64,
    connect_timeout=SES_CONNECT_TIMEOUT,
    read_timeout=SES_READ_TIMEOUT,
    user_agent=USER_AGENT,
)


def make_session(settings: HeraldSettings) -> aioboto3.Session:
    """A session in the configured region. In dev, missing credentials fall back to the emulator's dummies."""
    kwargs: dict[str, Any] = {"region_name": settings.aws_region}
    if settings.env is Environment.DEV and not os.environ.get("AWS_ACCESS_KEY_ID"):
        kwargs |= {"aws_access_key_id": DEV_AWS_KEY, "aws_secret_access_key": DEV_AWS_KEY}
    return aioboto3.Session(**kwargs)


@dataclass
class AwsClients:
    """The clients a process uses, all opened once. Fields a process did not ask for stay None."""

    dynamodb: DynamoDBClient | None = None
    s3: S3Client | None = None
    sqs: SQSClient | None = None
    sns: SNSClient | None = None
    ses: SESClient | None = None
    sesv2: SESV2Client | None = None

    def require_dynamodb(self) -> DynamoDBClient:
        assert self.dynamodb is not None, "dynamodb client not opened"
        return self.dynamodb

    def require_s3(self) -> S3Client:
        assert self.s3 is not None, "s3 client not opened"
        return self.s3

    def require_sqs(self) -> SQSClient:
        assert self.sqs is not None, "sqs client not opened"
        return self.sqs

    def require_sns(self) -> SNSClient:
        assert self.sns is not None, "sns client not opened"
        return self.sns


async def open_clients(
    stack: AsyncExitStack,
    settings: HeraldSettings,
    *services: str,
    session: aioboto3.Session | None = None,
    config: Config | None = None,
    parameter_validation: bool = True,
) -> AwsClients:
    """Open one long-lived client per named service (`dynamodb`, `s3`, `sqs`, `sns`, `ses`, `sesv2`); `config` is
    merged over the defaults.

    `parameter_validation=False` skips botocore's client-side check of every request against the API model (the
    service still validates): for a hot loop whose requests are built by code and tested, not taken from input."""
    session = session or make_session(settings)
    clients = AwsClients()
    # A plain-HTTP endpoint (the emulator, LocalStack) needs no TLS context: building one loads the CA bundle,
    # ~50 ms per client, which every test and every service start would pay.
    plain_http = (settings.aws_endpoint_url or "").startswith("http://")
    for name in services:
        base = SES_CONFIG if name in ("ses", "sesv2") else DEFAULT_CONFIG
        if not parameter_validation:
            base = base.merge(Config(parameter_validation=False))
        client = await stack.enter_async_context(
            session.client(  # type: ignore[call-overload]
                name,
                endpoint_url=settings.aws_endpoint_url,
                config=base if config is None else base.merge(config),
                verify=False if plain_http else None,
            )
        )
        setattr(clients, name, client)
    return clients


async def find_topic_arn(sns: SNSClient, name: str) -> str:
    """The ARN of a provisioned topic, found by name (services never create resources)."""
    async for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            arn = topic.get("TopicArn", "")
            if arn.rsplit(":", 1)[-1] == name:
                return arn
    raise RuntimeError(f"SNS topic {name} does not exist; provision the stack first")
