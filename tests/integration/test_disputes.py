"""Disputes end to end over gRPC on the real stack: Temporal, S3, all four services, all workers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from evidence.v1 import evidence_pb2, evidence_pb2_grpc
from orders.v1 import orders_pb2
from refunds.v1 import refunds_pb2, refunds_pb2_grpc
from temporalio.client import Client

from platform_common.auth import Role
from tests.harness.evidence import Generated, upload
from tests.harness.fixtures import DAY_SECONDS
from tests.integration.conftest import Api
from tests.integration.disputes_api import (
    C,
    Case,
    disputable,
    disputes,
    eventually,
    open_dispute,
    open_request,
    partial,
    refused,
    status_becomes,
)


async def test_seller_accepts_refund_settles_and_the_order_is_released(
    api: Api, temporal_client: Client
) -> None:
    (case,) = await disputable(api)
    stub = disputes(api)
    request = open_request(case)
    buyer = api.auth(case.buyer, Role.BUYER)
    opened = (await stub.OpenDispute(request, metadata=buyer)).dispute
    # Idempotent: the same request id returns the same dispute; reusing it for other content fails.
    again = (await stub.OpenDispute(request, metadata=buyer)).dispute
    assert again.dispute_id == opened.dispute_id and len(again.timeline) == len(opened.timeline)
    changed = open_request(case, request_id=request.request_id, description="something else")
    await refused(C.ALREADY_EXISTS, stub.OpenDispute(changed, metadata=buyer))

    assert opened.status == pb.DISPUTE_STATUS_AWAITING_SELLER_RESPONSE and opened.attempt == 1
    assert opened.policy_version.startswith("2026-11-standard@")
    assert [d.kind for d in opened.deadlines] == ["SELLER_RESPONSE_DUE", "ESCALATION_ALLOWED_FROM"]
    assert opened.versions[0].version == 1 and opened.timeline[0].action == "DISPUTE_OPENED"
    assert (
        opened.timeline[0].actor.id == case.buyer and opened.timeline[0].actor.role == common_pb2.ROLE_BUYER
    )

    async def frozen() -> bool:
        return (await api.get(case.order)).protection.frozen

    await eventually(frozen, 10, "the order's protection to freeze")

    # What each caller may do now, by the actions' own rules (the escalation may still be waiting).
    seller = api.auth(case.seller, Role.SELLER)
    read = pb.GetDisputeRequest(dispute_id=opened.dispute_id)
    for who, expected in (
        (buyer, {"MODIFY_DISPUTE", "ESCALATE_DISPUTE", "CANCEL_DISPUTE", "SEND_MESSAGE"}),
        (seller, {"RESPOND_AS_SELLER", "SEND_MESSAGE"}),
        (api.service(), set()),
    ):
        got = await stub.GetDispute(read, metadata=who)
        assert got.allowed_actions_known
        assert {
            pb.DisputeAction.Name(a.action).removeprefix("DISPUTE_ACTION_") for a in got.allowed_actions
        } == expected
    resp = await stub.RespondAsSeller(
        pb.RespondAsSellerRequest(
            dispute_id=opened.dispute_id, response_type=pb.SELLER_RESPONSE_TYPE_ACCEPT, claim_version=1
        ),
        metadata=seller,
    )
    assert resp.dispute.resolution == pb.DISPUTE_RESOLUTION_SELLER_ACCEPTED
    done = await status_becomes(api, opened.dispute_id, pb.DISPUTE_STATUS_CLOSED_REFUNDED)
    assert done.refunded_amount.minor_units == 4_000 and len(done.refund_ids) == 1

    refunds = refunds_pb2_grpc.RefundServiceStub(api.channels["REFUND"])
    refund = (
        await refunds.GetRefund(refunds_pb2.GetRefundRequest(refund_id=done.refund_ids[0]), metadata=buyer)
    ).refund
    assert refund.idempotency_key == f"dispute/{opened.dispute_id}/round/1"
    assert refund.status == refunds_pb2.REFUND_STATUS_REFUNDED and refund.amount.minor_units == 4_000

    order = await api.get(case.order)
    assert not order.protection.frozen and order.protection.HasField("expires_at")

    # The read model lists it for the buyer, with the latest status.
    async def listed() -> bool:
        page = await stub.ListDisputes(pb.ListDisputesRequest(), metadata=buyer)
        return [(d.dispute_id, d.status) for d in page.disputes] == [
            (opened.dispute_id, pb.DISPUTE_STATUS_CLOSED_REFUNDED)
        ]

    await eventually(listed, 10, "the read model")
    # Operators find it in Temporal by its typed search attributes.
    query = f"DisputeId = '{opened.dispute_id}' AND DisputeStatus = 'CLOSED_REFUNDED' AND BuyerId = '{case.buyer}'"

    async def visible() -> bool:
        return len([w async for w in temporal_client.list_workflows(query)]) == 1

    await eventually(visible, 20, "the search attributes")


async def test_counter_offer_rejected_escalated_decided_appealed_and_paid(api: Api) -> None:
    (case,) = await disputable(api)
    stub = disputes(api)
    evidence = evidence_pb2_grpc.EvidenceServiceStub(api.channels["EVIDENCE"])
    buyer, seller = api.auth(case.buyer, Role.BUYER), api.auth(case.seller, Role.SELLER)
    photo = await upload(evidence, Generated("image/jpeg", 40_000), buyer, order_id=case.order.order_id)
    d = await open_dispute(api, case, evidence_ids=[photo.evidence_id], solution=partial(9_000))
    assert list(d.evidence_ids) == [photo.evidence_id]

    d = (
        await stub.RespondAsSeller(
            pb.RespondAsSellerRequest(
                dispute_id=d.dispute_id,
                response_type=pb.SELLER_RESPONSE_TYPE_COUNTER_OFFER,
                counter_offer=partial(2_000),
                message="20 EUR, keep the item",
            ),
            metadata=seller,
        )
    ).dispute
    assert d.offers[0].version == 2 and d.offers[0].status == pb.OFFER_STATUS_PENDING
    d = (
        await stub.RejectOffer(
            pb.RejectOfferRequest(dispute_id=d.dispute_id, offer_version=2, message="too low", escalate=True),
            metadata=buyer,
        )
    ).dispute
    assert d.status == pb.DISPUTE_STATUS_UNDER_ARBITRATION and d.HasField("escalated_at")
    assert {dl.kind for dl in d.deadlines} == {"ARBITRATION_TARGET", "ARBITRATION_MAX"}

    async def sealed() -> bool:
        got = await evidence.GetEvidence(
            evidence_pb2.GetEvidenceRequest(evidence_id=photo.evidence_id), metadata=buyer
        )
        return got.evidence.legal_hold

    await eventually(sealed, 15, "evidence under legal hold after escalation")

    arbiter = api.auth("arbiter-ana", Role.ARBITER)
    d = (
        await stub.RequestInformation(
            pb.RequestInformationRequest(
                dispute_id=d.dispute_id,
                addressed_to=pb.PARTY_SELLER,
                question="Photo of the item before shipping?",
            ),
            metadata=arbiter,
        )
    ).dispute
    assert d.status == pb.DISPUTE_STATUS_AWAITING_INFORMATION
    request_id = d.information_requests[0].info_request_id
    await refused(
        C.PERMISSION_DENIED,
        stub.SubmitInformation(
            pb.SubmitInformationRequest(dispute_id=d.dispute_id, info_request_id=request_id, message="me?"),
            metadata=buyer,
        ),
    )
    d = (
        await stub.SubmitInformation(
            pb.SubmitInformationRequest(
                dispute_id=d.dispute_id, info_request_id=request_id, message="it was blue"
            ),
            metadata=seller,
        )
    ).dispute
    assert d.information_requests[0].status == pb.INFORMATION_REQUEST_STATUS_ANSWERED

    money = common_pb2.Money
    d = (
        await stub.DecideDispute(
            pb.DecideDisputeRequest(
                dispute_id=d.dispute_id,
                refund_amount=money(minor_units=5_000, currency="EUR"),
                rationale="The photo shows a different colour.",
                evidence_ids=[photo.evidence_id],
            ),
            metadata=arbiter,
        )
    ).dispute
    assert d.status == pb.DISPUTE_STATUS_DECIDED and not d.decisions[0].final
    assert [dl.kind for dl in d.deadlines] == ["APPEAL_WINDOW_ENDS"]

    label = await upload(evidence, Generated("image/png", 30_000), buyer, order_id=case.order.order_id)
    d = (
        await stub.AppealDecision(
            pb.AppealDecisionRequest(
                dispute_id=d.dispute_id, message="The label proves it", evidence_ids=[label.evidence_id]
            ),
            metadata=buyer,
        )
    ).dispute
    assert d.status == pb.DISPUTE_STATUS_APPEALED and d.appeal.decision_round == 1
    decide_again = pb.DecideDisputeRequest(
        dispute_id=d.dispute_id,
        refund_amount=money(minor_units=8_000, currency="EUR"),
        rationale="Label matches.",
    )
    await refused(
        C.PERMISSION_DENIED, stub.DecideDispute(decide_again, metadata=arbiter)
    )  # a different arbiter
    d = (await stub.DecideDispute(decide_again, metadata=api.auth("arbiter-bo", Role.ARBITER))).dispute
    assert d.decisions[1].final and d.resolution == pb.DISPUTE_RESOLUTION_ARBITRATION_DECISION
    second = pb.AppealDecisionRequest(
        dispute_id=d.dispute_id, message="more", evidence_ids=[photo.evidence_id]
    )
    await refused(C.FAILED_PRECONDITION, stub.AppealDecision(second, metadata=buyer))

    done = await status_becomes(api, d.dispute_id, pb.DISPUTE_STATUS_CLOSED_REFUNDED)
    # 5,000 paid at the first decision, 3,000 added on appeal: two refunds, keys per round.
    assert done.refunded_amount.minor_units == 8_000 and len(done.refund_ids) == 2

    async def released() -> bool:
        return not await sealed()

    await eventually(released, 15, "evidence released at close")


async def test_return_shipped_and_confirmed_then_refund(api: Api) -> None:
    (case,) = await disputable(api)
    stub = disputes(api)
    buyer, seller = api.auth(case.buyer, Role.BUYER), api.auth(case.seller, Role.SELLER)
    d = await open_dispute(api, case, solution=partial(case.order.total.minor_units, return_goods=True))
    d = (
        await stub.RespondAsSeller(
            pb.RespondAsSellerRequest(dispute_id=d.dispute_id, response_type=pb.SELLER_RESPONSE_TYPE_ACCEPT),
            metadata=seller,
        )
    ).dispute
    assert d.status == pb.DISPUTE_STATUS_AWAITING_RETURN_SHIPMENT
    assert d.settlement.type == pb.SOLUTION_TYPE_FULL_REFUND and d.settlement.return_goods
    bad = pb.SubmitReturnShipmentRequest(dispute_id=d.dispute_id, carrier="DHL", tracking_number="no spaces!")
    await refused(C.INVALID_ARGUMENT, stub.SubmitReturnShipment(bad, metadata=buyer))
    ship = pb.SubmitReturnShipmentRequest(dispute_id=d.dispute_id, carrier="DHL", tracking_number="RET-0001")
    d = (await stub.SubmitReturnShipment(ship, metadata=buyer)).dispute
    assert d.status == pb.DISPUTE_STATUS_AWAITING_RETURN_RECEIPT
    assert [dl.kind for dl in d.deadlines] == ["RETURN_CONFIRM_DUE"]
    confirm = pb.ConfirmReturnReceivedRequest(dispute_id=d.dispute_id, message="arrived fine")
    await refused(C.PERMISSION_DENIED, stub.ConfirmReturnReceived(confirm, metadata=buyer))
    d = (await stub.ConfirmReturnReceived(confirm, metadata=seller)).dispute
    assert d.return_shipment.HasField("received_at") and not d.return_shipment.auto_confirmed
    done = await status_becomes(api, d.dispute_id, pb.DISPUTE_STATUS_CLOSED_REFUNDED)
    assert done.refunded_amount.minor_units == case.order.total.minor_units


async def test_an_order_under_dispute_does_not_complete_when_its_window_would_end(api: Api) -> None:
    # Protection: 8 days of 0.5 s = 4 s from shipment; the dispute opens at about 2.7 s.
    (case,) = await disputable(api, protection_days=8)
    expires = case.order.protection.expires_at.ToDatetime(tzinfo=UTC)
    d = await open_dispute(api, case)

    async def frozen() -> bool:
        return (await api.get(case.order)).protection.frozen

    await eventually(frozen, 10, "the protection clock to freeze")
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 2.0)
    order = await api.get(case.order)
    assert order.status == orders_pb2.ORDER_STATUS_SHIPPED and order.protection.frozen
    assert order.escrow_status == orders_pb2.ESCROW_STATUS_HELD
    # The dispute ends (buyer cancels): the clock resumes with the time that was left, then expires.
    await disputes(api).CancelDispute(
        pb.CancelDisputeRequest(dispute_id=d.dispute_id, reason="resolved with the seller"),
        metadata=api.auth(case.buyer, Role.BUYER),
    )

    async def completed() -> bool:
        return (await api.get(case.order)).status == orders_pb2.ORDER_STATUS_COMPLETED

    await eventually(completed, 20, "the order to complete after the dispute ended")


async def test_a_dispute_on_an_unshipped_order_keeps_its_clock_frozen_when_it_ships(api: Api) -> None:
    order = await api.create_order(protection_days=4)  # 2 s once shipped
    await asyncio.sleep(7 * DAY_SECONDS + 0.3)  # its 7-day handling time passed without a shipment
    case = Case(await api.get(order))
    d = await open_dispute(
        api,
        case,
        goods_received=False,
        reason=pb.DISPUTE_REASON_NOT_DELIVERED,
        solution=pb.Solution(type=pb.SOLUTION_TYPE_FULL_REFUND),
    )
    assert d.status == pb.DISPUTE_STATUS_AWAITING_SELLER_RESPONSE

    await asyncio.sleep(1.0)  # the workflow's freeze has reached OrderService by now
    shipped = await api.ship(order)  # late shipment during the dispute
    assert shipped.protection.frozen, shipped.protection
    await asyncio.sleep(3.0)  # longer than the whole 2 s window
    assert (await api.get(order)).status == orders_pb2.ORDER_STATUS_SHIPPED
    await disputes(api).CancelDispute(
        pb.CancelDisputeRequest(dispute_id=d.dispute_id), metadata=api.auth(case.buyer, Role.BUYER)
    )

    async def completed() -> bool:
        return (await api.get(order)).status == orders_pb2.ORDER_STATUS_COMPLETED

    await eventually(completed, 20, "the order to complete once the dispute ended")
