"""Webhooks end to end (real processes over HTTP, the embedded emulator): a receiver on loopback answers 500 to its
first delivery; a campaign is sent; every email event of every message SES accepted reaches the receiver with a
valid Standard Webhooks signature, and the retried delivery carries the same `webhook-id` and body."""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from herald_cli.client import HeraldClient
from herald_cli.stack import DevStack, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SETTLE_TIMEOUT = 120.0
TEMPLATE_HTML = '<p>Hello {{ first_name }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
RECIPIENTS = [
    *(f"reader{i}@example.com" for i in range(4)),
    "bounce@simulator.amazonses.com",
    "complaint@simulator.amazonses.com",
]
EVENTS = ["email.sent", "email.delivered", "email.bounced", "email.complained", "email.opened",
          "email.clicked", "email.failed", "email.unknown", "campaign.status"]  # fmt: skip


class Receiver:
    """An HTTP endpoint on loopback that records every request and answers 500 to the first one."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    status = 500 if not receiver.requests else 204
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/herald"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.thread.start()
    yield running
    running.server.shutdown()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    prefix = "whk" + secrets.token_hex(4)
    env = {"HERALD_WEBHOOK_RETRY_BASE_SECONDS": "1"}  # the first retry a second later, not half a minute
    with DevStack(prefix=prefix, ports="free", env=env, log_dir=tmp_path_factory.mktemp("stack-logs")) as running:
        yield running


def test_every_email_event_reaches_the_receiver_signed_and_a_retry_keeps_its_id(
    stack: DevStack, receiver: Receiver
) -> None:
    admin = {"Authorization": f"Bearer {stack.token('acme', 'admin')}"}
    hook = httpx.post(f"{stack.urls.campaign}/webhooks", json={"url": receiver.url, "events": EVENTS}, headers=admin)
    assert hook.status_code == 201, hook.text
    webhook_id, verifier = hook.json()["webhookId"], Webhook(hook.json()["secret"])

    with HeraldClient(stack.urls, stack.token("acme", "marketer"), timeout=60) as client:
        client.put_template("hooks", subject="News for {{ first_name }}", html=TEMPLATE_HTML)
        campaign_id = client.create_campaign(name="Hooks", template_id="hooks", from_address="news@example.com")[
            "campaignId"
        ]
        client.add_recipients(campaign_id, [{"email": e, "data": {"first_name": "Ada"}} for e in RECIPIENTS])
        client.send_campaign(campaign_id)

        # What SES accepted decides what must arrive: per message a Send, then a Delivery or a Bounce; a Complaint
        # for the complaint simulator.
        deadline = time.monotonic() + SETTLE_TIMEOUT
        expected: set[tuple[str, str]] = set()
        got: dict[tuple[str, str], list[tuple[dict[str, str], bytes, int]]] = {}
        while time.monotonic() < deadline:
            messages = httpx.get(f"{stack.emulator_url}/_emulator/ses/messages", timeout=30).json()["messages"]
            ours = [m for m in messages if m["tags"].get("herald-campaign") == campaign_id]
            expected = set()
            for message in ours:
                (address,) = message["destinations"]
                expected.add(("email.sent", message["messageId"]))
                outcome = "email.bounced" if address.startswith("bounce@") else "email.delivered"
                expected.add((outcome, message["messageId"]))
                if address.startswith("complaint@"):
                    expected.add(("email.complained", message["messageId"]))
            expected.add(("campaign.status", "sent"))  # seen in analytics' announcements
            got = _received(receiver, verifier)
            delivered = {key for key, attempts in got.items() if attempts[-1][2] == 204}
            if len(ours) == len(RECIPIENTS) and expected <= delivered:
                break
            time.sleep(1.0)

    assert len(expected) == 2 * len(RECIPIENTS) + 2
    assert expected <= set(got), sorted(expected - set(got))
    # Every event arrived, each finally answered 2xx; nothing arrived that SES did not cause.
    assert {key for key, attempts in got.items() if attempts[-1][2] == 204} >= expected
    emails = {key for key in got if key[0].startswith("email.")}
    assert emails == {key for key in expected if key[0].startswith("email.")}
    statuses = [key[1] for key in got if key[0] == "campaign.status"]
    assert statuses[-1] == "sent"
    assert set(statuses) <= {"sending", "sent"}
    # The first delivery was refused with a 500 and retried under the same webhook-id, with the same body.
    first_headers, first_body, first_status = receiver.requests[0]
    assert first_status == 500
    retried = [r for r in receiver.requests[1:] if r[0]["webhook-id"] == first_headers["webhook-id"]]
    assert retried, "the refused delivery was not retried"
    assert retried[0][1] == first_body
    assert retried[0][2] == 204
    # Each event id once per SES event: nothing else was sent twice.
    ids = [r[0]["webhook-id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) + 1

    log = httpx.get(f"{stack.urls.campaign}/webhooks/{webhook_id}/deliveries", headers=admin).json()["deliveries"]
    assert {d["status"] for d in log} == {"delivered"}
    by_id = {d["eventId"]: d for d in log}
    assert by_id[first_headers["webhook-id"]]["attempts"] == 2
    assert by_id[first_headers["webhook-id"]]["lastStatusCode"] == 204


def _received(receiver: Receiver, verifier: Webhook) -> dict[tuple[str, str], list[tuple[dict[str, str], bytes, int]]]:
    """Requests by (type, messageId), each verified: the signature, and the body's id is the webhook-id."""
    by_event: dict[tuple[str, str], list[tuple[dict[str, str], bytes, int]]] = defaultdict(list)
    with receiver.lock:
        requests = list(receiver.requests)
    for headers, body, status in requests:
        payload = verifier.verify(body, headers)  # raises on a bad or missing signature
        assert payload["id"] == headers["webhook-id"]
        assert set(payload) == {"id", "type", "createdAt", "tenantId", "campaignId", "data"}
        assert payload["tenantId"] == "acme"
        assert payload["campaignId"].startswith("camp_")
        key = payload["data"]["status"] if payload["type"] == "campaign.status" else payload["data"]["messageId"]
        by_event[(payload["type"], key)].append((headers, body, status))
    return dict(by_event)
