"""The analytics service's domain errors."""

from __future__ import annotations

from herald_common.errors import NotFound


class CampaignNotFound(NotFound):
    """Unknown campaign, or another tenant's (the two answer alike)."""

    code = "CampaignNotFound"
