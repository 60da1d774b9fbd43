"""DisputeWorkflow, arbitration and appeal: information requests, SLA flags, decisions (time-skipping)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

from dispute_svc.model import (
    AppealAction,
    BuyerAction,
    DecisionAction,
    InfoAnswer,
    InfoRequestAction,
    SellerResponse,
)
from dispute_svc.workflow import DisputeWorkflow
from tests.dispute_svc.dispute_harness import Handle, Harness, actions, dispute_id, refused

DAY = timedelta(days=1)


async def escalated(disputes: Harness) -> Handle:
    h = await disputes.open()
    await h.execute_update(
        DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "REJECT", "it was fine")
    )
    view = await h.execute_update(DisputeWorkflow.escalate, BuyerAction("buyer-1", message="please decide"))
    assert view.state.status == "UNDER_ARBITRATION"
    return h


async def test_rejection_escalation_decision_refund(disputes: Harness) -> None:
    h = await escalated(disputes)
    view = await h.execute_update(
        DisputeWorkflow.decide,
        DecisionAction("arb-1", 4_000, False, "photos show the wrong colour", ["ev-open-1"]),
    )
    assert view.state.status == "DECIDED" and view.state.decisions[0].appeal_deadline
    assert [d.kind for d in view.deadlines] == ["APPEAL_WINDOW_ENDS"]
    assert view.state.payouts[0].amount_minor == 4_000  # the undisputed part is paid at once
    done = await h.result()  # the appeal window ends: the decision is final
    assert done.state.status == "CLOSED_REFUNDED" and done.state.resolution == "ARBITRATION_DECISION"
    assert done.state.decisions[0].final and disputes.fakes.paid(dispute_id(h)) == [4_000]
    # Sealed on escalation, released at close.
    assert disputes.fakes.hold_calls == [(dispute_id(h), True), (dispute_id(h), False)]
    assert "DECISION_FINAL" in actions(done)


async def test_zero_decision_closes_without_refund(disputes: Harness) -> None:
    h = await escalated(disputes)
    await h.execute_update(DisputeWorkflow.decide, DecisionAction("arb-1", 0, False, "item as described"))
    done = await h.result()
    assert done.state.status == "CLOSED_WITHOUT_REFUND" and not disputes.fakes.refunds


async def test_missed_information_request_is_recorded_not_fatal(disputes: Harness) -> None:
    h = await escalated(disputes)
    view = await h.execute_update(
        DisputeWorkflow.request_information, InfoRequestAction("arb-1", "SELLER", "Tracking photo?")
    )
    assert view.state.status == "AWAITING_INFORMATION" and view.state.arbiter_id == "arb-1"
    assert "INFO_RESPONSE_DUE" in [d.kind for d in view.deadlines]
    # Another arbiter cannot take over an assigned case; a decision waits for the open request.
    await refused(
        "PermissionDenied",
        h.execute_update(DisputeWorkflow.decide, DecisionAction("arb-2", 1, False, "x")),
    )
    await refused(
        "FailedPrecondition", h.execute_update(DisputeWorkflow.decide, DecisionAction("arb-1", 1, False, "x"))
    )
    await disputes.env.sleep(5 * DAY + timedelta(minutes=1))
    view = await h.query(DisputeWorkflow.view)
    assert view.state.info_requests[0].status == "MISSED" and view.state.status == "UNDER_ARBITRATION"
    assert "INFORMATION_MISSED" in actions(view)
    await refused(
        "FailedPrecondition",
        h.execute_update(DisputeWorkflow.submit_information, InfoAnswer("seller-1", "ir-1", "too late")),
    )
    view = await h.execute_update(DisputeWorkflow.decide, DecisionAction("arb-1", 4_000, False, "no answer"))
    assert view.state.status == "DECIDED"


async def test_answered_information_request(disputes: Harness) -> None:
    h = await escalated(disputes)
    await h.execute_update(DisputeWorkflow.request_information, InfoRequestAction("arb-1", "BUYER", "Photo?"))
    await refused(
        "PermissionDenied",
        h.execute_update(DisputeWorkflow.submit_information, InfoAnswer("seller-1", "ir-1", "me?")),
    )
    await refused(
        "InvalidArgument",
        h.execute_update(DisputeWorkflow.submit_information, InfoAnswer("buyer-1", "ir-1", "  ")),
    )
    view = await h.execute_update(
        DisputeWorkflow.submit_information, InfoAnswer("buyer-1", "ir-1", "here", ["ev-photo-2"])
    )
    req = view.state.info_requests[0]
    assert req.status == "ANSWERED" and req.answer == "here" and view.state.status == "UNDER_ARBITRATION"
    assert "ev-photo-2" in view.state.evidence_ids


async def test_sla_target_then_breach_flag_at_60_days_never_a_decision(disputes: Harness) -> None:
    h = await escalated(disputes)
    await disputes.env.sleep(7 * DAY + timedelta(minutes=1))
    view = await h.query(DisputeWorkflow.view)
    assert "ARBITRATION_TARGET_MISSED" in actions(view) and not view.state.sla_breached
    await disputes.env.sleep(53 * DAY)
    view = await h.query(DisputeWorkflow.view)
    assert view.state.sla_breached and "SLA_BREACHED" in actions(view)
    assert view.state.status == "UNDER_ARBITRATION" and not view.state.decisions
    await disputes.env.sleep(timedelta(seconds=2))
    # Read raw: the time-skipping server returns unset datetime attributes in a form the typed
    # decoder rejects (NextDeadline is unset once every arbitration clock has passed).
    raw = await disputes.env.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=disputes.env.client.namespace, execution=WorkflowExecution(workflow_id=h.id)
        )
    )
    assert raw.workflow_execution_info.search_attributes.indexed_fields["SlaBreached"].data == b"true"


async def test_appeal_raises_the_refund_and_a_second_appeal_is_refused(disputes: Harness) -> None:
    disputes.fakes.refund_status = "PROCESSING"  # keeps the dispute open while refunds settle
    h = await escalated(disputes)
    await h.execute_update(DisputeWorkflow.decide, DecisionAction("arb-1", 3_000, False, "partly right"))
    await refused(
        "InvalidArgument",
        h.execute_update(DisputeWorkflow.appeal, AppealAction("buyer-1", "see the label", ["ev-open-1"])),
    )
    await refused(
        "InvalidArgument", h.execute_update(DisputeWorkflow.appeal, AppealAction("buyer-1", "no proof", []))
    )
    view = await h.execute_update(
        DisputeWorkflow.appeal, AppealAction("buyer-1", "see the label", ["ev-label"])
    )
    assert view.state.status == "APPEALED" and view.state.appeal is not None
    await refused(
        "FailedPrecondition",
        h.execute_update(DisputeWorkflow.appeal, AppealAction("buyer-1", "again", ["ev-more"])),
    )
    # A different arbiter decides, and can only add to the refund.
    await refused(
        "PermissionDenied",
        h.execute_update(DisputeWorkflow.decide, DecisionAction("arb-1", 5_000, False, "changed my mind")),
    )
    await refused(
        "InvalidArgument",
        h.execute_update(DisputeWorkflow.decide, DecisionAction("arb-2", 2_000, False, "less")),
    )
    view = await h.execute_update(
        DisputeWorkflow.decide, DecisionAction("arb-2", 5_000, False, "the label proves it", ["ev-label"])
    )
    assert view.state.decisions[-1].final and view.state.resolution == "ARBITRATION_DECISION"
    await refused(
        "FailedPrecondition",
        h.execute_update(DisputeWorkflow.appeal, AppealAction("buyer-1", "once more", ["ev-x"])),
    )
    assert (await h.query(DisputeWorkflow.view)).state.status == "REFUND_PENDING"
    disputes.fakes.refund_status = "REFUNDED"
    done = await h.result()
    assert done.state.status == "CLOSED_REFUNDED"
    # 3,000 at the first decision, the 2,000 top-up after the appeal: two rounds, 5,000 in all.
    assert disputes.fakes.paid(dispute_id(h)) == [3_000, 2_000]


async def test_appeal_window_closes_after_7_days(disputes: Harness) -> None:
    disputes.fakes.refund_status = "PROCESSING"
    h = await escalated(disputes)
    await h.execute_update(DisputeWorkflow.decide, DecisionAction("arb-1", 1_000, False, "some"))
    await disputes.env.sleep(7 * DAY + timedelta(minutes=1))
    view = await h.query(DisputeWorkflow.view)
    assert view.state.decisions[0].final and view.state.status == "REFUND_PENDING"
    await refused(
        "FailedPrecondition",
        h.execute_update(DisputeWorkflow.appeal, AppealAction("buyer-1", "late", ["ev-y"])),
    )


async def test_refused_refund_is_surfaced(disputes: Harness) -> None:
    disputes.fakes.refuse_refunds = True
    h = await disputes.open()
    await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "ACCEPT"))
    done = await h.result()
    assert "REFUND_REFUSED" in actions(done) and done.state.status == "CLOSED_WITHOUT_REFUND"


async def test_refund_service_outage_while_settling_does_not_fail_the_dispute(disputes: Harness) -> None:
    disputes.fakes.refunds_down = True
    h = await disputes.open()
    await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "ACCEPT"))
    await disputes.env.sleep(2 * DAY)
    view = await h.query(DisputeWorkflow.view)
    assert view.state.status == "REFUND_PENDING"  # still tracking, not failed
    disputes.fakes.refunds_down = False
    done = await h.result()
    assert done.state.status == "CLOSED_REFUNDED"


async def test_a_refund_failed_for_good_is_abandoned_and_the_dispute_closes(disputes: Harness) -> None:
    disputes.fakes.refund_status = "FAILED"  # declined, and no operator retry
    h = await disputes.open()
    await h.execute_update(DisputeWorkflow.respond_as_seller, SellerResponse("seller-1", "ACCEPT"))
    await disputes.env.sleep(29 * DAY)
    assert (await h.query(DisputeWorkflow.view)).state.status == "REFUND_PENDING"
    done = await h.result()
    assert [p.status for p in done.state.payouts] == ["ABANDONED"]
    assert "REFUND_ABANDONED" in actions(done) and done.state.status == "CLOSED_WITHOUT_REFUND"
