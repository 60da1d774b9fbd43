"""The money side of an order in the store: dispute holds and escrow movements.

Every write here is one transaction under the order's row lock (SELECT ... FOR UPDATE on
PostgreSQL, the single writer on SQLite), so a hold, a refund and a completion of the same
order are serialized: a completion either sees the hold and changes nothing, or came first.
The arithmetic is order_svc/escrow.py's; this module loads, applies and stores it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from order_svc import escrow
from order_svc.escrow import Entry, EntryKind, EntryState, Ledger
from order_svc.rules import IN_TRANSIT, OPEN, Escrow, Status
from order_svc.store import OrderEscrowEntryRow, OrderEventRow, OrderHoldRow, OrderRow, event_row
from platform_common.auth import Caller
from platform_common.errors import FailedPrecondition, NotFound
from platform_common.money import Money
from platform_common.sql import SqlStore


def holds_of(s: Session, order_id: str) -> list[OrderHoldRow]:
    """The disputes holding the order now."""
    query = select(OrderHoldRow).where(OrderHoldRow.order_id == order_id, OrderHoldRow.released_at.is_(None))
    return list(s.scalars(query.order_by(OrderHoldRow.held_at)))


def holds_ever(s: Session, order_id: str) -> int:
    """How many times a dispute began to hold the order (a generation for its buyer's
    confirmations: each hold event counts, a hold taken again included)."""
    query = select(func.count(OrderEventRow.id)).where(
        OrderEventRow.order_id == order_id, OrderEventRow.action == "DISPUTE_HOLD"
    )
    return int(s.scalar(query) or 0)


def generation(token: str) -> int:
    """An opening's incarnation, from its token "g<n>.<random>" (0 for others)."""
    head, dot, _ = token.partition(".")
    return int(head[1:]) if dot and head[:1] == "g" and head[1:].isdigit() and len(head) < 12 else 0


def entries_of(s: Session, order_ids: list[str]) -> dict[str, list[OrderEscrowEntryRow]]:
    out: dict[str, list[OrderEscrowEntryRow]] = {i: [] for i in order_ids}
    query = select(OrderEscrowEntryRow).where(OrderEscrowEntryRow.order_id.in_(order_ids))
    for e in s.scalars(query.order_by(OrderEscrowEntryRow.id)):
        out[e.order_id].append(e)
    return out


def ledger_of(row: OrderRow, entries: list[OrderEscrowEntryRow]) -> Ledger:
    return Ledger(
        paid=row.total_minor,
        released=row.escrow_released_minor,
        entries=tuple(
            Entry(e.key, EntryKind(e.kind), e.amount_minor, EntryState(e.state), e.covered) for e in entries
        ),
        closed=row.escrow_released_at is not None or row.status == Status.CANCELLED.value,
    )


def escrow_status(ledger: Ledger) -> Escrow:
    if ledger.fully_refunded:
        return Escrow.RETURNED
    if not ledger.closed or ledger.held > 0:
        return Escrow.HELD
    return Escrow.RELEASED


@dataclass(frozen=True)
class Completion:
    row: OrderRow
    # Disputes holding the order: the completion was not made (nothing changed).
    holds: list[OrderHoldRow]
    released: int


@dataclass(frozen=True)
class HoldResult:
    row: OrderRow
    # The hold as stored, or None when the order no longer needs one (it completed or ended).
    hold: OrderHoldRow | None


