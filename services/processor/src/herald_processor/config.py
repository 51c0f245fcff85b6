"""The processor's settings: how many batches run at once, how long a claim lasts, how fast it may send."""

from __future__ import annotations

import os
import secrets
import socket
from typing import Literal

from pydantic import Field, model_validator

from herald_common.api_keys import ServiceKeySettings


def _default_processor_id() -> str:
    # Unique per process, readable in the ledger (`leaseOwner`): which host and pid held a claim.
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Settings(ServiceKeySettings):
    """`HERALD_*` variables for the email processor."""

    concurrency: int = Field(default=4, ge=1, le=64, description="email-job batches handled at once")
    # Short, kept alive by the poller's heartbeat (every third of it) while a batch runs: a processor killed mid-batch
    # holds its batches back from the others for at most this long.
    visibility_timeout: int = Field(default=20, ge=10, le=43200, description="SQS visibility of a received batch")
    handler_timeout: float = Field(
        default=18.0, gt=0, description="hard cap on one batch attempt (the heartbeat extends visibility meanwhile)"
    )
    batch_time_budget: float = Field(
        default=15.0, gt=0, description="after this, start no new send; the rest is retried"
    )
    # A claim covers one chunk, whose SES calls run concurrently: it ends within the SES client's timeouts (5 s
    # connect + 15 s read) plus its two ledger writes.
    lease_seconds: int = Field(default=25, ge=10, description="how long a ledger claim protects a recipient")
    reconcile_window: float = Field(
        default=30.0,
        ge=0,
        description="after a claim's lease ran out, how long its SES Send event may still reconcile it as `sent` "
        "before it is judged in doubt (sent again, or `unknown` under HERALD_IN_DOUBT=hold)",
    )
    in_doubt: Literal["resend", "hold"] = Field(
        default="resend",
        description="a recipient whose SES call may have happened and drew no SES event within the reconcile window: "
        "sent again (`resend`), or final `unknown` (`hold`)",
    )
    in_doubt_max_resends: int = Field(
        default=2, ge=0, description="in-doubt resends of one recipient before it is `unknown` even under `resend`"
    )
    throttle_retries: int = Field(
        default=5, ge=1, description="SES throttles in a row a batch rides out (jittered pauses) before it defers"
    )
    send_concurrency: int = Field(default=16, ge=1, le=64, description="SES calls in flight within one batch")
    ses_max_send_rate: float | None = Field(
        default=None,
        gt=0,
        description="account-wide emails per second across all processors (default: SES GetAccount's / "
        "GetSendQuota's MaxSendRate, read at startup; Herald's emulator reports its sesMaxSendRate fault)",
    )
    throttle_backend: Literal["dynamodb", "local"] = Field(
        default="dynamodb", description="rate limits shared through the throttle table, or per process"
    )
    # One strongly consistent read of a small item per running batch every quarter second: what bounds how long SES
    # calls go on after a pause (a chunk starts only after a read this fresh).
    status_check_interval: float = Field(
        default=0.25, gt=0, description="how often a running batch re-reads the campaign status"
    )
    queue_depth_interval: float = Field(default=10.0, gt=0)
    ses_quota_interval: float = Field(
        default=60.0, gt=0, description="how often herald_ses_quota_used_ratio is sampled from SES GetSendQuota"
    )
    paused_retry_seconds: int = Field(default=8, ge=1, le=900)
    quota_pause_seconds: int = Field(
        default=900, ge=1, description="how long a campaign pauses when the SES daily sending quota is used up"
    )
    idle_poll_seconds: int = Field(
        default=1,
        ge=1,
        le=20,
        description="with every email-jobs queue empty, how long to long-poll the one last taken from before "
        "looking at all three again (about the most a batch of another priority waits for an idle processor)",
    )
    requeue_after_receives: int = Field(
        default=3, ge=1, description="a deferred batch received this often is re-sent as a fresh message"
    )
    mx_lookup_timeout: float = Field(
        default=2.0, gt=0, description="seconds an MX lookup (a recipient domain's mailbox provider) may take"
    )
    pacing_interval_slots: int = Field(
        default=6, ge=1, le=360, description="adaptive pacing's interval, in 10-second slots (6: a minute)"
    )
    pacing_threshold: int = Field(
        default=5, ge=1, description="a provider's pushback events in an interval that lower its rate"
    )
    pacing_increase: float = Field(
        default=0.1, gt=0, le=1, description="share of the policy rate a clean interval gives back"
    )
    pacing_decrease: float = Field(
        default=0.5, gt=0, lt=1, description="what an interval with pushback multiplies the rate by"
    )
    pacing_day_seconds: float = Field(
        default=86_400,
        ge=10,
        le=86_400,
        description="length of the sending day of daily pacing and the warm-up ramp (UTC days; tests shorten it)",
    )
    ses_tenants: bool = Field(
        default=False,
        description="send each Herald tenant's mail through its own SES tenant `{prefix}-{tenant}` (SES v2 only)",
    )
    processor_id: str = Field(default_factory=_default_processor_id)

    @model_validator(mode="after")
    def _timeouts_fit(self) -> Settings:
        if self.handler_timeout >= self.visibility_timeout:
            raise ValueError("handler_timeout must be shorter than visibility_timeout")
        if self.batch_time_budget >= self.handler_timeout:
            raise ValueError("batch_time_budget must be shorter than handler_timeout")
        if self.ses_tenants and self.ses_api_version != "v2":
            raise ValueError("ses_tenants needs ses_api_version v2 (SES v1 has no tenants)")
        return self
