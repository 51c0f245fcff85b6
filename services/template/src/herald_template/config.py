"""The template service's settings: the shared Herald settings plus the sandbox's limits (`HERALD_*` variables)."""

from __future__ import annotations

from pydantic import Field, model_validator

from herald_common.api_keys import DEV_SERVICE_KEY, ApiKeySpec, ServiceKeySettings, key_digest
from herald_common.settings import ConfigurationError, Environment
from herald_template.rendering import RenderLimits


class Settings(ServiceKeySettings):
    template_api_keys: list[ApiKeySpec] = Field(
        default_factory=list,
        description="render API keys of other teams (JSON list of {name, sha256, tenants}); README 'Render API'",
    )
    template_max_source_bytes: int = Field(default=512 * 1024, gt=0, description="subject + html + text, UTF-8")
    render_max_output_bytes: int = Field(default=1024 * 1024, gt=0, description="per recipient, all parts")
    render_time_limit_seconds: float = Field(default=1.0, gt=0, description="per recipient")
    render_call_time_limit_seconds: float = Field(default=15.0, gt=0, description="per render call, all recipients")
    template_max_request_bytes: int = Field(
        default=8 * 1024 * 1024, gt=0, description="request body (413 above it): a full-size template and a batch"
    )
    render_max_recipients: int = Field(default=500, gt=0, description="per render call")
    # The render API serves processors and other teams in batches of recipients: a higher call rate than the
    # campaign API's (200 calls of 50 recipients is more than two cores render in a second).
    rate_limit_per_second: float = Field(default=200.0, ge=0)
    rate_limit_burst: int = Field(default=400, ge=1)
    render_workers: int = Field(default=2, gt=0, description="threads that render (CPU work, off the event loop)")
    render_switch_interval_seconds: float = Field(
        default=0.02,
        gt=0,
        le=0.1,
        description="the interpreter's thread switch interval (`sys.setswitchinterval`) while the service runs: two "
        "render threads hand the GIL to each other this often; Python's default 5 ms cost ~5-10% more CPU per render "
        "in hand-offs (bench/template_render.py), and a waiting request still gets the GIL within one interval",
    )
    template_cache_size: int = Field(default=256, ge=0, description="compiled template versions kept (LRU)")
    render_cache_bytes: int = Field(default=32 * 1024 * 1024, ge=0, description="rendered emails kept (LRU)")

    @model_validator(mode="after")
    def _refuse_dev_key_digest_in_prod(self) -> Settings:
        if self.env is Environment.PROD and any(
            k.sha256 == key_digest(DEV_SERVICE_KEY) for k in self.template_api_keys
        ):
            raise ConfigurationError("HERALD_TEMPLATE_API_KEYS lists the dev service key; prod refuses it")
        return self

    def render_limits(self) -> RenderLimits:
        return RenderLimits(
            max_source_bytes=self.template_max_source_bytes,
            max_output_bytes=self.render_max_output_bytes,
            time_limit_seconds=self.render_time_limit_seconds,
        )
