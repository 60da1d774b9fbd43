"""What a caller may do on a dispute right now, and until when (GetDispute's allowed actions).

Not a second copy of the rules: every update's validator starts with its precondition, a
`_may_*` method (who may act and when: party, status, window, assignment, appeal once, the
buyer's wait), and only then checks what the request says. The query below asks each of those
same methods for the caller and keeps the actions whose precondition holds, with the window it
answered. Who may call each RPC at all (the role) is the access table's rule
(platform_common/access.py), which this sandboxed module cannot import: `RULES` names each
action's RPC and roles, and a unit test holds them equal to the table.

Queries change nothing and read time only from `workflow.now()`: the time of the workflow's last
task. A window that ended since (or a wait that has passed) is therefore still answered as it
was; the times are absolute, and DisputeService compares them with its clock before it answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from dispute_svc.model import ActionCaller, ActionKind, AllowedAction, CallerView, Party
    from dispute_svc.rules import check_may_message

# Workflow code: imported inside the sandbox, like this module (not passed through).
from dispute_svc.workflow_arbitration import ArbitrationHandlers
from dispute_svc.workflow_assignment import AssignmentHandlers
from dispute_svc.workflow_core import Window
from dispute_svc.workflow_negotiation import NegotiationHandlers
from dispute_svc.workflow_returns import ReturnHandlers


def _iso(at: datetime | None) -> str:
    return at.isoformat() if at is not None else ""


class ActionQueries(NegotiationHandlers, ArbitrationHandlers, AssignmentHandlers, ReturnHandlers):
    @workflow.query
    def allowed_actions(self, caller: ActionCaller) -> list[AllowedAction]:
        """The actions `caller` may take now, each with the end of its window; an escalation
        still waiting out the buyer's minimum wait is listed with `allowed_from`. A service
        gets none: no RPC lets a service act on a dispute."""
        out: list[AllowedAction] = []
        for kind, rule in RULES.items():
            if caller.party not in rule.parties:
                continue  # the access table refuses this RPC to the caller's role
            try:
                window = rule.may(self, caller)
            except ApplicationError:
                continue  # refused: the very refusal its validator would answer
            if window.since and window.until and window.since >= window.until:
                continue  # the wait would end after the window: not in this phase
            out.append(AllowedAction(kind, _iso(window.until), _iso(window.since)))
        return out

    @workflow.query
    def view_for(self, caller: ActionCaller) -> CallerView:
        """GetDispute in one round trip: the dispute and the caller's allowed actions."""
        return CallerView(self.view(), self.allowed_actions(caller))

    def _may_send_message(self, caller: ActionCaller) -> Window:
        """The dispute's buyer and seller (role and id together) until it closes, arbiters once
        it was escalated: `rules.check_may_message`, which SendMessage asks too."""
        party = ""
        if caller.party == Party.BUYER and caller.id == self._inp.buyer_id:
            party = Party.BUYER
        elif caller.party == Party.SELLER and caller.id == self._inp.seller_id:
            party = Party.SELLER
        elif caller.party == Party.ARBITER:
            party = Party.ARBITER
        check_may_message(self.s.status, party, bool(self.s.escalated_at))
        return Window()


@dataclass(frozen=True)
class Rule:
    """One user action: its RPC, the roles the access table lets call it, its precondition."""

    rpc: str
    parties: tuple[Party, ...]
    may: Callable[[ActionQueries, ActionCaller], Window]


_B, _S, _A, _L = (Party.BUYER,), (Party.SELLER,), (Party.ARBITER,), (Party.ARBITER_LEAD,)
# In the order a client would show them. Each precondition gets the caller's id as DisputeService
# puts it into the update (and SubmitInformation the role too).
RULES: dict[ActionKind, Rule] = {
    ActionKind.RESPOND_AS_SELLER: Rule("RespondAsSeller", _S, lambda w, c: w._may_respond(c.id)),
    ActionKind.ACCEPT_OFFER: Rule("AcceptOffer", _B, lambda w, c: w._may_accept_offer(c.id)),
    ActionKind.REJECT_OFFER: Rule("RejectOffer", _B, lambda w, c: w._may_reject_offer(c.id)),
    ActionKind.MODIFY_DISPUTE: Rule("ModifyDispute", _B, lambda w, c: w._may_modify(c.id)),
    ActionKind.ESCALATE_DISPUTE: Rule("EscalateDispute", _B, lambda w, c: w._may_escalate(c.id, early=True)),
    ActionKind.CANCEL_DISPUTE: Rule("CancelDispute", _B, lambda w, c: w._may_cancel(c.id)),
    ActionKind.REQUEST_INFORMATION: Rule(
        "RequestInformation", _A, lambda w, c: w._may_request_information(c.id)
    ),
    ActionKind.SUBMIT_INFORMATION: Rule(
        "SubmitInformation", (*_B, *_S), lambda w, c: w._may_submit_information(c.party, c.id)
    ),
    ActionKind.DECIDE_DISPUTE: Rule("DecideDispute", _A, lambda w, c: w._may_decide(c.id)),
    ActionKind.APPEAL_DECISION: Rule("AppealDecision", _B, lambda w, c: w._may_appeal(c.id)),
    ActionKind.SUBMIT_RETURN_SHIPMENT: Rule(
        "SubmitReturnShipment", _B, lambda w, c: w._may_submit_return_shipment(c.id)
    ),
    ActionKind.CONFIRM_RETURN_RECEIVED: Rule(
        "ConfirmReturnReceived", _S, lambda w, c: w._may_confirm_return(c.id)
    ),
    ActionKind.SEND_MESSAGE: Rule("SendMessage", (*_B, *_S, *_A), lambda w, c: w._may_send_message(c)),
    ActionKind.CLAIM_DISPUTE: Rule("ClaimDispute", _A, lambda w, c: w._may_claim(c.id)),
    ActionKind.RELEASE_DISPUTE: Rule("ReleaseDispute", _A, lambda w, c: w._may_release(c.id)),
    ActionKind.REASSIGN_DISPUTE: Rule("ReassignDispute", _L, lambda w, c: w._may_reassign(c.id)),
}
