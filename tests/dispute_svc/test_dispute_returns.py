"""DisputeWorkflow, returns: 10 days to ship, 15 to confirm, one contest (time-skipping)."""

from __future__ import annotations

from datetime import timedelta

from dispute_svc.model import (
    BuyerAction,
    DecisionAction,
    ReturnReceipt,
    ReturnShipmentAction,
    SellerResponse,
    Solution,
)
from dispute_svc.workflow import DisputeWorkflow
from tests.dispute_svc.dispute_harness import Handle, Harness, actions, dispute_id, refused

DAY = timedelta(days=1)
WITH_RETURN = Solution("PARTIAL_REFUND", 6_000, True)


async def settled_with_return(disputes: Harness) -> Handle:
    h = await disputes.open(solution=WITH_RETURN)
    view = await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "ACCEPT"))
    assert view.state.status == "AWAITING_RETURN_SHIPMENT"
    assert [d.kind for d in view.deadlines] == ["RETURN_SHIP_DUE"]
    return h


async def test_return_shipped_and_confirmed_then_refund(disputes: Harness) -> None:
    h = await settled_with_return(disputes)
    await refused(
        "InvalidArgument",
        h.execute_update(
            DisputeWorkflow.submit_return_shipment, ReturnShipmentAction("buyer-1", "DHL", "#1")
        ),
    )
    view = await h.execute_update(
        DisputeWorkflow.submit_return_shipment, ReturnShipmentAction("buyer-1", "DHL", "JD0145-22")
    )
    assert view.state.status == "AWAITING_RETURN_RECEIPT" and [d.kind for d in view.deadlines] == [
        "RETURN_CONFIRM_DUE"
    ]
    assert not disputes.fakes.refunds  # nothing is paid before the goods are back
    view = await h.execute_update(DisputeWorkflow.confirm_return, ReturnReceipt("seller-1", False, "arrived"))
    rs = view.state.return_shipment
    assert rs is not None and rs.received_at and not rs.auto_confirmed
    done = await h.result()
    assert done.state.status == "CLOSED_REFUNDED" and disputes.fakes.paid(dispute_id(h)) == [6_000]


async def test_return_shipped_and_auto_confirmed_after_15_days(disputes: Harness) -> None:
    h = await settled_with_return(disputes)
    await h.execute_update(
        DisputeWorkflow.submit_return_shipment, ReturnShipmentAction("buyer-1", "UPS", "1Z999")
    )
    await disputes.env.sleep(14 * DAY)
    assert (await h.query(DisputeWorkflow.view)).state.status == "AWAITING_RETURN_RECEIPT"
    done = await h.result()
    assert done.state.return_shipment is not None and done.state.return_shipment.auto_confirmed
    assert "RETURN_AUTO_CONFIRMED" in actions(done) and done.state.status == "CLOSED_REFUNDED"
    assert disputes.fakes.paid(dispute_id(h)) == [6_000]


async def test_return_not_shipped_within_10_days_closes_without_refund(disputes: Harness) -> None:
    h = await settled_with_return(disputes)
    await disputes.env.sleep(9 * DAY)
    assert (await h.query(DisputeWorkflow.view)).state.status == "AWAITING_RETURN_SHIPMENT"
    done = await h.result()
    assert done.state.status == "CLOSED_WITHOUT_REFUND" and done.state.resolution == "RETURN_NOT_SHIPPED"
    assert not disputes.fakes.refunds and disputes.fakes.frozen[done.order_id] == set()


