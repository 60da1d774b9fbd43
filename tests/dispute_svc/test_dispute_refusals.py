"""Every DisputeWorkflow action in every wrong state, and by every wrong party, is refused with its
exact error type by the update validator: nothing reaches history and the state does not change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from dispute_svc.model import (
    AppealAction,
    BuyerAction,
    DecisionAction,
    InfoAnswer,
    InfoRequestAction,
    Modification,
    ReturnReceipt,
    ReturnShipmentAction,
    SellerResponse,
    Solution,
)
from dispute_svc.workflow import DisputeWorkflow
from tests.dispute_svc.dispute_harness import Handle, Harness, refused

# Each action with a well-formed request from the right party, and the same request from a wrong one.
ACTIONS: dict[str, tuple[object, object, object | None]] = {
    "respond": (
        DisputeWorkflow.respond_as_seller,
        SellerResponse("seller-1", "ACCEPT"),
        SellerResponse("seller-2", "ACCEPT"),
    ),
    "accept_offer": (DisputeWorkflow.accept_offer, BuyerAction("buyer-1", 2), BuyerAction("buyer-2", 2)),
    "reject_offer": (DisputeWorkflow.reject_offer, BuyerAction("buyer-1", 2), BuyerAction("seller-1", 2)),
    "modify": (
        DisputeWorkflow.modify,
        Modification("buyer-1", None, "more detail"),
        Modification("buyer-2", None, "x"),
    ),
    "escalate": (DisputeWorkflow.escalate, BuyerAction("buyer-1"), BuyerAction("seller-1")),
    "cancel": (DisputeWorkflow.cancel, BuyerAction("buyer-1"), BuyerAction("buyer-2")),
    "request_information": (
        DisputeWorkflow.request_information,
        InfoRequestAction("arb-1", "SELLER", "why?"),
        None,
    ),
    "submit_information": (
        DisputeWorkflow.submit_information,
        InfoAnswer("seller-1", "ir-1", "because"),
        InfoAnswer("buyer-2", "ir-1", "x"),
    ),
    "decide": (DisputeWorkflow.decide, DecisionAction("arb-1", 1_000, False, "rationale"), None),
    "appeal": (
        DisputeWorkflow.appeal,
        AppealAction("buyer-1", "grounds", ["ev-new"]),
        AppealAction("buyer-2", "x", ["ev-new"]),
    ),
    "ship_return": (
        DisputeWorkflow.submit_return_shipment,
        ReturnShipmentAction("buyer-1", "DHL", "TRK-1"),
        ReturnShipmentAction("seller-1", "DHL", "TRK-1"),
    ),
    "confirm_return": (
        DisputeWorkflow.confirm_return,
        ReturnReceipt("seller-1", False),
        ReturnReceipt("buyer-1", False),
    ),
}

Setup = Callable[[Handle], Awaitable[None]]


async def _counter(h: Handle) -> None:
    offer = Solution("PARTIAL_REFUND", 1_000, False)
    await h.execute_update(
        DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "COUNTER_OFFER", "ok?", offer)
    )


async def _escalated(h: Handle) -> None:
    await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "REJECT", "no"))
    await h.execute_update(DisputeWorkflow.escalate, BuyerAction("buyer-1"))


async def _informing(h: Handle) -> None:
    await _escalated(h)
    await h.execute_update(
        DisputeWorkflow.request_information, InfoRequestAction("arb-1", "SELLER", "photo?")
    )


async def _decided(h: Handle) -> None:
    await _escalated(h)
    await h.execute_update(DisputeWorkflow.decide, DecisionAction("arb-1", 0, True, "return it"))


async def _appealed(h: Handle) -> None:
    await _decided(h)
    await h.execute_update(DisputeWorkflow.appeal, AppealAction("buyer-1", "wrong", ["ev-appeal"]))


async def _return_due(h: Handle) -> None:
    await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "ACCEPT"))


async def _return_shipped(h: Handle) -> None:
    await _return_due(h)
    await h.execute_update(
        DisputeWorkflow.submit_return_shipment, ReturnShipmentAction("buyer-1", "DHL", "RET-1")
    )


async def _refund_pending(h: Handle) -> None:
    await _return_shipped(h)
    await h.execute_update(DisputeWorkflow.confirm_return, ReturnReceipt("seller-1", False))


async def _fresh(h: Handle) -> None:
    return None


# State -> (how to get there, the actions allowed there). Escalation is refused on day 0 unless
# the seller rejected, so it is "wrong" in the fresh and counter-offer states too.
STATES: dict[str, tuple[Setup, set[str]]] = {
    "AWAITING_SELLER_RESPONSE": (_fresh, {"respond", "modify", "cancel"}),
    "AWAITING_BUYER_RESPONSE": (_counter, {"accept_offer", "reject_offer", "modify", "cancel"}),
    "UNDER_ARBITRATION": (_escalated, {"request_information", "decide", "cancel"}),
    "AWAITING_INFORMATION": (_informing, {"submit_information", "cancel"}),
    "DECIDED": (_decided, {"appeal"}),
    "APPEALED": (_appealed, {"request_information", "decide"}),
    "AWAITING_RETURN_SHIPMENT": (_return_due, {"ship_return"}),
    "AWAITING_RETURN_RECEIPT": (_return_shipped, {"confirm_return"}),
    "REFUND_PENDING": (_refund_pending, set()),
}


async def _accepted_updates(h: Handle) -> int:
    history = await h.fetch_history()
    return sum(e.HasField("workflow_execution_update_accepted_event_attributes") for e in history.events)


async def test_every_action_in_every_wrong_state_and_by_every_wrong_party(disputes: Harness) -> None:
    disputes.fakes.refund_status = "PROCESSING"  # REFUND_PENDING stays put
    checked = 0
    for state, (setup, allowed) in STATES.items():
        h = await disputes.open(solution=Solution("PARTIAL_REFUND", 4_000, True))
        await setup(h)
        await disputes.env.sleep(timedelta(seconds=1))  # let sealing and paying finish first
        before = await h.query(DisputeWorkflow.view)
        assert before.state.status == state
        accepted = await _accepted_updates(h)
        for name, (update, good, wrong) in ACTIONS.items():
            if wrong is not None:
                await refused("PermissionDenied", h.execute_update(update, wrong))  # type: ignore[call-overload]
                checked += 1
            if name not in allowed:
                message = await refused("FailedPrecondition", h.execute_update(update, good))  # type: ignore[call-overload]
                assert message, (state, name)
                checked += 1
        after = await h.query(DisputeWorkflow.view)
        assert after.state.revision == before.state.revision and after.state.status == state
        assert await _accepted_updates(h) == accepted, state
    assert checked >= 150
