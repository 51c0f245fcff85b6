"""`GET /campaigns/{id}/report`: the delivery report, as JSON pages or (`Accept: text/csv`) the whole CSV."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from herald_analytics.report.schemas import DeliveryReport, LedgerState
from herald_analytics.report.service import ReportService
from herald_common.auth import Viewer

router = APIRouter(prefix="/campaigns", tags=["report"])

MAX_PAGE = 1000
_CSV = {
    200: {
        "description": "A page of the report; with `Accept: text/csv` the whole report as CSV",
        "content": {
            "text/csv": {
                "example": "email,state,messageId,attempts,reason,sentAt,updatedAt\r\n"
                "ada@example.com,sent,0100-abc,1,,2026-12-01T10:00:00Z,2026-12-01T10:00:00Z\r\n"
            }
        },
    }
}


def report_service(request: Request) -> ReportService:
    service: ReportService = request.app.state.report_service
    return service


Reports = Annotated[ReportService, Depends(report_service)]


@router.get("/{campaign_id}/report", response_model=DeliveryReport, responses=_CSV)  # type: ignore[arg-type]
async def delivery_report(
    campaign_id: str,
    principal: Viewer,
    service: Reports,
    request: Request,
    state: Annotated[list[LedgerState] | None, Query(description="ledger states to keep (repeatable)")] = None,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> DeliveryReport | StreamingResponse:
    """Who got the campaign and who didn't: each recipient's ledger state, SES message id, attempts and reason, in
    address order, `limit` per page (pass `nextCursor` back as `cursor`), filtered by `state`; `summary` counts the
    whole campaign and sets Herald's sent count against the SES Send events seen. With `Accept: text/csv` the whole
    report streams as CSV (cells a spreadsheet would run as formulas are neutralised with a leading `'`)."""
    states = frozenset(state or ())
    if "text/csv" in request.headers.get("accept", ""):
        chunks = await service.csv(principal.tenant_id, campaign_id, states)
        return StreamingResponse(
            chunks,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{campaign_id}-report.csv"'},
        )
    return await service.page(principal.tenant_id, campaign_id, states, limit, cursor)
