"""The campaign service's decisions: create, read, add recipients, send, and the status transitions."""

from __future__ import annotations

import dataclasses
import math
import re
import time
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from herald_campaign.campaigns.errors import (
    CampaignIdMismatch,
    CampaignNotDraft,
    CampaignNotFound,
    CampaignNotRetryable,
    CampaignNotTestable,
    RecipientLimitExceeded,
    RetryInProgress,
    TestSendLimitExceeded,
)
from herald_campaign.campaigns.intake import AddressSet, IntakeCounts, RecipientFilter, address_key, invalid_row
from herald_campaign.campaigns.models import Campaign, CampaignStatus, iso, new_campaign_id, utc_now
from herald_campaign.campaigns.rules import (
    RETRYABLE_STATUSES,
    TRANSITIONS,
    CampaignAction,
    check_sendable,
    plan_send,
    transition_target,
)
from herald_campaign.campaigns.testsend import (
    TESTABLE_STATUSES,
    HeaderInjection,
    build_test_message,
    herald_test_tags,
    unsubscribe_link,
)
from herald_campaign.dynamo import decode_page_token, encode_page_token
from herald_campaign.senders.service import refusal
from herald_common.errors import Conflict, PayloadTooLarge

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator

    from herald_campaign.campaigns.fanout import FanoutRunner, FanoutSupervisor
    from herald_campaign.campaigns.intake import Recipient
    from herald_campaign.campaigns.ports import (
        CampaignStore,
        RecipientStore,
        RetryStore,
        SuppressionLookup,
        TemplateCatalog,
        TestMailer,
        TestSendQuota,
    )
    from herald_campaign.campaigns.retry import RetryRunner
    from herald_campaign.campaigns.schemas import CampaignCreate, CampaignUpdate, SendRequest, TestSendRequest
    from herald_campaign.senders.service import SenderAuthentication, SenderAuthenticator
    from herald_common.auth import Principal

log = structlog.get_logger("herald.campaign")

_CAMPAIGN_ID = re.compile(r"^camp_[a-z0-9]{20}$")


