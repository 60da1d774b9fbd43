"""DisputeWorkflow: one dispute from opening to the refund settling (DESIGN §4), on durable timers.

Why it is shaped like this:
- Update handlers are synchronous and pure: validators refuse bad requests before anything
  reaches history, and handlers only change state. Every side effect (freeze the order, seal
  evidence, pay, publish the read model) is done by the main loop through idempotent activities,
  so an action answers in one workflow task and a crash between effects simply repeats them.
- Every wait is an absolute deadline kept in state, so GetDispute shows it and a change (a
  modification, an appeal) just moves it.
- The whole state is one dataclass; continue-as-new carries it over before the update or history
  limits are near.
- Arbitration never decides by itself: a missed SLA raises a flag and a timeline event.

Handlers for each phase live in one class on purpose: the state machine reads best in one place.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.activities import disputes_api as api
    from workflows.dispute_model import (
        APPEALED,
        ARBITER,
        ARBITRATING,
        ARBITRATION_DECISION,
        AWAITING_BUYER,
        AWAITING_INFORMATION,
        AWAITING_RETURN_RECEIPT,
        AWAITING_RETURN_SHIPMENT,
        AWAITING_SELLER,
        BUYER,
        BUYER_ACCEPTED_OFFER,
        CANCELLED_BY_BUYER,
        CLOSED,
        CLOSED_CANCELLED,
        CLOSED_REFUNDED,
        CLOSED_WITHOUT_REFUND,
        DECIDED,
        FULL_REFUND,
        INVALID_ARGUMENT,
        NEGOTIATING,
        PARTIAL_REFUND,
        PERMISSION_DENIED,
        REFUND_PENDING,
        RESOURCE_EXHAUSTED,
        RETURN_NOT_SHIPPED,
        SELLER,
        SELLER_ACCEPTED,
        SELLER_TIMEOUT_REFUND,
        SYSTEM,
        UNDER_ARBITRATION,
        WORKFLOW_NAME,
        Appeal,
        AppealAction,
        BuyerAction,
        Deadline,
        Decision,
        DecisionAction,
        DisputeInput,
        DisputeState,
        DisputeView,
        Event,
        InfoAnswer,
        InfoRequest,
        InfoRequestAction,
        Modification,
        Payout,
        ReturnReceipt,
        ReturnShipment,
        ReturnShipmentAction,
        SellerResponse,
        Solution,
        Version,
        check_solution,
        check_text,
        refuse,
    )
    from workflows.dispute_policy import Policy, SellerTimeoutAction, policy

# A side effect that keeps failing this long is set aside and retried later by the main loop, so
# a service outage never stops the dispute's clocks.
_EFFECT_PATIENCE = timedelta(minutes=2)
_EFFECT_RETRY = timedelta(minutes=1)
_EFFECT_RETRY_MAX = timedelta(hours=1)
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


async def _call(name: str, arg: object, result_type: type | None = None) -> Any:
    """Run an activity; they are all idempotent, so they are retried until they succeed.

    Local activities: every side effect here is one short, idempotent RPC, and running it inside
    the workflow task (one marker event, no activity task round trips) halves the history and
    the server's work per action. Longer outages back off with durable timers automatically.
    """
    return await workflow.execute_local_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=60),
        schedule_to_close_timeout=_EFFECT_PATIENCE,
        retry_policy=_RETRY,
    )


_TRACKING_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")
# Payout states that need no more polling (REFUSED: RefundService turned the refund down).
_FINAL_REFUND = ("REFUNDED", "REFUSED")


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


@workflow.defn(name=WORKFLOW_NAME)
class DisputeWorkflow:
    @workflow.init
    def __init__(self, inp: DisputeInput) -> None:
        self._inp = inp
        self._policy: Policy = policy(inp.policy_version)
        self._updates = 0
        self._changed = 0
        self._poll_due: datetime | None = None
        self._effects_retry_at: datetime | None = None
        self._effect_failures = 0
        self._sa_last: tuple[object, ...] = ()
        if inp.carried is not None:
            self.s = inp.carried
            self.s.runs += 1
            self._published = self.s.revision
            if self.s.status == REFUND_PENDING:
                self._poll_due = workflow.now()
            return
        now = workflow.now()
        self._published = 0
        self.s = DisputeState(
            status=AWAITING_SELLER,
            opened_at=now.isoformat(),
            updated_at=now.isoformat(),
            claim=inp.solution,
            description=inp.description,
            seller_due=self._after(self._policy.seller_response_days),
            evidence_ids=list(inp.evidence_ids),
        )
        self._add_version(BUYER, inp.buyer_id, "CLAIM", inp.solution, inp.description, inp.evidence_ids)
        sol = inp.solution
        self._log(inp.buyer_id, BUYER, "DISPUTE_OPENED", f"{inp.reason}: {sol.type} {sol.amount_minor}")

    @workflow.run
    async def run(self, inp: DisputeInput) -> DisputeView:
        while True:
            await self._effects()
            done = self._effects_retry_at is None
            if self.s.status in CLOSED and done:
                break
            rollover = (
                self._updates >= inp.max_updates_per_run or workflow.info().is_continue_as_new_suggested()
            )
            if rollover and done and self.s.status not in CLOSED:
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._effects()
                if self.s.status not in CLOSED and self._effects_retry_at is None:
                    workflow.continue_as_new(self._carry_over())
                continue
            wake = self._next_wake()
            seen = self._changed
            if wake is None:
                await workflow.wait_condition(lambda seen=seen: self._changed != seen)  # type: ignore[misc]
                continue
            left = (wake - workflow.now()).total_seconds()
            if left > 0:
                try:
                    await workflow.wait_condition(
                        lambda seen=seen: self._changed != seen,  # type: ignore[misc]
                        timeout=left,
                    )
                    continue
                except TimeoutError:
                    pass
            self._on_time()
            if self.s.status == REFUND_PENDING and self._poll_due and workflow.now() >= self._poll_due:
                await self._poll_refunds()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view()

    # --- opening (update-with-start target) ----------------------------------------------------

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

    # --- seller --------------------------------------------------------------------------------

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
        self._require_room()
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

    # --- buyer: negotiation --------------------------------------------------------------------

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
            a.offer_version in (0, offer.number),
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
            check_text(m.description, "description", 1, self._policy.description_max_chars)
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

    # --- arbitration ---------------------------------------------------------------------------

    @workflow.update
    def request_information(self, r: InfoRequestAction) -> DisputeView:
        self._updates += 1
        self.s.arbiter_id = r.arbiter_id
        req = InfoRequest(
            id=f"ir-{len(self.s.info_requests) + 1}",
            party=r.party,
            arbiter_id=r.arbiter_id,
            question=r.question,
            requested_at=self._now(),
            due_at=self._after(self._policy.info_request_days),
        )
        self.s.info_requests.append(req)
        self._log(r.arbiter_id, ARBITER, "INFORMATION_REQUESTED", f"{req.id} to {r.party}: {r.question}")
        self._arbitration_status()
        return self.view()

    @request_information.validator
    def _check_request_information(self, r: InfoRequestAction) -> None:
        self._require_arbiter(r.arbiter_id)
        limit = self._policy.max_info_requests
        self._require(
            len(self.s.info_requests) < limit,
            f"at most {limit} information requests per dispute",
            RESOURCE_EXHAUSTED,
        )
        self._require(
            r.party in (BUYER, SELLER),
            "information can be requested from the buyer or the seller",
            INVALID_ARGUMENT,
        )
        check_text(r.question.strip(), "question", 1, 2000)
        self._require(
            not any(q.status == "OPEN" and q.party == r.party for q in self.s.info_requests),
            f"a request to the {r.party.lower()} is already open",
        )

    @workflow.update
    def submit_information(self, a: InfoAnswer) -> DisputeView:
        self._updates += 1
        req = next(q for q in self.s.info_requests if q.id == a.info_request_id)
        req.status, req.answer, req.answered_at = "ANSWERED", a.message, self._now()
        req.evidence_ids = list(a.evidence_ids)
        self._add_evidence(a.evidence_ids)
        self._log(a.caller_id, req.party, "INFORMATION_SUBMITTED", f"{req.id}: {a.message}".rstrip(": "))
        self._arbitration_status()
        return self.view()

    @submit_information.validator
    def _check_submit_information(self, a: InfoAnswer) -> None:
        self._require(
            a.caller_id in (self._inp.buyer_id, self._inp.seller_id),
            "only the dispute's parties answer information requests",
            PERMISSION_DENIED,
        )
        self._require_status(ARBITRATING, "no information request can be answered now")
        req = next((q for q in self.s.info_requests if q.id == a.info_request_id), None)
        self._require(req is not None, f"there is no information request {a.info_request_id!r}")
        assert req is not None
        party_id = self._inp.buyer_id if req.party == BUYER else self._inp.seller_id
        self._require(
            a.caller_id == party_id, f"{req.id} is addressed to the {req.party.lower()}", PERMISSION_DENIED
        )
        self._require(req.status == "OPEN", f"{req.id} is {req.status.lower()}")
        self._require(
            bool(a.message.strip()) or bool(a.evidence_ids),
            "an answer needs a message or evidence",
            INVALID_ARGUMENT,
        )
        check_text(a.message, "message", 0, 2000)
        self._check_evidence(a.evidence_ids)

    @workflow.update
    def decide(self, d: DecisionAction) -> DisputeView:
        self._updates += 1
        now = workflow.now()
        appealable = not self.s.decisions and not self._contested()
        decision = Decision(
            round=len(self.s.decisions) + 1,
            amount_minor=d.amount_minor,
            return_required=d.return_required,
            rationale=d.rationale,
            evidence_ids=list(d.evidence_ids),
            arbiter_id=d.arbiter_id,
            final=not appealable,
            decided_at=now.isoformat(),
            appeal_deadline=self._after(self._policy.appeal_window_days) if appealable else "",
        )
        self.s.decisions.append(decision)
        self.s.arbiter_id = d.arbiter_id
        self._clear_arbitration_clocks()
        detail = f"round {decision.round}: refund {d.amount_minor}, return {'required' if d.return_required else 'not required'}"
        self._log(d.arbiter_id, ARBITER, "DECIDED" if appealable else "DECIDED_FINAL", detail)
        if appealable:
            self.s.status = DECIDED
            if not d.return_required and d.amount_minor > 0:
                self._pay(d.amount_minor, "undisputed part of the decision")  # paid at once (DESIGN §4)
        else:
            self._settle(d.amount_minor, d.return_required, ARBITRATION_DECISION)
        return self.view()

    @decide.validator
    def _check_decide(self, d: DecisionAction) -> None:
        self._require_arbiter(d.arbiter_id)
        self._require(
            0 <= d.amount_minor <= self._inp.paid_minor,
            f"refund amount must be 0..{self._inp.paid_minor} minor units",
            INVALID_ARGUMENT,
        )
        check_text(d.rationale.strip(), "rationale", 1, 5000)
        unknown = [e for e in d.evidence_ids if e not in self.s.evidence_ids]
        self._require(
            not unknown, f"evidence {', '.join(unknown)} is not attached to this dispute", INVALID_ARGUMENT
        )
        open_requests = [q for q in self.s.info_requests if q.status == "OPEN"]
        self._require(
            not open_requests,
            f"information request {open_requests[0].id if open_requests else ''} is still open",
        )
        self._require(
            self._inp.goods_received or not d.return_required,
            "the goods never arrived: a return cannot be required",
            INVALID_ARGUMENT,
        )
        if self.s.status == APPEALED:  # on appeal: only adds, never a new return requirement
            earlier = self.s.decisions[-1]
            self._require(
                d.amount_minor >= earlier.amount_minor,
                f"on appeal the refund is at least the earlier decision's {earlier.amount_minor}",
                INVALID_ARGUMENT,
            )
            self._require(
                earlier.return_required or not d.return_required,
                "an appeal cannot add a return requirement",
                INVALID_ARGUMENT,
            )
        if self._contested():
            self._require(not d.return_required, "the goods were already returned", INVALID_ARGUMENT)

    @workflow.update
    def appeal(self, a: AppealAction) -> DisputeView:
        self._updates += 1
        decision = self.s.decisions[-1]
        self.s.appeal = Appeal(decision.round, a.message, list(a.evidence_ids), self._now())
        self._add_evidence(a.evidence_ids)
        self.s.excluded_arbiter, self.s.arbiter_id = decision.arbiter_id, ""
        self._start_arbitration_clocks()
        self.s.status = APPEALED
        self._log(a.buyer_id, BUYER, "APPEALED", f"decision round {decision.round}: {a.message}")
        return self.view()

    @appeal.validator
    def _check_appeal(self, a: AppealAction) -> None:
        self._require_buyer(a.buyer_id)
        self._require(self.s.appeal is None, "a decision can be appealed only once")
        self._require_status((DECIDED,), "there is no decision to appeal")
        deadline = _t(self.s.decisions[-1].appeal_deadline)
        self._require(workflow.now() < deadline, f"the appeal window ended at {deadline.isoformat()}")
        check_text(a.message.strip(), "message", 1, 2000)
        self._require(
            1 <= len(a.evidence_ids) <= 20, "an appeal needs 1..20 new evidence ids", INVALID_ARGUMENT
        )
        old = [e for e in a.evidence_ids if e in self.s.evidence_ids]
        self._require(
            not old,
            f"evidence {', '.join(old)} was attached before; an appeal needs new evidence",
            INVALID_ARGUMENT,
        )

    # --- returns -------------------------------------------------------------------------------

    @workflow.update
    def submit_return_shipment(self, r: ReturnShipmentAction) -> DisputeView:
        self._updates += 1
        rs = self.s.return_shipment
        assert rs is not None
        rs.carrier, rs.tracking_number, rs.shipped_at = r.carrier, r.tracking_number, self._now()
        rs.confirm_due = self._after(self._policy.return_confirm_days)
        self.s.status = AWAITING_RETURN_RECEIPT
        self._log(r.buyer_id, BUYER, "RETURN_SHIPPED", f"{r.carrier} {r.tracking_number}")
        return self.view()

    @submit_return_shipment.validator
    def _check_return_shipment(self, r: ReturnShipmentAction) -> None:
        self._require_buyer(r.buyer_id)
        self._require_status((AWAITING_RETURN_SHIPMENT,), "no return shipment is expected")
        check_text(r.carrier.strip(), "carrier", 1, 64)
        self._require(
            4 <= len(r.tracking_number) <= 64 and set(r.tracking_number) <= _TRACKING_CHARS,
            "tracking number must be 4..64 letters, digits or dashes",
            INVALID_ARGUMENT,
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
            self._escalate(r.seller_id, SELLER, "RETURN_CONTESTED", r.message)
            return self.view()
        rs.received_at = self._now()
        self._add_evidence(r.evidence_ids)
        self._log(r.seller_id, SELLER, "RETURN_RECEIVED", r.message)
        self._pay_rest()
        return self.view()

    @confirm_return.validator
    def _check_confirm_return(self, r: ReturnReceipt) -> None:
        self._require(
            r.seller_id == self._inp.seller_id,
            "only the order's seller may confirm the return",
            PERMISSION_DENIED,
        )
        self._require_status((AWAITING_RETURN_RECEIPT,), "no returned goods are awaited")
        if r.contest:
            self._require(not self._contested(), "the returned item can be contested only once")
            check_text(r.message.strip(), "message", 1, 2000)
        else:
            check_text(r.message, "message", 0, 2000)
        self._check_evidence(r.evidence_ids)

    # --- reads ---------------------------------------------------------------------------------

    @workflow.query
    def view(self) -> DisputeView:
        i = self._inp
        return DisputeView(
            dispute_id=i.dispute_id,
            order_id=i.order_id,
            buyer_id=i.buyer_id,
            seller_id=i.seller_id,
            paid_minor=i.paid_minor,
            currency=i.currency,
            policy_version=i.policy_version,
            reason=i.reason,
            goods_received=i.goods_received,
            attempt=i.attempt,
            state=self.s,
            deadlines=self._deadlines(),
        )

    def _deadlines(self) -> list[Deadline]:
        s, out = self.s, []
        if s.status == AWAITING_SELLER:
            out.append(Deadline("SELLER_RESPONSE_DUE", s.seller_due))
        if s.status == AWAITING_BUYER:
            out.append(Deadline("BUYER_RESPONSE_DUE", s.buyer_due))
        if s.status in NEGOTIATING and not self._may_escalate_at_once():
            earliest = self._at(s.opened_at, self._policy.buyer_min_wait_to_escalate_days)
            if workflow.now() < earliest:
                out.append(Deadline("ESCALATION_ALLOWED_FROM", earliest.isoformat()))
        if s.status in ARBITRATING:
            out += [Deadline("INFO_RESPONSE_DUE", q.due_at) for q in s.info_requests if q.status == "OPEN"]
            out += [
                Deadline("ARBITRATION_TARGET", s.arbitration_target),
                Deadline("ARBITRATION_MAX", s.arbitration_max),
            ]
        if s.status == DECIDED:
            out.append(Deadline("APPEAL_WINDOW_ENDS", s.decisions[-1].appeal_deadline))
        if s.status == AWAITING_RETURN_SHIPMENT and s.return_shipment:
            out.append(Deadline("RETURN_SHIP_DUE", s.return_shipment.ship_due))
        if s.status == AWAITING_RETURN_RECEIPT and s.return_shipment:
            out.append(Deadline("RETURN_CONFIRM_DUE", s.return_shipment.confirm_due))
        return out

    # --- clocks --------------------------------------------------------------------------------

    def _next_wake(self) -> datetime | None:
        s = self.s
        times = [_t(d.due_at) for d in self._deadlines() if d.kind != "ESCALATION_ALLOWED_FROM"]
        if s.status in ARBITRATING:
            times = [_t(q.due_at) for q in s.info_requests if q.status == "OPEN"]
            times += [] if s.target_missed else [_t(s.arbitration_target)]
            times += [] if s.sla_breached else [_t(s.arbitration_max)]
        if s.status == REFUND_PENDING and self._poll_due is not None:
            times.append(self._poll_due)
        if self._effects_retry_at is not None:
            times.append(self._effects_retry_at)
        return min(times) if times else None

    def _live_deadline(self) -> datetime | None:
        """The next deadline that still matters to users (NextDeadline)."""
        s = self.s
        times = [_t(d.due_at) for d in self._deadlines() if d.kind != "ESCALATION_ALLOWED_FROM"]
        if s.status in ARBITRATING:
            times = [_t(q.due_at) for q in s.info_requests if q.status == "OPEN"]
            times += [] if s.target_missed else [_t(s.arbitration_target)]
            times += [] if s.sla_breached else [_t(s.arbitration_max)]
        return min(times) if times else None

    def _on_time(self) -> None:
        s, now = self.s, workflow.now()
        if s.status == AWAITING_SELLER and now >= _t(s.seller_due):
            if self._policy.seller_timeout_action is SellerTimeoutAction.REFUND_BUYER:
                self._log("system", SYSTEM, "SELLER_TIMEOUT_REFUND", "the seller did not respond in time")
                self._settle(s.claim.amount_minor, s.claim.return_goods, SELLER_TIMEOUT_REFUND)
            else:
                self._escalate("system", SYSTEM, "AUTO_ESCALATED", "the seller did not respond in time")
        elif s.status == AWAITING_BUYER and now >= _t(s.buyer_due):
            self._supersede_offer("EXPIRED")
            self._escalate("system", SYSTEM, "AUTO_ESCALATED", "the buyer did not respond in time")
        elif s.status in ARBITRATING:
            for q in s.info_requests:
                if q.status == "OPEN" and now >= _t(q.due_at):
                    q.status = "MISSED"
                    self._log(
                        "system",
                        SYSTEM,
                        "INFORMATION_MISSED",
                        f"{q.id}: the {q.party.lower()} did not answer in time",
                    )
            if not s.target_missed and now >= _t(s.arbitration_target):
                s.target_missed = True
                self._log(
                    "system",
                    SYSTEM,
                    "ARBITRATION_TARGET_MISSED",
                    f"no decision within {self._policy.arbitration_target_days} days",
                )
            if not s.sla_breached and now >= _t(s.arbitration_max):
                s.sla_breached = True
                self._log(
                    "system",
                    SYSTEM,
                    "SLA_BREACHED",
                    f"no decision within {self._policy.arbitration_max_days} days",
                )
            self._arbitration_status()
        elif s.status == DECIDED and now >= _t(s.decisions[-1].appeal_deadline):
            decision = s.decisions[-1]
            decision.final = True
            self._log("system", SYSTEM, "DECISION_FINAL", f"round {decision.round}: the appeal window ended")
            self._settle(decision.amount_minor, decision.return_required, ARBITRATION_DECISION)
        elif (
            s.status == AWAITING_RETURN_SHIPMENT
            and s.return_shipment
            and now >= _t(s.return_shipment.ship_due)
        ):
            s.resolution = RETURN_NOT_SHIPPED
            self._log("system", SYSTEM, "RETURN_NOT_SHIPPED", "the buyer did not ship the return in time")
            self._close(CLOSED_WITHOUT_REFUND)
        elif (
            s.status == AWAITING_RETURN_RECEIPT
            and s.return_shipment
            and now >= _t(s.return_shipment.confirm_due)
        ):
            s.return_shipment.received_at, s.return_shipment.auto_confirmed = now.isoformat(), True
            self._log("system", SYSTEM, "RETURN_AUTO_CONFIRMED", "the seller did not confirm in time")
            self._pay_rest()

    # --- outcomes ------------------------------------------------------------------------------

    def _settle(self, amount: int, return_required: bool, resolution: str) -> None:
        s = self.s
        s.resolution = resolution
        kind = FULL_REFUND if amount == self._inp.paid_minor else PARTIAL_REFUND
        s.settlement = Solution(kind, amount, return_required)
        s.seller_due = s.buyer_due = ""
        received = s.return_shipment is not None and bool(s.return_shipment.received_at)
        if return_required and amount > 0 and not received:
            s.return_shipment = ReturnShipment(ship_due=self._after(self._policy.return_ship_days))
            s.status = AWAITING_RETURN_SHIPMENT
            self._log(
                "system", SYSTEM, "RETURN_REQUIRED", f"ship within {self._policy.return_ship_days} days"
            )
            return
        self._pay_rest()

    def _pay_rest(self) -> None:
        assert self.s.settlement is not None
        paid = [p for p in self.s.payouts if p.status != "REFUSED"]
        owed = self.s.settlement.amount_minor - sum(p.amount_minor for p in paid)
        if owed > 0:
            self._pay(owed, self.s.resolution.lower().replace("_", " "))
        if any(p.status != "REFUSED" for p in self.s.payouts):
            self.s.status = REFUND_PENDING
            self._poll_due = workflow.now()
            self._changed += 1
        else:
            self._close(CLOSED_WITHOUT_REFUND)

    def _pay(self, amount: int, why: str) -> None:
        n = len(self.s.payouts) + 1
        self.s.payouts.append(
            Payout(round=n, key=f"dispute/{self._inp.dispute_id}/round/{n}", amount_minor=amount)
        )
        self._log("system", SYSTEM, "REFUND_ORDERED", f"round {n}: {amount} {self._inp.currency} ({why})")

    def _escalate(self, actor: str, role: str, action: str, detail: str) -> None:
        s = self.s
        s.escalated_at = s.escalated_at or self._now()
        s.seller_due = s.buyer_due = ""
        s.arbiter_id = ""
        self._start_arbitration_clocks()
        s.status = UNDER_ARBITRATION
        self._log(actor, role, action, detail)

    def _close(self, status: str) -> None:
        s = self.s
        s.status, s.closed_at = status, self._now()
        s.seller_due = s.buyer_due = ""
        self._clear_arbitration_clocks()
        self._log("system", SYSTEM, "DISPUTE_CLOSED", status)

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
        if s.status in ARBITRATING and s.status != APPEALED:
            s.status = (
                AWAITING_INFORMATION
                if any(q.status == "OPEN" for q in s.info_requests)
                else UNDER_ARBITRATION
            )

    # --- side effects, run by the main loop ----------------------------------------------------

    async def _effects(self) -> None:
        try:
            await self._run_effects()
        except (ActivityError, ApplicationError) as exc:
            # Back off 1 min, 2, 4, ... up to an hour: a long outage costs a few events an hour.
            delay = min(_EFFECT_RETRY * 2**self._effect_failures, _EFFECT_RETRY_MAX)
            self._effect_failures += 1
            self._effects_retry_at = workflow.now() + delay
            workflow.logger.warning(
                "dispute %s: side effect deferred %s: %s", self._inp.dispute_id, delay, exc
            )
            return
        self._effects_retry_at, self._effect_failures = None, 0

    async def _run_effects(self) -> None:
        s, i = self.s, self._inp
        if not s.order_frozen and s.status not in CLOSED:
            await _call(api.FREEZE_ORDER, api.OrderHold(i.order_id, i.dispute_id))
            s.order_frozen = True
        if s.escalated_at and not s.sealed and s.status not in CLOSED:
            await _call(api.SET_LEGAL_HOLD, api.LegalHold(i.dispute_id, True))
            s.sealed = True
            self._log(
                "system", SYSTEM, "EVIDENCE_SEALED", "evidence is under legal hold until the case closes"
            )
        for p in s.payouts:
            if not p.refund_id and p.status != "REFUSED":
                await self._issue(p)
        if s.status in CLOSED and not s.order_released:
            if s.sealed:
                await _call(api.SET_LEGAL_HOLD, api.LegalHold(i.dispute_id, False))
            if s.order_frozen:
                await _call(api.UNFREEZE_ORDER, api.OrderHold(i.order_id, i.dispute_id))
            s.order_released = True
        if s.revision != self._published:
            self._publish_search_attributes()
            await _call(api.RECORD_DISPUTE_STATE, self.view())
            self._published = s.revision

    async def _issue(self, p: Payout) -> None:
        i = self._inp
        try:
            result = await _call(
                api.ISSUE_REFUND,
                api.RefundOrder(
                    p.key,
                    i.order_id,
                    i.dispute_id,
                    p.amount_minor,
                    i.currency,
                    f"dispute {i.dispute_id} round {p.round}",
                ),
                api.RefundResult,
            )
        except (ActivityError, ApplicationError) as exc:
            # A local activity's failure may arrive as the ApplicationError itself.
            cause = exc.cause if isinstance(exc, ActivityError) else exc
            if not isinstance(cause, ApplicationError) or cause.type != api.REFUND_REFUSED:
                raise
            p.status = "REFUSED"
            self._log("system", SYSTEM, "REFUND_REFUSED", f"round {p.round}: {cause.message}")
            return
        p.refund_id, p.status = result.refund_id, result.status
        self._log("system", SYSTEM, "REFUND_ISSUED", f"round {p.round}: refund {p.refund_id}")

    async def _poll_refunds(self) -> None:
        payouts = [p for p in self.s.payouts if p.refund_id and p.status not in _FINAL_REFUND]
        if payouts:
            statuses = await _call(api.REFUND_STATUSES, [p.refund_id for p in payouts], result_type=list[str])
            for p, status in zip(payouts, statuses, strict=True):
                if status != p.status:
                    p.status = status
                    self._log("system", SYSTEM, f"REFUND_{status}", f"round {p.round}: refund {p.refund_id}")
        if all(p.status in _FINAL_REFUND for p in self.s.payouts):
            refunded = any(p.status == "REFUNDED" for p in self.s.payouts)
            self._close(CLOSED_REFUNDED if refunded else CLOSED_WITHOUT_REFUND)
            self._poll_due = None
        else:
            self._poll_due = workflow.now() + max(self._policy.days(1) / 4, timedelta(seconds=1))

    def _publish_search_attributes(self) -> None:
        s = self.s
        due = self._live_deadline()
        values: tuple[object, ...] = (s.status, due, s.sla_breached)
        if values == self._sa_last:
            return
        self._sa_last = values
        deadline = sa.NEXT_DEADLINE.value_set(due) if due else sa.NEXT_DEADLINE.value_unset()
        workflow.upsert_search_attributes(
            [sa.DISPUTE_STATUS.value_set(s.status), deadline, sa.SLA_BREACHED.value_set(s.sla_breached)]
        )

    def _carry_over(self) -> DisputeInput:
        i = self._inp
        return DisputeInput(
            dispute_id=i.dispute_id,
            order_id=i.order_id,
            buyer_id=i.buyer_id,
            seller_id=i.seller_id,
            paid_minor=i.paid_minor,
            currency=i.currency,
            policy_version=i.policy_version,
            reason=i.reason,
            goods_received=i.goods_received,
            solution=i.solution,
            description=i.description,
            evidence_ids=list(i.evidence_ids),
            attempt=i.attempt,
            max_updates_per_run=i.max_updates_per_run,
            carried=self.s,
        )

    # --- small helpers -------------------------------------------------------------------------

    def _now(self) -> str:
        return workflow.now().isoformat()

    def _after(self, days: int) -> str:
        return (workflow.now() + self._policy.days(days)).isoformat()

    def _at(self, start: str, days: int) -> datetime:
        return _t(start) + self._policy.days(days)

    def _require_room(self) -> None:
        limit = self._policy.max_versions
        self._require(
            len(self.s.versions) < limit,
            f"a dispute keeps at most {limit} claim versions and offers; escalate instead",
            RESOURCE_EXHAUSTED,
        )

    def _add_version(
        self, party: str, author: str, kind: str, solution: Solution | None, message: str, evidence: list[str]
    ) -> Version:
        v = Version(
            len(self.s.versions) + 1, party, author, kind, solution, message, list(evidence), self._now()
        )
        self.s.versions.append(v)
        self._add_evidence(evidence)
        return v

    def _add_evidence(self, ids: list[str]) -> None:
        self.s.evidence_ids += [e for e in ids if e not in self.s.evidence_ids]

    def _latest(self, party: str) -> Version:
        return next(v for v in reversed(self.s.versions) if v.party == party)

    def _pending_offer(self) -> Version | None:
        v = self.s.versions[-1]
        return v if v.party == SELLER and v.status == "PENDING" else None

    def _supersede_offer(self, status: str) -> None:
        offer = self._pending_offer()
        if offer is not None:
            offer.status = status

    def _may_escalate_at_once(self) -> bool:
        last = self.s.versions[-1]
        return last.party == SELLER and (last.kind == "REJECT" or last.status == "REJECTED")

    def _contested(self) -> bool:
        rs = self.s.return_shipment
        return rs is not None and rs.contested

    def _describe(self, solution: Solution | None, message: str) -> str:
        text = (
            f"{solution.type} {solution.amount_minor}{' with return' if solution.return_goods else ''}"
            if solution
            else ""
        )
        return "; ".join(x for x in (text, message) if x)

    def _log(self, actor: str, role: str, action: str, detail: str) -> None:
        self.s.timeline.append(Event(self._now(), actor, role, action, detail))
        self.s.updated_at = self._now()
        self.s.revision += 1
        self._changed += 1

    def _require(self, ok: bool, message: str, kind: str = "FailedPrecondition") -> None:
        if not ok:
            raise refuse(message, kind)

    def _require_status(self, allowed: tuple[str, ...], what: str) -> None:
        self._require(self.s.status in allowed, f"the dispute is {self.s.status}; {what}")
        # Updates run before timers that fire in the same task: an action after its window ended
        # is refused here, and the timer moves the dispute on a moment later.
        due = self._phase_due()
        if due is not None and workflow.now() >= due:
            raise refuse(f"the {self.s.status} window ended at {due.isoformat()}; the dispute is moving on")

    def _phase_due(self) -> datetime | None:
        s = self.s
        value = {
            AWAITING_SELLER: s.seller_due,
            AWAITING_BUYER: s.buyer_due,
            DECIDED: s.decisions[-1].appeal_deadline if s.decisions else "",
            AWAITING_RETURN_SHIPMENT: s.return_shipment.ship_due if s.return_shipment else "",
            AWAITING_RETURN_RECEIPT: s.return_shipment.confirm_due if s.return_shipment else "",
        }.get(s.status, "")
        return _t(value) if value else None

    def _require_buyer(self, buyer_id: str) -> None:
        self._require(
            buyer_id == self._inp.buyer_id, "only the dispute's buyer may do this", PERMISSION_DENIED
        )

    def _require_arbiter(self, arbiter_id: str) -> None:
        self._require_status(ARBITRATING, "it is not under arbitration")
        s = self.s
        if s.status == APPEALED:
            self._require(
                arbiter_id != s.excluded_arbiter, "a different arbiter decides the appeal", PERMISSION_DENIED
            )
        self._require(
            not s.arbiter_id or s.arbiter_id == arbiter_id,
            f"the dispute is assigned to arbiter {s.arbiter_id}",
            PERMISSION_DENIED,
        )

    def _check_evidence(self, ids: list[str]) -> None:
        self._require(len(ids) <= 20, "at most 20 evidence ids per action", INVALID_ARGUMENT)
        self._require(len(set(ids)) == len(ids), "evidence ids must not repeat", INVALID_ARGUMENT)