async def test_contested_return_goes_to_arbitration_once(disputes: Harness) -> None:
    h = await settled_with_return(disputes)
    await h.execute_update(
        DisputeWorkflow.submit_return_shipment, ReturnShipmentAction("buyer-1", "DHL", "RET-1")
    )
    await refused(
        "InvalidArgument",
        h.execute_update(DisputeWorkflow.confirm_return, ReturnReceipt("seller-1", True, "")),
    )
    view = await h.execute_update(
        DisputeWorkflow.confirm_return, ReturnReceipt("seller-1", True, "box was empty", ["ev-empty-box"])
    )
    assert view.state.status == "UNDER_ARBITRATION" and view.state.return_shipment is not None
    assert view.state.return_shipment.contested
    await refused(
        "InvalidArgument",
        h.execute_update(DisputeWorkflow.decide, DecisionAction("arb-1", 6_000, True, "return again")),
    )
    view = await h.execute_update(
        DisputeWorkflow.decide, DecisionAction("arb-1", 2_000, False, "partly used", ["ev-empty-box"])
    )
    assert view.state.decisions[0].final  # a decision on a contested return is final
    done = await h.result()
    assert done.state.status == "CLOSED_REFUNDED" and disputes.fakes.paid(dispute_id(h)) == [2_000]


async def test_a_contest_decision_may_lower_an_earlier_decision(disputes: Harness) -> None:
    h = await disputes.open()
    await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "REJECT", "no"))
    await h.execute_update(DisputeWorkflow.escalate, BuyerAction("buyer-1"))
    await h.execute_update(
        DisputeWorkflow.decide, DecisionAction("arb-1", 6_000, True, "return it for 60 EUR")
    )
    await disputes.env.sleep(7 * DAY + timedelta(minutes=1))  # no appeal: final, the return is due
    assert (await h.query(DisputeWorkflow.view)).state.status == "AWAITING_RETURN_SHIPMENT"
    await h.execute_update(
        DisputeWorkflow.submit_return_shipment, ReturnShipmentAction("buyer-1", "DHL", "RET-9")
    )
    await h.execute_update(DisputeWorkflow.confirm_return, ReturnReceipt("seller-1", True, "box was empty"))
    # The buyer cannot walk away from a settled dispute whose return is contested.
    await refused("FailedPrecondition", h.execute_update(DisputeWorkflow.cancel, BuyerAction("buyer-1")))
    view = await h.execute_update(
        DisputeWorkflow.decide, DecisionAction("arb-2", 1_000, False, "mostly unused")
    )
    assert view.state.decisions[-1].final and view.state.decisions[-1].amount_minor == 1_000
    assert (await h.result()).state.status == "CLOSED_REFUNDED" and disputes.fakes.paid(dispute_id(h)) == [
        1_000
    ]


async def test_no_return_for_goods_never_received_and_escalation_evidence_is_kept(disputes: Harness) -> None:
    h = await disputes.open(received=False)
    await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "REJECT", "shipped"))
    view = await h.execute_update(
        DisputeWorkflow.escalate, BuyerAction("buyer-1", message="never came", evidence_ids=["ev-tracking"])
    )
    assert "ev-tracking" in view.state.evidence_ids
    await refused(
        "InvalidArgument",
        h.execute_update(DisputeWorkflow.decide, DecisionAction("arb-1", 10_000, True, "return")),
    )
    view = await h.execute_update(
        DisputeWorkflow.decide, DecisionAction("arb-1", 10_000, False, "tracking proves it", ["ev-tracking"])
    )
    assert view.state.status == "DECIDED"


async def test_a_service_outage_does_not_stop_the_clocks(disputes: Harness) -> None:
    h = await disputes.open()
    await disputes.env.sleep(14 * DAY)
    disputes.fakes.records_down = True  # from day 14 the read model cannot be written
    await disputes.env.sleep(DAY + timedelta(hours=1))
    view = await h.query(DisputeWorkflow.view)
    assert view.state.status == "UNDER_ARBITRATION"  # escalated on time all the same
    assert disputes.fakes.records[dispute_id(h)] < view.state.revision  # not recorded yet
    assert view.state.effects_deferred and "SIDE_EFFECTS_DEFERRED" in actions(view)  # flagged
    disputes.fakes.records_down = False
    await disputes.env.sleep(timedelta(hours=2))  # the deferred write is retried within the hour
    view = await h.query(DisputeWorkflow.view)
    assert disputes.fakes.records[dispute_id(h)] == view.state.revision
    assert not view.state.effects_deferred and actions(view)[-1] == "SIDE_EFFECTS_RESUMED"
