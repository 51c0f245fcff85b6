"""Campaign routes: parse, call the service, answer. Rules live in service.py and rules.py."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from herald_campaign.campaigns.errors import UnsupportedMediaType
from herald_campaign.campaigns.models import CampaignStatus
from herald_campaign.campaigns.parsers import iter_csv_recipients, iter_json_recipients
from herald_campaign.campaigns.rules import CampaignAction
from herald_campaign.campaigns.schemas import (
    CampaignCreate,
    CampaignPage,
    CampaignUpdate,
    CampaignView,
    RecipientsAdded,
    RetryResult,
    SendRequest,
    StatusChange,
    TestFailed,
    TestSendRequest,
    TestSendResult,
    TestSent,
)
from herald_campaign.openapi_docs import FORBIDDEN, NOT_DRAFT, NOT_FOUND, TOO_LARGE, TRANSITION, error, errors
from herald_common.auth import Marketer, Viewer
from herald_common.csv_export import CsvChunks

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from herald_campaign.campaigns.service import CampaignService

router = APIRouter(prefix="/campaigns", tags=["campaigns"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["recipients"],
                    "properties": {
                        "recipients": {"type": "array", "items": {"$ref": "#/components/schemas/RecipientIn"}}
                    },
                },
                "example": {
                    "recipients": [
                        {"email": "ada@example.com", "data": {"first_name": "Ada", "city": "London"}},
                        {"email": "bob@example.com"},
                    ]
                },
            },
            "text/csv": {
                "schema": {"type": "string", "description": "A header row with `email`; other columns become `data`."},
                "example": "email,first_name,city\r\nada@example.com,Ada,London\r\nbob@example.com,Bob,Paris\r\n",
            },
        },
    }
}


def _service(request: Request) -> "CampaignService":
    service: CampaignService = request.app.state.campaign_service
    return service


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignView,
    responses=errors((403, FORBIDDEN), (413, TOO_LARGE)),
)
async def create_campaign(body: CampaignCreate, principal: Marketer, request: Request) -> CampaignView:
    """Create a draft campaign. Inline recipients are validated, normalised and de-duplicated; the campaign's counts
    say how many were accepted, invalid or duplicates."""
    campaign = await _service(request).create(principal.tenant_id, body)
    return CampaignView.of(campaign)


@router.get("", response_model=CampaignPage, responses=errors())
async def list_campaigns(
    principal: Viewer,
    request: Request,
    status_filter: Annotated[CampaignStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> CampaignPage:
    """The caller's tenant's campaigns, newest first, optionally of one status. Pass `nextToken` from one page to get
    the next; a filtered page may be shorter than `limit` and still have a next one."""
    campaigns, token = await _service(request).list_page(
        principal.tenant_id, status=status_filter, limit=limit, next_token=next_token
    )
    return CampaignPage(campaigns=[CampaignView.of(c) for c in campaigns], next_token=token)


@router.get("/{campaign_id}", response_model=CampaignView, responses=errors((404, NOT_FOUND)))
async def get_campaign(campaign_id: str, principal: Viewer, request: Request) -> CampaignView:
    """One campaign: definition, status, schedule, throttle and counts. Another tenant's campaign answers 404."""
    return CampaignView.of(await _service(request).get(principal.tenant_id, campaign_id))


