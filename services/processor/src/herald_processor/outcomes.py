"""What becomes of a batch's outcomes: recorded ones go to its count, and recipients it never sent are settled."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from herald_common.metrics import EMAILS
from herald_processor.domain import LedgerEntry, LedgerState

if TYPE_CHECKING:
    from herald_processor.domain import Campaign, Settlement
    from herald_processor.policy import BatchPolicy
    from herald_processor.ports import DeliveryLedger

log = structlog.get_logger("herald.processor")


async def record_outcomes(
    ledger: DeliveryLedger,
    campaign: Campaign,
    finals: dict[str, LedgerState],
    settlements: list[Settlement],
    lost: set[str],
) -> None:
    """Final outcomes recorded go to the batch's count (`finals`); for those whose lease ran out meanwhile, the
    ledger says what they are now."""
    for settlement in settlements:
        if settlement.state is LedgerState.SENDING and settlement.email not in lost:
            EMAILS.labels("in_doubt").inc()
        elif settlement.state is not None and settlement.email not in lost:
            finals[settlement.email] = settlement.state
            EMAILS.labels(settlement.state.value).inc()
    lost_finals = [s for s in settlements if s.state is not None and s.email in lost]
    if not lost_finals:
        return
    # Someone made the recipient `unknown` (and counted it), or analytics reconciled it `sent` from the SES Send
    # event (uncounted: counted here, exactly once, by the ledger).
    current = await ledger.snapshot(campaign, [s.email for s in lost_finals])
    for settlement in lost_finals:
        outcome = settlement.outcome
        log.warning(
            "processor.lease_lost",
            recipient=settlement.email,
            outcome=settlement.state.value if settlement.state else None,
            messageId=outcome.message_id if outcome else None,
        )
        entry = current.get(settlement.email)
        if entry is not None and entry.state.is_final and not entry.counted:
            finals[settlement.email] = entry.state


async def settle_unsent(
    ledger: DeliveryLedger, campaign: Campaign, email: str, final: LedgerState, batch_id: str, policy: BatchPolicy
) -> bool:
    """A recipient a cancelled batch never sent gets `final`; `unknown` is for one in doubt (its first send may have
    happened), left `sending` by an earlier attempt. True when this call settled it."""
    if final is LedgerState.UNKNOWN:
        entry = LedgerEntry(email, LedgerState.SENDING)
        return await ledger.resolve_in_doubt(
            campaign, entry, reconcile_window=policy.reconcile_window, reason="campaign_cancelled"
        )
    return await ledger.finalize_unclaimed(campaign, email, final, batch_id=batch_id, reason="campaign_cancelled")
