"""Arbitration (information requests, decisions, the appeal) and returns, as validated updates."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from dispute_svc.model import (
        ARBITRATING,
        Appeal,
        AppealAction,
        Decision,
        DecisionAction,
        DisputeStatus,
        DisputeView,
        InfoAnswer,
        InfoRequest,
        InfoRequestAction,
        InfoRequestStatus,
        Party,
        Resolution,
        ReturnReceipt,
        ReturnShipmentAction,
    )
    from dispute_svc.rules import (
        CARRIER_MAX_CHARS,
        RATIONALE_MAX_CHARS,
        check_amount,
        check_evidence,
        check_text,
    )
    from platform_common.refusals import Refusal

# Workflow code: imported inside the sandbox, like this module (not passed through).
from dispute_svc.workflow_core import parse_time as _t
from dispute_svc.workflow_outcomes import DisputeOutcomes

_TRACKING_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


class ArbitrationHandlers(DisputeOutcomes):
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
        self._log(
            r.arbiter_id, Party.ARBITER, "INFORMATION_REQUESTED", f"{req.id} to {r.party}: {r.question}"
        )
        self._arbitration_status()
        return self.view()

    @request_information.validator
    def _check_request_information(self, r: InfoRequestAction) -> None:
        self._require_arbiter(r.arbiter_id)
        limit = self._policy.max_info_requests
        self._require(
            len(self.s.info_requests) < limit,
            f"at most {limit} information requests per dispute",
            Refusal.RESOURCE_EXHAUSTED,
        )
        self._require(
            r.party in (Party.BUYER, Party.SELLER),
            "information can be requested from the buyer or the seller",
            Refusal.INVALID_ARGUMENT,
        )
        check_text(r.question, "question", required=True)
        self._require(
            not any(q.status == InfoRequestStatus.OPEN and q.party == r.party for q in self.s.info_requests),
            f"a request to the {r.party.lower()} is already open",
        )

    @workflow.update
    def submit_information(self, a: InfoAnswer) -> DisputeView:
        self._updates += 1
        req = next(q for q in self.s.info_requests if q.id == a.info_request_id)
        req.status, req.answer, req.answered_at = InfoRequestStatus.ANSWERED, a.message, self._now()
        req.evidence_ids = list(a.evidence_ids)
        self._add_evidence(a.evidence_ids)
        self._log(a.caller_id, req.party, "INFORMATION_SUBMITTED", f"{req.id}: {a.message}".rstrip(": "))
        self._arbitration_status()
        return self.view()

    @submit_information.validator
    def _check_submit_information(self, a: InfoAnswer) -> None:
        # Role and id together: a seller token carrying the buyer's id is not the buyer.
        parties: dict[str, str] = {Party.BUYER: self._inp.buyer_id, Party.SELLER: self._inp.seller_id}
        self._require(
            parties.get(a.caller_role) == a.caller_id if a.caller_role else a.caller_id in parties.values(),
            "only the dispute's parties answer information requests",
            Refusal.PERMISSION_DENIED,
        )
        self._require_status(ARBITRATING, "no information request can be answered now")
        req = next((q for q in self.s.info_requests if q.id == a.info_request_id), None)
        self._require(req is not None, f"there is no information request {a.info_request_id!r}")
        assert req is not None
        party_id = self._inp.buyer_id if req.party == Party.BUYER else self._inp.seller_id
        self._require(
            a.caller_id == party_id and a.caller_role in ("", req.party),
            f"{req.id} is addressed to the {req.party.lower()}",
            Refusal.PERMISSION_DENIED,
        )
        self._require(req.status == InfoRequestStatus.OPEN, f"{req.id} is {req.status.lower()}")
        self._require(workflow.now() < _t(req.due_at), f"{req.id} was due at {req.due_at}")
        self._require(
            bool(a.message.strip()) or bool(a.evidence_ids),
            "an answer needs a message or evidence",
            Refusal.INVALID_ARGUMENT,
        )
        check_text(a.message, "message")
        check_evidence(a.evidence_ids)

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
        self._log(d.arbiter_id, Party.ARBITER, "DECIDED" if appealable else "DECIDED_FINAL", detail)
        if appealable:
            self.s.status = DisputeStatus.DECIDED
            if not d.return_required and d.amount_minor > 0:
                self._pay(d.amount_minor, "undisputed part of the decision")  # paid at once
        else:
            self._settle(d.amount_minor, d.return_required, Resolution.ARBITRATION_DECISION)
        return self.view()

    @decide.validator
    def _check_decide(self, d: DecisionAction) -> None:
        self._require_arbiter(d.arbiter_id)
        check_amount(d.amount_minor, self._inp.paid_minor, "refund amount", allow_zero=True)
        check_text(d.rationale, "rationale", required=True, max_chars=RATIONALE_MAX_CHARS)
        unknown = [e for e in d.evidence_ids if e not in self.s.evidence_ids]
        self._require(
            not unknown,
            f"evidence {', '.join(unknown)} is not attached to this dispute",
            Refusal.INVALID_ARGUMENT,
        )
        open_requests = [q for q in self.s.info_requests if q.status == InfoRequestStatus.OPEN]
        self._require(
            not open_requests,
            f"information request {open_requests[0].id if open_requests else ''} is still open",
        )
        self._require(
            self._inp.goods_received or not d.return_required,
            "the goods never arrived: a return cannot be required",
            Refusal.INVALID_ARGUMENT,
        )
        if self.s.status == DisputeStatus.APPEALED:  # on appeal: only adds, never a new return requirement
            earlier = self.s.decisions[-1]
            self._require(
                d.amount_minor >= earlier.amount_minor,
                f"on appeal the refund is at least the earlier decision's {earlier.amount_minor}",
                Refusal.INVALID_ARGUMENT,
            )
            self._require(
                earlier.return_required or not d.return_required,
                "an appeal cannot add a return requirement",
                Refusal.INVALID_ARGUMENT,
            )
        if self._contested():
            self._require(not d.return_required, "the goods were already returned", Refusal.INVALID_ARGUMENT)

    @workflow.update
    def appeal(self, a: AppealAction) -> DisputeView:
        self._updates += 1
        decision = self.s.decisions[-1]
        self.s.appeal = Appeal(decision.round, a.message, list(a.evidence_ids), self._now())
        self._add_evidence(a.evidence_ids)
        self.s.excluded_arbiter, self.s.arbiter_id = decision.arbiter_id, ""
        self._start_arbitration_clocks()
        self.s.status = DisputeStatus.APPEALED
        self._log(a.buyer_id, Party.BUYER, "APPEALED", f"decision round {decision.round}: {a.message}")
        return self.view()

    @appeal.validator
    def _check_appeal(self, a: AppealAction) -> None:
        self._require_buyer(a.buyer_id)
        self._require(self.s.appeal is None, "a decision can be appealed only once")
        self._require_status((DisputeStatus.DECIDED,), "there is no decision to appeal")
        deadline = _t(self.s.decisions[-1].appeal_deadline)
        self._require(workflow.now() < deadline, f"the appeal window ended at {deadline.isoformat()}")
        check_text(a.message, "message", required=True)
        check_evidence(a.evidence_ids, required=True)
        old = [e for e in a.evidence_ids if e in self.s.evidence_ids]
        self._require(
            not old,
            f"evidence {', '.join(old)} was attached before; an appeal needs new evidence",
            Refusal.INVALID_ARGUMENT,
        )

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

    @submit_return_shipment.validator
    def _check_return_shipment(self, r: ReturnShipmentAction) -> None:
        self._require_buyer(r.buyer_id)
        self._require_status((DisputeStatus.AWAITING_RETURN_SHIPMENT,), "no return shipment is expected")
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

    @confirm_return.validator
    def _check_confirm_return(self, r: ReturnReceipt) -> None:
        self._require(
            r.seller_id == self._inp.seller_id,
            "only the order's seller may confirm the return",
            Refusal.PERMISSION_DENIED,
        )
        self._require_status((DisputeStatus.AWAITING_RETURN_RECEIPT,), "no returned goods are awaited")
        if r.contest:
            self._require(not self._contested(), "the returned item can be contested only once")
            check_text(r.message, "message", required=True)
        else:
            check_text(r.message, "message")
        check_evidence(r.evidence_ids)
