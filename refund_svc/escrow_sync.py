"""Keeps each order's escrow (OrderService) in step with the refund ledger.

The order must know a refund before any money moves, or completing the order would release that
money to the seller too. So a refund is reported PENDING to the order before its workflow starts
(IssueRefund, and the recovery loop for anything interrupted), SETTLED once it reached the buyer,
CANCELLED once it failed for good. Reports are idempotent on OrderService's side; what the order
acknowledged is kept on the refund row (`order_synced`), so a report lost to a crash or an
outage is simply sent again.
"""

from __future__ import annotations

import logging

import grpc
from common.v1 import common_pb2
from orders.v1 import orders_pb2, orders_pb2_grpc

from platform_common.errors import FailedPrecondition, Unavailable
from refund_svc.contract import RefundStatus
from refund_svc.repository import RefundRepository
from refund_svc.store import RefundRow

log = logging.getLogger(__name__)
PENDING, SETTLED, CANCELLED = "PENDING", "SETTLED", "CANCELLED"
_STATES = {
    PENDING: orders_pb2.ESCROW_ENTRY_STATE_PENDING,
    SETTLED: orders_pb2.ESCROW_ENTRY_STATE_SETTLED,
    CANCELLED: orders_pb2.ESCROW_ENTRY_STATE_CANCELLED,
}
# OrderService refusals no retry can change: recorded on the refund for operators, not retried.
_CONFLICTS = (
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
)


class EscrowRefused(FailedPrecondition):
    """The order's escrow refused to register the refund (e.g. the order was cancelled and its
    payment returned between the refund's checks and its report): it must never be paid."""


def owed(row: RefundRow) -> str | None:
    """What the order's escrow should show for this refund, or None if it is already there."""
    if row.final_failure:
        want = CANCELLED
    elif row.status == RefundStatus.REFUNDED:
        want = SETTLED
    else:
        want = PENDING
    if row.order_synced == want or row.order_synced in (SETTLED, CANCELLED):
        return None
    return want


class EscrowSync:
    def __init__(self, repo: RefundRepository, orders: orders_pb2_grpc.OrderServiceStub) -> None:
        self._repo = repo
        self._orders = orders

    async def sync(self, row: RefundRow) -> None:
        """Report the refund's state to its order. Raises Unavailable if OrderService cannot
        take it now (the caller, or the recovery loop, tries again)."""
        want = owed(row)
        if want is None:
            return
        request = orders_pb2.RecordRefundRequest(
            order_id=row.order_id,
            refund_id=row.id,
            amount=common_pb2.Money(minor_units=row.amount_minor, currency=row.currency),
            state=_STATES[want],
            reason=row.kind,
            issuer=row.issuer or "unknown",
        )
        try:
            await self._orders.RecordRefund(request, timeout=10)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in _CONFLICTS:
                raise Unavailable(
                    f"OrderService unavailable ({exc.code().name}); the order's escrow will be updated later"
                ) from exc
            if want == PENDING and row.revision == 0:
                # Nothing has been sent to the provider: the refund is refused for good (its
                # reservation released) instead of paying what the order's escrow will not cover.
                await self._repo.refuse(row.id, f"refused by the order's escrow: {exc.details()}")
                raise EscrowRefused(f"the order refused this refund: {exc.details()}") from exc
            # Money moved already: the order's ledger disagrees, a bug or a data problem.
            # Recorded for an operator; retrying the same report cannot help.
            log.error("order %s refused refund %s as %s: %s", row.order_id, row.id, want, exc.details())
            await self._repo.mark_synced(row.id, want, f"order escrow refused {want}: {exc.details()}")
            return
        await self._repo.mark_synced(row.id, want)

    async def catch_up(self) -> int:
        """Report everything the orders have not acknowledged; returns how many were reported.
        One refund that cannot be reported now does not hold up the others."""
        done = 0
        for row in await self._repo.needing_sync():
            try:
                await self.sync(row)
                done += 1
            except (Unavailable, EscrowRefused) as exc:
                log.info("refund %s not reported to order %s yet: %s", row.id, row.order_id, exc.message)
        return done
