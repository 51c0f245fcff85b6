"""The analytics service's settings: the shared Herald settings plus the event consumer's and the stream's knobs."""

from __future__ import annotations

from pydantic import Field, model_validator

from herald_common.settings import HeraldSettings


class Settings(HeraldSettings):
    """Read once per process from `HERALD_*` variables (e.g. `HERALD_ANALYTICS_CONCURRENCY=16`)."""

    # Consumer of the `{prefix}-ses-events` queue: batches handled at once, and ReceiveMessage calls (10 messages
    # each) that may fill one batch (the first a long poll, the others only while the queue answers full). A batch
    # shares its DynamoDB calls among its events (events/batch.py).
    analytics_consume_events: bool = True  # False: a replica that serves the API and streams only
    analytics_concurrency: int = Field(default=4, ge=1, le=64)
    analytics_batch_receives: int = Field(default=9, ge=1, le=10)  # 90 row moves + a counter: one transaction
    # Shorter than the queue's visibility timeout (30 s, provisioning) so a stuck batch is abandoned, not doubled.
    analytics_handler_timeout: float = Field(default=20.0, gt=0)
    # SNS and SQS redeliver within minutes; 14 days also covers a DLQ redrive of two-week-old events.
    analytics_event_dedupe_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=3600)
    # How long a handler owns an event before a redelivery may assume it crashed and finish its work: longer
    # than the handler timeout (a live handler is done or cancelled by then), no longer than needed.
    analytics_event_lease_seconds: int = Field(default=30, ge=5)
    # Campaign-update messages are coalesced over this window: one per campaign touched, not one per event (the
    # reputation guard looks at the campaign then too). Streams read DynamoDB themselves and do not wait for it.
    analytics_update_window_seconds: float = Field(default=1.0, ge=0)
    # How often herald_queue_depth{queue} is sampled for the ses-events queue and its dead-letter queue.
    analytics_queue_depth_interval: float = Field(default=10.0, gt=0)

    # Live stream (`GET /campaigns/{id}/stream`): how often a stream re-reads the campaign item, and the keep-alive.
    stream_poll_interval: float = Field(default=0.5, gt=0)
    stream_ping_seconds: float = Field(default=15.0, gt=0)
    # Streams one tenant may hold open at once on one replica (README "Live stream limits"); 429 beyond.
    stream_max_per_tenant: int = Field(default=10, ge=1)

    # Soft bounces: a Transient bounce re-queues its recipient after a delay (an SQS DelaySeconds, at most 900 s),
    # at most `retries` times, then the recipient is `failed` (reason `soft_bounce`). SES has already retried
    # for hours before it reports one, so a few short retries are enough; 0 fails at the first soft bounce.
    analytics_soft_bounce_retries: int = Field(default=2, ge=0, le=10)
    analytics_soft_bounce_retry_delay_seconds: int = Field(default=30, ge=0, le=900)

    # Reputation guard: past `min_sends` sends, a bounce or complaint rate over its limit pauses the campaign.
    analytics_guard_min_sends: int = Field(default=1000, ge=1)
    analytics_guard_max_bounce_rate: float = Field(default=0.05, gt=0, le=1)
    analytics_guard_max_complaint_rate: float = Field(default=0.001, gt=0, le=1)
    # SES GetAccount's EnforcementStatus, looked at this often (0: never); anything but HEALTHY pauses all sending.
    analytics_enforcement_check_seconds: float = Field(default=60.0, ge=0)

    # An open from a prefetching agent within this many seconds of delivery is a machine's (events/opens.py).
    analytics_machine_open_window_seconds: float = Field(default=10.0, ge=0)
    # A click within this many seconds of delivery, or within the burst of another link's, is a machine's
    # (events/clicks.py).
    analytics_machine_click_window_seconds: float = Field(default=10.0, ge=0)
    analytics_click_burst_seconds: float = Field(default=2.0, ge=0)

    @model_validator(mode="after")
    def _lease_outlives_handler(self) -> Settings:
        if self.analytics_event_lease_seconds <= self.analytics_handler_timeout:
            raise ValueError("analytics_event_lease_seconds must exceed analytics_handler_timeout")
        return self
