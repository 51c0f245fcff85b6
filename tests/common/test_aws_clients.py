"""The kit's AWS clients: every request carries Herald's fixed User-Agent, so botocore does not rebuild the header
from its components on every call."""

from __future__ import annotations

from typing import Any

import pytest

from herald_common.aws import USER_AGENT, AwsClients

pytestmark = pytest.mark.asyncio


def _capture_user_agents(clients: AwsClients, *names: str) -> list[str]:
    seen: list[str] = []

    def record(request: Any, **_: Any) -> None:
        seen.append(
            request.headers["User-Agent"].decode()
            if isinstance(request.headers["User-Agent"], bytes)
            else request.headers["User-Agent"]
        )

    for name in names:
        getattr(clients, name).meta.events.register("before-send", record)
    return seen


async def test_every_client_sends_herald_user_agent(aws: AwsClients) -> None:
    seen = _capture_user_agents(aws, "dynamodb", "sqs", "ses")
    await aws.require_dynamodb().list_tables()
    await aws.require_sqs().list_queues()
    assert aws.ses is not None
    await aws.ses.get_send_quota()
    assert len(seen) == 3
    assert all(agent.startswith(USER_AGENT + " ") for agent in seen), seen
