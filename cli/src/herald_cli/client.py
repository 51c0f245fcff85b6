"""A small typed client for Herald's REST APIs (campaign, template, analytics), over one pooled `httpx.Client`.

from herald_cli.client import HeraldClient, ServiceUrls

with HeraldClient(ServiceUrls.defaults(), token) as herald:
    herald.put_template("welcome", subject="Hi {{ first_name }}", html="<p>Hello {{ first_name }}</p>")
    result = herald.render("welcome", [{"email": "ada@example.com", "data": {"first_name": "Ada"}}])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import quote

import httpx

JsonObject = dict[str, Any]
Recipient = dict[str, Any]  # {"email": str, "data": {...}}

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORTS: dict[str, int] = {
    "emulator": 4566,
    "campaign": 8001,
    "template": 8002,
    "analytics": 8003,
    "processor": 8004,
}


@dataclass(frozen=True)
class ServiceUrls:
    """Where each component of one Herald stack answers."""

    emulator: str
    campaign: str
    template: str
    analytics: str
    processor: str

    @classmethod
    def for_ports(cls, ports: dict[str, int], host: str = DEFAULT_HOST) -> ServiceUrls:
        return cls(**{name: f"http://{host}:{ports[name]}" for name in DEFAULT_PORTS})

    @classmethod
    def defaults(cls, host: str = DEFAULT_HOST) -> ServiceUrls:
        """The addresses SPEC.md fixes for a local stack (`make dev`)."""
        return cls.for_ports(DEFAULT_PORTS, host)


class HeraldApiError(RuntimeError):
    """A Herald service answered 4xx/5xx; carries SPEC's `{"error", "detail"}` body."""

    def __init__(self, status_code: int, error: str, detail: str, url: str) -> None:
        super().__init__(f"{status_code} {error}: {detail} ({url})")
        self.status_code = status_code
        self.error = error
        self.detail = detail


class HeraldClient:
    """Typed calls to the REST routes of SPEC.md. Every call raises `HeraldApiError` on a 4xx/5xx answer."""

    def __init__(self, urls: ServiceUrls, token: str, *, timeout: float = 30.0) -> None:
        self.urls = urls
        self._http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, url: str, json: Any = None) -> JsonObject:
        response = self._http.request(method, url, json=json)
        if response.is_error:
            try:
                body = response.json()
                error, detail = str(body.get("error", "HttpError")), str(body.get("detail", response.text))
            except ValueError:
                error, detail = "HttpError", response.text[:300]
            raise HeraldApiError(response.status_code, error, detail, url)
        if not response.content:
            return {}
        result: JsonObject = response.json()
        return result

    # Template service -----------------------------------------------------------------------------------------
    def put_template(
        self, template_id: str, *, subject: str, html: str, text: str | None = None, name: str = ""
    ) -> JsonObject:
        """Save a new version of a template; answers `{templateId, version}`."""
        body: JsonObject = {"subject": subject, "html": html, "name": name or template_id}
        if text is not None:
            body["text"] = text
        return self._call("PUT", f"{self.urls.template}/templates/{template_id}", body)

    def render(self, template_id: str, recipients: list[Recipient], *, version: int | None = None) -> JsonObject:
        """Render a stored template for each recipient: `{templateId, version, results: [...]}`."""
        body: JsonObject = {"recipients": recipients}
        if version is not None:
            body["version"] = version
        return self._call("POST", f"{self.urls.template}/templates/{template_id}/render", body)

    def render_inline(
        self, *, subject: str, html: str, recipients: list[Recipient], text: str | None = None
    ) -> JsonObject:
        """Render a template given inline (previews): the same answer as `render`."""
        body: JsonObject = {"subject": subject, "html": html, "recipients": recipients}
        if text is not None:
            body["text"] = text
        return self._call("POST", f"{self.urls.template}/render", body)

    # Campaign service -----------------------------------------------------------------------------------------
    def create_campaign(
        self,
        *,
        name: str,
        template_id: str,
        from_address: str,
        from_name: str | None = None,
        recipients: list[Recipient] | None = None,
    ) -> JsonObject:
        """Create a draft campaign (201): the campaign, with its `campaignId`."""
        body: JsonObject = {"name": name, "templateId": template_id, "fromAddress": from_address}
        if from_name is not None:
            body["fromName"] = from_name
        if recipients is not None:
            body["recipients"] = recipients
        return self._call("POST", f"{self.urls.campaign}/campaigns", body)

    def add_recipients(self, campaign_id: str, recipients: list[Recipient]) -> JsonObject:
        """Append recipients to a draft: `{accepted, invalid, duplicates, total}`."""
        return self._call(
            "POST", f"{self.urls.campaign}/campaigns/{campaign_id}/recipients", {"recipients": recipients}
        )

    def send_campaign(
        self, campaign_id: str, *, send_at: str = "immediate", throttle: dict[str, int] | None = None
    ) -> JsonObject:
        """Start (or schedule) the send; answers 202 `{campaignId, status}` without waiting for the fan-out."""
        body: JsonObject = {"sendAt": send_at}
        if throttle:
            body["throttle"] = throttle
        return self._call("POST", f"{self.urls.campaign}/campaigns/{campaign_id}/send", body)

    def get_campaign(self, campaign_id: str) -> JsonObject:
        return self._call("GET", f"{self.urls.campaign}/campaigns/{campaign_id}")

    def pause_campaign(self, campaign_id: str) -> JsonObject:
        """sending → paused (202 `{campaignId, status}`); HeraldApiError 409 from any other status."""
        return self._call("POST", f"{self.urls.campaign}/campaigns/{campaign_id}/pause")

    def resume_campaign(self, campaign_id: str) -> JsonObject:
        """paused → sending (202 `{campaignId, status}`); HeraldApiError 409 from any other status."""
        return self._call("POST", f"{self.urls.campaign}/campaigns/{campaign_id}/resume")

    def delete_suppression(self, email: str) -> bool:
        """Remove an address from the tenant's suppression list (admin). False when it was not there."""
        try:
            self._call("DELETE", f"{self.urls.campaign}/suppressions/{quote(email, safe='@')}")
        except HeraldApiError as exc:
            if exc.status_code == 404:
                return False
            raise
        return True

    # Analytics service ----------------------------------------------------------------------------------------
    def campaign_stats(self, campaign_id: str) -> JsonObject:
        """The campaign's live statistics (SPEC's stats object)."""
        return self._call("GET", f"{self.urls.analytics}/campaigns/{campaign_id}/stats")
