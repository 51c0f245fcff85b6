"""The analytics service's domain errors."""

from __future__ import annotations

from herald_common.errors import BadRequest, NotFound


class CampaignNotFound(NotFound):
    """Unknown campaign, or another tenant's (the two answer alike)."""

    code = "CampaignNotFound"


class InvalidPageToken(BadRequest):
    """A `nextToken` this service did not hand out (or for another campaign)."""

    code = "InvalidPageToken"
