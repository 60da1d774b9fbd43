"""DisputeWorkflow, negotiation: the seller's 15 days, the buyer's 7, and how they end (time-skipping)."""

from __future__ import annotations

from datetime import datetime, timedelta

from dispute_svc.model import BuyerAction, Modification, SellerResponse, Solution
from dispute_svc.workflow import DisputeWorkflow
from tests.dispute_svc.dispute_harness import PAID, Handle, Harness, actions, dispute_id, refused

DAY = timedelta(days=1)


async def test_seller_accepts_then_the_refund_closes_the_dispute(disputes: Harness) -> None:
    h = await disputes.open()
    view = await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "ACCEPT"))
    assert view.state.resolution == "SELLER_ACCEPTED"
    assert view.state.settlement == Solution("PARTIAL_REFUND", 4_000, False)
    done = await h.result()
    assert done.state.status == "CLOSED_REFUNDED" and done.state.closed_at
    # Paid once, through RefundService, with the per-dispute-and-round key.
    assert disputes.fakes.refunds[f"dispute/{dispute_id(h)}/round/1"][1] == 4_000
    assert [p.status for p in done.state.payouts] == ["REFUNDED"]
    # The order's protection clock was frozen for the dispute and released at the end.
    assert disputes.fakes.frozen[done.order_id] == set() and disputes.fakes.freeze_calls == 1
    assert actions(done)[:2] == ["DISPUTE_OPENED", "SELLER_ACCEPTED"]
    assert actions(done)[-1] == "DISPUTE_CLOSED" and "REFUND_REFUNDED" in actions(done)
    # Never escalated: evidence was never sealed.
    assert dispute_id(h) not in disputes.fakes.holds
    # The read model saw the final revision.
    assert disputes.fakes.records[dispute_id(h)] == done.state.revision


async def test_counter_offer_accepted_with_numbered_versions(disputes: Harness) -> None:
    h = await disputes.open()
    offer = Solution("PARTIAL_REFUND", 2_500, False)
    view = await h.execute_update(
        DisputeWorkflow.respond_as_seller,
        SellerResponse("seller-1", "COUNTER_OFFER", "half, keep it", offer, claim_version=1),
    )
    assert view.state.status == "AWAITING_BUYER_RESPONSE" and view.state.buyer_due
    assert [d.kind for d in view.deadlines] == ["BUYER_RESPONSE_DUE", "ESCALATION_ALLOWED_FROM"]
    await refused(
        "FailedPrecondition", h.execute_update(DisputeWorkflow.accept_offer, BuyerAction("buyer-1", 1))
    )
    done = await h.execute_update(DisputeWorkflow.accept_offer, BuyerAction("buyer-1", offer_version=2))
    assert done.state.resolution == "BUYER_ACCEPTED_OFFER" and done.state.settlement == offer
    assert [(v.number, v.party, v.kind, v.status) for v in done.state.versions] == [
        (1, "BUYER", "CLAIM", ""),
        (2, "SELLER", "COUNTER_OFFER", "ACCEPTED"),
    ]
    assert (await h.result()).state.status == "CLOSED_REFUNDED"
    assert disputes.fakes.paid(dispute_id(h)) == [2_500]


async def test_rejection_lets_the_buyer_escalate_at_once(disputes: Harness) -> None:
    h = await disputes.open()
    await h.execute_update(
        DisputeWorkflow.respond_as_seller,
        SellerResponse("seller-1", "COUNTER_OFFER", "ten percent", Solution("PARTIAL_REFUND", 1_000, False)),
    )
    view = await h.execute_update(DisputeWorkflow.reject_offer, BuyerAction("buyer-1", 2, escalate=True))
    assert view.state.status == "UNDER_ARBITRATION" and view.state.versions[-1].status == "REJECTED"
    kinds = [d.kind for d in view.deadlines]
    assert kinds == ["ARBITRATION_TARGET", "ARBITRATION_MAX"]


