"""The delivery ledger on DynamoDB: one item per recipient, every transition a conditional write.

`counted` (BOOL) marks a final entry whose outcome is already in the campaign's counters. Setting it and adding to
the counters happen in one transaction, so an outcome is counted exactly once even when a processor dies between
sending and counting: whoever handles the batch next finds the uncounted final entries and counts them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import ClientError

from herald_common.delivery_states import finalize_move, ledger_move
from herald_processor.counting import LedgerCounting
from herald_processor.domain import LedgerEntry, LedgerState, Settlement
from herald_processor.repository import batch_get, is_condition_failure, utc_now_iso
from herald_processor.transactions import transact_each

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from herald_processor.domain import Campaign, SendOutcome

log = structlog.get_logger("herald.processor.ledger")


# The moves' conditions come from the kit (herald_common.delivery_states); the values they name are set below.
_CLAIM, _CLAIM_VALUES = ledger_move("claim").condition()
_UNCLAIMED = f"attribute_not_exists(#s) OR {_CLAIM}"  # no row yet: the claim creates it
_RECLAIM, _RECLAIM_VALUES = ledger_move("reclaim_in_doubt").condition()
_OURS, _OURS_VALUES = ledger_move("mark_sent").condition()  # release, end_lease, mark_*: the same source and guard
_GIVE_UP, _GIVE_UP_VALUES = ledger_move("give_up").condition()
IN_DOUBT_RESEND_REASON = "in_doubt_resend"


def parse_entry(item: Mapping[str, Any]) -> LedgerEntry:
    def number(name: str) -> int | None:
        value = item.get(name)
        return int(value["N"]) if value and "N" in value else None

    state = item.get("state", {}).get("S")
    return LedgerEntry(
        email=str(item["email"]["S"]),
        state=LedgerState(state) if state else LedgerState.PENDING,
        lease_owner=item.get("leaseOwner", {}).get("S"),
        lease_expires_at=number("leaseExpiresAt"),
        attempt=number("attempt") or 0,
        counted=bool(item.get("counted", {}).get("BOOL", False)),
        in_doubt_resends=number("inDoubtResends") or 0,
    )


class DynamoDeliveryLedger(LedgerCounting):
    """`DeliveryLedger` on the ledger table (pk `campaignKey`, sk `email`)."""

    async def _update(
        self, campaign: Campaign, email: str, update: str, condition: str, values: dict[str, Any], **extra: Any
    ) -> dict[str, Any] | None:
        """The conditional UpdateItem every transition is; None when its condition did not hold."""
        try:
            response = await self._db.update_item(
                TableName=self._table,
                Key=self._key(campaign, email),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":now": {"S": utc_now_iso()}, **values},
                **extra,
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return dict(response.get("Attributes") or {})

    async def snapshot(self, campaign: Campaign, emails: Sequence[str]) -> dict[str, LedgerEntry]:
        """The current entries of these recipients (absent ones are left out)."""
        keys = [self._key(campaign, e) for e in dict.fromkeys(emails)]
        return {entry.email: entry for entry in map(parse_entry, await batch_get(self._db, self._table, keys))}

    async def claim(
        self, campaign: Campaign, email: str, *, owner: str, batch_id: str, lease_seconds: int
    ) -> LedgerEntry | None:
        """Take the recipient for sending (only if unclaimed): the new entry, or None with the entry left as it was."""
        attributes = await self._update(
            campaign,
            email,
            "SET #s = :sending, leaseOwner = :owner, leaseExpiresAt = :exp, batchId = :batch, updatedAt = :now "
            "ADD attempt :one",
            _UNCLAIMED,
            _CLAIM_VALUES
            | {
                ":sending": {"S": LedgerState.SENDING.value},
                ":owner": {"S": owner},
                ":exp": {"N": str(int(time.time()) + lease_seconds)},
                ":batch": {"S": batch_id},
                ":one": {"N": "1"},
            },
            ReturnValues="ALL_NEW",
        )
        return parse_entry(attributes) if attributes is not None else None

    async def finalize_unclaimed(
        self, campaign: Campaign, email: str, state: LedgerState, *, batch_id: str, reason: str | None
    ) -> bool:
        """Give an unclaimed recipient a final state without sending (invalid, suppressed, cancelled, failed)."""
        finalize_move(state)  # only the final states the table allows from `pending`
        values: dict[str, Any] = _CLAIM_VALUES | {":state": {"S": state.value}, ":batch": {"S": batch_id}}
        update = "SET #s = :state, batchId = :batch, updatedAt = :now"
        if reason:
            update += ", reason = :reason"
            values[":reason"] = {"S": reason}
        return await self._update(campaign, email, update, _UNCLAIMED, values) is not None

    async def resolve_in_doubt(
        self, campaign: Campaign, entry: LedgerEntry, *, reconcile_window: float = 0.0, reason: str = "lease_expired"
    ) -> bool:
        """A claim whose lease ran out more than `reconcile_window` seconds ago with no SES Send event to reconcile
        it: the send may have happened, so it becomes final `unknown`, never re-sent."""
        return (
            await self._update(
                campaign,
                entry.email,
                "SET #s = :unknown, reason = :reason, updatedAt = :now",
                _GIVE_UP,
                _GIVE_UP_VALUES
                | {
                    ":unknown": {"S": LedgerState.UNKNOWN.value},
                    ":reason": {"S": reason},
                    ":cutoff": {"N": str(int(time.time() - reconcile_window))},
                },
            )
            is not None
        )

    async def mark(self, campaign: Campaign, email: str, owner: str, outcome: SendOutcome, state: LedgerState) -> bool:
        """Record the final outcome of our own claim; False when the lease was lost meanwhile."""
        update, values = _final_update(state, outcome)
        values |= _OURS_VALUES | {":owner": {"S": owner}}
        return await self._update(campaign, email, update, _OURS, values) is not None

    async def release(self, campaign: Campaign, email: str, owner: str) -> bool:
        """Give our claim back (nothing was sent): the recipient is `pending` again."""
        values = _OURS_VALUES | {":owner": {"S": owner}, ":pending": {"S": LedgerState.PENDING.value}}
        update = "SET #s = :pending, updatedAt = :now REMOVE leaseOwner, leaseExpiresAt"
        return await self._update(campaign, email, update, _OURS, values) is not None

    async def claim_many(
        self,
        campaign: Campaign,
        seen: Mapping[str, int],
        *,
        owner: str,
        batch_id: str,
        lease_seconds: int,
        in_doubt: Mapping[str, int] | None = None,
    ) -> dict[str, LedgerEntry]:
        """Take every recipient of `seen` (email → the attempt its entry had when looked at) that is still unclaimed
        and unchanged since, in as few transactions as DynamoDB allows; the new entries of those taken. A recipient
        of `in_doubt` (email → epoch s) whose entry is in doubt with its lease ended before then is taken too, to be
        sent again (HERALD_IN_DOUBT=resend)."""
        in_doubt = in_doubt or {}
        expires = int(time.time()) + lease_seconds
        values = _CLAIM_VALUES | {
            ":sending": {"S": LedgerState.SENDING.value},
            ":owner": {"S": owner},
            ":exp": {"N": str(expires)},
            ":batch": {"S": batch_id},
            ":now": {"S": utc_now_iso()},
        }
        update = (
            "SET #s = :sending, leaseOwner = :owner, leaseExpiresAt = :exp, batchId = :batch, updatedAt = :now, "
            "attempt = :next"
        )
        # Recorded on the row of a recipient sent again: how often and why.
        resend_values = _RECLAIM_VALUES | {
            ":resend": {"S": IN_DOUBT_RESEND_REASON},
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
        }
        resend_update = update + ", reason = :resend, inDoubtResends = if_not_exists(inDoubtResends, :zero) + :one"
        # `attempt` must still be what we saw: a claim made and given back meanwhile makes us look again.
        unchanged = "(attribute_not_exists(attempt) OR attempt = :seen)"

        def action(email: str) -> dict[str, Any]:
            attempt = {":seen": {"N": str(seen[email])}, ":next": {"N": str(seen[email] + 1)}}
            cutoff = in_doubt.get(email)
            if cutoff is None:
                return self._ledger_update(campaign, email, update, f"({_UNCLAIMED}) AND {unchanged}", values | attempt)
            return self._ledger_update(
                campaign,
                email,
                resend_update,
                f"(({_UNCLAIMED}) OR ({_RECLAIM})) AND {unchanged}",
                values | resend_values | attempt | {":cutoff": {"N": str(cutoff)}},
            )

        lost = await transact_each(self._db, list(seen), action)
        if lost:
            # A transaction that reached DynamoDB but whose answer was lost is tried again and then "fails" on our
            # own claim: an entry that carries our owner is ours.
            current = await self.snapshot(campaign, sorted(lost))
            lost -= {
                e for e, entry in current.items() if entry.state is LedgerState.SENDING and entry.lease_owner == owner
            }
        return {
            email: LedgerEntry(email, LedgerState.SENDING, owner, expires, attempt + 1)
            for email, attempt in seen.items()
            if email not in lost
        }

    async def settle_many(self, campaign: Campaign, owner: str, settlements: Sequence[Settlement]) -> set[str]:
        """Record final outcomes (and give back claims nothing was sent for) of our own claims, in as few
        transactions as DynamoDB allows; the emails whose lease was lost meanwhile (left as they were)."""
        by_email = {s.email: s for s in settlements}
        now = utc_now_iso()

        def action(email: str) -> dict[str, Any]:
            settlement = by_email[email]
            values: dict[str, Any] = _OURS_VALUES | {":owner": {"S": owner}, ":now": {"S": now}}
            if settlement.state is None:
                values[":pending"] = {"S": LedgerState.PENDING.value}
                update = "SET #s = :pending, updatedAt = :now REMOVE leaseOwner, leaseExpiresAt"
            elif settlement.state is LedgerState.SENDING:
                # In doubt (SES may have sent it): still `sending`, its lease over, so the reconcile window starts.
                values[":ended"] = {"N": str(int(time.time()))}
                update = "SET leaseExpiresAt = :ended, updatedAt = :now"
                if settlement.outcome is not None and settlement.outcome.reason:
                    update += ", reason = :reason"
                    values[":reason"] = {"S": settlement.outcome.reason[:500]}
            else:
                update, extra = _final_update(settlement.state, settlement.outcome)
                values |= extra
            return self._ledger_update(campaign, email, update, _OURS, values)

        return await transact_each(self._db, list(by_email), action)

    def _ledger_update(
        self, campaign: Campaign, email: str, update: str, condition: str, values: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": self._key(campaign, email),
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#s": "state"},
                "ExpressionAttributeValues": values,
            }
        }


def _final_update(state: LedgerState, outcome: SendOutcome | None) -> tuple[str, dict[str, Any]]:
    """The UpdateExpression (and its values) that records a final outcome of a send."""
    values: dict[str, Any] = {":state": {"S": state.value}}
    update = "SET #s = :state, updatedAt = :now"
    if outcome is not None and outcome.message_id:
        update += ", messageId = :mid"
        values[":mid"] = {"S": outcome.message_id}
    if state is LedgerState.SENT:
        update += ", sentAt = :now"
    if outcome is not None and outcome.reason:
        update += ", reason = :reason"
        values[":reason"] = {"S": outcome.reason[:500]}
    return update, values
