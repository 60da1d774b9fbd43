"""DisputeWorkflow's state and the rules every phase shares: deadlines, checks, the timeline.

A base class of the workflow (see dispute_svc/workflow.py): plain methods over `self.s`, the whole
`DisputeState`, with time from `workflow.now()` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from dispute_svc.model import (
        ARBITRATING,
        NEGOTIATING,
        Deadline,
        DeadlineKind,
        DisputeInput,
        DisputeState,
        DisputeStatus,
        DisputeView,
        Event,
        InfoRequestStatus,
        OfferStatus,
        Party,
        Solution,
        Version,
        VersionKind,
    )
    from dispute_svc.policy import Policy
    from dispute_svc.rules import check_not_a_party
    from platform_common.refusals import Refusal, refuse


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


_t = parse_time


@dataclass(frozen=True)
class Window:
    """When an action a party may take can be taken, as its precondition (`_may_*`) finds it:
    until `until` (None: no deadline of its own) and, for an escalation still waiting out the
    buyer's minimum wait, only from `since`. Validators ignore it; the allowed-actions query
    (workflow_actions.py) shows it."""

    until: datetime | None = None
    since: datetime | None = None


class DisputeCore:
    _inp: DisputeInput
    _policy: Policy
    s: DisputeState
    _updates: int
    _changed: int
    _poll_due: datetime | None
    _effects_retry_at: datetime | None

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
        if s.status == DisputeStatus.AWAITING_SELLER_RESPONSE:
            out.append(Deadline(DeadlineKind.SELLER_RESPONSE_DUE, s.seller_due))
        if s.status == DisputeStatus.AWAITING_BUYER_RESPONSE:
            out.append(Deadline(DeadlineKind.BUYER_RESPONSE_DUE, s.buyer_due))
        if s.status in NEGOTIATING and (earliest := self._escalation_wait_ends()) is not None:
            out.append(Deadline(DeadlineKind.ESCALATION_ALLOWED_FROM, earliest.isoformat()))
        if s.status in ARBITRATING:
            out += [
                Deadline(DeadlineKind.INFO_RESPONSE_DUE, q.due_at)
                for q in s.info_requests
                if q.status == InfoRequestStatus.OPEN
            ]
            out += [
                Deadline(DeadlineKind.ARBITRATION_TARGET, s.arbitration_target),
                Deadline(DeadlineKind.ARBITRATION_MAX, s.arbitration_max),
            ]
        if s.status == DisputeStatus.DECIDED:
            out.append(Deadline(DeadlineKind.APPEAL_WINDOW_ENDS, s.decisions[-1].appeal_deadline))
        if s.status == DisputeStatus.AWAITING_RETURN_SHIPMENT and s.return_shipment:
            out.append(Deadline(DeadlineKind.RETURN_SHIP_DUE, s.return_shipment.ship_due))
        if s.status == DisputeStatus.AWAITING_RETURN_RECEIPT and s.return_shipment:
            out.append(Deadline(DeadlineKind.RETURN_CONFIRM_DUE, s.return_shipment.confirm_due))
        return out

    def _next_wake(self) -> datetime | None:
        """When the main loop must wake: the next live deadline, a refund poll, a deferred effect."""
        times = [t for t in (self._live_deadline(), self._effects_retry_at) if t is not None]
        if self.s.status == DisputeStatus.REFUND_PENDING and self._poll_due is not None:
            times.append(self._poll_due)
        return min(times) if times else None

    def _live_deadline(self) -> datetime | None:
        """The next deadline that still matters to users (NextDeadline)."""
        s = self.s
        times = [_t(d.due_at) for d in self._deadlines() if d.kind != DeadlineKind.ESCALATION_ALLOWED_FROM]
        if s.status in ARBITRATING:
            times = [_t(q.due_at) for q in s.info_requests if q.status == InfoRequestStatus.OPEN]
            times += [] if s.target_missed else [_t(s.arbitration_target)]
            times += [] if s.sla_breached else [_t(s.arbitration_max)]
        return min(times) if times else None

    def _phase_due(self) -> datetime | None:
        s = self.s
        value = {
            DisputeStatus.AWAITING_SELLER_RESPONSE: s.seller_due,
            DisputeStatus.AWAITING_BUYER_RESPONSE: s.buyer_due,
            DisputeStatus.DECIDED: s.decisions[-1].appeal_deadline if s.decisions else "",
            DisputeStatus.AWAITING_RETURN_SHIPMENT: s.return_shipment.ship_due if s.return_shipment else "",
            DisputeStatus.AWAITING_RETURN_RECEIPT: s.return_shipment.confirm_due if s.return_shipment else "",
        }.get(s.status, "")
        return _t(value) if value else None

    def _now(self) -> str:
        return workflow.now().isoformat()

    def _after(self, days: int) -> str:
        return (workflow.now() + self._policy.days(days)).isoformat()

    def _at(self, start: str, days: int) -> datetime:
        return _t(start) + self._policy.days(days)

    def _require_room(self, reserve: int = 1) -> None:
        """Counter-offers, rejections and modifications leave `reserve` places, so the seller can
        always still accept the last claim."""
        limit = self._policy.max_versions - reserve
        self._require(
            len(self.s.versions) < limit,
            f"a dispute keeps at most {limit} claim versions and offers; escalate instead",
            Refusal.RESOURCE_EXHAUSTED,
        )

    def _add_version(
        self,
        party: Party,
        author: str,
        kind: VersionKind,
        solution: Solution | None,
        message: str,
        evidence: list[str],
        at: str = "",
    ) -> Version:
        v = Version(
            len(self.s.versions) + 1,
            party,
            author,
            kind,
            solution,
            message,
            list(evidence),
            at or self._now(),
        )
        self.s.versions.append(v)
        self._add_evidence(evidence)
        return v

    def _add_evidence(self, ids: list[str]) -> None:
        self.s.evidence_ids += [e for e in ids if e not in self.s.evidence_ids]

    def _latest(self, party: Party) -> Version:
        return next(v for v in reversed(self.s.versions) if v.party == party)

    def _pending_offer(self) -> Version | None:
        v = self.s.versions[-1]
        return v if v.party == Party.SELLER and v.status == OfferStatus.PENDING else None

    def _supersede_offer(self, status: OfferStatus) -> None:
        offer = self._pending_offer()
        if offer is not None:
            offer.status = status

    def _may_escalate_at_once(self) -> bool:
        last = self.s.versions[-1]
        return last.party == Party.SELLER and (
            last.kind == VersionKind.REJECT or last.status == OfferStatus.REJECTED
        )

    def _escalation_wait_ends(self) -> datetime | None:
        """When the buyer's minimum wait before escalating ends; None when escalation need not
        wait (the wait is over, or the seller rejected: then at once). One rule for the
        ESCALATION_ALLOWED_FROM deadline, the escalate validator and the allowed actions."""
        if self._may_escalate_at_once():
            return None
        earliest = self._at(self.s.opened_at, self._policy.buyer_min_wait_to_escalate_days)
        return earliest if workflow.now() < earliest else None

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

    def _log(self, actor: str, role: Party, action: str, detail: str, at: str = "") -> None:
        self.s.timeline.append(Event(at or self._now(), actor, role, action, detail))
        self.s.updated_at = at or self._now()
        self.s.revision += 1
        self._changed += 1

    def _require(self, ok: bool, message: str, kind: Refusal = Refusal.FAILED_PRECONDITION) -> None:
        if not ok:
            raise refuse(message, kind)

    def _require_status(self, allowed: tuple[str, ...], what: str) -> datetime | None:
        """Refuse unless the dispute is in one of `allowed` and its window still runs; answer
        when that window ends (None: the status has no window of its own)."""
        self._require(self.s.status in allowed, f"the dispute is {self.s.status}; {what}")
        # Updates run before timers that fire in the same task: an action after its window ended
        # is refused here, and the timer moves the dispute on a moment later.
        due = self._phase_due()
        if due is not None and workflow.now() >= due:
            raise refuse(f"the {self.s.status} window ended at {due.isoformat()}; the dispute is moving on")
        return due

    def _require_buyer(self, buyer_id: str) -> None:
        self._require(
            buyer_id == self._inp.buyer_id, "only the dispute's buyer may do this", Refusal.PERMISSION_DENIED
        )

    def _require_not_a_party(self, arbiter_id: str, who: str) -> None:
        check_not_a_party(arbiter_id, self._inp.buyer_id, self._inp.seller_id, who)

    def _require_arbiter(self, arbiter_id: str) -> None:
        self._require_status(ARBITRATING, "it is not under arbitration")
        self._require_not_a_party(arbiter_id, "you")
        s = self.s
        if s.status == DisputeStatus.APPEALED:
            self._require(
                arbiter_id != s.excluded_arbiter,
                "a different arbiter decides the appeal",
                Refusal.PERMISSION_DENIED,
            )
        self._require(
            not s.arbiter_id or s.arbiter_id == arbiter_id,
            f"the dispute is assigned to arbiter {s.arbiter_id}",
            Refusal.PERMISSION_DENIED,
        )
