"""Arbitration (information requests, decisions, the appeal), as validated updates.

As in negotiation, each validator first asks `_may_*` (who and when), then checks what the
request says; the allowed actions in GetDispute (workflow_actions.py) ask the same `_may_*`.
"""

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
    )
    from dispute_svc.rules import (
        RATIONALE_MAX_CHARS,
        check_amount,
        check_evidence,
        check_text,
    )
    from platform_common.refusals import Refusal

# Workflow code: imported inside the sandbox, like this module (not passed through).
from dispute_svc.workflow_core import Window
from dispute_svc.workflow_core import parse_time as _t
from dispute_svc.workflow_outcomes import DisputeOutcomes


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

    def _may_request_information(self, arbiter_id: str) -> Window:
        """An arbiter who may take the case, while requests are left and one party has none open."""
        self._require_arbiter(arbiter_id)
        limit = self._policy.max_info_requests
        self._require(
            len(self.s.info_requests) < limit,
            f"at most {limit} information requests per dispute",
            Refusal.RESOURCE_EXHAUSTED,
        )
        self._require(
            any(self._open_request_to(p) is None for p in (Party.BUYER, Party.SELLER)),
            "a request to the buyer and one to the seller are already open",
        )
        return Window()

    def _open_request_to(self, party: str) -> InfoRequest | None:
        """The open request addressed to `party`; a party has at most one open at a time."""
        return next(
            (q for q in self.s.info_requests if q.party == party and q.status == InfoRequestStatus.OPEN),
            None,
        )

    @request_information.validator
    def _check_request_information(self, r: InfoRequestAction) -> None:
        self._may_request_information(r.arbiter_id)
        self._require(
            r.party in (Party.BUYER, Party.SELLER),
            "information can be requested from the buyer or the seller",
            Refusal.INVALID_ARGUMENT,
        )
        check_text(r.question, "question", required=True)
        self._require(
            self._open_request_to(r.party) is None, f"a request to the {r.party.lower()} is already open"
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

    def _may_submit_information(
        self, role: str, caller_id: str, info_request_id: str | None = None
    ) -> Window:
        """A party (role and id together: a seller token carrying the buyer's id is not the
        buyer; "" is the role of callers of earlier releases), answering an open request
        addressed to it before it is due. `info_request_id` names the request answered; None
        asks about the caller's own open request (there is at most one per party)."""
        parties: dict[str, str] = {Party.BUYER: self._inp.buyer_id, Party.SELLER: self._inp.seller_id}
        self._require(
            parties.get(role) == caller_id if role else caller_id in parties.values(),
            "only the dispute's parties answer information requests",
            Refusal.PERMISSION_DENIED,
        )
        self._require_status(ARBITRATING, "no information request can be answered now")
        if info_request_id is None:
            party = role or (Party.BUYER if caller_id == self._inp.buyer_id else Party.SELLER)
            req = self._open_request_to(party)
            self._require(req is not None, f"no information request to the {party.lower()} is open")
        else:
            req = next((q for q in self.s.info_requests if q.id == info_request_id), None)
            self._require(req is not None, f"there is no information request {info_request_id!r}")
        assert req is not None
        party_id = self._inp.buyer_id if req.party == Party.BUYER else self._inp.seller_id
        self._require(
            caller_id == party_id and role in ("", req.party),
            f"{req.id} is addressed to the {req.party.lower()}",
            Refusal.PERMISSION_DENIED,
        )
        self._require(req.status == InfoRequestStatus.OPEN, f"{req.id} is {req.status.lower()}")
        self._require(workflow.now() < _t(req.due_at), f"{req.id} was due at {req.due_at}")
        return Window(_t(req.due_at))

    @submit_information.validator
    def _check_submit_information(self, a: InfoAnswer) -> None:
        self._may_submit_information(a.caller_role, a.caller_id, a.info_request_id)
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

    def _may_decide(self, arbiter_id: str) -> Window:
        """An arbiter who may take the case (a different one on appeal), once no information
        request is open."""
        self._require_arbiter(arbiter_id)
        open_requests = [q for q in self.s.info_requests if q.status == InfoRequestStatus.OPEN]
        self._require(
            not open_requests,
            f"information request {open_requests[0].id if open_requests else ''} is still open",
        )
        return Window()

    @decide.validator
    def _check_decide(self, d: DecisionAction) -> None:
        self._may_decide(d.arbiter_id)
        check_amount(d.amount_minor, self._inp.paid_minor, "refund amount", allow_zero=True)
        check_text(d.rationale, "rationale", required=True, max_chars=RATIONALE_MAX_CHARS)
        unknown = [e for e in d.evidence_ids if e not in self.s.evidence_ids]
        self._require(
            not unknown,
            f"evidence {', '.join(unknown)} is not attached to this dispute",
            Refusal.INVALID_ARGUMENT,
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

    def _may_appeal(self, buyer_id: str) -> Window:
        """The buyer, once, within the appeal window of a decision."""
        self._require_buyer(buyer_id)
        self._require(self.s.appeal is None, "a decision can be appealed only once")
        self._require_status((DisputeStatus.DECIDED,), "there is no decision to appeal")
        deadline = _t(self.s.decisions[-1].appeal_deadline)
        self._require(workflow.now() < deadline, f"the appeal window ended at {deadline.isoformat()}")
        return Window(deadline)

    @appeal.validator
    def _check_appeal(self, a: AppealAction) -> None:
        self._may_appeal(a.buyer_id)
        check_text(a.message, "message", required=True)
        check_evidence(a.evidence_ids, required=True)
        old = [e for e in a.evidence_ids if e in self.s.evidence_ids]
        self._require(
            not old,
            f"evidence {', '.join(old)} was attached before; an appeal needs new evidence",
            Refusal.INVALID_ARGUMENT,
        )
