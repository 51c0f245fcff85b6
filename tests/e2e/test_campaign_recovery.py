"""The campaign service's guarantees with real processes over real HTTP against the embedded emulator: priority
honoured by a real processor, retry-failed end to end, and both the fan-out and retry-failed surviving a kill -9 of
the campaign service at the worst moment.

Every check reads what SES accepted (`/_emulator/ses/messages`), the ledger and the queues themselves. Short leases
and scheduler ticks make a crash heal in seconds instead of a minute.
"""

from __future__ import annotations

import json
import secrets
import signal
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from herald_cli.client import HeraldClient
from herald_cli.stack import DevStack
from herald_common.provisioning import provision_sync
from herald_common.settings import HeraldSettings
from tests.faults.conftest import audit, aws_client, batch_story, extra_processor, ses_messages

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.timeout(300)]

STACK_ENV = {
    "HERALD_BATCH_SIZE": "2",  # many batches from few recipients
    "HERALD_FANOUT_LEASE_SECONDS": "5",
    "HERALD_SCHEDULER_INTERVAL_SECONDS": "0.5",
    "HERALD_PAUSED_RETRY_SECONDS": "1",
    "HERALD_TEMPLATE_CACHE_SIZE": "0",  # the template service reads S3 on every render
    "HERALD_RENDER_CACHE_BYTES": "0",
}
TEMPLATE_HTML = '<p>Hello {{ first_name }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
SETTLE = 120.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    prefix = "rec" + secrets.token_hex(4)
    logs = tmp_path_factory.mktemp("recovery-logs")
    with DevStack(prefix=prefix, ports="free", log_dir=logs, env=STACK_ENV) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack: DevStack) -> Iterator[HeraldClient]:
    with HeraldClient(stack.urls, stack.token("acme", "marketer"), timeout=60) as api:
        yield api


@pytest.fixture(autouse=True)
def whole_stack(stack: DevStack) -> Iterator[None]:
    """Every test starts and ends with every component running."""
    yield
    for name in ("campaign", "processor", "template"):
        if not stack.is_running(name):
            stack.restart(name)


# --- helpers ------------------------------------------------------------------------------------------------------
def api(stack: DevStack, method: str, path: str, json: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {stack.token('acme', 'marketer')}"}
    return httpx.request(method, f"{stack.urls.campaign}{path}", json=json, headers=headers, timeout=60)


def new_template(client: HeraldClient) -> str:
    template_id = "t" + secrets.token_hex(4)
    client.put_template(template_id, subject="News for {{ first_name }}", html=TEMPLATE_HTML)
    return template_id


def draft(client: HeraldClient, template_id: str, count: int) -> tuple[str, list[str]]:
    tag = secrets.token_hex(3)
    rows = [{"email": f"r{i:04d}.{tag}@example.com", "data": {"first_name": f"R{i}"}} for i in range(count)]
    campaign = client.create_campaign(name="Recovery", template_id=template_id, from_address="news@example.com")
    for start in range(0, count, 500):
        client.add_recipients(str(campaign["campaignId"]), rows[start : start + 500])
    return str(campaign["campaignId"]), [r["email"] for r in rows]


def send(stack: DevStack, campaign_id: str, **body: Any) -> None:
    response = api(stack, "POST", f"/campaigns/{campaign_id}/send", {"sendAt": "immediate", **body})
    assert response.status_code == 202, response.text


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def campaign_row(stack: DevStack, campaign_id: str) -> dict[str, Any]:
    dynamodb = aws_client(stack, "dynamodb")
    item = dynamodb.get_item(
        TableName=names(stack).campaigns_table,
        Key={"tenantId": {"S": "acme"}, "campaignId": {"S": campaign_id}},
        ConsistentRead=True,
    )["Item"]
    return {k: next(iter(v.values())) for k, v in item.items()}


def names(stack: DevStack) -> Any:
    return HeraldSettings(resource_prefix=stack.prefix).resources


def status(client: HeraldClient, campaign_id: str) -> str:
    return str(client.get_campaign(campaign_id)["status"])


def fanned_out(stack: DevStack, campaign_id: str) -> bool:
    return campaign_row(stack, campaign_id).get("fanoutDone") is True


def assert_each_sent_once(stack: DevStack, campaign_id: str, emails: list[str]) -> None:
    result = audit(stack, campaign_id)
    assert result.duplicates == {}, "a recipient got more than one message"
    assert sorted(result.per_recipient) == sorted(emails), "a recipient got no message"
    assert set(result.states()) == {"sent"}, result.states()


class TemplateObject:
    """The stored version of a template, taken away from S3 and put back (a deleted, then restored, version)."""

    def __init__(self, stack: DevStack, template_id: str) -> None:
        self._s3 = aws_client(stack, "s3")
        self._bucket = names(stack).bucket
        self._key = f"templates/acme/{template_id}/v000001.json"
        self._saved: dict[str, Any] = {}

    def remove(self) -> None:
        stored = self._s3.get_object(Bucket=self._bucket, Key=self._key)
        self._saved = {"Body": stored["Body"].read(), "ContentType": stored.get("ContentType", "application/json")}
        if stored.get("ContentEncoding"):
            self._saved["ContentEncoding"] = stored["ContentEncoding"]
        self._s3.delete_object(Bucket=self._bucket, Key=self._key)

    def restore(self) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=self._key, **self._saved)