@router.post(
    "/{campaign_id}/recipients",
    response_model=RecipientsAdded,
    openapi_extra=_UPLOAD_BODY,
    responses=errors(
        (403, FORBIDDEN),
        (404, NOT_FOUND),
        (409, NOT_DRAFT),
        (413, error("Too many recipients in one upload", "PayloadTooLarge", "At most 1000000 recipients per upload.")),
        (
            415,
            error("Neither JSON nor CSV", "UnsupportedMediaType", "Send recipients as application/json or text/csv."),
        ),
    ),
)
async def add_recipients(campaign_id: str, principal: Marketer, request: Request) -> RecipientsAdded:
    """Append recipients to a draft: JSON `{recipients: [{email, data?}]}` or `text/csv` with an `email` column.
    The body is parsed as it streams in and stored in parts, so very large lists are fine. 409 unless draft."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    items: AsyncIterator[Any]
    if content_type in ("application/json", ""):
        items = iter_json_recipients(request.stream())
    elif content_type in ("text/csv", "application/csv"):
        items = iter_csv_recipients(request.stream())
    else:
        raise UnsupportedMediaType("Send recipients as application/json or text/csv.")
    counts = await _service(request).add_recipients(principal.tenant_id, campaign_id, items)
    return RecipientsAdded(**counts.as_response())


@router.post(
    "/{campaign_id}/send",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StatusChange,
    responses=errors(
        (
            400,
            error(
                "Cancelled or failed (`CampaignNotSendable`), no recipients (`NoRecipients`), unknown template "
                "(`TemplateNotFound`)",
                "NoRecipients",
                "This campaign has no valid recipients; add some before sending.",
            ),
        ),
        (403, FORBIDDEN),
        (404, NOT_FOUND),
        (
            409,
            error(
                "Already sending or paused (`CampaignAlreadySending`), scheduled (`CampaignAlreadyScheduled`) or sent "
                "(`CampaignAlreadySent`); or the loser of two concurrent sends",
                "CampaignAlreadySending",
                "This campaign is already being sent (status sending).",
            ),
        ),
    ),
)
async def send_campaign(
    campaign_id: str,
    body: SendRequest,
    principal: Marketer,
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> StatusChange:
    """Send now (`sendAt: "immediate"`) or schedule (`sendAt` an ISO-8601 time). Answers 202 at once; batches are
    queued in the background. 404 unknown; 409 already sent, sending or scheduled; 400 cancelled, failed, no
    recipients or unknown template; 403 without the marketer role."""
    new_status = await _service(request).send(principal, campaign_id, body, authorization)
    return StatusChange(campaign_id=campaign_id, status=new_status)


_TRANSITION_ERRORS = errors((403, FORBIDDEN), (404, NOT_FOUND), (409, TRANSITION))


async def _change(request: Request, principal: Marketer, campaign_id: str, action: CampaignAction) -> StatusChange:
    new_status = await _service(request).change_status(principal, campaign_id, action)
    return StatusChange(campaign_id=campaign_id, status=new_status)


@router.post(
    "/{campaign_id}/pause",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StatusChange,
    responses=_TRANSITION_ERRORS,
)
async def pause_campaign(campaign_id: str, principal: Marketer, request: Request) -> StatusChange:
    """sending → paused: processors stop sending its batches until it is resumed. 409 from any other status."""
    return await _change(request, principal, campaign_id, CampaignAction.PAUSE)


@router.post(
    "/{campaign_id}/resume",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StatusChange,
    responses=_TRANSITION_ERRORS,
)
async def resume_campaign(campaign_id: str, principal: Marketer, request: Request) -> StatusChange:
    """paused → sending. 409 from any other status."""
    return await _change(request, principal, campaign_id, CampaignAction.RESUME)


@router.post(
    "/{campaign_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StatusChange,
    responses=_TRANSITION_ERRORS,
)
async def cancel_campaign(campaign_id: str, principal: Marketer, request: Request) -> StatusChange:
    """draft, scheduled, sending or paused → cancelled: nothing more is queued or sent. 409 otherwise."""
    return await _change(request, principal, campaign_id, CampaignAction.CANCEL)


@router.patch(
    "/{campaign_id}",
    response_model=CampaignView,
    responses=errors((403, FORBIDDEN), (404, NOT_FOUND), (409, NOT_DRAFT)),
)
async def update_campaign(
    campaign_id: str, body: CampaignUpdate, principal: Marketer, request: Request
) -> CampaignView:
    """Change a draft's `name`, `templateId`, `fromAddress`, `fromName`, `replyTo` or `tags` (`fromName` and
    `replyTo` may be null to clear them). 409 `CampaignNotDraft` once it has been sent, scheduled or cancelled."""
    return CampaignView.of(await _service(request).update(principal.tenant_id, campaign_id, body))


@router.delete(
    "/{campaign_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors((403, FORBIDDEN), (404, NOT_FOUND), (409, NOT_DRAFT)),
)
async def delete_campaign(campaign_id: str, principal: Marketer, request: Request) -> Response:
    """Delete a draft and its stored recipient list. 409 `CampaignNotDraft` for any other status."""
    await _service(request).delete(principal.tenant_id, campaign_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_INVALID_ROWS = errors(
    (
        200,
        {
            "description": "One JSON object per line (`{row, email, reason, data?}`), or CSV with `format=csv`",
            "content": {
                "application/x-ndjson": {"example": '{"row":3,"email":"not-an-address","reason":"invalid_address"}\n'},
                "text/csv": {"example": "row,email,reason,data\r\n3,not-an-address,invalid_address,\r\n"},
            },
        },
    ),
    (404, NOT_FOUND),
)


@router.get("/{campaign_id}/invalid", response_class=StreamingResponse, responses=_INVALID_ROWS)
async def invalid_rows(
    campaign_id: str,
    principal: Viewer,
    request: Request,
    fmt: Annotated[Literal["jsonl", "csv"] | None, Query(alias="format")] = None,
) -> StreamingResponse:
    """The rows refused at intake (inline and uploads), streamed: `row` is the item's 1-based position in its
    upload, `reason` one of `invalid_address`, `missing_email`, `invalid_data`, `data_too_large`. JSON lines by
    default; CSV with `?format=csv` or `Accept: text/csv`."""
    rows = await _service(request).invalid_rows(principal.tenant_id, campaign_id)
    as_csv = fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", ""))
    if as_csv:
        return StreamingResponse(
            _csv_lines(rows),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{campaign_id}-invalid.csv"'},
        )
    return StreamingResponse(_json_lines(rows), media_type="application/x-ndjson")


async def _json_lines(rows: "AsyncIterator[dict[str, Any]]") -> "AsyncIterator[bytes]":
    async for row in rows:
        yield json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


async def _csv_lines(rows: "AsyncIterator[dict[str, Any]]") -> "AsyncIterator[bytes]":
    # A refused row is what someone typed: the kit neutralises formula cells (OWASP CSV injection).
    chunks = CsvChunks(["row", "email", "reason", "data"])
    async for row in rows:
        data = row.get("data")
        chunk = chunks.add([row.get("row"), row.get("email"), row.get("reason"), json.dumps(data) if data else None])
        if chunk:
            yield chunk
    yield chunks.flush()


@router.post(
    "/{campaign_id}/test-send",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TestSendResult,
    responses=errors(
        (
            400,
            error(
                "The campaign's template does not exist (`TemplateNotFound`), or its sender fails sender "
                "authentication (`SenderNotAuthenticated`)",
                "SenderNotAuthenticated",
                "news@example.com cannot send: _dmarc.example.com has no DMARC record.",
            ),
        ),
        (403, FORBIDDEN),
        (404, NOT_FOUND),
        (
            409,
            error(
                "The campaign is sending, sent, cancelled or failed",
                "CampaignNotTestable",
                "Only a draft, scheduled or paused campaign can be test-sent; this one is cancelled.",
            ),
        ),
        (
            429,
            error(
                "The tenant's test emails for this hour are spent (`Retry-After` says when the hour ends)",
                "TestSendLimitExceeded",
                "This tenant may send 50 test emails an hour; this call would pass it. Try again later.",
            ),
        ),
    ),
)
async def send_test(
    campaign_id: str,
    body: TestSendRequest,
    principal: Marketer,
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> TestSendResult:
    """Render the campaign (pinned template version, else the latest) and send it to up to 10 addresses through
    SES, outside the statistics and the ledger: tagged `herald-test=true`, header `X-Herald-Test: true`, subject
    prefixed `[TEST]`, with a signed `List-Unsubscribe`. `data` personalises every test email. Every other sending
    rule holds: a draft, scheduled or paused campaign only (409), sender authentication as for a send (400),
    suppressed addresses skipped (`failed` with `suppressed`), and `HERALD_TEST_SEND_PER_HOUR` test emails per
    tenant per hour (429). A hard bounce or complaint puts the address on the suppression list. The campaign does
    not change."""
    sent, failed = await _service(request).test_send(principal.tenant_id, campaign_id, body, authorization)
    return TestSendResult(
        campaign_id=campaign_id,
        sent=[TestSent(email=e, message_id=m) for e, m in sent],
        failed=[TestFailed(email=e, error=err) for e, err in failed],
    )


@router.post(
    "/{campaign_id}/retry-failed",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RetryResult,
    responses=errors(
        (403, FORBIDDEN),
        (404, NOT_FOUND),
        (
            409,
            error(
                "Not sending, paused or sent (`CampaignNotRetryable`), or the previous call still running "
                "(`RetryInProgress`)",
                "CampaignNotRetryable",
                "A draft campaign has no failed recipients to retry.",
            ),
        ),
    ),
)
async def retry_failed(campaign_id: str, principal: Marketer, request: Request) -> RetryResult:
    """Re-queue the recipients that ended `failed` for a retryable reason (rendering, a missing template, SES
    throttling or a paused account, a soft bounce; never bounced, complained, suppressed or invalid ones). Each call
    re-queues what is failed at that moment, once, in batches `retry_<call>_<n>` on the campaign priority's queue; a
    `sent` campaign goes back to `sending` until they are final again. The call is recorded before the ledger is
    touched, so if this instance dies midway another one finishes it. 409 `CampaignNotRetryable` unless sending,
    paused or sent; 409 `RetryInProgress` while the previous call is still queueing."""
    new_status, call, requeued, batches = await _service(request).retry_failed(principal.tenant_id, campaign_id)
    return RetryResult(campaign_id=campaign_id, status=new_status, retry=call, requeued=requeued, batches=batches)
