"""What a batch runs with: its knobs (`BatchPolicy`, from Settings) and its adapters (`Ports`). Both the batch service
and its send phase use them, so they live apart from either."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from herald_processor.ports import (
        Announcer,
        CampaignStore,
        DeliveryLedger,
        EmailSender,
        SuppressionList,
        TemplateRenderer,
        TemplateSource,
        ThrottleBucket,
    )
    from herald_processor.provider_pacing import ProviderGate

InDoubtPolicy = Literal["resend", "hold"]


@dataclass(frozen=True)
class BatchPolicy:
    """The knobs of batch handling (from Settings), gathered so the service needs no settings object."""

    processor_id: str
    public_url: str
    unsubscribe_secret: str
    lease_seconds: int = 25
    send_concurrency: int = 16
    status_check_interval: float = 0.25
    batch_time_budget: float = 15.0
    paused_retry_seconds: int = 8
    reconcile_window: float = 30.0
    throttle_retries: int = 5  # SES throttles in a row a batch rides out in place before it defers
    quota_pause_seconds: int = 900  # how long a campaign pauses when the SES daily quota is used up
    in_doubt: InDoubtPolicy = "resend"  # an in-doubt recipient with no SES event: sent again, or final `unknown`
    in_doubt_max_resends: int = 2  # then `unknown` even under `resend` (SES events are not arriving at all)


@dataclass(frozen=True)
class Ports:
    campaigns: CampaignStore
    ledger: DeliveryLedger
    suppressions: SuppressionList
    templates: TemplateSource
    renderer: TemplateRenderer
    sender: EmailSender
    throttle: ThrottleBucket
    pacer: ProviderGate | None = None  # mailbox-provider limits of the tenant's sending policy (provider_pacing.py)
    announcer: Announcer | None = None  # `failed` / `unknown` settlements for the webhooks (announcements.py)