def all_failed(
    stack: DevStack, client: HeraldClient, template_id: str, count: int, **body: Any
) -> tuple[str, list[str]]:
    """A `sent` campaign whose every recipient ended `failed` (`template_not_found`): its pinned template version
    was deleted after the send was accepted. The version is stored again before this returns."""
    stack.kill("processor", signal.SIGTERM)
    campaign_id, emails = draft(client, template_id, count)
    send(stack, campaign_id, **body)
    wait_for(lambda: fanned_out(stack, campaign_id), 30, "the fan-out")
    template = TemplateObject(stack, template_id)
    template.remove()
    stack.restart("processor")
    wait_for(lambda: status(client, campaign_id) == "sent", SETTLE, "the failed campaign to settle")
    counts = client.get_campaign(campaign_id)["counts"]
    assert (counts["failed"], counts["sent"]) == (count, 0), counts
    template.restore()
    return campaign_id, emails


# --- priority -----------------------------------------------------------------------------------------------------
def test_a_high_priority_campaign_queued_last_is_sent_first(
    stack: DevStack, client: HeraldClient, tmp_path: Path
) -> None:
    template_id = new_template(client)
    stack.kill("processor", signal.SIGTERM)  # batches wait in their queues while all three campaigns are sent
    campaigns: dict[str, str] = {}
    for priority in ("low", "normal", "high"):  # the high one is queued last
        campaign_id, _ = draft(client, template_id, 6)
        send(stack, campaign_id, priority=priority)
        wait_for(lambda cid=campaign_id: fanned_out(stack, cid), 30, f"the {priority} fan-out")
        campaigns[priority] = campaign_id
    # One batch at a time, so the order of batches is the order of sends.
    with extra_processor(stack, tmp_path, "processor-one-at-a-time", {"HERALD_CONCURRENCY": "1"}):
        for priority, campaign_id in campaigns.items():
            wait_for(lambda cid=campaign_id: status(client, cid) == "sent", SETTLE, f"the {priority} campaign")
    sent_at = {priority: sorted(m["sentAt"] for m in ses_messages(stack, cid)) for priority, cid in campaigns.items()}
    assert [len(times) for times in sent_at.values()] == [6, 6, 6]
    # What the processors (the stack's, stopped, and this test's) did with each batch, should the order be wrong.
    story = batch_story([stack.log_path("processor"), *sorted(tmp_path.glob("processor-*.log"))], campaigns)
    assert sent_at["high"][-1] <= sent_at["normal"][0], f"{sent_at}\n{story}"
    assert sent_at["normal"][-1] <= sent_at["low"][0], f"{sent_at}\n{story}"


