"""Webhooks end to end (real processes over HTTP, the embedded emulator): a receiver on loopback answers 500 to its
first delivery; a campaign is sent; every email event of every message SES accepted reaches the receiver with a
valid Standard Webhooks signature, and the retried delivery carries the same `webhook-id` and body. Beside SES's
events: `email.failed` for a recipient that failed to render, `email.unknown` for one left in doubt (SES answering
500, HERALD_IN_DOUBT=hold), and one `campaign.status` for each status move (send, sent, pause, resume, cancel)."""

from __future__ import annotations

import json
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
    from collections.abc import Callable, Iterator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SETTLE_TIMEOUT = 120.0
TEMPLATE_HTML = '<p>Hello {{ first_name }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
RECIPIENTS = [
    *(f"reader{i}@example.com" for i in range(4)),
    "bounce@simulator.amazonses.com",
    "complaint@simulator.amazonses.com",
]
RENDER_FAILS = "nodata@example.com"
DOUBTFUL = "doubtful@example.com"
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
    env = {
        "HERALD_WEBHOOK_RETRY_BASE_SECONDS": "1",  # the first retry a second later, not half a minute
        "HERALD_IN_DOUBT": "hold",  # an in-doubt recipient ends `unknown` (email.unknown), not sent again
        "HERALD_RECONCILE_WINDOW": "3",  # …3 s after its lease ended without an SES Send event
    }
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
        campaign_id = _campaign(client, "Hooks", [{"email": e, "data": {"first_name": "Ada"}} for e in RECIPIENTS])
        client.add_recipients(campaign_id, [{"email": RENDER_FAILS}])  # no first_name: the processor fails it
        client.send_campaign(campaign_id)

        # What SES accepted decides what must arrive: per message a Send, then a Delivery or a Bounce; a Complaint
        # for the complaint simulator. The recipient that failed to render is the processor's own `email.failed`.
        deadline = time.monotonic() + SETTLE_TIMEOUT
        expected: set[tuple[str, str]] = set()
        while time.monotonic() < deadline:
            sent, expected = _ses_events(stack, campaign_id)
            expected |= {("email.failed", RENDER_FAILS)}
            expected |= {("campaign.status", f"{campaign_id}:1:sending"), ("campaign.status", f"{campaign_id}:2:sent")}
            if sent == len(RECIPIENTS) and expected <= _delivered(receiver, verifier):
                break
            time.sleep(1.0)
        assert len(expected) == 2 * len(RECIPIENTS) + 1 + 1 + 2
        first_campaign = expected

        # SES answers 500 to every send: under HERALD_IN_DOUBT=hold the recipient is final `unknown` once the
        # reconcile window passed without a Send event, which only the processor can report.
        _set_faults(stack, {"sesErrorRate": 1.0})
        try:
            doubtful_id = _campaign(client, "Hooks in doubt", [{"email": DOUBTFUL, "data": {"first_name": "Ada"}}])
            client.send_campaign(doubtful_id)
            doubtful = {
                ("email.unknown", DOUBTFUL),
                ("campaign.status", f"{doubtful_id}:1:sending"),
                ("campaign.status", f"{doubtful_id}:2:sent"),
            }
            _wait(lambda: doubtful <= _delivered(receiver, verifier), "the in-doubt recipient's events")
        finally:
            _set_faults(stack, None)

        # Every move a user makes is one campaign.status: send, pause, resume, cancel.
        slow = [{"email": f"slow{i}@example.com", "data": {"first_name": "Ada"}} for i in range(5)]
        slow_id = _campaign(client, "Hooks moves", slow)
        client.send_campaign(slow_id, throttle={"emailsPerMinute": 1})
        client.pause_campaign(slow_id)
        client.resume_campaign(slow_id)
        cancelled = httpx.post(
            f"{stack.urls.campaign}/campaigns/{slow_id}/cancel",
            headers={"Authorization": f"Bearer {stack.token('acme', 'marketer')}"},
        )
        assert cancelled.status_code == 202, cancelled.text
        moves = {
            ("campaign.status", f"{slow_id}:{n}:{status}")
            for n, status in enumerate(("sending", "paused", "sending", "cancelled"), start=1)
        }
        # The throttle may let a first email out before the pause: its SES events are expected too.
        _wait(lambda: moves | _ses_events(stack, slow_id)[1] <= _delivered(receiver, verifier), "the status moves")

    got = _received(receiver, verifier)
    expected = first_campaign | doubtful | moves | _ses_events(stack, slow_id)[1]
    assert expected <= set(got), sorted(expected - set(got))
    # Every event arrived, each finally answered 2xx; nothing arrived that neither SES nor Herald's ledger caused, and
    # each status move arrived once (one delivery per id, the refused first one aside): none but those made.
    assert {key for key, attempts in got.items() if attempts[-1][2] == 204} == expected
    assert set(got) == expected
    payload = json.loads(got[("campaign.status", f"{slow_id}:2:paused")][-1][1])
    assert payload["data"]["previousStatus"] == "sending"
    assert payload["data"]["statusReason"].startswith("Paused by ")
    failed = json.loads(got[("email.failed", RENDER_FAILS)][-1][1])["data"]
    assert (failed["reason"], failed["messageId"]) == ("render_error", None)
    unknown = json.loads(got[("email.unknown", DOUBTFUL)][-1][1])["data"]
    assert unknown["reason"] == "lease_expired"
    # The first delivery was refused with a 500 and retried under the same webhook-id, with the same body.
    first_headers, first_body, first_status = receiver.requests[0]
    assert first_status == 500
    retried = [r for r in receiver.requests[1:] if r[0]["webhook-id"] == first_headers["webhook-id"]]
    assert retried, "the refused delivery was not retried"
    assert retried[0][1] == first_body
    assert retried[0][2] == 204
    # Each event id once per event: nothing else was sent twice.
    ids = [r[0]["webhook-id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) + 1

    log = httpx.get(f"{stack.urls.campaign}/webhooks/{webhook_id}/deliveries", headers=admin).json()["deliveries"]
    assert {d["status"] for d in log} == {"delivered"}
    by_id = {d["eventId"]: d for d in log}
    assert by_id[first_headers["webhook-id"]]["attempts"] == 2
    assert by_id[first_headers["webhook-id"]]["lastStatusCode"] == 204


def _ses_events(stack: DevStack, campaign_id: str) -> tuple[int, set[tuple[str, str]]]:
    """How many messages SES accepted for the campaign, and the email events they must cause: per message a Send,
    then a Delivery or a Bounce; a Complaint for the complaint simulator."""
    messages = httpx.get(f"{stack.emulator_url}/_emulator/ses/messages", timeout=30).json()["messages"]
    ours = [m for m in messages if m["tags"].get("herald-campaign") == campaign_id]
    events: set[tuple[str, str]] = set()
    for message in ours:
        (address,) = message["destinations"]
        events.add(("email.sent", message["messageId"]))
        events.add(("email.bounced" if address.startswith("bounce@") else "email.delivered", message["messageId"]))
        if address.startswith("complaint@"):
            events.add(("email.complained", message["messageId"]))
    return len(ours), events


def _campaign(client: HeraldClient, name: str, recipients: list[dict[str, Any]]) -> str:
    campaign_id = str(
        client.create_campaign(name=name, template_id="hooks", from_address="news@example.com")["campaignId"]
    )
    client.add_recipients(campaign_id, recipients)
    return campaign_id


def _set_faults(stack: DevStack, faults: dict[str, float] | None) -> None:
    url = f"{stack.emulator_url}/_emulator/faults"
    response = httpx.put(url, json=faults, timeout=10) if faults else httpx.delete(url, timeout=10)
    response.raise_for_status()


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1.0)


def _delivered(receiver: Receiver, verifier: Webhook) -> set[tuple[str, str]]:
    """The events whose last delivery was answered 2xx."""
    return {key for key, attempts in _received(receiver, verifier).items() if attempts[-1][2] == 204}


def _received(receiver: Receiver, verifier: Webhook) -> dict[tuple[str, str], list[tuple[dict[str, str], bytes, int]]]:
    """Requests by event: (type, messageId) for SES's events, (type, email) for the processor's settlements,
    (campaign.status, `campaign:statusVersion:status`); each verified: the signature, and the body's id is the
    webhook-id."""
    by_event: dict[tuple[str, str], list[tuple[dict[str, str], bytes, int]]] = defaultdict(list)
    with receiver.lock:
        requests = list(receiver.requests)
    for headers, body, status in requests:
        payload = verifier.verify(body, headers)  # raises on a bad or missing signature
        assert payload["id"] == headers["webhook-id"]
        assert set(payload) == {"id", "type", "createdAt", "tenantId", "campaignId", "data"}
        assert payload["tenantId"] == "acme"
        assert payload["campaignId"].startswith("camp_")
        data = payload["data"]
        if payload["type"] == "campaign.status":
            key = f"{payload['campaignId']}:{data['statusVersion']}:{data['status']}"
        else:
            key = data["messageId"] or data["email"]
        by_event[(payload["type"], key)].append((headers, body, status))
    return dict(by_event)
