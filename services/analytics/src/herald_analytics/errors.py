"""The analytics service's domain errors."""

from __future__ import annotations

from herald_common.errors import BadRequest, HeraldError, NotFound


class CampaignNotFound(NotFound):
    """Unknown campaign, or another tenant's (the two answer alike)."""

    code = "CampaignNotFound"


class InvalidPageToken(BadRequest):
    """A `nextToken` this service did not hand out (or for another campaign)."""

    code = "InvalidPageToken"


class TooManyStreams(HeraldError):
    """The tenant already holds as many live streams on this replica as it may."""

    status_code = 429
    code = "TooManyStreams"