# --- retry-failed end to end -----------------------------------------------------------------------------------------
def test_retry_failed_resends_the_failed_recipients_once_and_leaves_the_sent_ones_alone(
    stack: DevStack, client: HeraldClient
) -> None:
    template_id = new_template(client)
    campaign_id, emails = draft(client, template_id, 24)
    # One email a second (after the bucket's first block), so the campaign is still going when it is paused, even
    # when a loaded machine makes the pause land seconds late.
    send(stack, campaign_id, throttle={"emailsPerMinute": 60, "emailsPerHour": 3600})
    wait_for(lambda: len(ses_messages(stack, campaign_id)) >= 4, SETTLE, "the first sends")
    assert api(stack, "POST", f"/campaigns/{campaign_id}/pause").status_code == 202
    # The pinned template version disappears (and the processor that cached it restarts, letting its batches end):
    # what is not sent yet fails, retryably.
    template = TemplateObject(stack, template_id)
    template.remove()
    stack.restart("processor")
    wait_for(lambda: "sending" not in audit(stack, campaign_id).states(), 30, "in-flight sends to settle")
    first = {m["destinations"][0].lower(): m["messageId"] for m in ses_messages(stack, campaign_id)}
    assert 4 <= len(first) < len(emails)
    assert api(stack, "POST", f"/campaigns/{campaign_id}/resume").status_code == 202
    wait_for(lambda: status(client, campaign_id) == "sent", SETTLE, "the campaign to settle with failures")
    before = audit(stack, campaign_id)
    failed = sorted(e for e, state in before.ledger.items() if state == "failed")
    assert sorted(failed + list(first)) == sorted(emails)
    assert set(before.states()) == {"sent", "failed"}

    # The version is back: retry-failed re-sends exactly the failed ones.
    template.restore()
    retry = api(stack, "POST", f"/campaigns/{campaign_id}/retry-failed")
    assert retry.status_code == 202, retry.text
    assert retry.json() | {"batches": None} == {
        "campaignId": campaign_id, "status": "sending", "retry": 1, "requeued": len(failed), "batches": None,
    }  # fmt: skip
    wait_for(lambda: status(client, campaign_id) == "sent", SETTLE, "the retried campaign to settle")
    assert_each_sent_once(stack, campaign_id, emails)
    after = {m["destinations"][0].lower(): m for m in ses_messages(stack, campaign_id)}
    assert {e: after[e]["messageId"] for e in first} == first, "a recipient sent before was sent again"
    assert all(after[e]["tags"]["herald-batch"].startswith("retry_1_") for e in failed)
    counts = client.get_campaign(campaign_id)["counts"]
    assert (counts["sent"], counts["failed"], counts["final"]) == (len(emails), 0, len(emails))
    # A second call finds nothing to retry.
    again = api(stack, "POST", f"/campaigns/{campaign_id}/retry-failed").json()
    assert (again["retry"], again["requeued"]) == (2, 0)


def test_retry_failed_survives_a_kill_9_between_the_ledger_reset_and_the_queueing(
    stack: DevStack, client: HeraldClient
) -> None:
    template_id = new_template(client)
    campaign_id, emails = all_failed(stack, client, template_id, 8, priority="low")
    # The low queue is gone for a moment: the call resets the ledger, then cannot queue a thing.
    sqs = aws_client(stack, "sqs")
    low = names(stack).email_jobs_queue_for("low")
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=low)["QueueUrl"])
    response = api(stack, "POST", f"/campaigns/{campaign_id}/retry-failed")
    assert response.status_code == 500, response.text
    stack.kill("campaign")  # SIGKILL, right after the reset
    states = audit(stack, campaign_id).states()
    assert states == Counter({"pending": len(emails)}), states  # reset, and nothing queued: stranded, unless resumed
    row = campaign_row(stack, campaign_id)
    assert (row["retryRun"], row["retryQueued"]) == ("1", "0")

    provision_sync(HeraldSettings(resource_prefix=stack.prefix, aws_endpoint_url=stack.emulator_url))  # queue back
    stack.restart("campaign")  # its scheduler takes the run over once the dead instance's lease ran out
    wait_for(lambda: "retryRun" not in campaign_row(stack, campaign_id), 60, "the retry to be resumed")
    wait_for(lambda: status(client, campaign_id) == "sent", SETTLE, "the retried campaign to settle")
    assert_each_sent_once(stack, campaign_id, emails)
    messages = ses_messages(stack, campaign_id)
    assert {m["tags"]["herald-batch"] for m in messages} == {f"retry_1_{n:06d}" for n in range(1, 5)}


