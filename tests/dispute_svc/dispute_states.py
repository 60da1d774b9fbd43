"""Disputes driven to each state they can be in, for tests that walk them all (time-skipping).

The parties are the harness's buyer-1 and seller-1; arb-1 is the first arbiter to act in every
arbitration, arb-2 decides an appeal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from dispute_svc.model import (
    AppealAction,
    BuyerAction,
    DecisionAction,
    DisputeView,
    InfoRequestAction,
    ReturnReceipt,
    ReturnShipmentAction,
    SellerResponse,
    Solution,
)
from dispute_svc.workflow import DisputeWorkflow
from tests.dispute_svc.dispute_harness import Handle, Harness

WITH_RETURN = Solution("PARTIAL_REFUND", 4_000, True)

Setup = Callable[[Harness], Awaitable[Handle]]
DAY = timedelta(days=1)


async def _opened(d: Harness, solution: Solution | None = None) -> Handle:
    return await d.open(solution=solution)


async def _waited(d: Harness) -> Handle:
    h = await d.open()
    await d.env.sleep(3 * DAY + timedelta(minutes=1))  # no task runs: the query's time is older
    return h


async def _counter(d: Harness) -> Handle:
    h = await d.open()
    offer = Solution("PARTIAL_REFUND", 1_000, False)
    await h.execute_update(
        DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "COUNTER_OFFER", "ten euros", offer)
    )
    return h


async def _rejected(d: Harness) -> Handle:
    h = await d.open()
    await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "REJECT", "no"))
    return h


async def _escalated(d: Harness) -> Handle:
    h = await _rejected(d)
    await h.execute_update(DisputeWorkflow.escalate, BuyerAction("buyer-1"))
    return h


async def _informing(d: Harness) -> Handle:
    h = await _escalated(d)
    await h.execute_update(
        DisputeWorkflow.request_information, InfoRequestAction("arb-1", "SELLER", "Photo?")
    )
    return h


async def _decided(d: Harness) -> Handle:
    h = await _escalated(d)
    await h.execute_update(DisputeWorkflow.decide, DecisionAction("arb-1", 3_000, False, "partly"))
    return h


async def _appealed(d: Harness) -> Handle:
    h = await _decided(d)
    await h.execute_update(DisputeWorkflow.appeal, AppealAction("buyer-1", "see the label", ["ev-label"]))
    return h


async def _return_due(d: Harness) -> Handle:
    h = await d.open(solution=WITH_RETURN)
    await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "ACCEPT"))
    return h


async def _return_shipped(d: Harness) -> Handle:
    h = await _return_due(d)
    await h.execute_update(
        DisputeWorkflow.submit_return_shipment, ReturnShipmentAction("buyer-1", "DHL", "RET-1")
    )
    return h


async def _contested(d: Harness) -> Handle:
    """Back under arbitration with a settlement: no cancelling any more."""
    h = await _return_shipped(d)
    await h.execute_update(DisputeWorkflow.confirm_return, ReturnReceipt("seller-1", True, "a brick"))
    return h


async def _refund_pending(d: Harness) -> Handle:
    h = await _return_shipped(d)
    await h.execute_update(DisputeWorkflow.confirm_return, ReturnReceipt("seller-1", False))
    return h


async def _cancelled(d: Harness) -> Handle:
    h = await d.open()
    await h.execute_update(DisputeWorkflow.cancel, BuyerAction("buyer-1"))
    await h.result()
    return h


async def _refunded(d: Harness) -> Handle:
    """Refunds settle for this one only: the walks keep them PROCESSING (REFUND_PENDING stays)."""
    before, d.fakes.refund_status = d.fakes.refund_status, "REFUNDED"
    try:
        h = await d.open()
        await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "ACCEPT"))
        await h.result()
    finally:
        d.fakes.refund_status = before
    return h


async def _nothing_on_appeal(d: Harness) -> Handle:
    h = await _escalated(d)
    await h.execute_update(DisputeWorkflow.decide, DecisionAction("arb-1", 0, False, "as described"))
    await h.execute_update(DisputeWorkflow.appeal, AppealAction("buyer-1", "it is not", ["ev-label"]))
    await h.execute_update(DisputeWorkflow.decide, DecisionAction("arb-2", 0, False, "still as described"))
    await h.result()
    return h


@dataclass(frozen=True)
class State:
    status: str
    setup: Setup


# Closed states last: closing one moves the shared clock on.
STATES: dict[str, State] = {
    "opened": State("AWAITING_SELLER_RESPONSE", _opened),
    "opened, the buyer's wait over": State("AWAITING_SELLER_RESPONSE", _waited),
    "counter-offer": State("AWAITING_BUYER_RESPONSE", _counter),
    "seller rejected": State("AWAITING_BUYER_RESPONSE", _rejected),
    "escalated": State("UNDER_ARBITRATION", _escalated),
    "information requested": State("AWAITING_INFORMATION", _informing),
    "decided": State("DECIDED", _decided),
    "appealed": State("APPEALED", _appealed),
    "return due": State("AWAITING_RETURN_SHIPMENT", _return_due),
    "return shipped": State("AWAITING_RETURN_RECEIPT", _return_shipped),
    "return contested": State("UNDER_ARBITRATION", _contested),
    "refund pending": State("REFUND_PENDING", _refund_pending),
    "cancelled": State("CLOSED_CANCELLED", _cancelled),
    "refunded": State("CLOSED_REFUNDED", _refunded),
    "nothing on appeal": State("CLOSED_WITHOUT_REFUND", _nothing_on_appeal),
}


async def settled(d: Harness, state: State) -> tuple[Handle, DisputeView]:
    h = await state.setup(d)
    await d.env.sleep(timedelta(seconds=1))  # let sealing and paying finish first
    view = await h.query(DisputeWorkflow.view)
    assert view.state.status == state.status
    return h, view
