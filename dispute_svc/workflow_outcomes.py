"""How a dispute moves on by itself (deadlines passing) and how it ends (settle, pay, close).

A base class of the workflow (see dispute_svc/workflow.py); nothing here talks to the outside: paying
adds a Payout that the main loop issues, closing sets the status the main loop acts on.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from dispute_svc.model import (
        ARBITRATING,
        UNPAID_PAYOUTS,
        DisputeStatus,
        InfoRequestStatus,
        OfferStatus,
        Party,
        Payout,
        Resolution,
        ReturnShipment,
        Solution,
        SolutionType,
    )
    from dispute_svc.policy import SellerTimeoutAction

# Workflow code: imported inside the sandbox, like this module (not passed through).
from dispute_svc.workflow_core import DisputeCore
from dispute_svc.workflow_core import parse_time as _t


class DisputeOutcomes(DisputeCore):
    def _on_time(self) -> None:
        s, now = self.s, workflow.now()
        if s.status == DisputeStatus.AWAITING_SELLER_RESPONSE and now >= _t(s.seller_due):
            if self._policy.seller_timeout_action is SellerTimeoutAction.REFUND_BUYER:
                self._log(
                    "system", Party.SERVICE, "SELLER_TIMEOUT_REFUND", "the seller did not respond in time"
                )
                self._settle(s.claim.amount_minor, s.claim.return_goods, Resolution.SELLER_TIMEOUT_REFUND)
            else:
                self._escalate(
                    "system", Party.SERVICE, "AUTO_ESCALATED", "the seller did not respond in time"
                )
        elif s.status == DisputeStatus.AWAITING_BUYER_RESPONSE and now >= _t(s.buyer_due):
            self._supersede_offer(OfferStatus.EXPIRED)
            self._escalate("system", Party.SERVICE, "AUTO_ESCALATED", "the buyer did not respond in time")
        elif s.status in ARBITRATING:
            for q in s.info_requests:
                if q.status == InfoRequestStatus.OPEN and now >= _t(q.due_at):
                    q.status = InfoRequestStatus.MISSED
                    self._log(
                        "system",
                        Party.SERVICE,
                        "INFORMATION_MISSED",
                        f"{q.id}: the {q.party.lower()} did not answer in time",
                    )
            if not s.target_missed and now >= _t(s.arbitration_target):
                s.target_missed = True
                self._log(
                    "system",
                    Party.SERVICE,
                    "ARBITRATION_TARGET_MISSED",
                    f"no decision within {self._policy.arbitration_target_days} days",
                )
            if not s.sla_breached and now >= _t(s.arbitration_max):
                s.sla_breached = True
                self._log(
                    "system",
                    Party.SERVICE,
                    "SLA_BREACHED",
                    f"no decision within {self._policy.arbitration_max_days} days",
                )
            self._arbitration_status()
        elif s.status == DisputeStatus.DECIDED and now >= _t(s.decisions[-1].appeal_deadline):
            decision = s.decisions[-1]
            decision.final = True
            self._log(
                "system", Party.SERVICE, "DECISION_FINAL", f"round {decision.round}: the appeal window ended"
            )
            self._settle(decision.amount_minor, decision.return_required, Resolution.ARBITRATION_DECISION)
        elif (
            s.status == DisputeStatus.AWAITING_RETURN_SHIPMENT
            and s.return_shipment
            and now >= _t(s.return_shipment.ship_due)
        ):
            s.resolution = Resolution.RETURN_NOT_SHIPPED
            self._log(
                "system", Party.SERVICE, "RETURN_NOT_SHIPPED", "the buyer did not ship the return in time"
            )
            self._close(DisputeStatus.CLOSED_WITHOUT_REFUND)
        elif (
            s.status == DisputeStatus.AWAITING_RETURN_RECEIPT
            and s.return_shipment
            and now >= _t(s.return_shipment.confirm_due)
        ):
            s.return_shipment.received_at, s.return_shipment.auto_confirmed = now.isoformat(), True
            self._log("system", Party.SERVICE, "RETURN_AUTO_CONFIRMED", "the seller did not confirm in time")
            self._pay_rest()

    def _settle(self, amount: int, return_required: bool, resolution: Resolution) -> None:
        s = self.s
        s.resolution = resolution
        kind = SolutionType.FULL_REFUND if amount == self._inp.paid_minor else SolutionType.PARTIAL_REFUND
        s.settlement = Solution(kind, amount, return_required)
        s.seller_due = s.buyer_due = ""
        received = s.return_shipment is not None and bool(s.return_shipment.received_at)
        if return_required and amount > 0 and not received:
            s.return_shipment = ReturnShipment(ship_due=self._after(self._policy.return_ship_days))
            s.status = DisputeStatus.AWAITING_RETURN_SHIPMENT
            self._log(
                "system",
                Party.SERVICE,
                "RETURN_REQUIRED",
                f"ship within {self._policy.return_ship_days} days",
            )
            return
        self._pay_rest()

    def _pay_rest(self) -> None:
        assert self.s.settlement is not None
        paid = [p for p in self.s.payouts if p.status not in UNPAID_PAYOUTS]
        owed = self.s.settlement.amount_minor - sum(p.amount_minor for p in paid)
        if owed > 0:
            self._pay(owed, self.s.resolution.lower().replace("_", " "))
        if any(p.status not in UNPAID_PAYOUTS for p in self.s.payouts):
            self.s.status = DisputeStatus.REFUND_PENDING
            self._poll_due = workflow.now()
            self._changed += 1
        else:
            self._close(DisputeStatus.CLOSED_WITHOUT_REFUND)

    def _pay(self, amount: int, why: str) -> None:
        n = len(self.s.payouts) + 1
        self.s.payouts.append(
            Payout(round=n, key=f"dispute/{self._inp.dispute_id}/round/{n}", amount_minor=amount)
        )
        self._log(
            "system", Party.SERVICE, "REFUND_ORDERED", f"round {n}: {amount} {self._inp.currency} ({why})"
        )

    def _escalate(self, actor: str, role: Party, action: str, detail: str) -> None:
        s = self.s
        s.escalated_at = s.escalated_at or self._now()
        s.seller_due = s.buyer_due = ""
        s.arbiter_id = ""
        self._start_arbitration_clocks()
        s.status = DisputeStatus.UNDER_ARBITRATION
        self._log(actor, role, action, detail)

    def _close(self, status: DisputeStatus) -> None:
        s = self.s
        s.status, s.closed_at = status, self._now()
        s.seller_due = s.buyer_due = ""
        self._clear_arbitration_clocks()
        self._log("system", Party.SERVICE, "DISPUTE_CLOSED", status)

    def _start_arbitration_clocks(self) -> None:
        s = self.s
        s.arbitration_started_at = self._now()
        s.arbitration_target = self._after(self._policy.arbitration_target_days)
        s.arbitration_max = self._after(self._policy.arbitration_max_days)
        s.target_missed = False

    def _clear_arbitration_clocks(self) -> None:
        self.s.arbitration_target = self.s.arbitration_max = ""

    def _arbitration_status(self) -> None:
        s = self.s
        if s.status in ARBITRATING and s.status != DisputeStatus.APPEALED:
            s.status = (
                DisputeStatus.AWAITING_INFORMATION
                if any(q.status == InfoRequestStatus.OPEN for q in s.info_requests)
                else DisputeStatus.UNDER_ARBITRATION
            )
