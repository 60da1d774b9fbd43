"""The disputes' side of an order (docs/rules.md: while a dispute is open the order is held and its
protection clock frozen, so a window cannot run out and escrow cannot be released mid-dispute).

Two layers, so that no process being down can let an order complete under an open dispute:
- the hold, in the order's own store, recorded by OpenDispute before it answers (HoldForDispute)
  and again by the dispute's freeze. CompleteOrder and CancelOrder honour it in the same
  transaction that would complete or cancel, and the protection clock, refused a completion,
  freezes itself from the moment the hold began;
- the clock freeze on OrderProtectionWorkflow, sent by the disputes worker, which makes the paused
  deadline exact and visible.
A PAID order has no clock yet (a buyer may dispute an order that never shipped): its holds are
the freezes the clock starts with when it ships. Completed and refunded orders have nothing left
to hold: the hooks are no-ops for them, so opening or closing a dispute never fails on that
account.
"""

from __future__ import annotations

import logging
from datetime import datetime

from order_svc import rules
from order_svc.client import ClockNotRunning, ProtectionClient
from order_svc.repository import OrderRepository
from order_svc.rules import IN_TRANSIT, Status
from order_svc.store import OrderRow
from platform_common.auth import Caller
from platform_common.errors import InvalidArgument
from platform_common.validate import require_uuid

log = logging.getLogger(__name__)
MAX_TOKEN = 64


def _ids(order_id: str, dispute_id: str) -> tuple[str, str]:
    return rules.require_order_id(order_id), require_uuid(dispute_id, "dispute_id")


class DisputeHooks:
    def __init__(self, repo: OrderRepository, workflows: ProtectionClient) -> None:
        self._repo = repo
        self._workflows = workflows

    async def hold(
        self, order_id: str, dispute_id: str, token: str, at: datetime, actor: Caller
    ) -> tuple[str, bool]:
        """Record the hold only (no clock): OpenDispute must not depend on the orders worker.
        Returns the order id and whether the dispute holds the order now."""
        order_id, dispute_id = _ids(order_id, dispute_id)
        if not 1 <= len(token) <= MAX_TOKEN:
            raise InvalidArgument(f"token must be 1..{MAX_TOKEN} characters")
        result = await self._repo.ledger.hold(order_id, dispute_id, token, at, actor)
        return order_id, result.hold is not None

    async def freeze(self, order_id: str, dispute_id: str, at: datetime, actor: Caller) -> str:
        """Hold the order for `dispute_id` and pause its clock from when the hold began."""
        order_id, dispute_id = _ids(order_id, dispute_id)
        result = await self._repo.ledger.hold(order_id, dispute_id, "", at, actor)
        if result.hold is not None and Status(result.row.status) in IN_TRANSIT:
            await self._on_clock(result.row, dispute_id, True, result.hold.held_at)
        return order_id

    async def release(
        self, order_id: str, dispute_id: str, token: str | None, at: datetime, actor: Caller
    ) -> str:
        """Drop `dispute_id`'s hold (only the one `token` recorded, when given) and its freeze;
        a no-op if it holds nothing."""
        order_id, dispute_id = _ids(order_id, dispute_id)
        if await self._repo.ledger.release_hold(order_id, dispute_id, token, at, actor):
            row = await self._repo.get(order_id)
            # A shipped order refunded in full meanwhile still has its clock: let it run out
            # (its completion then changes nothing) rather than wait frozen for ever.
            if Status(row.status) in IN_TRANSIT or (row.status == Status.REFUNDED and row.shipped_at):
                if token is None:
                    await self._on_clock(row, dispute_id, False, at)
                elif dispute_id in await self._workflows.frozen_by(row.id):
                    # An abandoned opening froze the clock only by a refused completion: undo it
                    # under its own update id (the dispute's own "unfreeze-<id>" stays unused).
                    await self._workflows.unfreeze(row.id, dispute_id, f"abandon-{dispute_id}-{token}")
        return order_id

    async def _on_clock(self, row: OrderRow, dispute_id: str, freeze: bool, since: datetime) -> None:
        try:
            # The workflow records the clock on the order (RecordProtection) inside the update,
            # so the order read after this returns already shows the change.
            if freeze:
                await self._workflows.freeze(row.id, dispute_id, since)
            else:
                await self._workflows.unfreeze(row.id, dispute_id)
        except ClockNotRunning as exc:  # completed meanwhile: nothing to pause
            log.info("order %s: %s; dispute %s changes nothing", row.id, exc.message, dispute_id)
