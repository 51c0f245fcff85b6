"""The lease over the last of SES's daily quota: two processors that both read "one left" never both send it. The
pacers run against the emulator's DynamoDB and SES (its `sesMax24HourSend` fault sets the quota; its sends count in
SentLast24Hours); the batch's side uses the processor's fakes."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from botocore.config import Config

from herald_common.aws import open_clients
from herald_common.settings import HeraldSettings
from herald_emulator import Emulator
from herald_processor.daily_pacing import FRESH_BELOW, LEASE_RETRY_SECONDS, AccountQuota, DailyPacer, DailySlot
from herald_processor.quota_lease import LEASE_KEY, LEASE_SECONDS, QuotaLease, QuotaLeases
from herald_processor.shared_throttle import DynamoThrottleBucket
from tests.processor.test_provider_pacing import FakeGate, paced_world
from tests.processor.test_service import job

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import aioboto3
    from types_aiobotocore_sesv2 import SESV2Client

    from herald_common.aws import AwsClients
    from herald_common.provisioning import Provisioned


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SesQuota:
    """The emulator's SES, whose daily quota the test sets as what is left of it."""

    def __init__(self, sesv2: SESV2Client, control: httpx.AsyncClient) -> None:
        self.sesv2 = sesv2
        self._control = control

    async def leave(self, left: int) -> None:
        sent = (await self.sesv2.get_account())["SendQuota"]["SentLast24Hours"]
        (await self._control.put("/_emulator/faults", json={"sesMax24HourSend": sent + left})).raise_for_status()

    async def send(self) -> None:
        await self.sesv2.send_email(
            FromEmailAddress="news@example.com",
            Destination={"ToAddresses": ["ada@example.org"]},
            Content={"Simple": {"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "Hello"}}}},
        )


@pytest.fixture(scope="module")
def quota_emulator(emulator: Emulator) -> Iterator[Emulator]:
    instance = Emulator("127.0.0.1", 0).start()  # its own faults and SentLast24Hours (moto's data is shared)
    yield instance
    instance.stop()


@pytest.fixture
async def ses_quota(
    quota_emulator: Emulator, herald_settings: HeraldSettings, provisioned: Provisioned, aws_session: aioboto3.Session
) -> AsyncIterator[SesQuota]:
    settings = HeraldSettings(resource_prefix=herald_settings.resource_prefix, aws_endpoint_url=quota_emulator.url)
    async with AsyncExitStack() as stack, httpx.AsyncClient(base_url=quota_emulator.url) as control:
        clients = await open_clients(stack, settings, "sesv2", session=aws_session)
        try:
            yield SesQuota(clients.sesv2, control)
        finally:
            await control.delete("/_emulator/faults")


def processor(aws: AwsClients, herald_settings: HeraldSettings, ses: SesQuota) -> DailyPacer:
    """One processor's daily pacing (its own quota cache, its own buckets' state), sharing the fleet's table."""
    table, db = herald_settings.resources.throttle_table, aws.require_dynamodb()
    return DailyPacer(
        DynamoThrottleBucket(db, table), AccountQuota(sesv2=ses.sesv2), None, leases=QuotaLeases(db, table)
    )


async def lease_item(aws: AwsClients, herald_settings: HeraldSettings) -> dict[str, Any] | None:
    answer = await aws.require_dynamodb().get_item(
        TableName=herald_settings.resources.throttle_table, Key={"bucketKey": {"S": LEASE_KEY}}, ConsistentRead=True
    )
    return answer.get("Item")


async def slot(pacer: DailyPacer, max_wait: float) -> DailySlot:
    return await pacer.slot("acme", "news.example", backlog=1, ramp=None, max_wait=max_wait)


@pytest.mark.parametrize(("left", "second_sends"), [(1, False), (2, True)])
async def test_two_processors_take_the_last_of_the_quota_one_send_at_a_time(
    aws: AwsClients, herald_settings: HeraldSettings, ses_quota: SesQuota, left: int, second_sends: bool
) -> None:
    await ses_quota.leave(left)
    fleet = [processor(aws, herald_settings, ses_quota) for _ in range(2)]
    answers = await asyncio.gather(*(slot(pacer, max_wait=0.0) for pacer in fleet))
    assert sorted(answer.wait for answer in answers) == [0.0, LEASE_RETRY_SECONDS]  # exactly one may send
    first, waiting = (0, 1) if answers[0].wait == 0.0 else (1, 0)
    lease = answers[first].lease
    assert lease is not None
    assert answers[waiting].lease is None

    # The other asks again with time to wait: it waits for the lease while the first one's send is out.
    second = asyncio.create_task(slot(fleet[waiting], max_wait=5.0))
    await asyncio.sleep(0.3)
    assert not second.done()
    await ses_quota.send()
    await lease.release()
    answer = await asyncio.wait_for(second, 5.0)
    if second_sends:  # its fresh read, taken under the lease, counts the first send: one is still left
        assert answer.wait == 0.0
        assert answer.lease is not None
        await ses_quota.send()
        await answer.lease.release()
    else:  # nothing left once the first send is counted: it waits for the next day instead of a refusal
        assert answer == DailySlot(answer.wait)
        assert answer.wait >= 1.0
    assert await lease_item(aws, herald_settings) is None  # given back either way
    assert (await slot(fleet[first], max_wait=0.0)).wait >= 1.0  # the quota is used up, never passed


async def test_a_lease_that_ran_out_is_taken_over_and_its_old_holder_cannot_free_it(
    aws: AwsClients, herald_settings: HeraldSettings
) -> None:
    clock = Clock(time.time())
    table, db = herald_settings.resources.throttle_table, aws.require_dynamodb()
    dead, alive = QuotaLeases(db, table, clock=clock), QuotaLeases(db, table, clock=clock)
    held = await dead.take()
    assert held is not None
    clock.now += LEASE_SECONDS - 1
    assert await alive.take() is None  # still held
    clock.now += 2
    taken = await alive.take()
    assert taken is not None  # its holder died (or is stuck): the next send goes
    await held.release()  # the old holder comes back: the lease is no longer its to free
    item = await lease_item(aws, herald_settings)
    assert item is not None
    assert item["holder"]["S"] == taken.holder
    await taken.release()
    await taken.release()  # twice is harmless
    assert await lease_item(aws, herald_settings) is None


async def test_above_the_last_stretch_a_slot_costs_no_throttle_table_call(
    aws: AwsClients, herald_settings: HeraldSettings, ses_quota: SesQuota
) -> None:
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    pacer = processor(aws, herald_settings, ses_quota)
    aws.require_dynamodb().meta.events.register("before-call.dynamodb", count)
    await ses_quota.leave(FRESH_BELOW + 1)
    for _ in range(3):
        assert await slot(pacer, max_wait=0.0) == DailySlot(0.0)
    assert calls == []
    await ses_quota.leave(FRESH_BELOW)
    pacer = processor(aws, herald_settings, ses_quota)  # a cache younger than HERALD_SES_QUOTA_INTERVAL
    answer = await slot(pacer, max_wait=0.0)
    assert answer.lease is not None
    await answer.lease.release()
    assert calls == ["PutItem", "DeleteItem"]


class LeasingGate(FakeGate):
    """Every daily slot comes with a lease; what was sent when each was released."""

    def __init__(self, sent: list[Any]) -> None:
        super().__init__({})
        self.released_after: list[int] = []
        self._sent = sent

    async def daily_slot(self, tenant_id: str, domain: str, backlog: int, *, max_wait: float) -> DailySlot:
        await super().daily_slot(tenant_id, domain, backlog, max_wait=max_wait)
        return DailySlot(0.0, QuotaLease(self, "holder"))  # type: ignore[arg-type]

    async def give_back(self, holder: str) -> None:
        self.released_after.append(len(self._sent))


async def test_the_sender_releases_each_lease_once_ses_has_answered(world) -> None:
    gate = LeasingGate(world.sender.sent)
    paced_world(world, gate, 400)
    await world.service().process(job("e1@example.com", "e2@example.com", "e3@example.com"))
    assert len(world.sender.sent) == 3
    assert sorted(gate.released_after) == [1, 2, 3]  # each right after its own SES call, not after the chunk


class StuckGate(LeasingGate):
    """The first daily slot comes with a lease; the next one never answers (the batch is cancelled meanwhile)."""

    def __init__(self, sent: list[Any]) -> None:
        super().__init__(sent)
        self.asked = asyncio.Event()

    async def daily_slot(self, tenant_id: str, domain: str, backlog: int, *, max_wait: float) -> DailySlot:
        if self.backlogs:
            self.asked.set()
            await asyncio.Event().wait()
        return await super().daily_slot(tenant_id, domain, backlog, max_wait=max_wait)


async def test_a_batch_cancelled_between_the_lease_and_the_send_gives_the_lease_back(world) -> None:
    gate = StuckGate(world.sender.sent)
    paced_world(world, gate, 400)
    batch = asyncio.create_task(world.service().process(job("e1@example.com", "e2@example.com")))
    await asyncio.wait_for(gate.asked.wait(), 5.0)  # e1 holds a lease in the chunk being taken; e2 waits for its slot
    batch.cancel()  # the handler's timeout, or a shutdown
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert world.sender.sent == []
    assert gate.released_after == [0]  # given back at once, not left to run out after LEASE_SECONDS


class SlowTable:
    """A throttle table whose writes wait for `answer` (a request out on the wire when the caller is cancelled)."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.deleted: list[str] = []

    async def put_item(self, **_: Any) -> None:
        await self.answer.wait()

    async def delete_item(self, **call: Any) -> None:
        await self.answer.wait()
        self.deleted.append(call["ExpressionAttributeValues"][":me"]["S"])


async def test_a_cancelled_take_or_release_still_frees_the_lease() -> None:
    table = SlowTable()
    leases = QuotaLeases(table, "throttle")  # type: ignore[arg-type]
    taking = asyncio.create_task(leases.take())
    await asyncio.sleep(0.05)
    taking.cancel()  # cancelled while the write is out: the write goes on and may get the lease
    with pytest.raises(asyncio.CancelledError):
        await taking
    table.answer.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(table.deleted) == 1  # it did: given back, not left to run out

    table.answer.clear()
    taken = asyncio.create_task(leases.take())
    await asyncio.sleep(0.05)
    table.answer.set()
    lease = await taken
    assert lease is not None
    table.answer.clear()
    releasing = asyncio.create_task(lease.release())
    await asyncio.sleep(0.05)
    releasing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await releasing
    table.answer.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert table.deleted[1:] == [lease.holder]  # given back all the same, in the background


async def test_releasing_never_raises(
    quota_emulator: Emulator, herald_settings: HeraldSettings, provisioned: Provisioned, aws_session: aioboto3.Session
) -> None:
    # The emulator fails every DynamoDB call (500/503); a client that never retries sees the first.
    settings = HeraldSettings(resource_prefix=herald_settings.resource_prefix, aws_endpoint_url=quota_emulator.url)
    no_retries = Config(retries={"total_max_attempts": 1})
    async with AsyncExitStack() as stack, httpx.AsyncClient(base_url=quota_emulator.url) as control:
        db = (await open_clients(stack, settings, "dynamodb", session=aws_session, config=no_retries)).dynamodb
        (await control.put("/_emulator/faults", json={"dynamodbErrorRate": 1.0})).raise_for_status()
        try:
            await QuotaLease(QuotaLeases(db, settings.resources.throttle_table), "holder").release()  # type: ignore[arg-type]
        finally:
            await control.delete("/_emulator/faults")


class StuckQuota(AccountQuota):
    """SES's quota: 1 left, read from the cache; the fresh read under the lease never answers."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = asyncio.Event()

    async def remaining(self) -> float | None:
        return 1.0

    async def fresh(self) -> float | None:
        self.reading.set()
        await asyncio.Event().wait()
        return None


async def test_a_slot_cancelled_during_its_fresh_read_gives_the_lease_back(
    aws: AwsClients, herald_settings: HeraldSettings
) -> None:
    table, db = herald_settings.resources.throttle_table, aws.require_dynamodb()
    quota = StuckQuota()
    pacer = DailyPacer(DynamoThrottleBucket(db, table), quota, None, leases=QuotaLeases(db, table))
    asking = asyncio.create_task(slot(pacer, max_wait=1.0))
    await asyncio.wait_for(quota.reading.wait(), 5.0)
    assert await lease_item(aws, herald_settings) is not None  # held while SES is read
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    assert await lease_item(aws, herald_settings) is None
