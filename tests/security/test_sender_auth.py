"""Sender authentication: a campaign is sent only from a domain whose SES identity is verified (the emulator's SES)
and which publishes SPF, the SES Easy DKIM CNAMEs and DMARC (a fake zone: a tiny DNS server on 127.0.0.1, read by
the real dnspython adapter). The result is shown on the campaign; `enforce` blocks with a 400, `warn` lets the send
go, `off` (dev's default) checks nothing; prod allows only `enforce`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from herald_campaign.config import Settings
from herald_campaign.senders.identities import SesIdentities
from herald_campaign.senders.service import SenderAuthenticator, SenderAuthMode
from herald_common.dns import DnsLookupFailed, DnspythonResolver
from herald_common.settings import ConfigurationError
from tests.campaign.conftest import drain_jobs, wait_for_fanouts
from tests.security.fake_dns import ZoneServer
from tests.security.guard_support import bearer, campaign_service, campaign_settings, new_campaign

if TYPE_CHECKING:
    from herald_common.aws import AwsClients
    from herald_common.settings import HeraldSettings

pytestmark = pytest.mark.timeout(90)

DOMAIN = "example.com"  # the identity provisioning verifies in the emulator's SES


async def _tokens(aws: AwsClients) -> list[str]:
    answer = await aws.ses.get_identity_dkim_attributes(Identities=[DOMAIN])  # type: ignore[union-attr]
    tokens: list[str] = answer["DkimAttributes"][DOMAIN]["DkimTokens"]
    assert len(tokens) == 3
    return tokens


def _zone(tokens: list[str], *, spf: list[str] | None = None, dmarc: str | None = "v=DMARC1; p=quarantine",
          dkim: int = 3, target: str = "dkim.amazonses.com") -> str:  # fmt: skip
    lines = ["@ 300 IN SOA ns.example.com. hostmaster.example.com. 1 7200 3600 1209600 300", "@ 300 IN NS ns"]
    for record in ["v=spf1 include:amazonses.com ~all"] if spf is None else spf:
        lines.append(f'@ 300 IN TXT "{record}"')
    lines.append('@ 300 IN TXT "google-site-verification=abc"')  # other TXT records are not SPF
    if dmarc is not None:
        lines.append(f'_dmarc 300 IN TXT "{dmarc}"')
    for token in tokens[:dkim]:
        lines.append(f"{token}._domainkey 300 IN CNAME {token}.{target}.")
    return "\n".join(lines) + "\n"


def _resolver(server: ZoneServer) -> DnspythonResolver:
    return DnspythonResolver(lifetime=2.0, nameservers=["127.0.0.1"], port=server.port)


async def _check(aws: AwsClients, zone: str, address: str = f"news@{DOMAIN}") -> dict[str, Any]:
    with ZoneServer(zone, DOMAIN + ".") as server:
        checker = SenderAuthenticator(SenderAuthMode.ENFORCE, SesIdentities(aws.ses), _resolver(server))  # type: ignore[arg-type]
        return (await checker.check(address)).as_item()


async def test_a_domain_with_everything_published_passes(herald_settings: HeraldSettings, aws: AwsClients) -> None:
    result = await _check(aws, _zone(await _tokens(aws)))
    assert result["status"] == "pass", result
    assert {name: c["status"] for name, c in result["checks"].items()} == {
        "identity": "pass", "spf": "pass", "dkim": "pass", "dmarc": "pass",
    }  # fmt: skip
    assert result["checks"]["spf"]["detail"] == "v=spf1 include:amazonses.com ~all"


@pytest.mark.parametrize(
    ("zone_args", "failed", "words"),
    [
        ({"spf": []}, "spf", "no SPF record"),
        ({"spf": ["v=spf1 -all", "v=spf1 include:amazonses.com ~all"]}, "spf", "2 SPF records"),
        ({"dmarc": None}, "dmarc", "no DMARC record"),
        ({"dmarc": "v=DMARC1; rua=mailto:x@example.com"}, "dmarc", "no valid p= policy"),
        ({"dkim": 2}, "dkim", "._domainkey.example.com"),
        ({"target": "dkim.elsewhere.test"}, "dkim", "no CNAME to dkim.amazonses.com"),
    ],
)
async def test_each_missing_record_fails_its_own_check(
    herald_settings: HeraldSettings, aws: AwsClients, zone_args: dict[str, Any], failed: str, words: str
) -> None:
    result = await _check(aws, _zone(await _tokens(aws), **zone_args))
    assert result["status"] == "fail"
    assert [name for name, c in result["checks"].items() if c["status"] != "pass"] == [failed]
    assert words in result["checks"][failed]["detail"]


async def test_an_unverified_identity_fails(herald_settings: HeraldSettings, aws: AwsClients) -> None:
    result = await _check(aws, _zone(await _tokens(aws)), address="news@unverified.example.com")
    assert result["checks"]["identity"]["status"] == "fail"
    assert "unverified.example.com" in result["checks"]["identity"]["detail"]
    assert result["checks"]["dkim"]["status"] == "fail"  # SES has no Easy DKIM tokens for it either


async def test_a_dns_that_does_not_answer_is_an_error_not_a_pass(
    herald_settings: HeraldSettings, aws: AwsClients
) -> None:
    silent = DnspythonResolver(lifetime=0.5, nameservers=["127.0.0.1"], port=9)  # nothing listens there
    with pytest.raises(DnsLookupFailed):
        await silent.txt(DOMAIN)
    checker = SenderAuthenticator(SenderAuthMode.ENFORCE, SesIdentities(aws.ses), silent)  # type: ignore[arg-type]
    result = await checker.check(f"news@{DOMAIN}")
    assert result.status == "fail"
    assert {c.name: c.status for c in result.checks} == {
        "identity": "pass",
        "spf": "error",
        "dkim": "error",
        "dmarc": "error",
    }


# --- on the campaign ------------------------------------------------------------------------------------------------
async def _sendable(client: Any, headers: dict[str, str]) -> str:
    created = await new_campaign(client, headers, recipients=[{"email": "a@example.org"}, {"email": "b@example.org"}])
    return str(created["campaignId"])


async def test_enforce_blocks_a_failing_domain_with_a_clear_400_and_shows_why(
    herald_settings: HeraldSettings, aws: AwsClients
) -> None:
    tokens = await _tokens(aws)
    settings = campaign_settings(herald_settings, sender_auth="enforce")
    headers = bearer(settings)
    with ZoneServer(_zone(tokens, dmarc=None), DOMAIN + ".") as broken:
        async with campaign_service(settings, dns_resolver=_resolver(broken)) as (app, client):
            cid = await _sendable(client, headers)
            live = await client.get(f"/campaigns/{cid}/sender-authentication", headers=headers)
            assert live.status_code == 200
            assert live.json()["status"] == "fail"
            refused = await client.post(f"/campaigns/{cid}/send", json={}, headers=headers)
            assert refused.status_code == 400
            assert refused.json()["error"] == "SenderNotAuthenticated"
            assert "_dmarc.example.com has no DMARC record" in refused.json()["detail"]
            campaign = (await client.get(f"/campaigns/{cid}", headers=headers)).json()
            assert campaign["status"] == "draft"
            assert campaign["senderAuthentication"]["status"] == "fail"
            assert campaign["senderAuthentication"]["mode"] == "enforce"
            assert campaign["senderAuthentication"]["checks"]["dmarc"]["status"] == "fail"
            assert await drain_jobs(aws, settings) == []  # nothing was queued
    with ZoneServer(_zone(tokens), DOMAIN + ".") as fixed:
        async with campaign_service(settings, dns_resolver=_resolver(fixed)) as (app, client):
            sent = await client.post(f"/campaigns/{cid}/send", json={}, headers=headers)
            assert sent.status_code == 202, sent.text
            await wait_for_fanouts(app)
            campaign = (await client.get(f"/campaigns/{cid}", headers=headers)).json()
            assert campaign["senderAuthentication"]["status"] == "pass"
            assert len(await drain_jobs(aws, settings)) == 1


async def test_warn_lets_a_failing_domain_send_and_records_it(herald_settings: HeraldSettings, aws: AwsClients) -> None:
    settings = campaign_settings(herald_settings, sender_auth="warn")
    headers = bearer(settings)
    with ZoneServer(_zone(await _tokens(aws), spf=[]), DOMAIN + ".") as broken:
        async with campaign_service(settings, dns_resolver=_resolver(broken)) as (app, client):
            cid = await _sendable(client, headers)
            sent = await client.post(f"/campaigns/{cid}/send", json={}, headers=headers)
            assert sent.status_code == 202
            await wait_for_fanouts(app)
            shown = (await client.get(f"/campaigns/{cid}", headers=headers)).json()["senderAuthentication"]
            assert (shown["status"], shown["mode"], shown["checks"]["spf"]["status"]) == ("fail", "warn", "fail")


async def test_off_checks_nothing(herald_settings: HeraldSettings, aws: AwsClients) -> None:
    settings = campaign_settings(herald_settings)  # dev default
    assert settings.sender_auth_mode is SenderAuthMode.OFF
    headers = bearer(settings)
    with ZoneServer(_zone(await _tokens(aws)), DOMAIN + ".") as server:
        async with campaign_service(settings, dns_resolver=_resolver(server)) as (app, client):
            cid = await _sendable(client, headers)
            assert (await client.post(f"/campaigns/{cid}/send", json={}, headers=headers)).status_code == 202
            await wait_for_fanouts(app)
            shown = (await client.get(f"/campaigns/{cid}", headers=headers)).json()["senderAuthentication"]
            assert shown["status"] == "skipped"
        assert server.questions == []


def test_prod_enforces_and_refuses_anything_else() -> None:
    secrets = {"jwt_secret": "s" * 40, "unsubscribe_secret": "u" * 40}
    assert Settings(env="prod", **secrets).sender_auth_mode is SenderAuthMode.ENFORCE
    for mode in ("warn", "off"):
        with pytest.raises(ConfigurationError):
            Settings(env="prod", sender_auth=mode, **secrets)