class LedgerStore:
    def __init__(self, sql: SqlStore) -> None:
        self._sql = sql

    def _locked(self, s: Session, order_id: str) -> OrderRow:
        row = s.get(OrderRow, order_id, with_for_update=True)
        if row is None:
            raise NotFound(f"order {order_id} not found")
        return row

    def _event(
        self, s: Session, row: OrderRow, at: datetime, actor: Caller, action: str, detail: str
    ) -> None:
        s.add(event_row(row.id, at, actor.id, actor.role.value, action, detail))

    def _store(
        self, s: Session, row: OrderRow, ledger: Ledger, at: datetime, reason: str, issuer: str
    ) -> None:
        """Write the ledger back: changed entries, the released amount and the escrow status."""
        ledger.check(held_open=bool(holds_of(s, row.id)))
        stored = {e.key: e for e in entries_of(s, [row.id])[row.id]}
        for entry in ledger.entries:
            current = stored.get(entry.key)
            if current is None:
                s.add(
                    OrderEscrowEntryRow(
                        order_id=row.id,
                        key=entry.key,
                        kind=entry.kind.value,
                        amount_minor=entry.amount,
                        state=entry.state.value,
                        covered=entry.covered,
                        reason=reason,
                        issuer=issuer,
                        created_at=at,
                        updated_at=at,
                    )
                )
            elif current.state != entry.state.value:
                current.state, current.updated_at = entry.state.value, at
        row.escrow_released_minor = ledger.released
        row.escrow_status = escrow_status(ledger).value
        row.updated_at = at

    # --- holds --------------------------------------------------------------------------------

    async def hold(
        self, order_id: str, dispute_id: str, token: str, at: datetime, actor: Caller
    ) -> HoldResult:
        return await self._sql.write(self._hold, order_id, dispute_id, token, at, actor)

    def _hold(self, order_id: str, dispute_id: str, token: str, at: datetime, actor: Caller) -> HoldResult:
        """Record that the dispute holds the order. A newer opening of the dispute takes the hold
        over; a late call of an opening that was abandoned meanwhile (its own token, released)
        holds nothing; the dispute's own freeze (token "") always holds, and owns the hold from
        then on (no opening's release ends it)."""
        with self._sql.sessions() as s:
            row = self._locked(s, order_id)
            if row.status == Status.CANCELLED.value:
                raise FailedPrecondition(f"order {row.id} is CANCELLED; a dispute cannot hold it")
            if row.status not in {x.value for x in (*OPEN, Status.COMPLETED)}:
                return HoldResult(row, None)  # refunded in full: nothing left to hold back
            hold = s.get(OrderHoldRow, (order_id, dispute_id))
            if hold is None:
                hold = OrderHoldRow(order_id=order_id, dispute_id=dispute_id, token=token, held_at=at)
                s.add(hold)
                detail = f"dispute {dispute_id} holds the order and its escrow"
                self._event(s, row, at, actor, "DISPUTE_HOLD", detail)
            elif hold.released_at is not None:
                if token and generation(token) <= generation(hold.token):
                    return HoldResult(row, None)  # that opening was abandoned: it holds nothing
                hold.token, hold.held_at, hold.released_at = token, at, None
                self._event(s, row, at, actor, "DISPUTE_HOLD", f"dispute {dispute_id} holds the order again")
            elif not token:
                hold.token = ""  # the dispute's workflow holds it now: no opening can release it
            elif hold.token and generation(token) > generation(hold.token):
                hold.token = token  # a retried opening took the opening over
            s.commit()
            return HoldResult(row, hold)

    async def release_hold(
        self, order_id: str, dispute_id: str, token: str | None, at: datetime, actor: Caller
    ) -> bool:
        """End the dispute's hold. With a token, only the hold that token recorded (an abandoned
        opening never ends a hold a newer opening has taken over). True if no hold is left. When
        the last hold of a completed order ends, what escrow kept for it goes to the seller."""
        return await self._sql.write(self._release_hold, order_id, dispute_id, token, at, actor)

    def _release_hold(
        self, order_id: str, dispute_id: str, token: str | None, at: datetime, actor: Caller
    ) -> bool:
        with self._sql.sessions() as s:
            row = self._locked(s, order_id)
            hold = s.get(OrderHoldRow, (order_id, dispute_id))
            if hold is None and token is not None:
                # The opening's hold has not arrived (a slow or stalled call): record it as released,
                # so that when it does arrive it holds nothing (see `_hold`).
                s.add(
                    OrderHoldRow(
                        order_id=order_id, dispute_id=dispute_id, token=token, held_at=at, released_at=at
                    )
                )
                s.commit()
                return True
            if hold is None or hold.released_at is not None:
                return True
            if token is not None and hold.token != token:
                return False
            hold.released_at = at
            detail = f"dispute {dispute_id} no longer holds the order"
            self._event(s, row, at, actor, "DISPUTE_HOLD_RELEASED", detail)
            s.flush()
            if row.status == Status.COMPLETED.value and not holds_of(s, order_id):
                ledger, rest = escrow.release_unclaimed(ledger_of(row, entries_of(s, [row.id])[row.id]))
                if rest:
                    self._store(s, row, ledger, at, "", "")
                    kept = f"{Money(rest, row.currency)} kept in escrow during the dispute released to the seller"
                    self._event(s, row, at, actor, "ESCROW_RELEASED", kept)
            s.commit()
            return True

    # --- escrow -------------------------------------------------------------------------------

    async def record_refund(
        self,
        order_id: str,
        refund_id: str,
        amount: Money,
        state: EntryState,
        reason: str,
        issuer: str,
        at: datetime,
        actor: Caller,
    ) -> OrderRow:
        return await self._sql.write(
            self._record_refund, order_id, refund_id, amount, state, reason, issuer, at, actor
        )

    def _record_refund(
        self,
        order_id: str,
        refund_id: str,
        amount: Money,
        state: EntryState,
        reason: str,
        issuer: str,
        at: datetime,
        actor: Caller,
    ) -> OrderRow:
        with self._sql.sessions() as s:
            row = self._locked(s, order_id)
            if amount.currency != row.currency:
                raise FailedPrecondition(f"order {row.id} was paid in {row.currency}, not {amount.currency}")
            entries = entries_of(s, [row.id])[row.id]
            before = ledger_of(row, entries)
            held_open = bool(holds_of(s, order_id))

            def cancel(ledger: Ledger, key: str, minor: int) -> Ledger:
                return escrow.cancel(ledger, key, minor, held_open)

            apply: dict[EntryState, Callable[[Ledger, str, int], Ledger]] = {
                EntryState.PENDING: escrow.register,
                EntryState.SETTLED: escrow.settle,
                EntryState.CANCELLED: cancel,
            }
            after = apply[state](before, refund_id, amount.minor_units)
            if after == before:
                return row  # a repeated report: nothing changes
            entry = after.entry(refund_id)
            assert entry is not None
            self._store(s, row, after, at, reason, issuer)
            money = Money(amount.minor_units, row.currency)
            by = f" (issued by {issuer}, {reason})" if issuer else ""
            detail = {
                EntryState.PENDING: f"refund {refund_id} of {money} pending{by}"
                + (
                    ""
                    if entry.covered
                    else "; issued after the release, it will be recovered from the seller"
                ),
                EntryState.SETTLED: f"refund {refund_id} of {money} paid to the buyer"
                + ("" if entry.covered else "; recovered from the seller")
                + (
                    f" ({Money(after.released - before.released, row.currency)} of it from what escrow still held)"
                    if after.released > before.released
                    else ""
                ),
                EntryState.CANCELLED: f"refund {refund_id} of {money} failed for good; "
                + (
                    "released to the seller"
                    if after.released > before.released
                    else "kept in escrow while a dispute is open"
                    if held_open and entry.covered and before.closed
                    else "nothing moved"
                ),
            }[state]
            self._event(s, row, at, actor, f"REFUND_{state.value}", detail)
            if after.fully_refunded and row.status in {x.value for x in (*OPEN, Status.COMPLETED)}:
                row.status = Status.REFUNDED.value
                self._event(
                    s, row, at, actor, "ORDER_REFUNDED", "the whole payment was refunded to the buyer"
                )
            s.commit()
            return row

    async def complete(self, order_id: str, reason: str, at: datetime, actor: Caller) -> Completion:
        return await self._sql.write(self._complete, order_id, reason, at, actor)

    def _complete(self, order_id: str, reason: str, at: datetime, actor: Caller) -> Completion:
        """Complete a shipped order and release what no refund claims; a held order is left as it
        is (the holds are returned), an order that already ended is returned unchanged."""
        with self._sql.sessions() as s:
            row = self._locked(s, order_id)
            if row.status in (Status.COMPLETED.value, Status.REFUNDED.value):
                return Completion(row, [], 0)  # repeated, or refunded in full meanwhile
            if row.status not in {x.value for x in IN_TRANSIT}:
                raise FailedPrecondition(f"order {row.id} is {row.status}; only shipped orders can complete")
            holds = holds_of(s, order_id)
            if holds:
                return Completion(row, holds, 0)
            ledger, released = escrow.release(ledger_of(row, entries_of(s, [row.id])[row.id]))
            row.status = Status.COMPLETED.value
            row.completed_at, row.completion_reason, row.escrow_released_at = at, reason, at
            self._store(s, row, ledger, at, "", "")
            kept = f"; {Money(ledger.held, row.currency)} held for pending refunds" if ledger.held else ""
            self._event(
                s,
                row,
                at,
                actor,
                "ORDER_COMPLETED",
                f"{reason}; {Money(released, row.currency)} released to the seller{kept}",
            )
            s.commit()
            return Completion(row, [], released)

    async def cancel(self, order_id: str, reason: str, at: datetime, actor: Caller) -> OrderRow:
        return await self._sql.write(self._cancel, order_id, reason, at, actor)

    def _cancel(self, order_id: str, reason: str, at: datetime, actor: Caller) -> OrderRow:
        with self._sql.sessions() as s:
            row = self._locked(s, order_id)
            if row.status != Status.PAID.value:
                raise FailedPrecondition(
                    f"order {row.id} is {row.status}; only PAID (unshipped) orders can be cancelled"
                )
            holds = holds_of(s, order_id)
            if holds:
                raise FailedPrecondition(
                    f"a dispute is open on order {row.id}; it can be cancelled once the dispute ends",
                    "DISPUTE_OPEN",
                )
            before = ledger_of(row, entries_of(s, [row.id])[row.id])
            if before.pending:
                raise FailedPrecondition(
                    f"a refund of order {row.id} is in progress; it can be cancelled once it settles"
                )
            ledger, returned = escrow.cancel_order(before)
            row.status, row.cancelled_at, row.cancel_reason = Status.CANCELLED.value, at, reason
            self._store(s, row, ledger, at, "CANCELLATION", actor.id)
            detail = f"{Money(returned, row.currency)} returned to the buyer" + (
                f": {reason}" if reason else ""
            )
            self._event(s, row, at, actor, "ORDER_CANCELLED", detail)
            s.commit()
            return row
