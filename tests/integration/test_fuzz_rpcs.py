"""A generated fuzz of every RPC (hypothesis): random messages of each request type, built from
the descriptors (ids of a real world mixed with random, huge and malformed values, unknown enum
numbers, impossible timestamps) and random bytes, sent as random identities of the access table.

It fails on any INTERNAL or UNKNOWN answer, and on any change to the world after a refusal.
The world is a set of objects no timer changes any more (completed orders, a closed dispute, a
settled refund, evidence), so a change can only come from a call. Bounded: DP_FUZZ_EXAMPLES
examples (300 by default), reproducible (derandomized; DP_FUZZ_RANDOM=1 explores afresh).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from disputes.v1 import disputes_pb2_grpc
from evidence.v1 import evidence_pb2, evidence_pb2_grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orders.v1 import orders_pb2, orders_pb2_grpc
from refunds.v1 import refunds_pb2, refunds_pb2_grpc

from deploy.stack import Stack
from platform_common import access
from platform_common.auth import Role, mint_token
from tests.harness.fixtures import DAY_SECONDS
from tests.integration.rpc_walk import Rpc, all_rpcs

C = grpc.StatusCode
EXAMPLES = int(os.environ.get("DP_FUZZ_EXAMPLES", "300"))
RPCS = all_rpcs()


@dataclass
class World:
    stack: Stack
    channels: dict[str, grpc.Channel]
    buyer: str
    seller: str
    orders: list[str]
    dispute_id: str
    evidence_id: str
    refund_id: str

    def md(self, subject: str, role: Role) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {mint_token(subject, role, self.stack.secrets.jwt_secret)}")]

    def ids(self) -> list[str]:
        return [*self.orders, self.dispute_id, self.evidence_id, self.refund_id, self.buyer, self.seller]

    def snapshot(self) -> tuple[bytes, ...]:
        """Everything a call could change about the world, as the support tools read it."""
        support = self.md(access.SUPPORT, Role.SERVICE)
        orders = orders_pb2_grpc.OrderServiceStub(self.channels["ORDER"])
        disputes = disputes_pb2_grpc.DisputeServiceStub(self.channels["DISPUTE"])
        evidence = evidence_pb2_grpc.EvidenceServiceStub(self.channels["EVIDENCE"])
        refunds = refunds_pb2_grpc.RefundServiceStub(self.channels["REFUND"])
        parts: list[Message] = []
        for order_id in self.orders:
            order = orders.GetOrder(orders_pb2.GetOrderRequest(order_id=order_id), metadata=support).order
            for d in order.deadlines:
                d.remaining_seconds = 0
            parts.append(order)
            parts.append(
                evidence.ListEvidence(evidence_pb2.ListEvidenceRequest(order_id=order_id), metadata=support)
            )
            parts.append(
                refunds.ListRefunds(refunds_pb2.ListRefundsRequest(order_id=order_id), metadata=support)
            )
            parts.append(disputes.ListDisputes(pb.ListDisputesRequest(order_id=order_id), metadata=support))
        for account in (self.buyer, self.seller):
            parts.append(
                orders.GetAccountStatus(
                    orders_pb2.GetAccountStatusRequest(account_id=account), metadata=support
                )
            )
        return tuple(p.SerializeToString(deterministic=True) for p in parts)


def _wait(check: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("the fuzz world never settled")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def world(stack: Stack) -> Iterator[World]:
    """Two orders refunded in full (one through a cancelled dispute and support, with the
    buyer's evidence; one completed first, so its refund was recovered from the seller): nothing
    about them changes by itself any more, and no further refund can be issued on them."""
    channels = {k: grpc.insecure_channel(stack.service_address(k)) for k in stack.ports.services}
    tag = uuid.uuid4().hex[:8]
    w = World(stack, channels, f"fuzz-buyer-{tag}", f"fuzz-seller-{tag}", [], "", "", "")
    orders = orders_pb2_grpc.OrderServiceStub(channels["ORDER"])
    disputes = disputes_pb2_grpc.DisputeServiceStub(channels["DISPUTE"])
    refunds = refunds_pb2_grpc.RefundServiceStub(channels["REFUND"])
    evidence = evidence_pb2_grpc.EvidenceServiceStub(channels["EVIDENCE"])
    buyer, seller = w.md(w.buyer, Role.BUYER), w.md(w.seller, Role.SELLER)
    support = w.md(access.SUPPORT, Role.SERVICE)
    try:
        for _ in range(2):
            order = orders.CreateOrder(
                orders_pb2.CreateOrderRequest(
                    request_id=str(uuid.uuid4()),
                    buyer_id=w.buyer,
                    seller_id=w.seller,
                    total=common_pb2.Money(minor_units=9_900, currency="EUR"),
                    payment_method=orders_pb2.PaymentMethod(
                        type=orders_pb2.PAYMENT_METHOD_TYPE_CARD, reference="tok"
                    ),
                    protection_days=180,
                ),
                metadata=w.md(access.CHECKOUT, Role.SERVICE),
            ).order
            orders.MarkShipped(
                orders_pb2.MarkShippedRequest(
                    order_id=order.order_id, carrier="DHL", tracking_number="FUZZ-1234"
                ),
                metadata=seller,
            )
            w.orders.append(order.order_id)
        first, second = w.orders
        chunk = b"\xff\xd8\xff\xe0" + os.urandom(2_000)
        w.evidence_id = evidence.UploadEvidence(
            iter(
                [
                    evidence_pb2.UploadEvidenceRequest(
                        metadata=evidence_pb2.UploadMetadata(
                            order_id=first, filename="a.jpg", content_type="image/jpeg"
                        )
                    ),
                    evidence_pb2.UploadEvidenceRequest(chunk=chunk),
                ]
            ),
            metadata=buyer,
        ).evidence.evidence_id
        time.sleep(5 * DAY_SECONDS + 0.2)
        opened = disputes.OpenDispute(
            pb.OpenDisputeRequest(
                request_id=str(uuid.uuid4()),
                order_id=first,
                goods_received=True,
                reason=pb.DISPUTE_REASON_DAMAGED,
                solution=pb.Solution(
                    type=pb.SOLUTION_TYPE_PARTIAL_REFUND,
                    amount=common_pb2.Money(minor_units=100, currency="EUR"),
                ),
                description="dented",
                evidence_ids=[w.evidence_id],
            ),
            metadata=buyer,
        ).dispute
        w.dispute_id = opened.dispute_id
        disputes.CancelDispute(pb.CancelDisputeRequest(dispute_id=w.dispute_id), metadata=buyer)
        orders.ConfirmReceipt(orders_pb2.ConfirmReceiptRequest(order_id=second), metadata=buyer)

        def ready_to_refund() -> bool:
            a = orders.GetOrder(orders_pb2.GetOrderRequest(order_id=first), metadata=support).order
            b = orders.GetOrder(orders_pb2.GetOrderRequest(order_id=second), metadata=support).order
            return not a.holds and b.status == orders_pb2.ORDER_STATUS_COMPLETED

        _wait(ready_to_refund)
        for order_id in w.orders:
            w.refund_id = refunds.IssueRefund(
                refunds_pb2.IssueRefundRequest(
                    idempotency_key=f"fuzz/{tag}/{order_id}",
                    order_id=order_id,
                    amount=common_pb2.Money(minor_units=9_900, currency="EUR"),
                    reason="goodwill: refunded in full",
                    kind=refunds_pb2.REFUND_KIND_GOODWILL,
                ),
                metadata=support,
            ).refund.refund_id

        def settled() -> bool:
            statuses = [
                orders.GetOrder(orders_pb2.GetOrderRequest(order_id=o), metadata=support).order.status
                for o in w.orders
            ]
            listed = disputes.ListDisputes(pb.ListDisputesRequest(order_id=first), metadata=support).disputes
            return statuses == [orders_pb2.ORDER_STATUS_REFUNDED] * 2 and [d.status for d in listed] == [
                pb.DISPUTE_STATUS_CLOSED_CANCELLED
            ]

        _wait(settled)
        time.sleep(1.5)  # the last side effects (read model, clock records) land
        yield w
    finally:
        for channel in channels.values():
            channel.close()


# --- strategies ---------------------------------------------------------------------------------

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _strings(world: World) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(world.ids()),
        st.uuids().map(str),
        st.sampled_from(
            ["", " ", "EUR", "USD", "x" * 129, "x" * 5_000, "\x00", "../../etc", "dispute/x/round/1"]
        ),
        st.text(max_size=24),
    )


def _value(field: FieldDescriptor, world: World, depth: int) -> st.SearchStrategy[object]:
    if field.type == FieldDescriptor.TYPE_STRING:
        return _strings(world)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_ENUM:
        return st.integers(-2, 40)  # known values and numbers no version defines
    if field.type in _INT_RANGES:
        lo, hi = _INT_RANGES[field.type]
        return st.one_of(st.integers(-5, 20_000), st.sampled_from([lo, hi, 0, 1, -1]))
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _message(field.message_type, world, depth + 1)
    return st.none()


def _message(descriptor: Descriptor, world: World, depth: int = 0) -> st.SearchStrategy[Message]:
    from google.protobuf.message_factory import GetMessageClass

    cls = GetMessageClass(descriptor)
    if depth > 2:
        return st.just(cls())
    fields = {
        f.name: (st.lists(_value(f, world, depth), max_size=3) if f.is_repeated else _value(f, world, depth))
        for f in descriptor.fields
    }

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = cls()
        chosen = draw(st.sets(st.sampled_from(sorted(fields)), max_size=len(fields))) if fields else set()
        for name in chosen:
            value = draw(fields[name])
            target = getattr(message, name) if descriptor.fields_by_name[name].is_repeated else None
            field = descriptor.fields_by_name[name]
            if field.is_repeated:
                for item in value:  # type: ignore[attr-defined]
                    if field.type == FieldDescriptor.TYPE_MESSAGE:
                        target.add().CopyFrom(item)  # type: ignore[union-attr]
                    else:
                        target.append(item)  # type: ignore[union-attr]
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                getattr(message, name).CopyFrom(value)
            else:
                setattr(message, name, value)
        return message

    return build()


def _identities(world: World) -> st.SearchStrategy[tuple[str, Role]]:
    people = [
        (world.buyer, Role.BUYER),
        (world.seller, Role.SELLER),
        ("fuzz-arbiter", Role.ARBITER),
        ("fuzz-lead", Role.ARBITER_LEAD),
    ]
    services = [(name, Role.SERVICE) for name in [*access.SERVICE_IDENTITIES, "stranger"]]
    return st.sampled_from(people + services)


def _send(world: World, rpc: Rpc, body: bytes, md: list[tuple[str, str]]) -> grpc.StatusCode:
    channel = world.channels[rpc.key]
    try:
        if rpc.method.client_streaming:
            channel.stream_unary(rpc.path)(iter([body]), metadata=md, timeout=15)
        elif rpc.method.server_streaming:
            for _ in channel.unary_stream(rpc.path)(body, metadata=md, timeout=15):
                pass
        else:
            channel.unary_unary(rpc.path)(body, metadata=md, timeout=15)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return, attr-defined]
    return C.OK


def test_every_rpc_under_generated_requests(world: World) -> None:
    state: dict[str, object] = {"before": world.snapshot()}
    counts = {"calls": 0, "accepted": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=os.environ.get("DP_FUZZ_RANDOM") != "1",
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        database=None,
    )
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        rpc = data.draw(st.sampled_from(RPCS), label="rpc")
        subject, role = data.draw(_identities(world), label="caller")
        if data.draw(st.integers(0, 9), label="mode") == 0:
            body = data.draw(st.binary(max_size=80), label="raw bytes")
        else:
            body = data.draw(
                _message(rpc.request_type.DESCRIPTOR, world), label="request"
            ).SerializeToString()
        code = _send(world, rpc, body, world.md(subject, role))
        counts["calls"] += 1
        assert code not in (C.INTERNAL, C.UNKNOWN, C.UNIMPLEMENTED), (str(rpc), subject, code)
        after = world.snapshot()
        if code == C.OK:
            counts["accepted"] += 1
            state["before"] = after  # an accepted call may change the world
        else:
            assert after == state["before"], f"{rpc} refused ({code.name}) as {subject} but changed the world"

    fuzz()
    assert counts["calls"] >= min(EXAMPLES, 50)