async def test_escalation_waits_3_days_otherwise(disputes: Harness) -> None:
    h = await disputes.open()
    view = await h.query(DisputeWorkflow.view)
    assert "ESCALATION_ALLOWED_FROM" in [d.kind for d in view.deadlines]
    await refused("FailedPrecondition", h.execute_update(DisputeWorkflow.escalate, BuyerAction("buyer-1")))
    await disputes.env.sleep(3 * DAY + timedelta(minutes=1))
    view = await h.execute_update(DisputeWorkflow.escalate, BuyerAction("buyer-1", message="no answer"))
    assert view.state.status == "UNDER_ARBITRATION" and view.state.escalated_at
    await disputes.env.sleep(timedelta(seconds=5))
    assert disputes.fakes.holds[dispute_id(h)] is True  # evidence sealed on escalation


async def test_silent_seller_escalates_after_15_days(disputes: Harness) -> None:
    h = await disputes.open()
    start = await disputes.env.get_current_time()
    await disputes.env.sleep(14 * DAY)
    assert (await h.query(DisputeWorkflow.view)).state.status == "AWAITING_SELLER_RESPONSE"
    await disputes.env.sleep(DAY + timedelta(minutes=1))
    view = await h.query(DisputeWorkflow.view)
    assert view.state.status == "UNDER_ARBITRATION"
    event = next(e for e in view.state.timeline if e.action == "AUTO_ESCALATED")
    assert abs(datetime.fromisoformat(event.at) - (start + 15 * DAY)) < timedelta(seconds=5)
    assert "seller" in event.detail


async def test_silent_seller_refunds_the_buyer_under_that_policy(disputes: Harness) -> None:
    h = await disputes.open(policy_version="2026-11-refund-on-silence")
    done = await h.result()
    assert done.state.resolution == "SELLER_TIMEOUT_REFUND" and done.state.status == "CLOSED_REFUNDED"
    assert disputes.fakes.paid(dispute_id(h)) == [4_000]


async def test_silent_buyer_escalates_7_days_after_a_counter_offer(disputes: Harness) -> None:
    h = await disputes.open()
    await disputes.env.sleep(2 * DAY)
    await h.execute_update(
        DisputeWorkflow.respond_as_seller,
        SellerResponse("seller-1", "COUNTER_OFFER", "20 euro", Solution("PARTIAL_REFUND", 2_000, False)),
    )
    await disputes.env.sleep(6 * DAY)
    assert (await h.query(DisputeWorkflow.view)).state.status == "AWAITING_BUYER_RESPONSE"
    await disputes.env.sleep(DAY + timedelta(minutes=1))
    view = await h.query(DisputeWorkflow.view)
    assert view.state.status == "UNDER_ARBITRATION" and view.state.versions[-1].status == "EXPIRED"
    assert "buyer" in view.state.timeline[-2].detail or "buyer" in view.state.timeline[-1].detail


async def test_modification_restarts_the_seller_window(disputes: Harness) -> None:
    h = await disputes.open()
    await disputes.env.sleep(10 * DAY)
    view = await h.execute_update(
        DisputeWorkflow.modify,
        Modification("buyer-1", Solution("PARTIAL_REFUND", 3_000, False), "new photos attached", ["ev-9"]),
    )
    now = await disputes.env.get_current_time()
    assert abs(datetime.fromisoformat(view.state.seller_due) - (now + 15 * DAY)) < timedelta(seconds=5)
    await disputes.env.sleep(10 * DAY)  # 20 days after opening: the first window would have ended
    view = await h.query(DisputeWorkflow.view)
    assert view.state.status == "AWAITING_SELLER_RESPONSE"
    assert [v.kind for v in view.state.versions] == ["CLAIM", "MODIFICATION"]
    assert view.state.evidence_ids == ["ev-open-1", "ev-9"]
    assert disputes.fakes.bound[dispute_id(h)] == ["ev-open-1", "ev-9"]  # bound by the workflow
    # The seller must answer the claim version they saw.
    await refused(
        "FailedPrecondition",
        h.execute_update(
            DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "ACCEPT", claim_version=1)
        ),
    )
    view = await h.execute_update(
        DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "ACCEPT", claim_version=2)
    )
    assert view.state.settlement == Solution("PARTIAL_REFUND", 3_000, False)


