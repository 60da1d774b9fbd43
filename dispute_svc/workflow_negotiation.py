"""Negotiation: the buyer's claim, the seller's answer, and the buyer's answer to that (updates).

Each update has a validator that refuses before anything reaches history; handlers only change
state (side effects follow in the workflow's main loop). A validator is two steps: `_may_*`, who
may act and when (party, status, window: nothing the request says), then the checks of what the
request says. The allowed actions in GetDispute (workflow_actions.py) ask the same `_may_*`.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from dispute_svc.model import (
        NEGOTIATING,
        BuyerAction,
        DisputeStatus,
        DisputeView,
        Modification,
        OfferStatus,
        Party,
        Resolution,
        SellerResponse,
        VersionKind,
    )
    from dispute_svc.rules import (
        CANCEL_REASON_MAX_CHARS,
        check_counter_offer,
        check_evidence,
        check_solution,
        check_text,
    )
    from platform_common.refusals import Refusal, refuse

# Workflow code: imported inside the sandbox, like this module (not passed through).
from dispute_svc.workflow_core import Window
from dispute_svc.workflow_outcomes import DisputeOutcomes


class NegotiationHandlers(DisputeOutcomes):
    @workflow.update
    def opened(self, buyer_id: str) -> DisputeView:
        """OpenDispute's update: the dispute was created by the start; a retry just reads it."""
        self._updates += 1
        return self.view()

    @opened.validator
    def _check_opened(self, buyer_id: str) -> None:
        self._require(
            buyer_id == self._inp.buyer_id,
            "only the order's buyer opened this dispute",
            Refusal.PERMISSION_DENIED,
        )

    @workflow.update
    def respond_as_seller(self, r: SellerResponse) -> DisputeView:
        self._updates += 1
        if r.type == VersionKind.ACCEPT:
            v = self._add_version(
                Party.SELLER, r.seller_id, VersionKind.ACCEPT, self.s.claim, r.message, r.evidence_ids
            )
            v.status, v.answered_at = OfferStatus.ACCEPTED, v.at
            self._log(r.seller_id, Party.SELLER, "SELLER_ACCEPTED", r.message)
            self._settle(self.s.claim.amount_minor, self.s.claim.return_goods, Resolution.SELLER_ACCEPTED)
            return self.view()
        kind = r.type
        v = self._add_version(Party.SELLER, r.seller_id, kind, r.solution, r.message, r.evidence_ids)
        v.status = OfferStatus.PENDING
        self.s.status, self.s.seller_due = DisputeStatus.AWAITING_BUYER_RESPONSE, ""
        self.s.buyer_due = self._after(self._policy.buyer_response_days)
        self._log(r.seller_id, Party.SELLER, kind, self._describe(r.solution, r.message))
        return self.view()

    def _may_respond(self, seller_id: str) -> Window:
        """The order's seller, while the seller's window runs."""
        self._require(
            seller_id == self._inp.seller_id,
            "only the order's seller may respond",
            Refusal.PERMISSION_DENIED,
        )
        return Window(
            self._require_status((DisputeStatus.AWAITING_SELLER_RESPONSE,), "the seller cannot respond now")
        )

    @respond_as_seller.validator
    def _check_response(self, r: SellerResponse) -> None:
        self._may_respond(r.seller_id)
        self._require_room(reserve=0 if r.type == VersionKind.ACCEPT else 1)
        latest = self._latest(Party.BUYER)
        self._require(
            r.claim_version in (0, latest.number),
            f"claim version {r.claim_version} is not the current claim ({latest.number}); reload the dispute",
        )
        check_evidence(r.evidence_ids)
        if r.type == VersionKind.COUNTER_OFFER:
            if r.solution is None:
                raise refuse("a counter-offer needs a solution", Refusal.INVALID_ARGUMENT)
            check_solution(r.solution, self._inp.paid_minor, self._inp.goods_received)
            check_counter_offer(r.solution, self._inp.paid_minor)
            self._require(
                r.solution != self.s.claim,
                "a counter-offer must differ from the claim",
                Refusal.INVALID_ARGUMENT,
            )
            check_text(r.message, "message", required=True)
        elif r.type == VersionKind.REJECT:
            check_text(r.message, "message", required=True)
        elif r.type == VersionKind.ACCEPT:
            check_text(r.message, "message")
        else:
            raise refuse(f"unknown response type {r.type!r}", Refusal.INVALID_ARGUMENT)

    @workflow.update
    def accept_offer(self, a: BuyerAction) -> DisputeView:
        self._updates += 1
        offer = self._pending_offer()
        assert offer is not None and offer.solution is not None
        offer.status, offer.answered_at = OfferStatus.ACCEPTED, self._now()
        self._log(a.buyer_id, Party.BUYER, "OFFER_ACCEPTED", f"version {offer.number}")
        self._settle(
            offer.solution.amount_minor, offer.solution.return_goods, Resolution.BUYER_ACCEPTED_OFFER
        )
        return self.view()

    def _may_answer_offer(self, buyer_id: str, verb: str) -> Window:
        """The buyer, while the buyer's window runs and a counter-offer waits for an answer (a
        rejection by the seller is no offer to accept or reject)."""
        self._require_buyer(buyer_id)
        until = self._require_status((DisputeStatus.AWAITING_BUYER_RESPONSE,), f"there is no offer to {verb}")
        offer = self._pending_offer()
        self._require(
            offer is not None and offer.kind == VersionKind.COUNTER_OFFER,
            f"there is no pending counter-offer to {verb}",
        )
        return Window(until)

    def _may_accept_offer(self, buyer_id: str) -> Window:
        return self._may_answer_offer(buyer_id, "accept")

    def _may_reject_offer(self, buyer_id: str) -> Window:
        return self._may_answer_offer(buyer_id, "reject")

    @accept_offer.validator
    def _check_accept(self, a: BuyerAction) -> None:
        self._may_accept_offer(a.buyer_id)
        offer = self._pending_offer()
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
        offer.status, offer.answered_at, offer.buyer_message = OfferStatus.REJECTED, self._now(), a.message
        self._log(
            a.buyer_id, Party.BUYER, "OFFER_REJECTED", f"version {offer.number}: {a.message}".rstrip(": ")
        )
        if a.escalate:
            self._escalate(a.buyer_id, Party.BUYER, "ESCALATED", "after rejecting the seller's offer")
        return self.view()

    @reject_offer.validator
    def _check_reject(self, a: BuyerAction) -> None:
        self._may_reject_offer(a.buyer_id)
        offer = self._pending_offer()
        assert offer is not None
        self._require(
            a.offer_version == offer.number,
            f"offer {a.offer_version} is not the current offer ({offer.number})",
        )
        check_text(a.message, "message")

    @workflow.update
    def modify(self, m: Modification) -> DisputeView:
        self._updates += 1
        self._supersede_offer(OfferStatus.SUPERSEDED)
        if m.solution is not None:
            self.s.claim = m.solution
        if m.description:
            self.s.description = m.description
        self._add_version(
            Party.BUYER,
            m.buyer_id,
            VersionKind.MODIFICATION,
            self.s.claim,
            self.s.description,
            m.evidence_ids,
        )
        self.s.status, self.s.buyer_due = DisputeStatus.AWAITING_SELLER_RESPONSE, ""
        self.s.seller_due = self._after(self._policy.seller_response_days)  # a modification restarts it
        self._log(m.buyer_id, Party.BUYER, "CLAIM_MODIFIED", self._describe(self.s.claim, ""))
        return self.view()

    def _may_modify(self, buyer_id: str) -> Window:
        """The buyer, while negotiating (until escalation), with room left for a new version."""
        self._require_buyer(buyer_id)
        until = self._require_status(NEGOTIATING, "the claim can no longer be modified")
        self._require_room()
        return Window(until)

    @modify.validator
    def _check_modify(self, m: Modification) -> None:
        self._may_modify(m.buyer_id)
        self._require(
            m.solution is not None or bool(m.description) or bool(m.evidence_ids),
            "a modification changes the solution, the description or adds evidence",
            Refusal.INVALID_ARGUMENT,
        )
        if m.solution is not None:
            check_solution(m.solution, self._inp.paid_minor, self._inp.goods_received)
        if m.description:
            check_text(
                m.description, "description", required=True, max_chars=self._policy.description_max_chars
            )
        check_evidence(m.evidence_ids)

    @workflow.update
    def escalate(self, a: BuyerAction) -> DisputeView:
        self._updates += 1
        self._supersede_offer(OfferStatus.SUPERSEDED)
        self._add_evidence(a.evidence_ids)
        self._escalate(a.buyer_id, Party.BUYER, "ESCALATED", a.message)
        return self.view()

    def _may_escalate(self, buyer_id: str, *, early: bool = False) -> Window:
        """The buyer, while negotiating, once the minimum wait after opening has passed (at once
        after the seller rejected or the buyer rejected an offer). `early`: do not refuse for the
        wait, answer when it ends (`since`), as the allowed actions show it."""
        self._require_buyer(buyer_id)
        until = self._require_status(NEGOTIATING, "the dispute cannot be escalated now")
        since = self._escalation_wait_ends()
        if since is not None and not early:
            raise refuse(
                f"escalation is possible from {since.isoformat()}, or at once after rejecting the seller's offer"
            )
        return Window(until, since)

    @escalate.validator
    def _check_escalate(self, a: BuyerAction) -> None:
        self._may_escalate(a.buyer_id)
        check_text(a.message, "message")
        check_evidence(a.evidence_ids)

    @workflow.update
    def cancel(self, a: BuyerAction) -> DisputeView:
        self._updates += 1
        self._supersede_offer(OfferStatus.SUPERSEDED)
        self.s.resolution = Resolution.CANCELLED_BY_BUYER
        self._log(a.buyer_id, Party.BUYER, "CANCELLED", a.message)
        self._close(DisputeStatus.CLOSED_CANCELLED)
        return self.view()

    def _may_cancel(self, buyer_id: str) -> Window:
        """The buyer, at any time before a decision or a settlement."""
        self._require_buyer(buyer_id)
        until = self._require_status(
            (*NEGOTIATING, DisputeStatus.UNDER_ARBITRATION, DisputeStatus.AWAITING_INFORMATION),
            "it can no longer be cancelled",
        )
        self._require(not self.s.decisions, "the dispute was decided; it can no longer be cancelled")
        self._require(self.s.settlement is None, "the dispute was settled; it can no longer be cancelled")
        return Window(until)

    @cancel.validator
    def _check_cancel(self, a: BuyerAction) -> None:
        self._may_cancel(a.buyer_id)
        check_text(a.message, "reason", max_chars=CANCEL_REASON_MAX_CHARS)
