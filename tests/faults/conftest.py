"""Fault tests: the whole stack as real processes against the emulator, with processors killed, stopped, doubled and
throttled. Short visibility, lease and reconcile settings make a crash heal in seconds instead of minutes."""

from __future__ import annotations

import contextlib
import functools
import random
import secrets
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest

from herald_cli.client import HeraldClient
from herald_cli.stack import DevStack, free_port, stop_process
from herald_common.settings import HeraldSettings
from herald_processor.provider_pacing import POLICY_CACHE_SECONDS
from tests.timing import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

# Processor settings for the fault runs (HERALD_*; the other services ignore what they do not know).
FAULT_ENV = {
    "HERALD_VISIBILITY_TIMEOUT": "10",
    "HERALD_HANDLER_TIMEOUT": "9",
    "HERALD_BATCH_TIME_BUDGET": "6",
    "HERALD_LEASE_SECONDS": "10",
    # Long enough for a Send event to reach analytics on a loaded machine: an in-doubt recipient whose event comes
    # later than this is sent again (HERALD_IN_DOUBT=resend), a duplicate.
    "HERALD_RECONCILE_WINDOW": "8",
    "HERALD_PAUSED_RETRY_SECONDS": "1",
    "HERALD_BATCH_SIZE": "25",
}
TEMPLATE_HTML = '<p>Hello {{ first_name }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    prefix = "flt" + secrets.token_hex(4)
    with DevStack(prefix=prefix, ports="free", log_dir=tmp_path_factory.mktemp("fault-logs"), env=FAULT_ENV) as running:
        yield running


@pytest.fixture(scope="package")
def client(stack: DevStack) -> Iterator[HeraldClient]:
    with HeraldClient(stack.urls, stack.token("acme", "marketer"), timeout=60) as api:
        api.put_template("faults", subject="News for {{ first_name }}", html=TEMPLATE_HTML)
        yield api


# The seed of the running test's emulator faults (drawn from its `rng`): `set_faults` passes it on.
_fault_seed = [0]


@pytest.fixture(autouse=True)
def clean_faults(stack: DevStack, rng: random.Random) -> Iterator[None]:
    """Every test starts and ends with no SES faults and the stack's processor running. The emulator's fault rolls
    (which sends are throttled, fail, lose their answer) start from a seed drawn from the test's `rng`, so a failing
    test's printed seed replays them, as far as its calls reach the emulator in the same order."""
    _fault_seed[0] = rng.randrange(2**32)
    httpx.delete(f"{stack.emulator_url}/_emulator/faults", timeout=10).raise_for_status()
    if not stack.is_running("processor"):
        stack.restart("processor")
    yield
    httpx.delete(f"{stack.emulator_url}/_emulator/faults", timeout=10).raise_for_status()


def set_faults(stack: DevStack, **faults: float) -> None:
    payload = {"seed": _fault_seed[0], **faults}
    httpx.put(f"{stack.emulator_url}/_emulator/faults", json=payload, timeout=10).raise_for_status()


@dataclass(frozen=True)
class ProcessorProcess:
    """A processor process a test started: the process (to kill, stop or find by pid) and its base URL."""

    process: subprocess.Popen[bytes]
    url: str


