"""GET /campaigns/{id}/invalid: the rows refused at intake, stored in S3 and streamed back."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING

import pytest

from herald_campaign.config import Settings
from tests.campaign.conftest import create_campaign

if TYPE_CHECKING:
    import httpx

    from tests.campaign.conftest import Tokens


@pytest.fixture
def campaign_settings(campaign_settings: Settings) -> Settings:
    # Tiny parts, so the invalid rows of one upload spread over several files.
    return Settings(**(campaign_settings.model_dump() | {"recipients_per_part": 2}))


async def test_invalid_rows_of_every_intake_come_back_in_order(client: httpx.AsyncClient, auth: Tokens) -> None:
    cid = (await create_campaign(client, auth(), recipients=["ok@example.com", "broken"]))["campaignId"]
    big = {"big": "x" * 3000}
    items = [{"email": "x@example.com", "data": "not a map"}, {"data": {}}, {"email": "y@example.com", "data": big}]
    json_upload = await client.post(f"/campaigns/{cid}/recipients", json={"recipients": items}, headers=auth())
    assert json_upload.json()["invalid"] == 3
    upload = "email,first_name\nbad1,Ada\ngood@example.com,Bob\nbad2,\n@nope,Cy\nok@example.com,Dup\n"
    response = await client.post(
        f"/campaigns/{cid}/recipients", content=upload, headers=auth() | {"Content-Type": "text/csv"}
    )
    assert response.json() == {"accepted": 1, "invalid": 3, "duplicates": 1, "total": 5}

    lines = await client.get(f"/campaigns/{cid}/invalid", headers=auth(role="viewer"))
    assert lines.status_code == 200
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in lines.text.splitlines()]
    assert rows == [
        {"row": 2, "email": "broken", "reason": "invalid_address"},
        {"row": 1, "email": "x@example.com", "reason": "invalid_data", "data": "not a map"},
        {"row": 2, "email": None, "reason": "missing_email"},
        {"row": 3, "email": "y@example.com", "reason": "data_too_large", "data": big},
        {"row": 1, "email": "bad1", "reason": "invalid_address", "data": {"first_name": "Ada"}},
        {"row": 3, "email": "bad2", "reason": "invalid_address", "data": {"first_name": ""}},
        {"row": 4, "email": "@nope", "reason": "invalid_address", "data": {"first_name": "Cy"}},
    ]
    view = (await client.get(f"/campaigns/{cid}", headers=auth())).json()
    assert view["counts"]["invalid"] == len(rows)

    as_csv = await client.get(f"/campaigns/{cid}/invalid", params={"format": "csv"}, headers=auth())
    assert as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["row"], r["email"], r["reason"]) for r in table][4:] == [
        ("1", "bad1", "invalid_address"),
        ("3", "bad2", "invalid_address"),
        ("4", "'@nope", "invalid_address"),
    ]  # fmt: skip  (a cell starting with @ is neutralised: tests/common/test_csv_export.py)
    assert json.loads(table[4]["data"]) == {"first_name": "Ada"}
    accept = await client.get(f"/campaigns/{cid}/invalid", headers=auth() | {"Accept": "text/csv"})
    assert accept.text == as_csv.text


async def test_invalid_rows_are_tenant_scoped_and_empty_when_all_valid(client: httpx.AsyncClient, auth: Tokens) -> None:
    cid = (await create_campaign(client, auth(), recipients=["a@example.com"]))["campaignId"]
    assert (await client.get(f"/campaigns/{cid}/invalid", headers=auth())).text == ""
    other = await client.get(f"/campaigns/{cid}/invalid", headers=auth("globex", "admin"))
    assert (other.status_code, other.json()["error"]) == (404, "CampaignNotFound")
    assert (await client.get(f"/campaigns/{cid}/invalid")).status_code == 401


async def test_a_refused_formula_row_comes_back_neutralised_in_the_csv(client: httpx.AsyncClient, auth: Tokens) -> None:
    upload = 'email,note\n=1+1,"=HYPERLINK(""https://evil.example"",""x"")"\n'
    cid = (await create_campaign(client, auth()))["campaignId"]
    response = await client.post(
        f"/campaigns/{cid}/recipients", content=upload, headers=auth() | {"Content-Type": "text/csv"}
    )
    assert response.json()["invalid"] == 1
    as_csv = await client.get(f"/campaigns/{cid}/invalid", params={"format": "csv"}, headers=auth())
    (row,) = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert row["email"] == "'=1+1"
    # The data cell is JSON (it starts with `{`), so the formula inside it is inert text.
    assert json.loads(row["data"]) == {"note": '=HYPERLINK("https://evil.example","x")'}
