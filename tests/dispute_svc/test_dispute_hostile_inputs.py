"""DisputeWorkflow's validators against requests the API refuses: each is refused with its exact
type and nothing reaches history (issue: clean codes, role-and-id party checks, opened_at)."""

from __future__ import annotations

from datetime import timedelta

from dispute_svc.model import (
    BuyerAction,
    InfoAnswer,
    InfoRequestAction,
    Modification,
    SellerResponse,
    Solution,
)
from dispute_svc.workflow import DisputeWorkflow
from dispute_svc.workflow_core import parse_time
from tests.dispute_svc.dispute_harness import PAID, Harness, refused


async def test_counter_offers_are_less_than_the_claim_allows(disputes: Harness) -> None:
    h = await disputes.open(solution=Solution("PARTIAL_REFUND", 4_000, False))
    for offer in (
        Solution("PARTIAL_REFUND", PAID, False),  # "0 < amount < paid": the amount paid is not partial
        Solution(
            "FULL_REFUND", PAID, False
        ),  # a full refund without return is the claim's upper bound: accept
    ):
        await refused(
            "InvalidArgument",
            h.execute_update(
                DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "COUNTER_OFFER", "deal?", offer)
            ),
        )
    accepted = await h.execute_update(
        DisputeWorkflow.respond_as_seller,
        SellerResponse(
            "seller-1", "COUNTER_OFFER", "full, against a return", Solution("FULL_REFUND", PAID, True)
        ),
    )
    assert accepted.state.status == "AWAITING_BUYER_RESPONSE"


async def test_reject_names_the_offer_like_accept(disputes: Harness) -> None:
    h = await disputes.open()
    offer = Solution("PARTIAL_REFUND", 1_000, False)
    await h.execute_update(
        DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "COUNTER_OFFER", "ok?", offer)
    )
    for update in (DisputeWorkflow.reject_offer, DisputeWorkflow.accept_offer):
        await refused("FailedPrecondition", h.execute_update(update, BuyerAction("buyer-1", 0)))
        await refused("FailedPrecondition", h.execute_update(update, BuyerAction("buyer-1", 9)))
    done = await h.execute_update(DisputeWorkflow.reject_offer, BuyerAction("buyer-1", 2))
    assert done.state.versions[-1].status == "REJECTED"


async def test_a_blank_description_is_no_modification(disputes: Harness) -> None:
    h = await disputes.open()
    await refused(
        "InvalidArgument", h.execute_update(DisputeWorkflow.modify, Modification("buyer-1", None, "   \n "))
    )


async def test_information_is_answered_by_the_party_in_role_and_id(disputes: Harness) -> None:
    """A seller-role token that carries the buyer's id is not the buyer."""
    h = await disputes.open()
    await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "REJECT", "no"))
    await h.execute_update(DisputeWorkflow.escalate, BuyerAction("buyer-1"))
    await h.execute_update(
        DisputeWorkflow.request_information, InfoRequestAction("arb-1", "BUYER", "receipt?")
    )
    await refused(
        "PermissionDenied",
        h.execute_update(
            DisputeWorkflow.submit_information, InfoAnswer("buyer-1", "ir-1", "here", [], "SELLER")
        ),
    )
    answered = await h.execute_update(
        DisputeWorkflow.submit_information, InfoAnswer("buyer-1", "ir-1", "here", [], "BUYER")
    )
    assert answered.state.info_requests[0].status == "ANSWERED"


async def test_deadlines_run_from_when_the_opening_was_accepted(disputes: Harness) -> None:
    """The disputes worker was down for 3 days after OpenDispute accepted the dispute: it opened
    then, and the seller's 15 days started then."""
    now = await disputes.env.get_current_time()
    accepted = now - timedelta(days=3)
    h = await disputes.open(opened_at=accepted.isoformat())
    view = await h.query(DisputeWorkflow.view)
    assert abs(parse_time(view.state.opened_at) - accepted) < timedelta(seconds=1)
    assert abs(parse_time(view.state.seller_due) - (accepted + timedelta(days=15))) < timedelta(seconds=1)
    assert view.state.timeline[0].action == "DISPUTE_OPENED"
    assert abs(parse_time(view.state.timeline[0].at) - accepted) < timedelta(seconds=1)
