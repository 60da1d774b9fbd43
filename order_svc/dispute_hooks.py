"""The disputes' side of the protection clock (DESIGN §4: while a dispute is open the clock is
frozen, so a window cannot run out mid-dispute).

Each open dispute holds its own freeze on OrderProtectionWorkflow; the clock runs again once no
dispute holds one. A PAID order has no clock yet (a buyer may dispute an order that never
shipped): its freezes are kept on the order (pending_freezes) and the clock starts frozen by
them when the order ships, with the whole window left for when they end. Completed orders (within
the completion grace) have nothing to freeze: the hooks are no-ops for them, so opening or closing
a dispute never fails on that account.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from order_svc import domain
from order_svc.domain import IN_TRANSIT, Status
from order_svc.protection import ClockNotRunning, ProtectionClock
from order_svc.repository import OrderRepository
from platform_common.errors import FailedPrecondition
from platform_common.validate import require_uuid

log = logging.getLogger(__name__)


class DisputeHooks:
    def __init__(self, repo: OrderRepository, clock: ProtectionClock) -> None:
        self._repo = repo
        self._clock = clock

    async def freeze(self, order_id: str, dispute_id: str) -> str:
        """Pause the order's clock for `dispute_id`; returns the normalized order id."""
        return await self._apply(order_id, dispute_id, True, self._clock.freeze)

    async def unfreeze(self, order_id: str, dispute_id: str) -> str:
        """Release `dispute_id`'s freeze (a no-op if it holds none); returns the order id."""
        return await self._apply(order_id, dispute_id, False, self._clock.unfreeze)

    async def _apply(
        self, order_id: str, dispute_id: str, hold: bool, send: Callable[[str, str], Awaitable[object]]
    ) -> str:
        order_id = domain.require_order_id(order_id)
        dispute_id = require_uuid(dispute_id, "dispute_id")
        row, _ = await self._repo.get(order_id)
        if row.status == Status.PAID:
            # Kept on the order until it ships (the order as shown does not change meanwhile).
            # Conditional on PAID: if MarkShipped won the race, the clock runs and takes it below.
            row = await self._repo.hold_pending(row.id, dispute_id, hold)
        if row.status == Status.CANCELLED:
            raise FailedPrecondition(f"order {row.id} is CANCELLED; it has no protection window")
        if row.status in IN_TRANSIT:  # COMPLETED: the clock has ended
            try:
                # The workflow records the clock on the order (RecordProtection) inside the
                # update, so the order read after this returns already shows the change.
                await send(row.id, dispute_id)
            except ClockNotRunning as exc:  # completed meanwhile: the same as COMPLETED
                log.info("order %s: %s; dispute %s changes nothing", row.id, exc.message, dispute_id)
        return row.id
