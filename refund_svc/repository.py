"""Refund ledger operations. Creation reserves the amount on the order's balance row in the same
transaction as the refund row, so concurrent refunds can never sum above what was paid."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from platform_common.errors import FailedPrecondition, NotFound, Unavailable
from platform_common.metrics import Gauge
from platform_common.money import Money
from platform_common.paging import keyset, split_page
from platform_common.sql import SqlStore
from refund_svc.contract import RefundStatus
from refund_svc.gauges import refund_gauges
from refund_svc.store import MIGRATIONS, OrderBalanceRow, RefundEventRow, RefundRow


@dataclass(frozen=True)
class NewRefund:
    idempotency_key: str
    fingerprint: str
    order_id: str
    dispute_id: str
    amount: Money
    reason: str
    kind: str
    issuer: str


@dataclass(frozen=True)
class OrderFacts:
    """What RefundService needs to know about the order, from OrderService."""

    order_id: str
    buyer_id: str
    seller_id: str
    paid: Money
    payment_reference: str


class RefundRepository:
    def __init__(self, url: str) -> None:
        self._sql = SqlStore(url, MIGRATIONS, "refund-db")

    def close(self) -> None:
        self._sql.close()

    def gauges(self) -> list[Gauge]:
        """The platform gauges (refund_svc/gauges.py), read now: called by a metrics scrape."""
        with self._sql.sessions() as s:
            return refund_gauges(s)

    # --- reads --------------------------------------------------------------------------------

    async def by_key(self, key: str) -> RefundRow | None:
        return await self._sql.run(self._by_key, key)

    def _by_key(self, key: str) -> RefundRow | None:
        with self._sql.sessions() as s:
            return s.scalar(select(RefundRow).where(RefundRow.idempotency_key == key))

    async def get(self, refund_id: str) -> tuple[RefundRow, list[RefundEventRow]]:
        return await self._sql.run(self._get, refund_id)

    def _get(self, refund_id: str) -> tuple[RefundRow, list[RefundEventRow]]:
        with self._sql.sessions() as s:
            row = s.get(RefundRow, refund_id)
            if row is None:
                raise NotFound(f"refund {refund_id} not found")
            events = s.scalars(
                select(RefundEventRow)
                .where(RefundEventRow.refund_id == refund_id)
                .order_by(RefundEventRow.id)
            ).all()
            return row, list(events)

    async def balance(self, order_id: str) -> OrderBalanceRow | None:
        return await self._sql.run(self._balance, order_id)

    def _balance(self, order_id: str) -> OrderBalanceRow | None:
        with self._sql.sessions() as s:
            return s.get(OrderBalanceRow, order_id)

    async def refunded_total(self, order_id: str) -> int:
        return await self._sql.run(self._refunded_total, order_id)

    def _refunded_total(self, order_id: str) -> int:
        with self._sql.sessions() as s:
            total = s.scalar(
                select(func.coalesce(func.sum(RefundRow.amount_minor), 0)).where(
                    RefundRow.order_id == order_id, RefundRow.status == RefundStatus.REFUNDED.value
                )
            )
            return int(total or 0)

    async def list_refunds(
        self, *, order_id: str, dispute_id: str, page_size: int, page_token: str
    ) -> tuple[list[tuple[RefundRow, list[RefundEventRow]]], str]:
        return await self._sql.run(self._list, order_id, dispute_id, page_size, page_token)

    def _list(
        self, order_id: str, dispute_id: str, page_size: int, page_token: str
    ) -> tuple[list[tuple[RefundRow, list[RefundEventRow]]], str]:
        q = select(RefundRow)
        q = (
            q.where(RefundRow.order_id == order_id)
            if order_id
            else q.where(RefundRow.dispute_id == dispute_id)
        )
        q = keyset(q, RefundRow.created_at, RefundRow.id, page_size, page_token)
        with self._sql.sessions() as s:
            rows, token = split_page(list(s.scalars(q).all()), page_size, lambda r: (r.created_at, r.id))
            ids = [r.id for r in rows]
            events: dict[str, list[RefundEventRow]] = {i: [] for i in ids}
            for e in s.scalars(
                select(RefundEventRow).where(RefundEventRow.refund_id.in_(ids)).order_by(RefundEventRow.id)
            ):
                events[e.refund_id].append(e)
        return [(r, events[r.id]) for r in rows], token

    async def unstarted(self) -> list[RefundRow]:
        """Refunds no workflow has touched yet (a crash between ledger and workflow start)."""
        return await self._sql.run(self._unstarted)

    def _unstarted(self) -> list[RefundRow]:
        with self._sql.sessions() as s:
            return list(
                s.scalars(
                    select(RefundRow).where(
                        RefundRow.status == RefundStatus.PENDING.value, RefundRow.revision == 0
                    )
                )
            )

    # --- writes -------------------------------------------------------------------------------

    async def create(
        self, new: NewRefund, order: OrderFacts, now: datetime, expected_by: datetime
    ) -> tuple[RefundRow, bool]:
        """The new refund (True) or the one already stored under its key (False)."""
        for _ in range(5):
            try:
                return await self._sql.write(self._create, new, order, now, expected_by)
            except IntegrityError:
                continue  # a concurrent request inserted the key or the balance row first
        raise Unavailable("the ledger is too busy for this order; retry")

    def _create(
        self, new: NewRefund, order: OrderFacts, now: datetime, expected_by: datetime
    ) -> tuple[RefundRow, bool]:
        with self._sql.sessions() as s, s.begin():
            existing = s.scalar(select(RefundRow).where(RefundRow.idempotency_key == new.idempotency_key))
            if existing is not None:
                return existing, False
            balance = s.get(OrderBalanceRow, new.order_id, with_for_update=True)
            if balance is not None:
                # Under the order's lock, look again: a concurrent duplicate may have won meanwhile,
                # and its caller must get that refund, not an over-refund error.
                existing = s.scalar(select(RefundRow).where(RefundRow.idempotency_key == new.idempotency_key))
                if existing is not None:
                    return existing, False
            if balance is None:
                balance = OrderBalanceRow(
                    order_id=order.order_id,
                    buyer_id=order.buyer_id,
                    seller_id=order.seller_id,
                    paid_minor=order.paid.minor_units,
                    currency=order.paid.currency,
                    reserved_minor=0,
                    updated_at=now,
                )
                s.add(balance)
                s.flush()
            left = balance.paid_minor - balance.reserved_minor
            if new.amount.minor_units > left:
                raise FailedPrecondition(
                    f"refund of {new.amount} exceeds what is left to refund on order {new.order_id}: "
                    f"paid {Money(balance.paid_minor, balance.currency)}, "
                    f"already refunded or in progress {Money(balance.reserved_minor, balance.currency)}"
                )
            # Conditional, so the database itself refuses an over-reservation whatever the caller read.
            reserved = s.execute(
                update(OrderBalanceRow)
                .where(
                    OrderBalanceRow.order_id == new.order_id,
                    OrderBalanceRow.reserved_minor + new.amount.minor_units <= OrderBalanceRow.paid_minor,
                )
                .values(
                    reserved_minor=OrderBalanceRow.reserved_minor + new.amount.minor_units, updated_at=now
                )
                .execution_options(synchronize_session=False)
            )
            if reserved.rowcount != 1:  # type: ignore[attr-defined]
                raise FailedPrecondition(
                    f"refund of {new.amount} exceeds what is left to refund on order {new.order_id}"
                )
            row = RefundRow(
                id=str(uuid.uuid4()),
                idempotency_key=new.idempotency_key,
                fingerprint=new.fingerprint,
                order_id=new.order_id,
                dispute_id=new.dispute_id,
                buyer_id=order.buyer_id,
                seller_id=order.seller_id,
                amount_minor=new.amount.minor_units,
                currency=new.amount.currency,
                reason=new.reason,
                kind=new.kind,
                issuer=new.issuer,
                order_synced="",
                settlement_mismatch=False,
                final_failure=False,
                payment_reference=order.payment_reference,
                status=RefundStatus.PENDING.value,
                provider_reference="",
                expected_by=expected_by,
                overdue=False,
                failure_reason="",
                attempts=0,
                revision=0,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            detail = f"issued by {new.issuer} ({new.kind}): {new.reason}"
            s.add(
                RefundEventRow(
                    refund_id=row.id, at=now, status=RefundStatus.PENDING.value, detail=detail[:500]
                )
            )
            return row, True

    async def record_status(
        self, refund_id: str, revision: int, values: dict[str, Any], at: datetime, detail: str, release: bool
    ) -> None:
        await self._sql.write(self._record, refund_id, revision, values, at, detail, release)

    def _record(
        self, refund_id: str, revision: int, values: dict[str, Any], at: datetime, detail: str, release: bool
    ) -> None:
        """`release`: the refund failed for good; its amount goes back to what may be refunded."""
        with self._sql.sessions() as s, s.begin():
            row = s.get(RefundRow, refund_id)
            if row is None:
                raise NotFound(f"refund {refund_id} not found")
            result = s.execute(
                update(RefundRow)
                .where(RefundRow.id == refund_id, RefundRow.revision < revision)
                .values(**values, revision=revision, updated_at=at)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount:  # type: ignore[attr-defined]
                s.add(RefundEventRow(refund_id=refund_id, at=at, status=values["status"], detail=detail))
                if release and not row.final_failure:
                    s.execute(
                        update(OrderBalanceRow)
                        .where(OrderBalanceRow.order_id == row.order_id)
                        .values(
                            reserved_minor=OrderBalanceRow.reserved_minor - row.amount_minor, updated_at=at
                        )
                    )
                    s.execute(update(RefundRow).where(RefundRow.id == refund_id).values(final_failure=True))

    async def refuse(self, refund_id: str, reason: str) -> None:
        """A refund whose workflow never started is refused for good: FAILED, its reservation
        released, never sent to the provider (its revision is taken, so nothing starts it)."""
        await self._sql.write(self._refuse, refund_id, reason)

    def _refuse(self, refund_id: str, reason: str) -> None:
        with self._sql.sessions() as s, s.begin():
            row = s.get(RefundRow, refund_id, with_for_update=not self._sql.is_sqlite)
            if row is None or row.revision != 0 or row.final_failure:
                return
            row.status, row.failure_reason, row.final_failure = RefundStatus.FAILED.value, reason[:500], True
            row.revision, row.order_synced = 1, "CANCELLED"
            s.add(
                RefundEventRow(
                    refund_id=refund_id,
                    at=row.updated_at,
                    status=RefundStatus.FAILED.value,
                    detail=reason[:500],
                )
            )
            s.execute(
                update(OrderBalanceRow)
                .where(OrderBalanceRow.order_id == row.order_id)
                .values(reserved_minor=OrderBalanceRow.reserved_minor - row.amount_minor)
            )

    # --- the order's escrow -------------------------------------------------------------------

    async def needing_sync(self, limit: int = 200) -> list[RefundRow]:
        """Refunds whose state the order's escrow has not acknowledged yet."""
        return await self._sql.run(self._needing_sync, limit)

    def _needing_sync(self, limit: int) -> list[RefundRow]:
        open_states = (RefundStatus.PENDING.value, RefundStatus.PROCESSING.value, RefundStatus.FAILED.value)
        with self._sql.sessions() as s:
            query = select(RefundRow).where(
                or_(
                    and_(RefundRow.status.in_(open_states), RefundRow.order_synced == ""),
                    and_(
                        RefundRow.status == RefundStatus.REFUNDED.value, RefundRow.order_synced != "SETTLED"
                    ),
                    and_(RefundRow.final_failure.is_(True), RefundRow.order_synced != "CANCELLED"),
                )
            )
            return list(s.scalars(query.order_by(RefundRow.created_at).limit(limit)))

    async def mark_synced(self, refund_id: str, state: str, note: str = "") -> None:
        await self._sql.write(self._mark_synced, refund_id, state, note)

    def _mark_synced(self, refund_id: str, state: str, note: str) -> None:
        with self._sql.sessions() as s, s.begin():
            row = s.get(RefundRow, refund_id)
            if row is None or row.order_synced in ("SETTLED", "CANCELLED"):
                return  # final on the order: a late, stale acknowledgement changes nothing
            row.order_synced = state
            if note:
                s.add(
                    RefundEventRow(
                        refund_id=refund_id, at=row.updated_at, status=row.status, detail=note[:500]
                    )
                )
