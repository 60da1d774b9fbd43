"""Negotiation: the buyer's claim, the seller's answer, and the buyer's answer to that (updates).

Each update has a validator that refuses before anything reaches history; handlers only change
state (side effects follow in the workflow's main loop).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.dispute_model import (
        AWAITING_BUYER,
        AWAITING_INFORMATION,
        AWAITING_SELLER,
        BUYER,
        BUYER_ACCEPTED_OFFER,
        CANCELLED_BY_BUYER,
        CLOSED_CANCELLED,
        INVALID_ARGUMENT,
        NEGOTIATING,
        PERMISSION_DENIED,
        SELLER,
        SELLER_ACCEPTED,
        UNDER_ARBITRATION,
        BuyerAction,
        DisputeView,
        Modification,
        SellerResponse,
        check_counter_offer,
        check_solution,
        check_text,
        refuse,
    )

# Workflow code: imported inside the sandbox, like this module (not passed through).
from workflows.dispute_outcomes import DisputeOutcomes


class NegotiationHandlers(DisputeOutcomes):
    @workflow.update
    def opened(self, buyer_id: str) -> DisputeView:
        """OpenDispute's update: the dispute was created by the start; a retry just reads it."""
        self._updates += 1
        return self.view()

    @opened.validator
    def _check_opened(self, buyer_id: str) -> None:
        self._require(
            buyer_id == self._inp.buyer_id, "only the order's buyer opened this dispute", PERMISSION_DENIED
        )

    @workflow.update
    def respond_as_seller(self, r: SellerResponse) -> DisputeView:
        self._updates += 1
        if r.type == "ACCEPT":
            v = self._add_version(SELLER, r.seller_id, "ACCEPT", self.s.claim, r.message, r.evidence_ids)
            v.status, v.answered_at = "ACCEPTED", v.at
            self._log(r.seller_id, SELLER, "SELLER_ACCEPTED", r.message)
            self._settle(self.s.claim.amount_minor, self.s.claim.return_goods, SELLER_ACCEPTED)
            return self.view()
        kind = r.type
        v = self._add_version(SELLER, r.seller_id, kind, r.solution, r.message, r.evidence_ids)
        v.status = "PENDING"
        self.s.status, self.s.seller_due = AWAITING_BUYER, ""
        self.s.buyer_due = self._after(self._policy.buyer_response_days)
        self._log(r.seller_id, SELLER, kind, self._describe(r.solution, r.message))
        return self.view()

    @respond_as_seller.validator
    def _check_response(self, r: SellerResponse) -> None:
        self._require(
            r.seller_id == self._inp.seller_id, "only the order's seller may respond", PERMISSION_DENIED
        )
        self._require_status((AWAITING_SELLER,), "the seller cannot respond now")
        self._require_room(reserve=0 if r.type == "ACCEPT" else 1)
        latest = self._latest(BUYER)
        self._require(
            r.claim_version in (0, latest.number),
            f"claim version {r.claim_version} is not the current claim ({latest.number}); reload the dispute",
        )
        self._check_evidence(r.evidence_ids)
        if r.type == "COUNTER_OFFER":
            if r.solution is None:
                raise refuse("a counter-offer needs a solution", INVALID_ARGUMENT)
            check_solution(r.solution, self._inp.paid_minor, self._inp.goods_received)
            check_counter_offer(r.solution, self._inp.paid_minor)
            self._require(
                r.solution != self.s.claim, "a counter-offer must differ from the claim", INVALID_ARGUMENT
            )
            check_text(r.message, "message", 1, 2000)
        elif r.type == "REJECT":
            check_text(r.message.strip(), "message", 1, 2000)
        elif r.type == "ACCEPT":
            check_text(r.message, "message", 0, 2000)
        else:
            raise refuse(f"unknown response type {r.type!r}", INVALID_ARGUMENT)

    @workflow.update
    def accept_offer(self, a: BuyerAction) -> DisputeView:
        self._updates += 1
        offer = self._pending_offer()
        assert offer is not None and offer.solution is not None
        offer.status, offer.answered_at = "ACCEPTED", self._now()
        self._log(a.buyer_id, BUYER, "OFFER_ACCEPTED", f"version {offer.number}")
        self._settle(offer.solution.amount_minor, offer.solution.return_goods, BUYER_ACCEPTED_OFFER)
        return self.view()

    @accept_offer.validator
    def _check_accept(self, a: BuyerAction) -> None:
        self._require_buyer(a.buyer_id)
        self._require_status((AWAITING_BUYER,), "there is no offer to accept")
        offer = self._pending_offer()
        self._require(
            offer is not None and offer.kind == "COUNTER_OFFER", "there is no pending counter-offer to accept"
        )
        assert offer is not None
        self._require(
            a.offer_version == offer.number,
            f"offer {a.offer_version} is not the current offer ({offer.number})",
        )

    @workflow.update
    def reject_offer(self, a: BuyerAction) -> DisputeView:
        self._updates += 1
        offer = self._pending_offer()
        assert offer is not None
        offer.status, offer.answered_at, offer.buyer_message = "REJECTED", self._now(), a.message
        self._log(a.buyer_id, BUYER, "OFFER_REJECTED", f"version {offer.number}: {a.message}".rstrip(": "))
        if a.escalate:
            self._escalate(a.buyer_id, BUYER, "ESCALATED", "after rejecting the seller's offer")
        return self.view()

    @reject_offer.validator
    def _check_reject(self, a: BuyerAction) -> None:
        self._require_buyer(a.buyer_id)
        self._require_status((AWAITING_BUYER,), "there is no offer to reject")
        offer = self._pending_offer()
        self._require(
            offer is not None and offer.kind == "COUNTER_OFFER", "there is no pending counter-offer to reject"
        )
        assert offer is not None
        self._require(
            a.offer_version == offer.number,
            f"offer {a.offer_version} is not the current offer ({offer.number})",
        )
        check_text(a.message, "message", 0, 2000)

    @workflow.update
    def modify(self, m: Modification) -> DisputeView:
        self._updates += 1
        self._supersede_offer("SUPERSEDED")
        if m.solution is not None:
            self.s.claim = m.solution
        if m.description:
            self.s.description = m.description
        self._add_version(BUYER, m.buyer_id, "MODIFICATION", self.s.claim, self.s.description, m.evidence_ids)
        self.s.status, self.s.buyer_due = AWAITING_SELLER, ""
        self.s.seller_due = self._after(self._policy.seller_response_days)  # a modification restarts it
        self._log(m.buyer_id, BUYER, "CLAIM_MODIFIED", self._describe(self.s.claim, ""))
        return self.view()

    @modify.validator
    def _check_modify(self, m: Modification) -> None:
        self._require_buyer(m.buyer_id)
        self._require_status(NEGOTIATING, "the claim can no longer be modified")
        self._require_room()
        self._require(
            m.solution is not None or bool(m.description) or bool(m.evidence_ids),
            "a modification changes the solution, the description or adds evidence",
            INVALID_ARGUMENT,
        )
        if m.solution is not None:
            check_solution(m.solution, self._inp.paid_minor, self._inp.goods_received)
        if m.description:
            check_text(m.description.strip(), "description", 1, self._policy.description_max_chars)
        self._check_evidence(m.evidence_ids)

    @workflow.update
    def escalate(self, a: BuyerAction) -> DisputeView:
        self._updates += 1
        self._supersede_offer("SUPERSEDED")
        self._add_evidence(a.evidence_ids)
        self._escalate(a.buyer_id, BUYER, "ESCALATED", a.message)
        return self.view()

    @escalate.validator
    def _check_escalate(self, a: BuyerAction) -> None:
        self._require_buyer(a.buyer_id)
        self._require_status(NEGOTIATING, "the dispute cannot be escalated now")
        earliest = self._at(self.s.opened_at, self._policy.buyer_min_wait_to_escalate_days)
        self._require(
            self._may_escalate_at_once() or workflow.now() >= earliest,
            f"escalation is possible from {earliest.isoformat()}, or at once after rejecting the seller's offer",
        )
        check_text(a.message, "message", 0, 2000)
        self._check_evidence(a.evidence_ids)

    @workflow.update
    def cancel(self, a: BuyerAction) -> DisputeView:
        self._updates += 1
        self._supersede_offer("SUPERSEDED")
        self.s.resolution = CANCELLED_BY_BUYER
        self._log(a.buyer_id, BUYER, "CANCELLED", a.message)
        self._close(CLOSED_CANCELLED)
        return self.view()

    @cancel.validator
    def _check_cancel(self, a: BuyerAction) -> None:
        self._require_buyer(a.buyer_id)
        self._require_status(
            (*NEGOTIATING, UNDER_ARBITRATION, AWAITING_INFORMATION), "it can no longer be cancelled"
        )
        self._require(not self.s.decisions, "the dispute was decided; it can no longer be cancelled")
        self._require(self.s.settlement is None, "the dispute was settled; it can no longer be cancelled")
        check_text(a.message, "reason", 0, 500)
