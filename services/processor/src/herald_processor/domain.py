"""The processor's domain vocabulary: campaigns as it sees them, ledger entries, send outcomes, domain errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# The states are the kit's (herald_common.delivery_states, their one owner), re-exported for the processor's modules.
from herald_common.delivery_states import FINAL_STATES as FINAL_STATES
from herald_common.delivery_states import CampaignStatus as CampaignStatus
from herald_common.delivery_states import LedgerState as LedgerState
from herald_common.errors import HeraldError


@dataclass(frozen=True)
class Throttle:
    emails_per_minute: int | None = None
    emails_per_hour: int | None = None


@dataclass(frozen=True)
class Campaign:
    tenant_id: str
    campaign_id: str
    status: CampaignStatus
    template_id: str
    from_address: str
    from_name: str | None = None
    reply_to: str | None = None
    template_version: int | None = None
    recipient_count: int = 0
    final_count: int = 0  # recipients counted in a final state so far
    throttle: Throttle = field(default_factory=Throttle)
    status_reason: str | None = None
    quota_resume_at: float | None = None  # epoch s: when a pause for the SES daily quota may end

    @property
    def key(self) -> str:
        """The ledger's partition key for this campaign."""
        return campaign_key(self.tenant_id, self.campaign_id)


QUOTA_PAUSE_REASON = "SES daily sending quota exceeded"


def is_quota_pause(reason: str | None) -> bool:
    """Whether a `statusReason` is the processor's own pause for the SES daily quota (it resumes those itself)."""
    return bool(reason) and str(reason).startswith(QUOTA_PAUSE_REASON)


def campaign_key(tenant_id: str, campaign_id: str) -> str:
    return f"{tenant_id}#{campaign_id}"


@dataclass(frozen=True)
class LedgerEntry:
    """One recipient's row in the ledger, as read."""

    email: str
    state: LedgerState = LedgerState.PENDING
    lease_owner: str | None = None
    lease_expires_at: int | None = None
    attempt: int = 0
    counted: bool = False
    in_doubt_resends: int = 0  # sends made again because an earlier one stayed in doubt (HERALD_IN_DOUBT=resend)


@dataclass(frozen=True)
class Template:
    template_id: str
    version: int
    subject: str


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str | None


@dataclass(frozen=True)
class RenderFailure:
    error: str


RenderResult = RenderedEmail | RenderFailure


class SendResult(StrEnum):
    """What an SES call meant for the recipient."""

    SENT = "sent"
    FAILED = "failed"  # SES refused it for good (4xx): never retried
    THROTTLED = "throttled"  # refused for now, nothing sent: release the claim, retry the batch later
    TRANSIENT = "transient"  # the request never reached SES (connect failure): release and retry later
    UNKNOWN = "unknown"  # SES may have accepted it (5xx, read timeout): never resend blindly
    PAUSE = "pause"  # the account or configuration set may not send: pause the campaign
    QUOTA = "quota"  # the account's 24-hour sending quota is used up: pause the campaign until it frees up


@dataclass(frozen=True)
class SendOutcome:
    result: SendResult
    message_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Settlement:
    """What becomes of one of our claims after its SES call: a final `state` with the call's outcome, or (state
    None) the claim given back because nothing was sent."""

    email: str
    state: LedgerState | None
    outcome: SendOutcome | None = None


@dataclass(frozen=True)
class OutgoingEmail:
    """Everything the sender needs for one recipient: the raw MIME bytes, the address and the SES tags."""

    destination: str
    raw: bytes
    tags: dict[str, str]
    tenant_id: str = ""  # the Herald tenant (SES tenants: the message goes out under that tenant's SES tenant)
    from_address: str = ""


class MalformedJob(HeraldError):
    """The queue message cannot be a batch (not JSON, missing fields): it goes to the dead-letter queue."""

    status_code = 400
    code = "MalformedJob"


class CampaignMissing(HeraldError):
    status_code = 404
    code = "CampaignNotFound"


class TemplateMissing(HeraldError):
    status_code = 404
    code = "TemplateNotFound"


class TemplateServiceUnavailable(HeraldError):
    """The template service did not answer usefully; the batch is retried later."""

    status_code = 503
    code = "TemplateServiceUnavailable"


class TemplateServiceDown(TemplateServiceUnavailable):
    """The template service is unreachable or answers 5xx/429: an outage, waited out with exponential backoff
    (the batch is deferred, so an outage never dead-letters it)."""


class BatchDeferred(HeraldError):
    """The batch cannot go on now (paused, throttled, time budget spent): retry it after `seconds`."""

    status_code = 503
    code = "BatchDeferred"

    def __init__(self, detail: str, *, seconds: int) -> None:
        super().__init__(detail)
        self.seconds = seconds