@contextlib.contextmanager
def extra_processor(
    stack: DevStack, log_dir: Path, name: str = "processor-2", env: dict[str, str] | None = None
) -> Iterator[ProcessorProcess]:
    """A processor process of its own on the stack's queues (its own port and processor id, `env` on top of the
    stack's), logging to `log_dir/<name>.log`; ready (`/readyz`) before the test goes on, stopped with SIGTERM at
    the end (SIGKILL after 35 s: longer than a batch's handler timeout, so a clean stop is not cut short)."""
    port = free_port()
    url = f"http://{stack.host}:{port}"
    command = [str(stack.bin_dir / "herald-processor"), "--host", stack.host, "--port", str(port)]
    with (log_dir / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(command, env=stack.env | (env or {}), stdout=log, stderr=subprocess.STDOUT)
    try:
        # Stop waiting as soon as the process is gone: a processor that cannot start never becomes ready.
        wait_until(lambda: process.poll() is not None or _ready(url), bool, timeout=60, what=f"{name} ready")
        assert process.poll() is None, f"{name} exited early ({process.returncode}); see {log_dir / name}.log"
        yield ProcessorProcess(process, url)
    finally:
        stop_process(process, grace=35)


def _ready(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    return False


def recipients(count: int) -> list[dict[str, Any]]:
    tag = secrets.token_hex(3)
    return [{"email": f"r{i:04d}.{tag}@example.com", "data": {"first_name": f"R{i}"}} for i in range(count)]


def start_campaign(client: HeraldClient, rows: list[dict[str, Any]], *, throttle: dict[str, int] | None = None) -> str:
    campaign = client.create_campaign(name="Faults", template_id="faults", from_address="news@example.com")
    campaign_id = str(campaign["campaignId"])
    for start in range(0, len(rows), 500):
        client.add_recipients(campaign_id, rows[start : start + 500])
    client.send_campaign(campaign_id, throttle=throttle)
    return campaign_id


def wait_until_sent(client: HeraldClient, campaign_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    campaign: dict[str, Any] = {}
    while time.monotonic() < deadline:
        campaign = client.get_campaign(campaign_id)
        if campaign["status"] in ("sent", "failed", "cancelled"):
            return campaign
        time.sleep(0.5)
    return campaign


def wait_for_stats(
    client: HeraldClient, campaign_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    stats = client.campaign_stats(campaign_id)
    while not done(stats) and time.monotonic() < deadline:
        time.sleep(0.5)
        stats = client.campaign_stats(campaign_id)
    return stats


def events_queue_idle(stack: DevStack) -> bool:
    """No SES event waiting for analytics or being handled by it."""
    names = HeraldSettings(resource_prefix=stack.prefix).resources
    sqs = aws_client(stack, "sqs")
    url = sqs.get_queue_url(QueueName=names.ses_events_queue)["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 0
    )


@dataclass
class Audit:
    per_recipient: Counter[str]  # messages SES accepted, by destination
    ledger: dict[str, str]  # ledger state by recipient
    messages: list[dict[str, Any]]

    @property
    def duplicates(self) -> dict[str, int]:
        return {email: n for email, n in self.per_recipient.items() if n > 1}

    def lost(self, emails: list[str]) -> list[str]:
        """Valid recipients with no message that are not `unknown` either."""
        return [e for e in emails if self.per_recipient[e] == 0 and self.ledger.get(e) != "unknown"]

    def states(self) -> Counter[str]:
        return Counter(self.ledger.values())


def ledger_items(stack: DevStack, campaign_id: str) -> list[dict[str, Any]]:
    """The campaign's ledger rows, as DynamoDB holds them."""
    dynamodb = aws_client(stack, "dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": HeraldSettings(resource_prefix=stack.prefix).resources.ledger_table,
        "KeyConditionExpression": "campaignKey = :k",
        "ExpressionAttributeValues": {":k": {"S": f"acme#{campaign_id}"}},
        "ConsistentRead": True,
    }
    while True:
        page = dynamodb.query(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def claimed_by(stack: DevStack, campaign_id: str, pid: int) -> int:
    """Recipients still `sending` under a claim of the processor process `pid` (its id is host-pid-random): after a
    kill -9, the recipients it left in doubt."""
    return sum(
        1
        for item in ledger_items(stack, campaign_id)
        if item["state"]["S"] == "sending" and f"-{pid}-" in item.get("leaseOwner", {}).get("S", "")
    )


def batch_story(logs: list[Path], campaigns: dict[str, str]) -> str:
    """The lines of processor logs that speak of a batch of one of `campaigns`, each with its log and priority."""
    lines = []
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            for priority, campaign_id in campaigns.items():
                if campaign_id in line and "processor.batch" in line:
                    lines.append(f"{log.name} {priority}: {line.replace(campaign_id, '')}")
    return "\n".join(lines)


def ses_messages(stack: DevStack, campaign_id: str) -> list[dict[str, Any]]:
    """What SES accepted for the campaign so far, in order (the emulator's log, read for this campaign only: a
    worker's stack keeps every message of every test it ran)."""
    response = httpx.get(
        f"{stack.emulator_url}/_emulator/ses/messages", params={"tag": f"herald-campaign:{campaign_id}"}, timeout=30
    )
    response.raise_for_status()
    return list(response.json()["messages"])


def audit(stack: DevStack, campaign_id: str) -> Audit:
    messages = ses_messages(stack, campaign_id)
    per_recipient = Counter(d.lower() for m in messages for d in m["destinations"])
    ledger = {item["email"]["S"]: item["state"]["S"] for item in ledger_items(stack, campaign_id)}
    return Audit(per_recipient=per_recipient, ledger=ledger, messages=messages)


def aws_client(stack: DevStack, service: str) -> Any:
    """A boto3 client on the stack's emulator; one per stack and service, as building one costs tens of ms of CPU
    and the tests poll with them."""
    return _client(
        service,
        stack.emulator_url,
        stack.settings.aws_region,
        stack.env["AWS_ACCESS_KEY_ID"],
        stack.env["AWS_SECRET_ACCESS_KEY"],
    )


@functools.cache
def _client(service: str, endpoint_url: str, region: str, key_id: str, secret: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def dead_letters(stack: DevStack) -> int:
    """Messages waiting in the email-jobs dead-letter queue."""
    names = HeraldSettings(resource_prefix=stack.prefix).resources
    sqs = aws_client(stack, "sqs")
    url = sqs.get_queue_url(QueueName=names.dead_letter_queue(names.email_jobs_queue))["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def assert_everyone_once(stack: DevStack, client: HeraldClient, campaign_id: str, emails: list[str]) -> None:
    """Every recipient emailed exactly once, all `sent`; the ledger, the counters and the statistics agree."""
    result = audit(stack, campaign_id)
    assert result.duplicates == {}
    assert result.per_recipient == Counter(dict.fromkeys(emails, 1))
    assert result.states() == {"sent": len(emails)}
    counts = client.get_campaign(campaign_id)["counts"]
    assert (counts["sent"], counts["final"], counts["unknown"]) == (len(emails), len(emails), 0)
    stats = wait_for_stats(client, campaign_id, lambda s: s["sent"] == len(emails))
    assert (stats["sent"], stats["unknown"]) == (len(emails), 0)
    assert dead_letters(stack) == 0


@pytest.fixture
def policy(stack: DevStack) -> Iterator[Any]:
    headers = {"Authorization": f"Bearer {stack.token('acme', 'admin')}"}

    def put(body: dict[str, Any]) -> None:
        httpx.put(f"{stack.urls.campaign}/sending-policy", json=body, headers=headers, timeout=10).raise_for_status()

    yield put
    put({"providers": {}})
    # Processors cache the policy: the next test (of any module: same stack, same tenant) must not meet this one's.
    time.sleep(POLICY_CACHE_SECONDS + 1)


def sent_times(messages: list[dict[str, Any]], domain: str) -> list[float]:
    return sorted(
        datetime.fromisoformat(m["sentAt"].replace("Z", "+00:00")).timestamp()
        for m in messages
        if m["destinations"][0].lower().endswith("@" + domain)
    )


SHORTEST_DAY, LONGEST_DAY = 75, 110  # seconds: HERALD_PACING_DAY_SECONDS of a pacing test's processors
LEAD = 20.0  # seconds a pacing test's processors get to start before their first day begins


def day_starting_soon() -> int:
    """A day length whose next day (days start at multiples of it since the epoch) begins LEAD to LEAD + 10 s from
    now: the campaign starts early in a day without waiting out most of one. Almost always one in the range fits;
    else the longest, and the test waits for its next day."""
    now = time.time()
    for length in range(SHORTEST_DAY, LONGEST_DAY + 1):
        if LEAD <= length - now % length <= LEAD + 10:
            return length
    return LONGEST_DAY
