"""Returns: the buyer ships the goods back, the seller confirms or contests them (validated updates).

As in negotiation, each validator first asks `_may_*` (who and when), then checks what the
request says; the allowed actions in GetDispute (workflow_actions.py) ask the same `_may_*`.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from dispute_svc.model import (
        DisputeStatus,
        DisputeView,
        Party,
        ReturnReceipt,
        ReturnShipmentAction,
    )
    from dispute_svc.rules import CARRIER_MAX_CHARS, check_evidence, check_text
    from platform_common.refusals import Refusal

# Workflow code: imported inside the sandbox, like this module (not passed through).
from dispute_svc.workflow_core import Window
from dispute_svc.workflow_outcomes import DisputeOutcomes

_TRACKING_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


class ReturnHandlers(DisputeOutcomes):
    @workflow.update
    def submit_return_shipment(self, r: ReturnShipmentAction) -> DisputeView:
        self._updates += 1
        rs = self.s.return_shipment
        assert rs is not None
        rs.carrier, rs.tracking_number, rs.shipped_at = r.carrier, r.tracking_number, self._now()
        rs.confirm_due = self._after(self._policy.return_confirm_days)
        self.s.status = DisputeStatus.AWAITING_RETURN_RECEIPT
        self._log(r.buyer_id, Party.BUYER, "RETURN_SHIPPED", f"{r.carrier} {r.tracking_number}")
        return self.view()

    def _may_submit_return_shipment(self, buyer_id: str) -> Window:
        """The buyer, while the return is to be shipped."""
        self._require_buyer(buyer_id)
        return Window(
            self._require_status((DisputeStatus.AWAITING_RETURN_SHIPMENT,), "no return shipment is expected")
        )

    @submit_return_shipment.validator
    def _check_return_shipment(self, r: ReturnShipmentAction) -> None:
        self._may_submit_return_shipment(r.buyer_id)
        check_text(r.carrier, "carrier", required=True, max_chars=CARRIER_MAX_CHARS)
        self._require(
            4 <= len(r.tracking_number) <= 64 and set(r.tracking_number) <= _TRACKING_CHARS,
            "tracking number must be 4..64 letters, digits or dashes",
            Refusal.INVALID_ARGUMENT,
        )

    @workflow.update
    def confirm_return(self, r: ReturnReceipt) -> DisputeView:
        self._updates += 1
        rs = self.s.return_shipment
        assert rs is not None
        if r.contest:
            rs.contested, rs.contest_message, rs.contested_at = True, r.message, self._now()
            rs.contest_evidence_ids = list(r.evidence_ids)
            self._add_evidence(r.evidence_ids)
            self._escalate(r.seller_id, Party.SELLER, "RETURN_CONTESTED", r.message)
            return self.view()
        rs.received_at = self._now()
        self._add_evidence(r.evidence_ids)
        self._log(r.seller_id, Party.SELLER, "RETURN_RECEIVED", r.message)
        self._pay_rest()
        return self.view()

    def _may_confirm_return(self, seller_id: str) -> Window:
        """The order's seller, while the returned goods are awaited (contesting them, once, is a
        matter of what the request says: `return_shipment.contested` tells whether it was)."""
        self._require(
            seller_id == self._inp.seller_id,
            "only the order's seller may confirm the return",
            Refusal.PERMISSION_DENIED,
        )
        return Window(
            self._require_status((DisputeStatus.AWAITING_RETURN_RECEIPT,), "no returned goods are awaited")
        )

    @confirm_return.validator
    def _check_confirm_return(self, r: ReturnReceipt) -> None:
        self._may_confirm_return(r.seller_id)
        if r.contest:
            self._require(not self._contested(), "the returned item can be contested only once")
            check_text(r.message, "message", required=True)
        else:
            check_text(r.message, "message")
        check_evidence(r.evidence_ids)
