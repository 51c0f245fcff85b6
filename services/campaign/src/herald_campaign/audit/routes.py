"""The campaign service's audited routes: every call that changes state, success or failure (herald_common.audit)."""

from __future__ import annotations

from herald_common.audit import AuditedRoute

_CAMPAIGN = "/campaigns/{campaign_id}"

AUDITED_ROUTES = (
    AuditedRoute("POST", "/campaigns", "campaign.create", target_field="campaignId", details=("name",)),
    AuditedRoute("PATCH", _CAMPAIGN, "campaign.update", target_param="campaign_id"),
    AuditedRoute("DELETE", _CAMPAIGN, "campaign.delete", target_param="campaign_id"),
    AuditedRoute(
        "POST",
        f"{_CAMPAIGN}/recipients",
        "campaign.recipients",
        target_param="campaign_id",
        details=("accepted", "invalid", "duplicates", "total"),
    ),
    AuditedRoute("POST", f"{_CAMPAIGN}/send", "campaign.send", target_param="campaign_id", details=("status",)),
    AuditedRoute("POST", f"{_CAMPAIGN}/pause", "campaign.pause", target_param="campaign_id", details=("status",)),
    AuditedRoute("POST", f"{_CAMPAIGN}/resume", "campaign.resume", target_param="campaign_id", details=("status",)),
    AuditedRoute("POST", f"{_CAMPAIGN}/cancel", "campaign.cancel", target_param="campaign_id", details=("status",)),
    AuditedRoute(
        "POST",
        f"{_CAMPAIGN}/retry-failed",
        "campaign.retry_failed",
        target_param="campaign_id",
        details=("status", "retry", "requeued"),
    ),
    AuditedRoute("POST", f"{_CAMPAIGN}/test-send", "campaign.test_send", target_param="campaign_id"),
    AuditedRoute("POST", "/suppressions", "suppression.add", target_field="email", details=("reason",)),
    AuditedRoute("DELETE", "/suppressions/{email}", "suppression.remove", target_param="email"),
    AuditedRoute("PUT", "/sending-policy", "sending_policy.update"),
    AuditedRoute("POST", "/u/{token}", "suppression.unsubscribe"),
)