class CampaignService:
    def __init__(
        self,
        *,
        store: CampaignStore,
        recipients: RecipientStore,
        templates: TemplateCatalog,
        runner: FanoutRunner,
        supervisor: FanoutSupervisor,
        batch_size: int,
        max_inline_recipients: int,
        max_upload_recipients: int,
        recipients_per_part: int,
        retries: RetryRunner | None = None,
        retry_store: RetryStore | None = None,
        mailer: TestMailer | None = None,
        public_url: str = "",
        max_campaign_recipients: int | None = None,
        senders: SenderAuthenticator | None = None,
        suppressions: SuppressionLookup | None = None,
        test_quota: TestSendQuota | None = None,
        unsubscribe_secret: str = "",
    ) -> None:
        self._store = store
        self._recipients = recipients
        self._templates = templates
        self._runner = runner
        self._supervisor = supervisor
        self._batch_size = batch_size
        self._max_inline = max_inline_recipients
        self._max_upload = max_upload_recipients
        self._per_part = recipients_per_part
        self._retries = retries
        self._retry_store = retry_store
        self._mailer = mailer
        self._public_url = public_url.rstrip("/")
        self._max_campaign = max_campaign_recipients
        self._senders = senders
        self._suppressions = suppressions
        self._test_quota = test_quota
        self._unsubscribe_secret = unsubscribe_secret

    async def get(self, tenant_id: str, campaign_id: str) -> Campaign:
        """The tenant's campaign; another tenant's id is as unknown as a missing one."""
        campaign = await self._store.get(tenant_id, campaign_id) if _CAMPAIGN_ID.match(campaign_id) else None
        if campaign is None:
            raise CampaignNotFound(f"Campaign '{campaign_id}' does not exist.")
        return campaign

    async def list_page(
        self, tenant_id: str, *, status: CampaignStatus | None, limit: int, next_token: str | None
    ) -> tuple[list[Campaign], str | None]:
        start = decode_page_token(next_token, tenant_id=tenant_id, keys=("tenantId", "campaignId"))
        campaigns, last = await self._store.list_page(tenant_id, status=status, limit=limit, start_key=start)
        return campaigns, encode_page_token(last)

    async def create(self, tenant_id: str, body: CampaignCreate) -> Campaign:
        """A draft; inline recipients are filtered and stored as its first part before the row is written."""
        if len(body.recipients) > self._max_inline:
            raise PayloadTooLarge(
                f"At most {self._max_inline} recipients inline; upload more with POST /campaigns/{{id}}/recipients."
            )
        now = iso(utc_now())
        campaign_id = new_campaign_id()
        admitted = RecipientFilter()
        accepted: list[Recipient] = []
        refused: list[dict[str, Any]] = []
        for position, item in enumerate(body.recipients, start=1):
            plain = _plain(item)
            if (recipient := admitted.admit(plain)) is not None:
                accepted.append(recipient)
            elif admitted.counts.invalid > len(refused):
                refused.append(invalid_row(position, plain))
        self._check_campaign_size(0, len(accepted))
        if accepted:
            await self._recipients.write_part(tenant_id, campaign_id, 1, accepted)
        if refused:
            await self._recipients.write_invalid(tenant_id, campaign_id, 1, refused)
        campaign = Campaign(
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            name=body.name,
            template_id=body.template_id,
            from_address=body.from_address,
            from_name=body.from_name,
            reply_to=body.reply_to,
            tags=body.tags,
            created_at=now,
            updated_at=now,
            recipient_parts=1 if accepted else 0,
            recipient_count=admitted.counts.accepted,
            intake_invalid_count=admitted.counts.invalid,
            duplicate_count=admitted.counts.duplicates,
            invalid_parts=1 if refused else 0,
        )
        await self._store.create(campaign)
        log.info("campaign.created", tenantId=tenant_id, campaignId=campaign_id, recipients=len(accepted))
        return campaign

    async def add_recipients(self, tenant_id: str, campaign_id: str, items: AsyncIterable[Any]) -> IntakeCounts:
        """Append an uploaded list to a draft, de-duplicated against what it already holds.

        Memory: one part of new recipients plus one key per address of the campaign (existing and new). Two uploads
        into one campaign at the same time are each de-duplicated against the stored parts, not against each other.
        """
        campaign = await self.get(tenant_id, campaign_id)
        if campaign.status is not CampaignStatus.DRAFT:
            raise CampaignNotDraft(f"Recipients can only be added to a draft; this one is {campaign.status.value}.")
        seen = AddressSet()
        async for r in self._recipients.iter_recipients(tenant_id, campaign_id, campaign.recipient_parts):
            seen.add(address_key(r.email))
        admitted = RecipientFilter(seen)
        written: list[int] = []
        written_invalid: list[int] = []
        buffer: list[Recipient] = []
        refused: list[dict[str, Any]] = []
        try:
            async for item in items:
                if admitted.counts.total >= self._max_upload:
                    raise PayloadTooLarge(f"At most {self._max_upload} recipients per upload.")
                invalid_before = admitted.counts.invalid
                recipient = admitted.admit(item)
                if recipient is not None:
                    self._check_campaign_size(campaign.recipient_count, admitted.counts.accepted)
                    buffer.append(recipient)
                elif admitted.counts.invalid > invalid_before:
                    refused.append(invalid_row(admitted.counts.total, item))
                if len(buffer) >= self._per_part:
                    written.append(await self._write_part(campaign, buffer))
                    buffer = []
                if len(refused) >= self._per_part:
                    written_invalid.append(await self._write_invalid(campaign, refused))
                    refused = []
            if buffer:
                written.append(await self._write_part(campaign, buffer))
            if refused:
                written_invalid.append(await self._write_invalid(campaign, refused))
            counts = admitted.counts
            if not await self._store.add_intake(
                tenant_id,
                campaign_id,
                accepted=counts.accepted,
                invalid=counts.invalid,
                duplicates=counts.duplicates,
                now=iso(utc_now()),
            ):
                raise CampaignNotDraft("The campaign left the draft state during the upload; nothing was added.")
        except BaseException:
            # Nothing of a failed upload stays: its parts go (their reserved numbers stay as empty gaps).
            for part in written:
                await self._recipients.delete_part(tenant_id, campaign_id, part)
            for part in written_invalid:
                await self._recipients.delete_invalid(tenant_id, campaign_id, part)
            raise
        log.info("campaign.recipients_added", tenantId=tenant_id, campaignId=campaign_id, **counts.as_response())
        return counts

    def _check_campaign_size(self, stored: int, adding: int) -> None:
        if self._max_campaign is not None and stored + adding > self._max_campaign:
            raise RecipientLimitExceeded(
                f"A campaign holds at most {self._max_campaign} recipients; this one has {stored} and the request "
                "adds more. Nothing of this request was stored."
            )

    async def _write_part(self, campaign: Campaign, recipients: list[Recipient]) -> int:
        part = await self._store.reserve_parts(campaign.tenant_id, campaign.campaign_id, 1, iso(utc_now()))
        if part is None:
            raise CampaignNotDraft("The campaign left the draft state during the upload; nothing was added.")
        await self._recipients.write_part(campaign.tenant_id, campaign.campaign_id, part, recipients)
        return part

    async def _write_invalid(self, campaign: Campaign, rows: list[dict[str, Any]]) -> int:
        part = await self._store.reserve_invalid_part(campaign.tenant_id, campaign.campaign_id, iso(utc_now()))
        if part is None:
            raise CampaignNotDraft("The campaign left the draft state during the upload; nothing was added.")
        await self._recipients.write_invalid(campaign.tenant_id, campaign.campaign_id, part, rows)
        return part

    async def invalid_rows(self, tenant_id: str, campaign_id: str) -> AsyncIterator[dict[str, Any]]:
        """The rows refused at intake, in upload order (a 404 is raised before the first row)."""
        campaign = await self.get(tenant_id, campaign_id)
        return self._recipients.iter_invalid(tenant_id, campaign_id, campaign.invalid_parts)

    async def update(self, tenant_id: str, campaign_id: str, body: CampaignUpdate) -> Campaign:
        """Change a draft's definition with one conditional write; 409 CampaignNotDraft otherwise."""
        campaign = await self.get(tenant_id, campaign_id)
        if campaign.status is not CampaignStatus.DRAFT:
            raise CampaignNotDraft(f"Only a draft can be changed; this one is {campaign.status.value}.")
        sets, removes = body.changes()
        updated = await self._store.update_draft(tenant_id, campaign_id, sets=sets, removes=removes, now=iso(utc_now()))
        if updated is None:
            current = await self.get(tenant_id, campaign_id)
            raise CampaignNotDraft(f"Only a draft can be changed; this one is {current.status.value}.")
        log.info("campaign.updated", tenantId=tenant_id, campaignId=campaign_id, fields=sorted([*sets, *removes]))
        return updated

    async def delete(self, tenant_id: str, campaign_id: str) -> None:
        """Delete a draft and its stored recipient list; 409 CampaignNotDraft otherwise."""
        campaign = await self.get(tenant_id, campaign_id)
        if campaign.status is not CampaignStatus.DRAFT:
            raise CampaignNotDraft(f"Only a draft can be deleted; this one is {campaign.status.value}.")
        if await self._store.delete_draft(tenant_id, campaign_id) is None:
            current = await self.get(tenant_id, campaign_id)
            raise CampaignNotDraft(f"Only a draft can be deleted; this one is {current.status.value}.")
        objects = await self._recipients.delete_all(tenant_id, campaign_id)
        log.info("campaign.deleted", tenantId=tenant_id, campaignId=campaign_id, objects=objects)

    async def test_send(
        self, tenant_id: str, campaign_id: str, body: TestSendRequest, authorization: str | None
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Render the campaign (its pinned version, else the latest) for each address and send it through SES,
        tagged as a test: no ledger entry, no counter, but every other sending rule (testsend.py).
        ((email, messageId) sent, (email, error) failed)."""
        assert self._mailer is not None, "test sends need an SES client"
        campaign = await self.get(tenant_id, campaign_id)
        if campaign.status not in TESTABLE_STATUSES:
            raise CampaignNotTestable(
                f"Only a draft, scheduled or paused campaign can be test-sent; this one is {campaign.status.value}."
            )
        if self._senders is not None:
            sender = await self._senders.check(campaign.from_address)
            if sender.blocks_sending:
                raise refusal(campaign.from_address, sender)
        failed: list[tuple[str, str]] = []
        emails = list(body.emails)
        if self._suppressions is not None:
            suppressed = await self._suppressions.suppressed(tenant_id, [address_key(e) for e in emails])
            failed = [(e, "suppressed") for e in emails if address_key(e) in suppressed]
            emails = [e for e in emails if address_key(e) not in suppressed]
        if not emails:
            return [], failed
        if self._test_quota is not None:
            retry_after = await self._test_quota.take(tenant_id, len(emails), time.time())
            if retry_after is not None:
                raise TestSendLimitExceeded(
                    f"This tenant may send {self._test_quota.per_window} test emails an hour; this call would pass "
                    "it. Try again later.",
                    headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
                )
        links = {e: unsubscribe_link(self._public_url, self._unsubscribe_secret, campaign, e) for e in emails}
        rendered = await self._templates.render(
            campaign.template_id,
            campaign.template_version,
            [{"email": e, "data": body.data, "unsubscribeUrl": links[e]} for e in emails],
            authorization,
        )
        sent: list[tuple[str, str]] = []
        tags = herald_test_tags(campaign)
        for email, result in zip(emails, rendered, strict=True):
            if result.get("error") is not None:
                failed.append((email, f"render_error: {result['error']}"[:300]))
                continue
            try:
                raw = build_test_message(
                    campaign, email, str(result.get("subject") or ""), str(result.get("html") or ""),
                    str(result["text"]) if result.get("text") else None, links[email],
                )  # fmt: skip
                sent.append((email, await self._mailer.send(email, raw, tags)))
            except HeaderInjection as exc:
                failed.append((email, f"invalid_header: {exc}"[:300]))
            except ClientError as exc:
                error = exc.response.get("Error", {})
                failed.append((email, f"{error.get('Code', 'Error')}: {error.get('Message', '')}"[:300]))
            except BotoCoreError as exc:
                failed.append((email, type(exc).__name__))
        log.info("campaign.test_sent", tenantId=tenant_id, campaignId=campaign_id, sent=len(sent), failed=len(failed))
        return sent, failed

    async def retry_failed(self, tenant_id: str, campaign_id: str) -> tuple[CampaignStatus, int, int, int]:
        """Put the recipients that failed for a retryable reason back to `pending` and queue them again, in batches
        `retry_<call>_<n>`, as a durable run another instance finishes if this one dies (retry.py). (status, call
        number, recipients re-queued, batches)."""
        assert self._retries is not None, "retry-failed needs the ledger"
        assert self._retry_store is not None, "retry-failed needs the ledger"
        campaign = await self.get(tenant_id, campaign_id)
        if campaign.status not in RETRYABLE_STATUSES:
            raise CampaignNotRetryable(f"A {campaign.status.value} campaign has no failed recipients to retry.")
        run = await self._retry_store.start(
            tenant_id,
            campaign_id,
            allowed=RETRYABLE_STATUSES,
            owner=self._retries.owner,
            lease_until=self._retries.lease_until(),
            now=iso(utc_now()),
        )
        if run is None:
            if await self._retry_store.running(tenant_id, campaign_id):
                raise RetryInProgress("A retry-failed call of this campaign is still running; try again later.")
            current = await self.get(tenant_id, campaign_id)
            raise CampaignNotRetryable(f"A {current.status.value} campaign has no failed recipients to retry.")
        outcome = await self._retries.run(run)
        if outcome is None:
            raise CampaignNotFound(f"Campaign '{campaign_id}' does not exist.")
        status = (await self.get(tenant_id, campaign_id)).status
        return status, outcome.call, outcome.requeued, outcome.batches

    async def send(
        self, principal: Principal, campaign_id: str, body: SendRequest, authorization: str | None
    ) -> CampaignStatus:
        """Pin the template version, then draft → sending (or scheduled) with one conditional write; the fan-out
        starts in the background, so the answer does not wait for it."""
        if body.campaign_id is not None and body.campaign_id != campaign_id:
            raise CampaignIdMismatch("campaignId in the body does not match the campaign in the path.")
        tenant_id = principal.tenant_id
        campaign = await self.get(tenant_id, campaign_id)
        check_sendable(campaign.status, campaign.recipient_count)
        now = utc_now()
        plan = plan_send(body.send_at_time(now), now)
        sender = await self._check_sender(campaign)
        version = await self._templates.latest_version(campaign.template_id, authorization)
        sets: dict[str, Any] = {
            "status": plan.status.value,
            "sendAt": iso(plan.send_at),
            "templateVersion": version,
            "priority": body.priority.value,
            "batchSize": self._batch_size,
            "throttle": body.throttle.as_item() if body.throttle else None,
            "senderAuthentication": sender.as_item() if sender else None,
        }
        if plan.status is CampaignStatus.SENDING:
            sets |= {"fanoutOwner": self._runner.owner, "fanoutLeaseUntil": self._runner.lease_until()}
        sets = {k: v for k, v in sets.items() if v is not None}
        claimed = await self._store.claim_send(tenant_id, campaign_id, sets=sets, now=iso(now))
        if claimed is None:
            # Lost a race (a concurrent send, cancel or delete): answer what the campaign is now.
            current = await self.get(tenant_id, campaign_id)
            check_sendable(current.status, current.recipient_count)
            raise Conflict("The campaign changed while it was being sent; try again.")
        log.info(
            "campaign.send_accepted",
            tenantId=tenant_id,
            campaignId=campaign_id,
            status=plan.status.value,
            templateVersion=version,
            subject=principal.subject,
        )
        if plan.status is CampaignStatus.SENDING:
            self._supervisor.start(dataclasses.replace(claimed, fanout_queued=0))
        return plan.status

    async def _check_sender(self, campaign: Campaign) -> SenderAuthentication | None:
        """Sender authentication before a send; a failure that blocks is stored on the draft, then answered 400."""
        if self._senders is None:
            return None
        result = await self._senders.check(campaign.from_address)
        if result.blocks_sending:
            c = campaign
            sets = {"senderAuthentication": result.as_item()}
            await self._store.update_draft(c.tenant_id, c.campaign_id, sets=sets, removes=(), now=iso(utc_now()))
            raise refusal(c.from_address, result)
        return result

    async def change_status(self, principal: Principal, campaign_id: str, action: CampaignAction) -> CampaignStatus:
        """pause, resume or cancel, as one conditional write (409 InvalidTransition where it does not apply)."""
        tenant_id = principal.tenant_id
        campaign = await self.get(tenant_id, campaign_id)
        target = transition_target(action, campaign.status)
        allowed, _ = TRANSITIONS[action]
        reason = None if action is CampaignAction.RESUME else f"{_PAST[action]} by {principal.subject}"
        if not await self._store.transition(
            tenant_id, campaign_id, allowed=allowed, target=target, reason=reason, now=iso(utc_now())
        ):
            current = await self.get(tenant_id, campaign_id)
            transition_target(action, current.status)  # raises InvalidTransition for the status it has now
            raise Conflict("The campaign changed at the same time; try again.")
        log.info(
            "campaign.status_changed",
            tenantId=tenant_id,
            campaignId=campaign_id,
            action=action.value,
            status=target.value,
            subject=principal.subject,
        )
        return target


_PAST = {CampaignAction.PAUSE: "Paused", CampaignAction.RESUME: "Resumed", CampaignAction.CANCEL: "Cancelled"}


def _plain(item: Any) -> Any:
    """A schema item as the plain value the intake filter reads."""
    return item if isinstance(item, str) else item.model_dump(exclude_none=True)
