"""Requests a hostile or broken client sends, each refused with the right code (never INTERNAL or
UNKNOWN) and nothing written: out-of-range timestamps, unknown enum values, bodies that are not
protobuf, huge ids, values the API forbids, and parties that are not who their token claims."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.timestamp_pb2 import Timestamp
from orders.v1 import orders_pb2
from refunds.v1 import refunds_pb2, refunds_pb2_grpc

from platform_common import access
from platform_common.auth import Role
from tests.integration.conftest import Api, stable
from tests.integration.disputes_api import C, disputable, disputes, get, open_dispute, partial, refused
from tests.integration.rpc_walk import Rpc, all_rpcs, call
from tests.integration.test_refunds import issue

# Timestamps protobuf cannot hold, or that no platform event can have.
BAD_TIMES = [
    Timestamp(seconds=-62_135_596_801),
    Timestamp(seconds=253_402_300_800),
    Timestamp(seconds=2**62),
    Timestamp(seconds=1_800_000_000, nanos=-1),
    Timestamp(seconds=1_800_000_000, nanos=1_000_000_000),
    Timestamp(seconds=0),  # 1970: valid protobuf, not a moment of this platform
]
SERVER_FAULTS = {C.INTERNAL, C.UNKNOWN, C.UNIMPLEMENTED}


def someone_allowed(api: Api, rpc: Rpc) -> list[tuple[str, str]]:
    """A token the access table lets through for this RPC (so the body is what is tested)."""
    rules = access.TABLE[rpc.api][rpc.name]
    if rpc.name == "AttachEvidence":
        return api.service(access.DISPUTES_WORKER)
    if rules.services:
        return api.service(sorted(rules.services)[0])
    role = sorted(rules.roles, key=lambda r: r.value)[0]
    return api.auth(f"{role.value}-hostile", role)


async def test_out_of_range_timestamps_are_invalid_arguments(api: Api) -> None:
    order = await api.ship(await api.create_order())
    before = stable(await api.get(order))
    oid = order.order_id
    requests: list[tuple[str, object, list[tuple[str, str]], str]] = []
    for ts in BAD_TIMES:
        requests += [
            (
                "MarkDelivered",
                orders_pb2.MarkDeliveredRequest(order_id=oid, delivered_at=ts),
                api.service(access.CARRIER),
                "ORDER",
            ),
            (
                "CompleteOrder",
                orders_pb2.CompleteOrderRequest(
                    order_id=oid, reason=orders_pb2.COMPLETION_REASON_PROTECTION_EXPIRED, completed_at=ts
                ),
                api.service(access.ORDERS_WORKER),
                "ORDER",
            ),
            (
                "RecordProtection",
                orders_pb2.RecordProtectionRequest(order_id=oid, revision=10**9, expires_at=ts),
                api.service(access.ORDERS_WORKER),
                "ORDER",
            ),
            (
                "RecordDisputeState",
                pb.RecordDisputeStateRequest(
                    dispute=pb.Dispute(
                        dispute_id=str(uuid.uuid4()), order_id=oid, status=1, opened_at=ts, updated_at=ts
                    ),
                    revision=1,
                ),
                api.service(access.DISPUTES_WORKER),
                "DISPUTE",
            ),
            (
                "RecordRefundStatus",
                refunds_pb2.RecordRefundStatusRequest(
                    refund_id=str(uuid.uuid4()),
                    revision=1,
                    status=refunds_pb2.REFUND_STATUS_PROCESSING,
                    at=ts,
                ),
                api.service(access.REFUNDS_WORKER),
                "REFUND",
            ),
        ]
    rpcs = {r.name: r for r in all_rpcs()}
    for name, request, metadata, key in requests:
        outcome = await call(api.channels[key], rpcs[name], request, metadata)  # type: ignore[arg-type]
        assert outcome.code == C.INVALID_ARGUMENT, (name, request, outcome)
    assert stable(await api.get(order)) == before


async def test_unknown_enum_values_are_invalid_arguments(api: Api) -> None:
    order = await api.ship(await api.create_order())
    dispute = pb.Dispute(
        dispute_id=str(uuid.uuid4()), order_id=order.order_id, status=1, reason=20,
        opened_at=Timestamp(seconds=1_800_000_000), updated_at=Timestamp(seconds=1_800_000_000),
    )  # fmt: skip
    worker = api.service(access.DISPUTES_WORKER)
    cases: list[tuple[str, object, list[tuple[str, str]], str]] = [
        ("RecordDisputeState", pb.RecordDisputeStateRequest(dispute=_variant(dispute, status=99), revision=1),
         worker, "DISPUTE"),
        ("RecordDisputeState", pb.RecordDisputeStateRequest(dispute=_variant(dispute, resolution=99), revision=1),
         worker, "DISPUTE"),
        ("RecordDisputeState", pb.RecordDisputeStateRequest(dispute=_variant(dispute, reason=99), revision=1),
         worker, "DISPUTE"),
        ("RecordRefundStatus", refunds_pb2.RecordRefundStatusRequest(
            refund_id=str(uuid.uuid4()), revision=1, status=99, at=Timestamp(seconds=1_800_000_000)),
         api.service(access.REFUNDS_WORKER), "REFUND"),
        ("RecordRefund", orders_pb2.RecordRefundRequest(
            order_id=order.order_id, refund_id=str(uuid.uuid4()), state=99, reason="DISPUTE", issuer="x",
            amount=common_pb2.Money(minor_units=1, currency="EUR")),
         api.service(access.REFUND_SVC), "ORDER"),
        ("ListOrders", orders_pb2.ListOrdersRequest(buyer_id=order.buyer_id, status=99), api.service(), "ORDER"),
        ("ListDisputes", pb.ListDisputesRequest(status=99), api.service(), "DISPUTE"),
        ("IssueRefund", refunds_pb2.IssueRefundRequest(
            idempotency_key="k", order_id=order.order_id, kind=99), api.service(access.SUPPORT), "REFUND"),
    ]  # fmt: skip
    rpcs = {r.name: r for r in all_rpcs()}
    for name, request, metadata, key in cases:
        outcome = await call(api.channels[key], rpcs[name], request, metadata)  # type: ignore[arg-type]
        assert outcome.code == C.INVALID_ARGUMENT, (name, outcome)
    listed = await disputes(api).ListDisputes(
        pb.ListDisputesRequest(order_id=order.order_id), metadata=api.service()
    )
    assert list(listed.disputes) == []  # no read-model row was written


def _variant(message: pb.Dispute, **changes: int) -> pb.Dispute:
    copy = pb.Dispute()
    copy.CopyFrom(message)
    for name, value in changes.items():
        setattr(copy, name, value)  # proto3 enums take unknown numbers, as a newer client would send
    return copy


def _string_path(descriptor: Descriptor, depth: int = 0) -> list[FieldDescriptor] | None:
    """The path to a string field of the message (at most one message level down)."""
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            return [field]
    if depth == 0:
        for field in descriptor.fields:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                inner = _string_path(field.message_type, 1)
                if inner:
                    return [field, *inner]
    return None


def _tag(field: FieldDescriptor) -> bytes:
    return bytes([(field.number << 3) | 2])


def not_utf8(rpc: Rpc) -> bytes | None:
    path = _string_path(rpc.request_type.DESCRIPTOR)
    if path is None:
        return None
    payload = b"\xff\xfe"
    for field in reversed(path):
        payload = _tag(field) + bytes([len(payload)]) + payload
    return payload


async def test_bodies_that_are_not_protobuf_are_invalid_arguments_after_authentication(api: Api) -> None:
    truncated = b"\x0a\x05ab"  # field 1 says 5 bytes follow; 2 do
    checked = 0
    for rpc in all_rpcs():
        channel, allowed = api.channels[rpc.key], someone_allowed(api, rpc)
        for body in (truncated, not_utf8(rpc)):
            if body is None:
                continue
            anonymous = await call(channel, rpc, body, [])
            assert anonymous.code == C.UNAUTHENTICATED, (rpc, anonymous)  # before the body is read
            outcome = await call(channel, rpc, body, allowed)
            assert outcome.code == C.INVALID_ARGUMENT, (rpc, body, outcome)
            checked += 1
    assert checked >= 2 * len(all_rpcs()) - 4


async def test_huge_ids_get_a_short_message_and_the_real_code(api: Api) -> None:
    """A 10,000-character id used to come back whole in the status message, past the client's
    header limit: the client saw RESOURCE_EXHAUSTED "Stream removed" instead of the answer."""
    huge = "x" * 10_000
    for rpc in all_rpcs():
        request = rpc.request_type()
        strings = [
            f
            for f in request.DESCRIPTOR.fields
            if f.type == FieldDescriptor.TYPE_STRING and not f.is_repeated
        ]
        if not strings:
            continue  # nothing to make huge (e.g. ListWebhookSubscriptions takes no fields)
        for field in strings:
            setattr(request, field.name, huge)
        outcome = await call(api.channels[rpc.key], rpc, request, someone_allowed(api, rpc))
        assert outcome.code not in SERVER_FAULTS | {C.RESOURCE_EXHAUSTED, C.OK}, (rpc, outcome)
        assert len(outcome.details) <= 500 and huge not in outcome.details, rpc


async def test_values_the_api_forbids(api: Api) -> None:
    (case,) = await disputable(api)
    stub = disputes(api)
    buyer, seller = api.auth(case.buyer, Role.BUYER), api.auth(case.seller, Role.SELLER)
    d = await open_dispute(api, case, solution=partial(4_000))
    paid = case.order.total.minor_units
    for offer in (partial(paid), pb.Solution(type=pb.SOLUTION_TYPE_FULL_REFUND, return_goods=False)):
        counter = pb.RespondAsSellerRequest(
            dispute_id=d.dispute_id,
            response_type=pb.SELLER_RESPONSE_TYPE_COUNTER_OFFER,
            counter_offer=offer,
            message="m",
        )
        await refused(C.INVALID_ARGUMENT, stub.RespondAsSeller(counter, metadata=seller))
    blank = pb.ModifyDisputeRequest(dispute_id=d.dispute_id, description="   \t ")
    await refused(C.INVALID_ARGUMENT, stub.ModifyDispute(blank, metadata=buyer))
    counter = pb.RespondAsSellerRequest(
        dispute_id=d.dispute_id, response_type=pb.SELLER_RESPONSE_TYPE_COUNTER_OFFER, counter_offer=partial(1_000),
        message="half of it",
    )  # fmt: skip
    offered = (await stub.RespondAsSeller(counter, metadata=seller)).dispute
    for answer in (
        stub.AcceptOffer(pb.AcceptOfferRequest(dispute_id=d.dispute_id), metadata=buyer),
        stub.RejectOffer(pb.RejectOfferRequest(dispute_id=d.dispute_id), metadata=buyer),
    ):
        assert "offer_version" in await refused(C.INVALID_ARGUMENT, answer)  # the same for both
    after = await get(api, d.dispute_id)
    assert [o.version for o in after.offers] == [o.version for o in offered.offers]


async def test_party_checks_compare_role_and_id_and_arbiters_see_only_escalated_cases(api: Api) -> None:
    (case,) = await disputable(api)
    stub = disputes(api)
    buyer, seller = api.auth(case.buyer, Role.BUYER), api.auth(case.seller, Role.SELLER)
    arbiter = api.auth("arbiter-hostile", Role.ARBITER)
    refunds = refunds_pb2_grpc.RefundServiceStub(api.channels["REFUND"])
    # A refund of another (never escalated) dispute on another order: not the arbiter's.
    other = await api.create_order(minor_units=5_000)
    other_refund = (
        await refunds.IssueRefund(issue(other, 1_000), metadata=api.service(access.DISPUTES_WORKER))
    ).refund
    await refused(
        C.PERMISSION_DENIED,
        refunds.GetRefund(refunds_pb2.GetRefundRequest(refund_id=other_refund.refund_id), metadata=arbiter),
    )
    denied = await refused(
        C.PERMISSION_DENIED,
        refunds.ListRefunds(
            refunds_pb2.ListRefundsRequest(dispute_id=other_refund.dispute_id), metadata=buyer
        ),
    )
    assert other_refund.refund_id not in denied  # the caller never learns another buyer's refund id

    d = await open_dispute(api, case)
    get_order = orders_pb2.GetOrderRequest(order_id=case.order.order_id)
    await refused(C.PERMISSION_DENIED, api.orders.GetOrder(get_order, metadata=arbiter))
    reject = pb.RespondAsSellerRequest(
        dispute_id=d.dispute_id, response_type=pb.SELLER_RESPONSE_TYPE_REJECT, message="no"
    )
    await stub.RespondAsSeller(reject, metadata=seller)
    await stub.EscalateDispute(pb.EscalateDisputeRequest(dispute_id=d.dispute_id), metadata=buyer)
    ask = pb.RequestInformationRequest(
        dispute_id=d.dispute_id, addressed_to=pb.PARTY_BUYER, question="receipt?"
    )
    asked = (await stub.RequestInformation(ask, metadata=arbiter)).dispute
    request_id = asked.information_requests[0].info_request_id
    # The reported defect: a seller-role token carrying the buyer's id answered the buyer's request.
    impostor = api.auth(case.buyer, Role.SELLER)
    answer = pb.SubmitInformationRequest(dispute_id=d.dispute_id, info_request_id=request_id, message="here")
    await refused(C.PERMISSION_DENIED, stub.SubmitInformation(answer, metadata=impostor))
    answered = (await stub.SubmitInformation(answer, metadata=buyer)).dispute
    assert answered.information_requests[0].status == pb.INFORMATION_REQUEST_STATUS_ANSWERED
    # Escalated: now the order is the arbiter's to read.
    assert (await api.orders.GetOrder(get_order, metadata=arbiter)).order.order_id == case.order.order_id


@pytest.mark.parametrize("field", ["order_id", "dispute_id"])
async def test_wrong_shaped_ids_in_internal_rpcs(api: Api, field: str) -> None:
    hold = orders_pb2.HoldForDisputeRequest(
        order_id=str(uuid.uuid4()), dispute_id=str(uuid.uuid4()), token="t"
    )
    setattr(hold, field, "not-a-uuid")
    await refused(
        C.INVALID_ARGUMENT, api.orders.HoldForDispute(hold, metadata=api.service(access.DISPUTE_SVC))
    )


def _forged(created: str, row_id: object) -> str:
    raw = json.dumps({"c": created, "i": row_id}).encode()
    return base64.urlsafe_b64encode(raw).decode()


# Page tokens no page ever handed out: an offset that overflows when moved to UTC, years the
# platform never records, ids of the wrong type, length or content, garbage.
FORGED_TOKENS = [
    _forged("9999-12-31T23:59:59-23:59", "x"),
    _forged("0001-01-01T00:00:00+23:59", "x"),
    _forged("2026-01-01T00:00:00+00:00", "x" * 10_000),
    _forged("2026-01-01T00:00:00+00:00", 5),
    _forged("2026-01-01T00:00:00+00:00", "a\x00b"),
    "!!not-base64!!",
    "A" * 5_000,
]


async def test_forged_page_tokens_are_invalid_arguments(api: Api) -> None:
    listing = [rpc for rpc in all_rpcs() if "page" in rpc.request_type.DESCRIPTOR.fields_by_name]
    assert len(listing) >= 4, listing
    order = await api.create_order()
    for rpc in listing:
        for token in FORGED_TOKENS:
            request = rpc.request_type(page=common_pb2.PageRequest(page_token=token))
            if "order_id" in request.DESCRIPTOR.fields_by_name:
                setattr(request, "order_id", order.order_id)  # noqa: B010 - ListEvidence/ListRefunds need one
            outcome = await call(api.channels[rpc.key], rpc, request, someone_allowed(api, rpc))
            assert outcome.code not in SERVER_FAULTS | {C.OK}, (rpc.name, token[:60], outcome)


async def test_nul_characters_are_refused_before_anything_is_stored(api: Api) -> None:
    """PostgreSQL text cannot hold NUL: one backend storing what another refuses would make the
    same request succeed or fail by deployment. Every backend refuses it up front."""
    (case,) = await disputable(api)
    stub = disputes(api)
    buyer = api.auth(case.buyer, Role.BUYER)
    openings: list[pb.OpenDisputeRequest] = [
        pb.OpenDisputeRequest(
            request_id="r\x00", order_id=case.order.order_id, reason=pb.DISPUTE_REASON_BRAND_NOT_AS_DESCRIBED,
            goods_received=True, description="d", solution=partial(1_000),
        ),
        pb.OpenDisputeRequest(
            request_id="r1", order_id=case.order.order_id, reason=pb.DISPUTE_REASON_BRAND_NOT_AS_DESCRIBED,
            goods_received=True, description="broken\x00", solution=partial(1_000),
        ),
    ]  # fmt: skip
    for request in openings:
        assert "NUL" in await refused(C.INVALID_ARGUMENT, stub.OpenDispute(request, metadata=buyer))
    listed = await stub.ListDisputes(
        pb.ListDisputesRequest(order_id=case.order.order_id), metadata=api.service()
    )
    assert list(listed.disputes) == []
    refunds = refunds_pb2_grpc.RefundServiceStub(api.channels["REFUND"])
    nul_reason = issue(case.order, 1_000, reason="late\x00")
    assert "NUL" in await refused(
        C.INVALID_ARGUMENT, refunds.IssueRefund(nul_reason, metadata=api.service(access.DISPUTES_WORKER))
    )
    # Every RPC with every string set to a NUL: refused with a caller's code, never a fault.
    for rpc in all_rpcs():
        nul = rpc.request_type()
        for field in nul.DESCRIPTOR.fields:
            if field.type == FieldDescriptor.TYPE_STRING and not field.is_repeated:
                setattr(nul, field.name, "\x00")
        outcome = await call(api.channels[rpc.key], rpc, nul, someone_allowed(api, rpc))
        assert outcome.code not in SERVER_FAULTS, (rpc.name, outcome)