async def test_cancel_closes_and_unfreezes(disputes: Harness) -> None:
    h = await disputes.open()
    view = await h.execute_update(DisputeWorkflow.cancel, BuyerAction("buyer-1", message="sorted it out"))
    assert view.state.status == "CLOSED_CANCELLED" and view.state.resolution == "CANCELLED_BY_BUYER"
    done = await h.result()
    # Never left frozen (a cancel in the very first task closes before the freeze is even sent).
    assert disputes.fakes.frozen.get(done.order_id, set()) == set() and not disputes.fakes.refunds


async def test_not_received_claim_is_a_full_refund_without_return(disputes: Harness) -> None:
    h = await disputes.open(received=False)
    await refused(
        "InvalidArgument",
        h.execute_update(
            DisputeWorkflow.respond_as_seller,
            SellerResponse("seller-1", "COUNTER_OFFER", "half", Solution("PARTIAL_REFUND", 10, False)),
        ),
    )
    await refused(
        "InvalidArgument",
        h.execute_update(
            DisputeWorkflow.modify, Modification("buyer-1", Solution("FULL_REFUND", PAID, True), "")
        ),
    )
    view = await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "ACCEPT"))
    assert view.state.settlement == Solution("FULL_REFUND", PAID, False)


async def test_continue_as_new_carries_the_whole_state(disputes: Harness) -> None:
    h = await disputes.open(max_updates_per_run=2)
    first_run = (await h.describe()).run_id
    for amount in (3_000, 2_000, 1_000):
        await h.execute_update(
            DisputeWorkflow.modify, Modification("buyer-1", Solution("PARTIAL_REFUND", amount, False), "")
        )
        await h.execute_update(
            DisputeWorkflow.respond_as_seller,
            SellerResponse(
                "seller-1", "COUNTER_OFFER", "less", Solution("PARTIAL_REFUND", amount - 500, False)
            ),
        )
    await disputes.env.sleep(timedelta(seconds=2))
    view = await h.query(DisputeWorkflow.view)
    # Rolled over at least once (an update arriving as a run rolls over makes Temporal refuse
    # that attempt; the next quiet moment rolls it over, so runs may absorb a few more).
    assert (await h.describe()).run_id != first_run and view.state.runs >= 2
    assert [v.number for v in view.state.versions] == list(range(1, 8))
    assert view.state.status == "AWAITING_BUYER_RESPONSE"
    done = await h.execute_update(DisputeWorkflow.accept_offer, BuyerAction("buyer-1", offer_version=7))
    assert done.state.settlement == Solution("PARTIAL_REFUND", 500, False)
    latest: Handle = disputes.env.client.get_workflow_handle_for(DisputeWorkflow.run, h.id)
    final = await latest.result()
    assert final.state.status == "CLOSED_REFUNDED" and disputes.fakes.paid(dispute_id(h)) == [500]
    assert disputes.fakes.freeze_calls == 1  # carried over: not frozen again by later runs


async def test_files_the_evidence_service_refuses_at_binding_are_dropped_and_recorded(
    disputes: Harness,
) -> None:
    h = await disputes.open()  # opened with one file
    many = [f"ev-{n}" for n in range(20)]  # 21 in all: over the per-dispute total
    await h.execute_update(DisputeWorkflow.modify, Modification("buyer-1", None, "all my photos", many))
    await disputes.env.sleep(timedelta(seconds=5))
    view = await h.query(DisputeWorkflow.view)
    assert "EVIDENCE_NOT_ATTACHED" in actions(view)
    # The opening file and the first 19 new ones fit (20 files); only the 21st is dropped.
    assert view.state.evidence_ids == ["ev-open-1", *many[:19]]
    assert disputes.fakes.bound[dispute_id(h)] == view.state.evidence_ids
