"""GetDispute's allowed actions agree with the actions themselves (time-skipping).

In every state a dispute can be in, and for every kind of caller, the workflow is asked which
actions the caller may take. Every action it does not list is then taken on that dispute, with
valid content, and must be refused (by the access table for a role the RPC is not for, else by
the update's validator) and leave nothing in history; every action it lists is taken on a fresh
dispute driven to the same state and must be accepted. An escalation listed as not allowed yet
(`allowed_from`) is refused now and accepted once that time has come. The requests are built the
same way for both, from the dispute as it is, so only who and when can make the difference.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from dispute_svc.model import (
    ActionCaller,
    ActionKind,
    AllowedAction,
    AppealAction,
    Assignment,
    BuyerAction,
    DecisionAction,
    DisputeView,
    InfoAnswer,
    InfoRequestAction,
    Modification,
    Party,
    ReturnReceipt,
    ReturnShipmentAction,
    SellerResponse,
)
from dispute_svc.rules import check_may_message
from dispute_svc.views import as_of
from dispute_svc.workflow import DisputeWorkflow
from dispute_svc.workflow_actions import RULES
from platform_common import access
from platform_common.auth import Caller, Role
from platform_common.refusals import Refusal
from tests.dispute_svc.dispute_harness import Handle, Harness
from tests.dispute_svc.dispute_states import STATES, State, settled

# The arbiter who acts first in every arbitration below is arb-1 (assigned, or decided first).
CALLERS: dict[str, Caller] = {
    "buyer": Caller("buyer-1", Role.BUYER),
    "seller": Caller("seller-1", Role.SELLER),
    "arbiter": Caller("arb-1", Role.ARBITER),
    "other arbiter": Caller("arb-2", Role.ARBITER),
    "lead": Caller("lead-1", Role.ARBITER_LEAD),
    "other buyer": Caller("buyer-2", Role.BUYER),
    "other seller": Caller("seller-2", Role.SELLER),
    "seller token with the buyer's id": Caller("buyer-1", Role.SELLER),
    "buyer token with the seller's id": Caller("seller-1", Role.BUYER),
    "service": Caller("support", Role.SERVICE),
}
OUTSIDERS = (
    "other buyer",
    "other seller",
    "seller token with the buyer's id",
    "buyer token with the seller's id",
    "service",
)


def _party(c: Caller) -> Party:
    return Party(c.role.value.upper())


# --- requests with valid content, built from the dispute as it is ---------------------------


def _offer_version(v: DisputeView) -> int:
    pending = [x.number for x in v.state.versions if x.party == "SELLER" and x.status == "PENDING"]
    return pending[-1] if pending else v.state.versions[-1].number


def _free_party(v: DisputeView) -> Party:
    busy = {q.party for q in v.state.info_requests if q.status == "OPEN"}
    return next((p for p in (Party.BUYER, Party.SELLER) if p not in busy), Party.BUYER)


def _info_request_id(v: DisputeView, c: Caller) -> str:
    mine = [q.id for q in v.state.info_requests if q.status == "OPEN" and q.party == _party(c)]
    return mine[-1] if mine else (v.state.info_requests[-1].id if v.state.info_requests else "ir-1")


def _amount(v: DisputeView) -> int:
    return max((d.amount_minor for d in v.state.decisions), default=1_000)


Build = Callable[[DisputeView, Caller], object]
# Each action: its RPC, its update (None: SendMessage, whose RPC is being built; its rule is
# there), and a valid request for it.
ACTIONS: dict[ActionKind, tuple[str, Any, Build | None]] = {
    ActionKind.RESPOND_AS_SELLER: (
        "RespondAsSeller",
        DisputeWorkflow.respond_as_seller,
        lambda v, c: SellerResponse(c.id, "ACCEPT", "agreed"),
    ),
    ActionKind.ACCEPT_OFFER: (
        "AcceptOffer",
        DisputeWorkflow.accept_offer,
        lambda v, c: BuyerAction(c.id, _offer_version(v)),
    ),
    ActionKind.REJECT_OFFER: (
        "RejectOffer",
        DisputeWorkflow.reject_offer,
        lambda v, c: BuyerAction(c.id, _offer_version(v), message="too little"),
    ),
    ActionKind.MODIFY_DISPUTE: (
        "ModifyDispute",
        DisputeWorkflow.modify,
        lambda v, c: Modification(c.id, None, "the colour is grey, not black"),
    ),
    ActionKind.ESCALATE_DISPUTE: (
        "EscalateDispute",
        DisputeWorkflow.escalate,
        lambda v, c: BuyerAction(c.id, message="please decide"),
    ),
    ActionKind.CANCEL_DISPUTE: (
        "CancelDispute",
        DisputeWorkflow.cancel,
        lambda v, c: BuyerAction(c.id, message="sorted it out"),
    ),
    ActionKind.REQUEST_INFORMATION: (
        "RequestInformation",
        DisputeWorkflow.request_information,
        lambda v, c: InfoRequestAction(c.id, _free_party(v), "A photo of the label?"),
    ),
    ActionKind.SUBMIT_INFORMATION: (
        "SubmitInformation",
        DisputeWorkflow.submit_information,
        lambda v, c: InfoAnswer(c.id, _info_request_id(v, c), "here it is", [], _party(c)),
    ),
    ActionKind.DECIDE_DISPUTE: (
        "DecideDispute",
        DisputeWorkflow.decide,
        lambda v, c: DecisionAction(c.id, _amount(v), False, "the photos show it"),
    ),
    ActionKind.APPEAL_DECISION: (
        "AppealDecision",
        DisputeWorkflow.appeal,
        lambda v, c: AppealAction(c.id, "the label proves it", [f"ev-{uuid.uuid4()}"]),
    ),
    ActionKind.SUBMIT_RETURN_SHIPMENT: (
        "SubmitReturnShipment",
        DisputeWorkflow.submit_return_shipment,
        lambda v, c: ReturnShipmentAction(c.id, "DHL", "RET-2041"),
    ),
    ActionKind.CONFIRM_RETURN_RECEIVED: (
        "ConfirmReturnReceived",
        DisputeWorkflow.confirm_return,
        lambda v, c: ReturnReceipt(c.id, False, "arrived"),
    ),
    ActionKind.SEND_MESSAGE: ("SendMessage", None, None),
    ActionKind.CLAIM_DISPUTE: ("ClaimDispute", DisputeWorkflow.claim, lambda v, c: Assignment(c.id)),
    ActionKind.RELEASE_DISPUTE: (
        "ReleaseDispute",
        DisputeWorkflow.release,
        lambda v, c: Assignment(c.id, note="out of office"),
    ),
    # To an arbiter who never acted on it (not the appealed one, not the one holding it).
    ActionKind.REASSIGN_DISPUTE: (
        "ReassignDispute",
        DisputeWorkflow.reassign,
        lambda v, c: Assignment(c.id, "arb-3", "rebalancing the queue"),
    ),
}


def _thread_party(v: DisputeView, c: Caller) -> str:
    if c.is_(Role.BUYER, v.buyer_id):
        return Party.BUYER
    if c.is_(Role.SELLER, v.seller_id):
        return Party.SELLER
    return Party.ARBITER if c.role is Role.ARBITER else ""


async def _take(h: Handle, view: DisputeView, kind: ActionKind, c: Caller) -> str:
    """Take the action as DisputeService would, with a request built from `view` (the dispute as
    it is): "" if accepted, else why it was refused."""
    rpc, update, build = ACTIONS[kind]
    table = access.DISPUTES.get(rpc)  # SendMessage joins the table with its RPC
    if table is not None and not table.allows(c):
        return "the access table"
    if update is None or build is None:
        try:
            check_may_message(view.state.status, _thread_party(view, c), bool(view.state.escalated_at))
        except ApplicationError as exc:
            return exc.message
        return ""
    try:
        await h.execute_update(update, build(view, c))
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        assert isinstance(cause, ApplicationError) and cause.type in set(Refusal), cause
        # Valid content: refused for who or when, never for what the request says.
        assert cause.type != Refusal.INVALID_ARGUMENT, (kind, cause.message)
        return cause.message
    except RPCError as exc:  # a closed dispute's workflow takes no updates
        return str(exc)
    return ""


async def _listed(d: Harness, h: Handle, c: Caller) -> tuple[list[AllowedAction], datetime]:
    """What GetDispute would answer: the workflow's list, read at the current time."""
    raw = await h.query(DisputeWorkflow.allowed_actions, ActionCaller(_party(c), c.id))
    now = await d.env.get_current_time()
    return as_of(raw, now), now


