"""DisputeWorkflow, negotiation phase: the buyer's claim, the seller's 15 days, the buyer's 7.

Status of this module (issue 5 is in progress): negotiation is complete — seller accept /
counter-offer / reject, buyer accept / reject / modify / escalate / cancel, both timers and the
seller-timeout policy — and ends with an outcome (SETTLED, ESCALATED or CANCELLED). Arbitration,
appeal, returns, payout, order freeze and evidence sealing follow as the next phases; the
workflow is not registered with a worker until they exist.

Every user action is an update whose validator refuses bad requests before anything reaches
history; deadlines are absolute times in state, so they can be shown and moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.dispute_policy import Policy, SellerTimeoutAction, policy

WORKFLOW_NAME = "DisputeWorkflow"
AWAITING_SELLER, AWAITING_BUYER = "AWAITING_SELLER_RESPONSE", "AWAITING_BUYER_RESPONSE"
SETTLED, ESCALATED, CANCELLED = "SETTLED", "ESCALATED", "CANCELLED"
FULL_REFUND, PARTIAL_REFUND = "FULL_REFUND", "PARTIAL_REFUND"


def workflow_id(dispute_id: str) -> str:
    return f"dispute/{dispute_id}"


@dataclass
class Solution:
    type: str  # FULL_REFUND or PARTIAL_REFUND
    amount_minor: int
    return_goods: bool


@dataclass
class Version:
    """One numbered entry of the negotiation: a claim, a modification, an offer or a rejection."""

    number: int
    party: str  # BUYER or SELLER
    kind: str  # CLAIM, MODIFICATION, COUNTER_OFFER, REJECTION
    solution: Solution | None
    message: str
    evidence_ids: list[str]
    at: str


@dataclass
class Event:
    at: str
    actor: str
    action: str
    detail: str


@dataclass
class DisputeInput:
    dispute_id: str
    order_id: str
    buyer_id: str
    seller_id: str
    paid_minor: int
    currency: str
    policy_version: str
    reason: str
    goods_received: bool
    solution: Solution
    description: str
    evidence_ids: list[str] = field(default_factory=list)


@dataclass
class SellerResponse:
    seller_id: str
    type: str  # ACCEPT, COUNTER_OFFER or REJECT
    message: str = ""
    solution: Solution | None = None
    evidence_ids: list[str] = field(default_factory=list)


@dataclass
class BuyerAction:
    buyer_id: str
    # For AcceptOffer: the offer's version number, so a stale screen cannot accept a newer offer.
    offer_version: int = 0
    escalate: bool = False
    message: str = ""


@dataclass
class Modification:
    buyer_id: str
    solution: Solution
    description: str
    evidence_ids: list[str] = field(default_factory=list)


@dataclass
class DisputeView:
    dispute_id: str
    status: str
    outcome: str
    settlement: Solution | None
    seller_due: str | None
    buyer_due: str | None
    versions: list[Version]
    timeline: list[Event]


def _refuse(message: str, kind: str = "FailedPrecondition") -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def check_solution(s: Solution, paid_minor: int, goods_received: bool) -> None:
    """DESIGN §4: 0 < amount <= paid; a full refund is the paid amount; not received => full, no return."""
    if s.type not in (FULL_REFUND, PARTIAL_REFUND):
        raise _refuse(f"unknown solution type {s.type!r}", "InvalidArgument")
    if not 0 < s.amount_minor <= paid_minor:
        raise _refuse(f"amount must be between 1 and {paid_minor} minor units", "InvalidArgument")
    if s.type == FULL_REFUND and s.amount_minor != paid_minor:
        raise _refuse("a full refund is the amount paid", "InvalidArgument")
    if not goods_received and (s.type != FULL_REFUND or s.return_goods):
        raise _refuse("goods not received: the solution is a full refund without return", "InvalidArgument")


@workflow.defn(name=WORKFLOW_NAME)
class DisputeWorkflow:
    @workflow.init
    def __init__(self, inp: DisputeInput) -> None:
        self._inp = inp
        self._policy: Policy = policy(inp.policy_version)
        self._opened = workflow.now()
        self._status = AWAITING_SELLER
        self._outcome = ""
        self._settlement: Solution | None = None
        self._claim = inp.solution
        self._offer: Version | None = None
        self._offer_rejected = False
        self._versions: list[Version] = []
        self._timeline: list[Event] = []
        self._seller_due: datetime | None = self._opened + self._policy.days(
            self._policy.seller_response_days
        )
        self._buyer_due: datetime | None = None
        self._changed = 0
        self._add_version("BUYER", "CLAIM", inp.solution, inp.description, inp.evidence_ids)
        self._log(
            inp.buyer_id, "DISPUTE_OPENED", f"{inp.reason}; {inp.solution.type} {inp.solution.amount_minor}"
        )

    @workflow.run
    async def run(self, inp: DisputeInput) -> DisputeView:
        while not self._outcome:
            due = self._seller_due if self._status == AWAITING_SELLER else self._buyer_due
            assert due is not None
            seen = self._changed
            try:
                await workflow.wait_condition(
                    lambda seen=seen: self._changed != seen,  # type: ignore[misc]
                    timeout=max((due - workflow.now()).total_seconds(), 0.001),
                )
                continue
            except TimeoutError:
                pass
            if self._status == AWAITING_SELLER:
                self._seller_timed_out()
            else:
                self._finish(ESCALATED, "system", "AUTO_ESCALATED", "the buyer did not respond in time")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view()

    # --- seller --------------------------------------------------------------------------------

    @workflow.update
    def respond_as_seller(self, r: SellerResponse) -> DisputeView:
        if r.type == "ACCEPT":
            self._finish(SETTLED, r.seller_id, "SELLER_ACCEPTED", r.message, self._claim)
            return self.view()
        kind = "COUNTER_OFFER" if r.type == "COUNTER_OFFER" else "REJECTION"
        self._offer = self._add_version("SELLER", kind, r.solution, r.message, r.evidence_ids)
        self._offer_rejected = False
        self._status, self._seller_due = AWAITING_BUYER, None
        self._buyer_due = workflow.now() + self._policy.days(self._policy.buyer_response_days)
        self._log(r.seller_id, kind, r.message)
        return self.view()

    @respond_as_seller.validator
    def _check_response(self, r: SellerResponse) -> None:
        self._require(
            r.seller_id == self._inp.seller_id, "only the order's seller may respond", "PermissionDenied"
        )
        self._require(
            self._status == AWAITING_SELLER, f"the dispute is {self._status}; the seller cannot respond now"
        )
        if r.type == "COUNTER_OFFER":
            if r.solution is None:
                raise _refuse("a counter-offer needs a solution", "InvalidArgument")
            check_solution(r.solution, self._inp.paid_minor, self._inp.goods_received)
        elif r.type == "REJECT":
            self._require(bool(r.message.strip()), "a rejection needs a message", "InvalidArgument")
        elif r.type != "ACCEPT":
            raise _refuse(f"unknown response type {r.type!r}", "InvalidArgument")

    # --- buyer ---------------------------------------------------------------------------------

    @workflow.update
    def accept_offer(self, a: BuyerAction) -> DisputeView:
        assert self._offer is not None and self._offer.solution is not None
        self._finish(
            SETTLED, a.buyer_id, "OFFER_ACCEPTED", f"version {self._offer.number}", self._offer.solution
        )
        return self.view()

    @accept_offer.validator
    def _check_accept(self, a: BuyerAction) -> None:
        self._require_buyer(a.buyer_id)
        offer = self._offer
        self._require(
            self._status == AWAITING_BUYER and offer is not None and offer.kind == "COUNTER_OFFER",
            "there is no counter-offer to accept",
        )
        assert offer is not None
        self._require(not self._offer_rejected, "this offer was already rejected")
        self._require(
            a.offer_version == offer.number,
            f"offer {a.offer_version} is not the current offer ({offer.number})",
        )

    @workflow.update
    def reject_offer(self, a: BuyerAction) -> DisputeView:
        self._offer_rejected = True
        self._log(a.buyer_id, "OFFER_REJECTED", a.message)
        if a.escalate:
            self._finish(ESCALATED, a.buyer_id, "ESCALATED", "after rejecting the seller's offer")
        return self.view()

    @reject_offer.validator
    def _check_reject(self, a: BuyerAction) -> None:
        self._require_buyer(a.buyer_id)
        self._require(
            self._status == AWAITING_BUYER and not self._offer_rejected, "there is no offer to reject"
        )

    @workflow.update
    def modify(self, m: Modification) -> DisputeView:
        self._claim = m.solution
        self._add_version("BUYER", "MODIFICATION", m.solution, m.description, m.evidence_ids)
        self._status, self._buyer_due, self._offer = AWAITING_SELLER, None, None
        self._seller_due = workflow.now() + self._policy.days(self._policy.seller_response_days)  # restarts
        self._log(m.buyer_id, "CLAIM_MODIFIED", f"{m.solution.type} {m.solution.amount_minor}")
        return self.view()

    @modify.validator
    def _check_modify(self, m: Modification) -> None:
        self._require_buyer(m.buyer_id)
        self._require(
            not self._outcome, f"the dispute is {self._outcome or self._status}; it can no longer be modified"
        )
        check_solution(m.solution, self._inp.paid_minor, self._inp.goods_received)
        limit = self._policy.description_max_chars
        self._require(
            0 < len(m.description) <= limit, f"description must be 1..{limit} characters", "InvalidArgument"
        )

    @workflow.update
    def escalate(self, a: BuyerAction) -> DisputeView:
        self._finish(ESCALATED, a.buyer_id, "ESCALATED", a.message)
        return self.view()

    @escalate.validator
    def _check_escalate(self, a: BuyerAction) -> None:
        self._require_buyer(a.buyer_id)
        self._require(not self._outcome, f"the dispute is already {self._outcome}")
        earliest = self._opened + self._policy.days(self._policy.buyer_min_wait_to_escalate_days)
        self._require(
            self._offer_rejected
            or (self._offer is not None and self._offer.kind == "REJECTION")
            or workflow.now() >= earliest,
            f"escalation is possible from {earliest.isoformat()}, or at once after rejecting the seller's offer",
        )

    @workflow.update
    def cancel(self, a: BuyerAction) -> DisputeView:
        self._finish(CANCELLED, a.buyer_id, "CANCELLED", a.message)
        return self.view()

    @cancel.validator
    def _check_cancel(self, a: BuyerAction) -> None:
        self._require_buyer(a.buyer_id)
        self._require(not self._outcome, f"the dispute is already {self._outcome}")

    @workflow.query
    def view(self) -> DisputeView:
        return DisputeView(
            dispute_id=self._inp.dispute_id,
            status=self._outcome or self._status,
            outcome=self._outcome,
            settlement=self._settlement,
            seller_due=self._seller_due.isoformat() if self._seller_due else None,
            buyer_due=self._buyer_due.isoformat() if self._buyer_due else None,
            versions=list(self._versions),
            timeline=list(self._timeline),
        )

    # --- internals ------------------------------------------------------------------------------

    def _seller_timed_out(self) -> None:
        if self._policy.seller_timeout_action is SellerTimeoutAction.REFUND_BUYER:
            self._finish(
                SETTLED, "system", "SELLER_TIMEOUT_REFUND", "the seller did not respond in time", self._claim
            )
        else:
            self._finish(ESCALATED, "system", "AUTO_ESCALATED", "the seller did not respond in time")

    def _finish(
        self, outcome: str, actor: str, action: str, detail: str, settlement: Solution | None = None
    ) -> None:
        self._outcome, self._settlement = outcome, settlement
        self._seller_due = self._buyer_due = None
        self._log(actor, action, detail)

    def _add_version(
        self, party: str, kind: str, solution: Solution | None, message: str, evidence: list[str]
    ) -> Version:
        v = Version(
            len(self._versions) + 1,
            party,
            kind,
            solution,
            message,
            list(evidence),
            workflow.now().isoformat(),
        )
        self._versions.append(v)
        return v

    def _log(self, actor: str, action: str, detail: str) -> None:
        self._timeline.append(Event(workflow.now().isoformat(), actor, action, detail))
        self._changed += 1

    def _require(self, ok: bool, message: str, kind: str = "FailedPrecondition") -> None:
        if not ok:
            raise _refuse(message, kind)

    def _require_buyer(self, buyer_id: str) -> None:
        self._require(
            buyer_id == self._inp.buyer_id, "only the dispute's buyer may do this", "PermissionDenied"
        )
