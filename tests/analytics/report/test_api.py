"""`GET /campaigns/{id}/report`: pages by state, the summary, the CSV, tenant scoping; against the emulator."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from herald_analytics import ledger_pages
from herald_common.auth import mint_token

CAMPAIGN = "camp_0123456789abcdefghij"
URL = f"/campaigns/{CAMPAIGN}/report"
SENT_AT = "2026-12-01T10:00:00Z"
HEADER = ["email", "state", "messageId", "attempts", "reason", "sentAt", "updatedAt"]


def _auth(harness, tenant: str = "acme", role: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(harness.settings, tenant_id=tenant, roles=[role])}"}


async def _row(harness, email: str, attempt: int | None = None, **values: str) -> None:
    item: dict[str, Any] = {"campaignKey": {"S": f"acme#{CAMPAIGN}"}, "email": {"S": email}}
    item |= {name: {"S": value} for name, value in values.items()}
    if attempt is not None:
        item["attempt"] = {"N": str(attempt)}
    await harness.dynamodb.put_item(TableName=harness.settings.resources.ledger_table, Item=item)


async def _seed(harness) -> None:
    await harness.seed_campaign(
        recipientCount=7, finalCount=5, sentCount=3, failedCount=1, unknownCount=1, sesSendEventCount=2
    )
    for i in range(3):
        email = f"s{i}@example.com"
        at = {"sentAt": SENT_AT, "updatedAt": "2026-12-01T10:00:01Z", "sendEventAt": SENT_AT}
        await _row(harness, email, 1, state="sent", messageId=f"m-{i}", delivery="delivered", **at)
    await _row(harness, "f@example.com", 2, state="failed", reason="=1+1", updatedAt="2026-12-01T10:00:02Z")
    await _row(harness, "u@example.com", 1, state="unknown", reason="lease_expired")
    await _row(harness, "p@example.com")  # not claimed yet: no state
    await _row(harness, "=1+1@example.com", 1, state="sending")


async def test_report_pages_filter_by_states_and_summarise_the_whole_campaign(harness):
    await _seed(harness)
    async with harness.running() as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as client:
            pages: list[dict[str, Any]] = []
            params: dict[str, Any] = {"state": ["sent", "failed"], "limit": 2}
            while len(pages) < 5:
                response = await client.get(URL, params=params, headers=_auth(harness))
                assert response.status_code == 200, response.text
                pages.append(response.json())
                if not pages[-1]["nextCursor"]:
                    break
                params["cursor"] = pages[-1]["nextCursor"]
            pending = (await client.get(URL, params={"state": "pending"}, headers=_auth(harness))).json()
            everyone = (await client.get(URL, headers=_auth(harness))).json()

    assert [len(p["items"]) for p in pages] == [2, 2]
    assert not any(p["scanLimited"] for p in pages)
    assert sum(len(p["items"]) for p in pages) == 4
    assert pages[-1]["nextCursor"] is None
    assert [i["email"] for p in pages for i in p["items"]] == [
        "f@example.com", "s0@example.com", "s1@example.com", "s2@example.com",
    ]  # fmt: skip
    assert pages[0]["items"][0] == {
        "email": "f@example.com",
        "state": "failed",
        "messageId": None,
        "attempts": 2,
        "reason": "=1+1",  # JSON is data: only the CSV neutralises
        "sentAt": None,
        "updatedAt": "2026-12-01T10:00:02Z",
    }
    assert pages[1]["items"][0]["messageId"] == "m-1"
    assert [(i["email"], i["state"], i["attempts"]) for i in pending["items"]] == [("p@example.com", "pending", 0)]
    assert len(everyone["items"]) == 7
    assert everyone["nextCursor"] is None
    # From the counters: 7 stored, 5 final → 2 not final; 3 sent of which 2 have a Send event; 1 unknown.
    assert everyone["summary"] == {
        "pending": 2, "sent": 3, "failed": 1, "suppressed": 0, "invalid": 0, "unknown": 1, "cancelled": 0,
        "sesSendEvents": 2, "reconciled": 2, "inDoubt": 2,
    }  # fmt: skip
    assert pages[0]["summary"] == everyone["summary"]  # the filter narrows the items, not the summary


async def _walk(client: httpx.AsyncClient, harness, params: dict[str, Any]) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    while len(pages) < 50:
        response = await client.get(URL, params=params, headers=_auth(harness))
        assert response.status_code == 200, response.text
        pages.append(response.json())
        if not pages[-1]["nextCursor"]:
            return pages
        params = {**params, "cursor": pages[-1]["nextCursor"]}
    raise AssertionError("the walk did not end")


async def _sparse(harness) -> None:
    """60 sent recipients, then (in address order) the 3 that failed."""
    await harness.seed_campaign(recipientCount=63, finalCount=63, sentCount=60, failedCount=3)
    for i in range(60):
        await _row(harness, f"a{i:02d}@example.com", 1, state="sent", messageId=f"m-{i}")
    for i in range(3):
        await _row(harness, f"z{i}@example.com", 1, state="failed", reason="render_error")


async def test_a_sparse_filter_reads_on_past_the_rows_it_skips_to_fill_its_page(harness):
    await _sparse(harness)
    async with harness.running() as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as client:
            pages = await _walk(client, harness, {"state": "failed", "limit": 5})

    # One page with every match, and no cursor to an empty page: the 60 rows it skipped are more than 5 pages' worth.
    assert [[i["email"] for i in p["items"]] for p in pages] == [["z0@example.com", "z1@example.com", "z2@example.com"]]
    assert pages[0]["nextCursor"] is None
    assert pages[0]["scanLimited"] is False


async def test_a_page_the_read_bound_cut_short_says_so_and_the_walk_goes_on(harness, monkeypatch):
    monkeypatch.setattr(ledger_pages, "FILTERED_READ_ROWS", 10)
    monkeypatch.setattr(ledger_pages, "MAX_QUERY_CALLS_PER_PAGE", 2)  # a page reads at most 20 rows
    await _sparse(harness)
    async with harness.running() as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as client:
            pages = await _walk(client, harness, {"state": "failed", "limit": 2})

    assert [(len(p["items"]), p["scanLimited"]) for p in pages] == [
        (0, True), (0, True), (0, True), (2, False), (1, False),
    ]  # fmt: skip
    assert [i["email"] for p in pages for i in p["items"]] == ["z0@example.com", "z1@example.com", "z2@example.com"]
    # A page is short only when it says so, or on the last page.
    assert all(len(p["items"]) == 2 or p["scanLimited"] or p is pages[-1] for p in pages)


async def test_report_csv_streams_every_row_with_formula_cells_neutralised(harness):
    await _seed(harness)
    async with harness.running() as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as client:
            whole = await client.get(URL, params={"limit": 1}, headers=_auth(harness) | {"Accept": "text/csv"})
            failed = await client.get(URL, params={"state": "failed"}, headers=_auth(harness) | {"Accept": "text/csv"})

    assert whole.status_code == 200
    assert whole.headers["content-type"].startswith("text/csv")
    assert whole.headers["content-disposition"] == f'attachment; filename="{CAMPAIGN}-report.csv"'
    table = list(csv.reader(io.StringIO(whole.text)))
    assert table[0] == HEADER
    rows = {r[0]: r for r in table[1:]}
    assert len(table) == 8  # `limit` pages JSON; the CSV is the whole report
    assert rows["'=1+1@example.com"][1:4] == ["sending", "", "1"]
    assert rows["f@example.com"] == ["f@example.com", "failed", "", "2", "'=1+1", "", "2026-12-01T10:00:02Z"]
    assert rows["s0@example.com"] == [
        "s0@example.com", "sent", "m-0", "1", "", "2026-12-01T10:00:00Z", "2026-12-01T10:00:01Z",
    ]  # fmt: skip
    assert rows["p@example.com"][1:4] == ["pending", "", "0"]
    assert [r[0] for r in csv.reader(io.StringIO(failed.text))] == ["email", "f@example.com"]


async def test_report_is_tenant_scoped_and_checks_its_input(harness):
    await _seed(harness)
    async with harness.running() as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as client:
            other = await client.get(URL, headers=_auth(harness, "globex"))
            other_csv = await client.get(URL, headers=_auth(harness, "globex") | {"Accept": "text/csv"})
            bad_state = await client.get(URL, params={"state": "lost"}, headers=_auth(harness))
            bad_cursor = await client.get(URL, params={"cursor": "bm9wZQ"}, headers=_auth(harness))
            too_many = await client.get(URL, params={"limit": 5000}, headers=_auth(harness))
            anonymous = await client.get(URL)
            missing = await client.get("/campaigns/camp_ffffffffffffffffffff/report", headers=_auth(harness))

    assert (other.status_code, other.json()["error"]) == (404, "CampaignNotFound")
    assert (other_csv.status_code, other_csv.json()["error"]) == (404, "CampaignNotFound")
    assert bad_state.status_code == 422
    assert bad_state.json()["error"] == "ValidationError"
    assert (bad_cursor.status_code, bad_cursor.json()["error"]) == (400, "InvalidPageToken")
    assert too_many.status_code == 422
    assert anonymous.status_code == 401
    assert missing.status_code == 404