def _check_windows(view: DisputeView, listed: list[AllowedAction], now: datetime) -> None:
    """Each window is one of the dispute's own deadlines, still ahead."""
    due = {dl.due_at for dl in view.deadlines}
    for a in listed:
        assert not a.allowed_until or (
            a.allowed_until in due and datetime.fromisoformat(a.allowed_until) > now
        ), a
        assert not a.allowed_from or a.allowed_from in due, a
        assert not a.allowed_from or a.action == ActionKind.ESCALATE_DISPUTE, a


async def _accepted_updates(h: Handle) -> int:
    history = await h.fetch_history()
    return sum(e.HasField("workflow_execution_update_accepted_event_attributes") for e in history.events)


async def _refused_unless_listed(
    d: Harness, name: str, h: Handle, view: DisputeView
) -> list[tuple[str, AllowedAction]]:
    """Ask for every caller; take each action not listed (or not allowed yet) and see it refused,
    with nothing reaching history. Answers what was listed, for whom."""
    accepted = await _accepted_updates(h)
    listed_for: list[tuple[str, AllowedAction]] = []
    for who, c in CALLERS.items():
        listed, now = await _listed(d, h, c)
        _check_windows(view, listed, now)
        assert who not in OUTSIDERS or not listed, (name, who, listed)
        assert len({a.action for a in listed}) == len(listed), listed
        allowed_now = {a.action for a in listed if not a.allowed_from}
        for kind in set(ActionKind) - allowed_now:
            assert await _take(h, view, kind, c), f"{name}: {who} was not offered {kind} but may take it"
        listed_for += [(who, a) for a in listed]
    after = await h.query(DisputeWorkflow.view)
    assert after.state.revision == view.state.revision and await _accepted_updates(h) == accepted, name
    return listed_for