# --- fan-out ------------------------------------------------------------------------------------------------------
def test_a_fanout_killed_9_midway_resumes_with_no_batch_missing_and_each_recipient_sent_once(
    stack: DevStack, client: HeraldClient
) -> None:
    template_id = new_template(client)
    stack.kill("processor", signal.SIGTERM)  # the queue keeps every batch for inspection
    campaign = stack.process("campaign")
    assert campaign is not None
    recipients = 240  # 120 batches, checkpointed every 10
    for _attempt in range(3):
        campaign_id, emails = draft(client, template_id, recipients)
        send(stack, campaign_id)
        # Step the service in short slices until it has queued some batches but not all, then kill -9 it.
        row: dict[str, Any] = {}
        while True:  # (a failure in here leaves the service stopped: the module's stack is torn down anyway)
            campaign.send_signal(signal.SIGSTOP)
            row = campaign_row(stack, campaign_id)
            if row.get("fanoutDone") is True or int(row.get("fanoutQueued", "0")) > 0:
                break
            campaign.send_signal(signal.SIGCONT)
            time.sleep(0.02)
        stack.kill("campaign")  # SIGKILL ends a stopped process too
        campaign.wait(timeout=10)
        stack.restart("campaign")
        campaign = stack.process("campaign")
        assert campaign is not None
        if row.get("fanoutDone") is not True:
            break
        # Finished before the kill landed: drop its batches and try again.
        _drain(stack, delete=True)
    else:
        pytest.fail("the kill never landed during a fan-out")
    checkpoint = int(row["fanoutQueued"])
    assert 0 < checkpoint < recipients // 2

    wait_for(lambda: fanned_out(stack, campaign_id), 60, "the resumed fan-out")
    ids = Counter(body["batchId"] for body in _drain(stack, delete=False) if body["campaignId"] == campaign_id)
    assert set(ids) == {f"batch_{n:06d}" for n in range(1, recipients // 2 + 1)}, "a batch is missing"
    # A group queued after the last checkpoint but before the kill is queued again, with the same ids (at most one
    # SendMessageBatch group of 10): the processor's ledger makes the copies send nothing.
    twice = sorted(int(batch.removeprefix("batch_")) for batch, n in ids.items() if n > 1)
    assert all(n == 2 for n in ids.values() if n > 1)
    assert len(twice) <= 10
    assert all(checkpoint < n <= checkpoint + 10 for n in twice), (checkpoint, twice)

    stack.restart("processor")
    wait_for(lambda: status(client, campaign_id) == "sent", 240, "the campaign to be sent")
    assert_each_sent_once(stack, campaign_id, emails)


def _drain(stack: DevStack, *, delete: bool) -> list[dict[str, Any]]:
    """Every message on the normal queue: deleted, or made visible again at once (for the processor)."""
    sqs = aws_client(stack, "sqs")
    url = sqs.get_queue_url(QueueName=names(stack).email_jobs_queue_for("normal"))["QueueUrl"]
    bodies: list[dict[str, Any]] = []
    handles: list[str] = []
    empty = 0
    while empty < 2:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=120).get("Messages", [])
        empty = 0 if messages else empty + 1
        for m in messages:
            bodies.append(json.loads(m["Body"]))
            handles.append(m["ReceiptHandle"])
    for handle in handles:
        if delete:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
        else:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return bodies
