"""The campaign service's domain errors: each carries its HTTP status and the `error` code clients see."""

from __future__ import annotations

from herald_common.errors import (
    BadRequest,
    Conflict,
    HeraldError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unprocessable,
)


class CampaignNotFound(NotFound):
    code = "CampaignNotFound"


class CampaignAlreadySent(Conflict):
    code = "CampaignAlreadySent"


class CampaignAlreadySending(Conflict):
    code = "CampaignAlreadySending"


class CampaignAlreadyScheduled(Conflict):
    code = "CampaignAlreadyScheduled"


class CampaignNotSendable(BadRequest):
    """Cancelled or failed: it can never be sent."""

    code = "CampaignNotSendable"


class NoRecipients(BadRequest):
    code = "NoRecipients"


class CampaignIdMismatch(BadRequest):
    code = "CampaignIdMismatch"


class CampaignNotDraft(Conflict):
    """Recipients can be added only while the campaign is a draft."""

    code = "CampaignNotDraft"


class InvalidTransition(Conflict):
    code = "InvalidTransition"


class CampaignNotRetryable(Conflict):
    """retry-failed on a campaign that was never sent (or was cancelled or failed)."""

    code = "CampaignNotRetryable"


class TemplateNotFound(BadRequest):
    code = "TemplateNotFound"


class TemplateServiceUnavailable(ServiceUnavailable):
    code = "TemplateServiceUnavailable"


class MalformedRecipients(Unprocessable):
    """A recipients upload that is not the JSON or CSV it claims to be."""


class UnsupportedMediaType(HeraldError):
    status_code = 415
    code = "UnsupportedMediaType"


class NotImplementedYet(HeraldError):
    status_code = 501
    code = "NotImplemented"


class RetryInProgress(Conflict):
    """retry-failed while the campaign's previous retry-failed call is still queueing (or being resumed)."""

    code = "RetryInProgress"


class RecipientLimitExceeded(PayloadTooLarge):
    """More stored recipients than one campaign may hold (`HERALD_MAX_CAMPAIGN_RECIPIENTS`)."""

    code = "RecipientLimitExceeded"


class CampaignNotTestable(Conflict):
    """A test send of a campaign that is sending, sent, cancelled or failed."""

    code = "CampaignNotTestable"


class TestSendLimitExceeded(HeraldError):
    """The tenant's test emails for this hour are spent."""

    __test__ = False  # not a pytest test class
    status_code = 429
    code = "TestSendLimitExceeded"
