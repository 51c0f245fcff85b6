"""The ports the batch service depends on. DynamoDB, S3, SES and HTTP adapters implement them; tests use fakes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from herald_processor.domain import (
        Campaign,
        LedgerEntry,
        LedgerState,
        OutgoingEmail,
        RenderResult,
        SendOutcome,
        Settlement,
        Template,
        Throttle,
    )
    from herald_processor.schemas import JobRecipient


class CampaignStore(Protocol):
    async def get(self, tenant_id: str, campaign_id: str) -> Campaign | None:
        """The campaign (strongly consistent read), or None when it does not exist."""

    async def complete_if_done(self, tenant_id: str, campaign_id: str) -> bool:
        """`sending` → `sent` (with `sentAt`) when `finalCount >= recipientCount`; True when this call did it."""

    async def pause(self, tenant_id: str, campaign_id: str, reason: str, *, resume_at: float | None = None) -> bool:
        """`sending` → `paused` with `statusReason` (and, for a quota pause, when it may end); True when this call
        did it."""

    async def resume_after_quota(self, tenant_id: str, campaign_id: str, now: float) -> bool:
        """`paused` for the SES daily quota, with its resume time passed → `sending`; True when this call did it."""

    async def count_dead_letter(self, tenant_id: str, campaign_id: str, batch_id: str, recipients: int) -> bool:
        """Count a batch that went to the dead-letter queue on its campaign, once per batch id; True when this call
        counted it."""


class DeliveryLedger(Protocol):
    async def snapshot(self, campaign: Campaign, emails: Sequence[str]) -> dict[str, LedgerEntry]:
        """The current entries of these recipients (absent ones are left out)."""

    async def claim(
        self, campaign: Campaign, email: str, *, owner: str, batch_id: str, lease_seconds: int
    ) -> LedgerEntry | None:
        """Take the recipient for sending (only if unclaimed): the new entry, or None with the entry left as it was."""

    async def claim_many(
        self,
        campaign: Campaign,
        seen: Mapping[str, int],
        *,
        owner: str,
        batch_id: str,
        lease_seconds: int,
        in_doubt: Mapping[str, int] | None = None,
    ) -> dict[str, LedgerEntry]:
        """Take every recipient of `seen` (email → the attempt its entry had when looked at) that is still unclaimed
        and unchanged since, in as few writes as the store allows; the new entries of those taken. A recipient of
        `in_doubt` (email → epoch s) whose entry is in doubt with its lease ended before then is taken too, to be
        sent again."""

    async def settle_many(self, campaign: Campaign, owner: str, settlements: Sequence[Settlement]) -> set[str]:
        """Record the final outcomes of our own claims and give back those nothing was sent for, in as few writes as
        the store allows; the emails whose lease was lost meanwhile (left as they were)."""

    async def finalize_unclaimed(
        self, campaign: Campaign, email: str, state: LedgerState, *, batch_id: str, reason: str | None
    ) -> bool:
        """Give an unclaimed recipient a final state without sending (invalid, suppressed, cancelled, failed)."""

    async def resolve_in_doubt(
        self, campaign: Campaign, entry: LedgerEntry, *, reconcile_window: float = 0.0, reason: str = "lease_expired"
    ) -> bool:
        """A claim whose lease ran out more than `reconcile_window` seconds ago (no SES Send event reconciled it):
        final `unknown`, never re-sent; False when the entry is no longer such a claim."""

    async def mark(self, campaign: Campaign, email: str, owner: str, outcome: SendOutcome, state: LedgerState) -> bool:
        """Record the final outcome of our own claim; False when the lease was lost meanwhile."""

    async def release(self, campaign: Campaign, email: str, owner: str) -> bool:
        """Give our claim back (nothing was sent): the recipient is `pending` again."""

    async def count(self, campaign: Campaign, finals: Mapping[str, LedgerState]) -> dict[LedgerState, int]:
        """Add not-yet-counted final recipients to the campaign's counters exactly once; what was counted."""


class SuppressionList(Protocol):
    async def suppressed(self, tenant_id: str, emails: Sequence[str]) -> set[str]:
        """Which of these (normalised, lowercased) addresses are on the tenant's suppression list."""


class TemplateSource(Protocol):
    async def get(self, tenant_id: str, template_id: str, version: int | None) -> Template:
        """The stored template (latest version when `version` is None); raises TemplateMissing."""


class TemplateRenderer(Protocol):
    async def render(
        self, tenant_id: str, template: Template, recipients: Sequence[tuple[JobRecipient, str]]
    ) -> list[RenderResult]:
        """One result per (recipient, unsubscribe URL), in order; raises TemplateServiceUnavailable/TemplateMissing."""


class EmailSender(Protocol):
    async def send(self, email: OutgoingEmail) -> SendOutcome:
        """Send one raw email; SES errors come back as outcomes, never as exceptions."""


class ThrottleBucket(Protocol):
    async def acquire(self, key: str, throttle: Throttle, *, max_wait: float) -> bool:
        """Wait for one send slot of `key` under `throttle` and the account rate; False (slot not taken) when
        none frees up within `max_wait` seconds."""


class Announcer(Protocol):
    async def settled(self, campaign: Campaign, finals: Mapping[str, LedgerState]) -> None:
        """Announce the recipients of `finals` the ledger holds final `failed` or `unknown` and not yet counted;
        raises when the topic did not take every one."""

    async def status_changed(self, message: dict[str, Any]) -> None:
        """Announce a status move this processor made (best effort: analytics' announcements carry the status and
        its number too)."""
