"""What an operator or arbiter reads in the Temporal UI: the name of the timer the dispute waits
on ("seller response window (15 days)"), and the dispute's current details (status, the next
deadline in words, amounts claimed and offered, who holds it).

Neither changes what the workflow does: a timer's summary is metadata on its command and the
current details are answered on request, so in-flight disputes replay unchanged.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from dispute_svc.model import DeadlineKind, Party, VersionKind
    from platform_common import ui

# Workflow code: imported inside the sandbox, like this module (not passed through).
from dispute_svc.workflow_core import DisputeCore
from dispute_svc.workflow_core import parse_time as _t


class DisputeUi(DisputeCore):
    _effects_retry_at: datetime | None
    _poll_due: datetime | None

    def _deadline_name(self, kind: str) -> str:
        p = self._policy
        names = {
            DeadlineKind.SELLER_RESPONSE_DUE: f"seller response window ({ui.days(p.seller_response_days)})",
            DeadlineKind.BUYER_RESPONSE_DUE: f"buyer response window ({ui.days(p.buyer_response_days)})",
            DeadlineKind.ESCALATION_ALLOWED_FROM: (
                f"buyer's wait before escalating ({ui.days(p.buyer_min_wait_to_escalate_days)})"
            ),
            DeadlineKind.INFO_RESPONSE_DUE: f"information request window ({ui.days(p.info_request_days)})",
            DeadlineKind.ARBITRATION_TARGET: f"arbitration target ({ui.days(p.arbitration_target_days)})",
            DeadlineKind.ARBITRATION_MAX: f"arbitration maximum ({ui.days(p.arbitration_max_days)})",
            DeadlineKind.APPEAL_WINDOW_ENDS: f"appeal window ({ui.days(p.appeal_window_days)})",
            DeadlineKind.RETURN_SHIP_DUE: f"return shipment window ({ui.days(p.return_ship_days)})",
            DeadlineKind.RETURN_CONFIRM_DUE: f"return receipt window ({ui.days(p.return_confirm_days)})",
        }
        return names.get(DeadlineKind(kind), kind.lower().replace("_", " "))

    def _wake_summary(self, wake: datetime) -> str:
        """The name of the timer that wakes the dispute at `wake`."""
        for d in self._deadlines():
            if d.due_at and _t(d.due_at) == wake:
                return self._deadline_name(d.kind)
        if self._effects_retry_at == wake:
            return "retry of side effects that failed (backoff)"
        if self._poll_due == wake:
            return "refund status poll"
        return "next deadline"

    def _current_details(self) -> str:
        s, i = self.s, self._inp
        now = workflow.now()
        due = self._live_deadline()
        nxt = ""
        if due is not None:
            nxt = f"{self._wake_summary(due)} ends {ui.in_words(due - now)} ({due.isoformat(timespec='seconds')})"
        offers = [
            v.solution
            for v in s.versions
            if v.party == Party.SELLER and v.kind == VersionKind.COUNTER_OFFER and v.solution
        ]
        decided = s.decisions[-1] if s.decisions else None
        refunded = sum(p.amount_minor for p in s.payouts)
        return ui.details(
            [
                ("Status", str(s.status)),
                ("Next deadline", nxt),
                ("Claimed", f"{ui.amount(s.claim.amount_minor, i.currency)} ({s.claim.type})"),
                ("Offered", ui.amount(offers[-1].amount_minor, i.currency) if offers else ""),
                ("Decided", ui.amount(decided.amount_minor, i.currency) if decided else ""),
                ("Refunds ordered", ui.amount(refunded, i.currency) if refunded else ""),
                ("Arbiter", s.arbiter_id),
                ("SLA", "breached (past the arbitration maximum)" if s.sla_breached else ""),
                ("Closed", s.closed_at),
            ]
        )
