"""The template service client's answers, stored template decoding, shutdown, and the queue handler's deferrals."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from herald_common.api_keys import ApiKeyRegistry
from herald_common.settings import HeraldSettings
from herald_common.sqs import SqsMessage
from herald_processor.consumer import MAX_RESCUES, EmailJobHandler
from herald_processor.domain import (
    BatchDeferred,
    MalformedJob,
    RenderedEmail,
    RenderFailure,
    Template,
    TemplateMissing,
    TemplateServiceDown,
    TemplateServiceUnavailable,
)
from herald_processor.schemas import JobRecipient, parse_job
from herald_processor.templates import HttpTemplateRenderer, decode_template_body

SETTINGS = HeraldSettings(template_url="http://template.test")
SERVICE_KEY = "processor-service-key-of-at-least-32-chars"
TEMPLATE = Template("newsletter", 4, "Hi")
RECIPIENTS = [
    (JobRecipient(email="a@example.com", data={"n": 1}), "https://h/u/a"),
    (JobRecipient(email="b@example.com"), "https://h/u/b"),
]


async def render_with(handler) -> list:
    async with httpx.AsyncClient(base_url=SETTINGS.template_url, transport=httpx.MockTransport(handler)) as client:
        return await HttpTemplateRenderer(client, SERVICE_KEY).render("acme", TEMPLATE, RECIPIENTS)


async def test_render_posts_one_call_with_the_service_key_for_the_tenant_and_maps_results():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "templateId": "newsletter",
                "version": 4,
                "results": [
                    {"email": "a@example.com", "subject": "S", "html": "<p>h</p>", "text": "t"},
                    {"email": "b@example.com", "error": "undefined n"},
                ],
            },
        )

    results = await render_with(handler)
    assert results == [RenderedEmail("S", "<p>h</p>", "t"), RenderFailure("undefined n")]
    (request,) = seen
    assert request.url.path == "/templates/newsletter/render"
    assert json.loads(request.content) == {
        "version": 4,
        "recipients": [
            {"email": "a@example.com", "data": {"n": 1}, "unsubscribeUrl": "https://h/u/a"},
            {"email": "b@example.com", "data": {}, "unsubscribeUrl": "https://h/u/b"},
        ],
    }
    assert "authorization" not in request.headers
    holder = ApiKeyRegistry([], service_key=SERVICE_KEY).resolve(
        request.headers["x-api-key"], request.headers["x-herald-tenant"]
    )
    assert holder is not None
    assert holder.tenant_id == "acme"


async def test_unknown_template_is_missing():
    with pytest.raises(TemplateMissing):
        await render_with(lambda r: httpx.Response(404, json={"error": "TemplateNotFound", "detail": "no"}))


async def test_a_refused_template_fails_every_recipient():
    results = await render_with(lambda r: httpx.Response(422, json={"error": "ValidationError", "detail": "sandbox"}))
    assert results == [RenderFailure("sandbox"), RenderFailure("sandbox")]


@pytest.mark.parametrize(
    "answer",
    [
        lambda r: httpx.Response(503, json={"error": "x", "detail": "busy"}),
        lambda r: httpx.Response(200, json={"results": []}),  # wrong length
        lambda r: httpx.Response(200, text="not json"),
    ],
)
async def test_a_failing_template_service_is_unavailable(answer):
    with pytest.raises(TemplateServiceUnavailable) as failure:
        await render_with(answer)
    # 5xx is an outage (waited out); a malformed answer is a failure (retried, and dead-lettered if it persists).
    assert isinstance(failure.value, TemplateServiceDown) == (answer(None).status_code == 503)


async def test_an_unreachable_template_service_is_down():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TemplateServiceDown):
        await render_with(refuse)


def test_stored_templates_may_be_gzip_compressed():
    document = {"subject": "S", "html": "<p/>"}
    raw = json.dumps(document).encode()
    assert decode_template_body(raw, None) == document
    assert decode_template_body(gzip.compress(raw), "gzip") == document
    assert decode_template_body(gzip.compress(raw), None) == document  # stored without the header


async def test_shutdown_stops_new_sends_and_hands_the_batch_back(world):
    service = world.service()
    service.stop()
    body = {
        "campaignId": "camp_0123456789abcdef0123",
        "tenantId": "acme",
        "batchId": "batch_000001",
        "recipients": ["a@example.com"],
    }
    with pytest.raises(BatchDeferred):
        await service.process(parse_job(json.dumps(body)))
    assert world.sender.sent == []
    assert world.ledger.rows == {}


class DeferringService:
    def __init__(self) -> None:
        self.calls = 0

    async def process(self, job, *, receive_count: int = 1):
        self.calls += 1
        raise BatchDeferred("campaign is paused", seconds=0)


def message(body: str, receive_count: int) -> SqsMessage:
    return SqsMessage(message_id="m1", receipt_handle="r", body=body, receive_count=receive_count)


JOB = json.dumps(
    {"campaignId": "camp_abc", "tenantId": "acme", "batchId": "batch_000001", "recipients": ["a@example.com"]}
)


async def test_a_deferred_batch_is_retried_then_requeued_fresh(herald_settings, provisioned, aws):
    queue = provisioned.email_jobs_queue_url
    handler = EmailJobHandler(DeferringService(), aws.sqs, provisioned.email_jobs_queue_urls, requeue_after_receives=3)  # type: ignore[arg-type]
    with pytest.raises(BatchDeferred):
        await handler(message(JOB, receive_count=2))  # the poller turns this into RetryAfter
    await handler(message(JOB, receive_count=3))  # returns: the poller deletes this one, a fresh copy waits
    received = await aws.sqs.receive_message(
        QueueUrl=queue, WaitTimeSeconds=1, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )
    (copy,) = received["Messages"]
    assert copy["Body"] == JOB
    assert copy["Attributes"]["ApproximateReceiveCount"] == "1"


async def test_a_malformed_message_is_refused_before_any_work():
    service = DeferringService()
    handler = EmailJobHandler(service, None, {"normal": "q"})  # type: ignore[arg-type]
    with pytest.raises(MalformedJob):
        await handler(message("{", receive_count=1))
    assert service.calls == 0


async def test_a_batch_whose_processors_keep_dying_comes_back_fresh_before_the_dead_letter_queue(
    herald_settings, provisioned, aws
):
    queue = provisioned.email_jobs_queue_url
    service = DeferringService()
    handler = EmailJobHandler(service, aws.sqs, provisioned.email_jobs_queue_urls, requeue_after_receives=3)  # type: ignore[arg-type]
    # Received a 4th time (3 receives died with their processor): handed back as a new message, not handled.
    await handler(message(JOB, receive_count=4))
    assert service.calls == 0
    received = await aws.sqs.receive_message(
        QueueUrl=queue, WaitTimeSeconds=5, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )
    (copy,) = received["Messages"]
    assert json.loads(copy["Body"]) == json.loads(JOB) | {"rescues": 1}
    assert copy["Attributes"]["ApproximateReceiveCount"] == "1"

    # A batch rescued MAX_RESCUES times is handled as is (a true poison message then reaches the dead-letter queue).
    exhausted = json.dumps(json.loads(JOB) | {"rescues": MAX_RESCUES})
    await handler(message(exhausted, receive_count=4))
    assert service.calls == 1
