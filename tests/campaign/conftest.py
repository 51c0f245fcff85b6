"""Fixtures for campaign route tests: the app over httpx.ASGITransport against the emulator, with a stand-in for
the template service's `GET /templates/{id}` (a fake of a port: the template service is a separate process)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_campaign.app import create_app
from herald_campaign.config import Settings
from herald_common.auth import mint_token

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

    from herald_common.aws import AwsClients
    from herald_common.settings import HeraldSettings


@dataclass
class FakeTemplates:
    """Serves `GET /templates/{id}` and `POST /templates/{id}/render` for the templates it knows (render: subject
    `Hello {name}`, an error for a recipient whose data has `fail`); records Authorization headers and render bodies.
    """

    versions: dict[str, int] = field(default_factory=lambda: {"newsletter": 3})
    authorizations: list[str | None] = field(default_factory=list)
    renders: list[dict[str, Any]] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.authorizations.append(request.headers.get("authorization"))
        parts = request.url.path.strip("/").split("/")
        if request.method == "POST" and len(parts) == 3 and parts[0] == "templates" and parts[2] == "render":
            return self._render(parts[1], json.loads(request.content))
        if request.method == "GET" and len(parts) == 2 and parts[0] == "templates" and parts[1] in self.versions:
            version = self.versions[parts[1]]
            return httpx.Response(200, json={"templateId": parts[1], "version": version, "versions": [1, version]})
        return httpx.Response(404, json={"error": "TemplateNotFound", "detail": "no such template"})

    def _render(self, template_id: str, body: dict[str, Any]) -> httpx.Response:
        if template_id not in self.versions:
            return httpx.Response(404, json={"error": "TemplateNotFound", "detail": "no such template"})
        self.renders.append({"templateId": template_id} | body)
        version = body.get("version") or self.versions[template_id]
        results: list[dict[str, Any]] = []
        for r in body["recipients"]:
            data = r.get("data") or {}
            if "fail" in data:
                results.append({"email": r["email"], "error": "subject line 1: 'fail' is undefined"})
                continue
            name = data.get("name", r["email"])
            results.append(
                {
                    "email": r["email"],
                    "subject": f"Hello {name} (v{version})",
                    "html": f"<p>Hello {name}</p><a href='{r.get('unsubscribeUrl')}'>unsubscribe</a>",
                    "text": f"Hello {name}",
                }
            )
        return httpx.Response(200, json={"templateId": template_id, "version": version, "results": results})


@pytest.fixture
def campaign_settings(herald_settings: HeraldSettings) -> Settings:
    return Settings(
        resource_prefix=herald_settings.resource_prefix,
        aws_endpoint_url=herald_settings.aws_endpoint_url,
        scheduler_interval_seconds=0.2,
        shutdown_grace_seconds=5,
    )


@pytest.fixture
def templates() -> FakeTemplates:
    return FakeTemplates()


@pytest.fixture
async def app(campaign_settings: Settings, templates: FakeTemplates) -> AsyncIterator[FastAPI]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(templates.handle), base_url="http://templates") as tc:
        application = create_app(campaign_settings, template_client=tc)
        async with application.router.lifespan_context(application):
            yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://campaign") as c:
        yield c


class Tokens:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def __call__(self, tenant: str = "acme", role: str = "marketer") -> dict[str, str]:
        token = mint_token(self._settings, tenant_id=tenant, roles=[role], subject=f"{role}@{tenant}")
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(campaign_settings: Settings) -> Tokens:
    return Tokens(campaign_settings)


def recipients(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"email": f"user{i}@example.com", "data": {"n": i}} for i in range(start, start + n)]


async def create_campaign(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "Spring sale", "templateId": "newsletter", "fromAddress": "news@example.com"} | fields
    response = await client.post("/campaigns", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def wait_for_fanouts(app: FastAPI) -> None:
    await asyncio.gather(*app.state.fanouts.tasks)


async def drain_jobs(aws: AwsClients, settings: Settings) -> list[dict[str, Any]]:
    """Every message on the email-jobs queues (deleted as read), each body with `_queue`: the queue it was on."""
    sqs = aws.require_sqs()
    bodies: list[dict[str, Any]] = []
    for name in settings.resources.email_jobs_queues:
        url = (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
        empty = 0
        while empty < 2:
            response = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = response.get("Messages", [])
            empty = empty + 1 if not messages else 0
            for m in messages:
                bodies.append(json.loads(m["Body"]) | {"_queue": name})
                await sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return sorted(bodies, key=lambda b: b["batchId"])
