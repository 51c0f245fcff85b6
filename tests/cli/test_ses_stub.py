"""The bench's SES stub answers real aiobotocore SES v2 and v1 sends, and the harness merges results by name."""

import json
from contextlib import AsyncExitStack

import httpx
import pytest

from bench.run import campaign_message, measure_calls, write_results
from bench.ses_stub import running_stub
from herald_common.aws import open_clients
from herald_common.settings import HeraldSettings


@pytest.fixture(scope="module")
def stub_url():
    with running_stub(timeout=120) as url:  # a start on a busy machine: the timeout only ends a hung one
        yield url


async def test_sesv2_send_email_gets_a_message_id(stub_url):
    settings = HeraldSettings(resource_prefix="bench", aws_endpoint_url=stub_url)
    async with AsyncExitStack() as stack:
        sesv2 = (await open_clients(stack, settings, "sesv2")).sesv2
        answer = await sesv2.send_email(
            FromEmailAddress="news@example.com",
            Destination={"ToAddresses": ["user1@example.com"]},
            Content={"Raw": {"Data": campaign_message()}},
            ConfigurationSetName="bench-events",
            EmailTags=[{"Name": "herald-tenant", "Value": "acme"}],
        )
    assert answer["MessageId"]
    assert httpx.get(f"{stub_url}/_stub/counts").json()["v2"] >= 1


async def test_ses_v1_send_raw_email_gets_a_message_id(stub_url):
    settings = HeraldSettings(resource_prefix="bench", aws_endpoint_url=stub_url)
    async with AsyncExitStack() as stack:
        ses = (await open_clients(stack, settings, "ses")).ses
        answer = await ses.send_raw_email(
            Source="news@example.com",
            Destinations=["user1@example.com"],
            RawMessage={"Data": campaign_message()},
            ConfigurationSetName="bench-events",
            Tags=[{"Name": "herald-tenant", "Value": "acme"}],
        )
        assert answer["MessageId"]
        assert httpx.get(f"{stub_url}/_stub/counts").json()["v1"] >= 1
        # Any other v1 action is an error in SES's XML shape, which botocore parses into a ClientError.
        with pytest.raises(ses.exceptions.ClientError, match="InvalidAction"):
            await ses.get_send_quota()


async def test_measure_calls_counts_every_call_and_error():
    seen = []

    async def call(i):
        seen.append(i)
        if i % 10 == 0:
            raise RuntimeError("boom")

    result = await measure_calls(call, calls=200, concurrency=8)
    assert sorted(seen[-200:]) == list(range(200))  # the warm-up runs first; then each measured index once
    assert result["calls"] == 200
    assert result["errors"] == 20


def test_results_are_merged_by_benchmark_name(tmp_path):
    path = tmp_path / "latest.json"
    write_results({"a": {"x": 1}, "b": {"x": 2}}, {"cpus": 2}, path)
    write_results({"b": {"x": 3}}, {"cpus": 4}, path)
    document = json.loads(path.read_text())
    assert document["benchmarks"] == {"a": {"x": 1}, "b": {"x": 3}}
    assert document["machine"] == {"cpus": 4}
    assert "ranAt" in document
