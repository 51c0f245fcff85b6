"""`reputation.warning` webhook events from the reputation guard's announcements (analytics publishes `{"type":
"reputation.warning", "tenantId", "warning": {scope, window, reason, at}}` on the campaign-updates topic when a 1 h
or 24 h window of the tenant or of one of its sending domains reaches half a limit). Analytics announces each
warning once (a conditional write per scope), and its id comes from the warning itself, so a repeated announcement
is delivered once."""

from __future__ import annotations

import hashlib
from typing import Any

from herald_campaign.webhooks.events import EmailEvent
from herald_campaign.webhooks.schemas import WebhookEventType

WARNING_TYPE = "reputation.warning"


def reputation_warning(document: Any) -> EmailEvent | None:
    """The webhook event of a warning announcement (an envelope-opened queue document), or None for anything else."""
    if not isinstance(document, dict) or document.get("type") != WARNING_TYPE:
        return None
    warning, tenant = document.get("warning"), document.get("tenantId")
    if not isinstance(warning, dict) or not isinstance(tenant, str) or not tenant:
        return None
    data = {k: str(warning[k]) for k in ("scope", "window", "reason", "at") if warning.get(k) is not None}
    identity = "|".join((WARNING_TYPE, tenant, data.get("scope", ""), data.get("window", ""), data.get("at", "")))
    return EmailEvent(
        event_id=hashlib.sha256(identity.encode()).hexdigest(),
        type=WebhookEventType.REPUTATION_WARNING,
        created_at=data.get("at", ""),
        tenant_id=tenant,
        campaign_id="",  # about the tenant or a sending domain, not one campaign: `campaignId` is null
        data=data,
    )
