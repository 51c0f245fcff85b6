"""The campaign service's settings: the shared Herald settings plus intake, fan-out and scheduler knobs."""

from __future__ import annotations

from pydantic import Field, model_validator

from herald_campaign.senders.service import SenderAuthMode
from herald_common.settings import ConfigurationError, Environment, HeraldSettings


class Settings(HeraldSettings):
    """Read once per process from `HERALD_*` variables (for example `HERALD_BATCH_SIZE`)."""

    # Recipients per email-jobs message. At most 100: 100 recipients with the largest allowed personalisation data
    # (MAX_RECIPIENT_DATA_BYTES) still fit SQS's 256 KiB message limit.
    batch_size: int = Field(default=50, ge=1, le=100)
    # Recipients accepted inline in `POST /campaigns`; bigger lists go through `POST /campaigns/{id}/recipients`.
    max_recipients_per_request: int = Field(default=10_000, ge=1)
    # Items (valid or not) one `POST /campaigns/{id}/recipients` call may carry.
    max_upload_recipients: int = Field(default=1_000_000, ge=1)
    # Recipients per S3 part: what one upload holds in memory before it writes a part.
    recipients_per_part: int = Field(default=10_000, ge=1)
    # How often the scheduler looks for due scheduled campaigns and abandoned fan-outs.
    scheduler_interval_seconds: float = Field(default=2.0, gt=0)
    # A fan-out renews its lease after every SQS group; another instance takes over once it has expired.
    fanout_lease_seconds: int = Field(default=60, ge=5)
    # At shutdown, running fan-outs get this long to finish before they are cancelled (their lease lets them resume).
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    template_timeout_seconds: float = Field(default=5.0, gt=0)
    # Request bodies: inline recipients of `POST /campaigns` make a JSON body larger than the kit's 1 MiB default;
    # a recipient upload streams, so its own bound is far larger (the recipient-count limits bound it too).
    max_request_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    max_upload_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    # Stored (valid, unique) recipients one campaign may hold, over all its uploads.
    max_campaign_recipients: int = Field(default=5_000_000, ge=1)
    # Test emails one tenant may send per clock hour, fleet-wide (README "Test sends"); 429 beyond.
    test_send_per_hour: int = Field(default=50, ge=1)

    # Webhooks (README "Webhooks"): consume the webhooks queue (False: a replica that serves the API only), and the
    # delivery retries: the first after this many seconds, doubling up to an hour, for the window, then disabled.
    webhooks_consume: bool = True
    webhook_retry_base_seconds: float = Field(default=30.0, gt=0)
    webhook_retry_window_seconds: int = Field(default=24 * 3600, ge=60)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_concurrency: int = Field(default=8, ge=1)

    # Sender authentication before a send (README "Sender authentication"): enforce | warn | off. Unset: `enforce` in
    # prod, `off` in dev (no DNS needed by `make dev`, `make demo` or the tests). Prod refuses anything but enforce.
    sender_auth: SenderAuthMode | None = None
    dns_timeout_seconds: float = Field(default=3.0, gt=0)

    @model_validator(mode="after")
    def _prod_enforces_sender_authentication(self) -> Settings:
        if self.env is Environment.PROD and self.sender_auth not in (None, SenderAuthMode.ENFORCE):
            raise ConfigurationError("HERALD_SENDER_AUTH must be enforce in prod")
        return self

    @property
    def sender_auth_mode(self) -> SenderAuthMode:
        if self.sender_auth is not None:
            return self.sender_auth
        return SenderAuthMode.ENFORCE if self.env is Environment.PROD else SenderAuthMode.OFF
