"""`Idempotency-Key` on the creating POST routes: replays, reuse with another body, concurrent duplicates, and what
is never kept; the route app over ASGITransport against the emulator (keys live in `{prefix}-idempotency`)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import pytest

from herald_campaign.idempotency.rules import (
    IdempotencyRecord,
    RecordState,
    StoredAnswer,
    Verdict,
    judge,
    worth_keeping,
)
from tests.campaign.conftest import create_campaign

if TYPE_CHECKING:
    import httpx

    from tests.campaign.conftest import Tokens

BODY = {"name": "Spring sale", "templateId": "newsletter", "fromAddress": "news@example.com"}


async def _campaign_names(client: httpx.AsyncClient, auth: Tokens) -> list[str]:
    listed = (await client.get("/campaigns", headers=auth())).json()
    return [c["name"] for c in listed["campaigns"]]


async def test_same_key_and_body_replays_the_first_answer(client: httpx.AsyncClient, auth: Tokens) -> None:
    headers = auth() | {"Idempotency-Key": "create-1"}
    first = await client.post("/campaigns", json=BODY, headers=headers)
    again = await client.post("/campaigns", json=BODY, headers=headers)

    assert first.status_code == 201
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _campaign_names(client, auth) == ["Spring sale"]  # one campaign, not two


async def test_same_key_with_another_body_is_refused(client: httpx.AsyncClient, auth: Tokens) -> None:
    headers = auth() | {"Idempotency-Key": "create-2"}
    assert (await client.post("/campaigns", json=BODY, headers=headers)).status_code == 201
    other = await client.post("/campaigns", json=BODY | {"name": "Autumn"}, headers=headers)
    elsewhere = await client.post(f"/campaigns/{'camp_' + '0' * 20}/send", json={}, headers=headers)

    assert other.status_code == 422
    assert other.json() == {"error": "IdempotencyKeyReused", "detail": other.json()["detail"]}
    assert elsewhere.json()["error"] == "IdempotencyKeyReused"  # another route is another request
    assert await _campaign_names(client, auth) == ["Spring sale"]


async def test_keys_belong_to_a_tenant(client: httpx.AsyncClient, auth: Tokens) -> None:
    key = {"Idempotency-Key": "shared-key"}
    acme = await client.post("/campaigns", json=BODY, headers=auth() | key)
    globex = await client.post("/campaigns", json=BODY, headers=auth("globex") | key)
    assert (acme.status_code, globex.status_code) == (201, 201)
    assert acme.json()["campaignId"] != globex.json()["campaignId"]


async def test_concurrent_duplicates_create_one_campaign(client: httpx.AsyncClient, auth: Tokens) -> None:
    headers = auth() | {"Idempotency-Key": "race"}
    answers = await asyncio.gather(*(client.post("/campaigns", json=BODY, headers=headers) for _ in range(6)))

    created = {a.json()["campaignId"] for a in answers if a.status_code == 201}
    assert len(created) == 1
    assert {a.status_code for a in answers} <= {201, 409}
    busy = [a for a in answers if a.status_code == 409]
    assert all(a.json()["error"] == "IdempotencyKeyInProgress" and a.headers["retry-after"] == "1" for a in busy)
    assert await _campaign_names(client, auth) == ["Spring sale"]


async def test_recipients_upload_and_send_replay(client: httpx.AsyncClient, auth: Tokens) -> None:
    cid = (await create_campaign(client, auth()))["campaignId"]
    upload = "email\nada@example.com\nbob@example.com\n"
    csv_headers = auth() | {"Content-Type": "text/csv", "Idempotency-Key": "upload-1"}
    first = await client.post(f"/campaigns/{cid}/recipients", content=upload, headers=csv_headers)
    again = await client.post(f"/campaigns/{cid}/recipients", content=upload, headers=csv_headers)
    assert first.json() == {"accepted": 2, "invalid": 0, "duplicates": 0, "total": 2}
    assert (again.status_code, again.json()) == (first.status_code, first.json())  # not "2 duplicates"
    view = (await client.get(f"/campaigns/{cid}", headers=auth())).json()
    assert view["counts"]["accepted"] == 2

    send_headers = auth() | {"Idempotency-Key": "send-1"}
    now = {"sendAt": "immediate"}
    sent = await client.post(f"/campaigns/{cid}/send", json=now, headers=send_headers)
    resent = await client.post(f"/campaigns/{cid}/send", json=now, headers=send_headers)
    plain_retry = await client.post(f"/campaigns/{cid}/send", json=now, headers=auth())
    assert sent.status_code == 202
    assert (resent.status_code, resent.json()) == (202, sent.json())  # a retried send is not a 409
    assert plain_retry.status_code == 409  # without the key the second send is refused as before


async def test_refusals_of_the_caller_are_not_kept(client: httpx.AsyncClient, auth: Tokens) -> None:
    key = {"Idempotency-Key": "viewer-first"}
    refused = await client.post("/campaigns", json=BODY, headers=auth(role="viewer") | key)
    allowed = await client.post("/campaigns", json=BODY, headers=auth() | key)
    assert (refused.status_code, allowed.status_code) == (403, 201)


async def test_bad_keys_and_callers_without_a_token(client: httpx.AsyncClient, auth: Tokens) -> None:
    too_long = await client.post("/campaigns", json=BODY, headers=auth() | {"Idempotency-Key": "k" * 256})
    spaced = await client.post("/campaigns", json=BODY, headers=auth() | {"Idempotency-Key": "a key"})
    anonymous = await client.post("/campaigns", json=BODY, headers={"Idempotency-Key": "anon"})
    assert (too_long.status_code, too_long.json()["error"]) == (400, "InvalidIdempotencyKey")
    assert spaced.status_code == 400
    assert anonymous.status_code == 401


async def test_a_validation_error_is_an_answer_and_is_replayed(client: httpx.AsyncClient, auth: Tokens) -> None:
    headers = auth() | {"Idempotency-Key": "bad-body"}
    first = await client.post("/campaigns", json={"name": ""}, headers=headers)
    again = await client.post("/campaigns", json={"name": ""}, headers=headers)
    assert first.status_code == 422
    assert (again.status_code, again.json()) == (422, first.json())
    assert again.headers["idempotent-replayed"] == "true"


async def test_the_record_expires_after_a_day(app, client: httpx.AsyncClient, auth: Tokens) -> None:
    headers = auth() | {"Idempotency-Key": "old"}
    first = await client.post("/campaigns", json=BODY, headers=headers)
    store = app.state.idempotency_store
    record = await store.get("acme", "old")
    assert record is not None
    assert record.state is RecordState.COMPLETED
    assert json.loads(record.answer.body) == first.json()
    assert judge(record, record.fingerprint, record.expires_at - 1) is Verdict.REPLAY
    assert judge(record, record.fingerprint, record.expires_at) is Verdict.CLAIM  # TTL: DynamoDB removes it later


@pytest.mark.parametrize(
    ("record", "fp", "verdict"),
    [
        (None, None, Verdict.CLAIM),
        (IdempotencyRecord(RecordState.IN_PROGRESS, expires_at=200, lease_until=150), "f", Verdict.IN_PROGRESS),
        (IdempotencyRecord(RecordState.IN_PROGRESS, expires_at=200, lease_until=100), "f", Verdict.ABANDONED),
        (IdempotencyRecord(RecordState.COMPLETED, 200, fingerprint="f", answer=StoredAnswer(201, b"{}", "j")), "f",
         Verdict.REPLAY),
        (IdempotencyRecord(RecordState.COMPLETED, 200, fingerprint="f", answer=StoredAnswer(201, b"{}", "j")), "g",
         Verdict.REUSED),
    ],
)  # fmt: skip
def test_judge(record: IdempotencyRecord | None, fp: str | None, verdict: Verdict) -> None:
    assert judge(record, fp, now=120) is verdict


def test_what_is_worth_keeping() -> None:
    assert all(worth_keeping(s, b"{}") for s in (200, 201, 202, 400, 404, 409, 422))
    assert not any(worth_keeping(s, b"{}") for s in (401, 403, 429, 500, 503))
    assert not worth_keeping(201, b"x" * (64 * 1024 + 1))