async def _accepted(d: Harness, name: str, state: State, who: str, kind: ActionKind) -> None:
    """On a fresh dispute in the same state: listed there too, and accepted (once its time has
    come, for an escalation that must wait)."""
    h, view = await settled(d, state)
    listed, now = await _listed(d, h, CALLERS[who])
    (entry,) = [a for a in listed if a.action == kind]
    if entry.allowed_from:
        assert await _take(h, view, kind, CALLERS[who])
        await d.env.sleep(datetime.fromisoformat(entry.allowed_from) - now + timedelta(seconds=1))
    why = await _take(h, view, kind, CALLERS[who])
    assert not why, f"{name}: {who} was offered {kind} but was refused: {why}"


async def test_allowed_actions_are_exactly_the_actions_accepted(disputes: Harness) -> None:
    disputes.fakes.refund_status = "PROCESSING"  # REFUND_PENDING stays put
    offered: set[ActionKind] = set()
    for name, state in STATES.items():
        h, view = await settled(disputes, state)
        for who, a in await _refused_unless_listed(disputes, name, h, view):
            if ACTIONS[a.action][1] is None:  # SendMessage: its rule, checked on this same dispute
                assert not await _take(h, view, a.action, CALLERS[who]), (name, who)
            else:
                await _accepted(disputes, name, state, who, a.action)
            offered.add(a.action)
    assert offered == set(ActionKind)  # every action was offered, and taken, somewhere


def test_each_action_is_offered_to_the_roles_the_access_table_lets_call_it() -> None:
    assert set(RULES) == set(ActionKind) == set(ACTIONS)
    for kind, rule in RULES.items():
        assert rule.rpc == ACTIONS[kind][0]
        table = access.DISPUTES.get(rule.rpc)
        if table is None:  # SendMessage: its RPC is being added
            assert kind == ActionKind.SEND_MESSAGE
            continue
        assert not table.services, f"{rule.rpc}: a service may act, so services must be offered it"
        assert {_party(Caller("x", r)) for r in table.roles} == set(rule.parties), rule.rpc
