"""50 disputes driven to the end while every service and every worker is killed (SIGKILL) and
restarted at random moments, with a webhook receiver running. Afterwards: every event of every
dispute reached the receiver, at least once, verified; each dispute's sequence has no gap and
arrived in order; the receiver's deduplicated log equals the outbox; each dispute paid exactly
one refund. Its own stack: it kills processes."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from disputes.v1 import disputes_pb2_grpc
from orders.v1 import orders_pb2

from examples.webhook_receiver import WebhookReceiver
from platform_common import access
from platform_common.auth import Role
from tests.harness.fixtures import make_stack
from tests.integration.conftest import Api, open_api

# Long enough that the seller's 15 days (45 s) outlast the outages on a loaded machine: every
# dispute must end by the seller's acceptance, never by a window that ran out meanwhile.
DAY_SECONDS = 3.0
DISPUTES = 50
KILL_ROUNDS = 2
T = TypeVar("T")
# What a killed process looks like to a caller.
TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}


async def patiently(
    call: Callable[[], Awaitable[T]], settled: Callable[[grpc.aio.AioRpcError], bool] | None = None
) -> T | None:
    """Call until it answers; a refusal that `settled` recognises (an earlier attempt that went
    through) ends it with None."""
    for _ in range(300):
        try:
            return await call()
        except grpc.aio.AioRpcError as exc:
            if settled is not None and settled(exc):
                return None
            if exc.code() not in TRANSIENT:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("the platform never answered")


async def drive(api: Api, stub: disputes_pb2_grpc.DisputeServiceStub, n: int) -> str:
    """One order from checkout to a dispute the seller accepts; returns the dispute id."""
    buyer, seller = f"buyer-chaos-{n}-{uuid.uuid4().hex[:6]}", f"seller-chaos-{n}"
    create = orders_pb2.CreateOrderRequest(
        request_id=str(uuid.uuid4()),
        buyer_id=buyer,
        seller_id=seller,
        total=common_pb2.Money(minor_units=5_000, currency="EUR"),
        items=[
            orders_pb2.OrderItem(
                sku="S",
                title="Lamp",
                quantity=1,
                unit_price=common_pb2.Money(minor_units=5_000, currency="EUR"),
            )
        ],
        payment_method=orders_pb2.PaymentMethod(
            type=orders_pb2.PAYMENT_METHOD_TYPE_CARD, reference="card_tok_1"
        ),
        protection_days=180,
    )
    created = await patiently(lambda: api.orders.CreateOrder(create, metadata=api.checkout(), timeout=10))
    assert created is not None
    order_id = created.order.order_id
    await patiently(
        lambda: api.orders.MarkShipped(
            orders_pb2.MarkShippedRequest(order_id=order_id, carrier="DHL", tracking_number=f"JD{n:010d}"),
            metadata=api.auth(seller, Role.SELLER),
            timeout=10,
        ),
        settled=lambda e: e.code() == grpc.StatusCode.FAILED_PRECONDITION,
    )
    await asyncio.sleep(5 * DAY_SECONDS + 0.3)
    opening = pb.OpenDisputeRequest(
        request_id=str(uuid.uuid4()),
        order_id=order_id,
        goods_received=True,
        reason=pb.DISPUTE_REASON_DAMAGED,
        solution=pb.Solution(
            type=pb.SOLUTION_TYPE_PARTIAL_REFUND, amount=common_pb2.Money(minor_units=1_500, currency="EUR")
        ),
        description="arrived broken",
    )
    opened = await patiently(
        lambda: stub.OpenDispute(opening, metadata=api.auth(buyer, Role.BUYER), timeout=30)
    )
    assert opened is not None
    dispute_id = opened.dispute.dispute_id
    await patiently(
        lambda: stub.RespondAsSeller(
            pb.RespondAsSellerRequest(dispute_id=dispute_id, response_type=pb.SELLER_RESPONSE_TYPE_ACCEPT),
            metadata=api.auth(seller, Role.SELLER),
            timeout=15,
        ),
        # An accept that went through before its answer was lost: the dispute moved on.
        settled=lambda e: e.code() == grpc.StatusCode.FAILED_PRECONDITION,
    )
    # The accept may have landed before its answer was lost: wait until the dispute shows it
    # (GetDispute may answer from the read model for a moment while the worker is down).
    now = None
    for _ in range(120):
        now = await patiently(
            lambda: stub.GetDispute(
                pb.GetDisputeRequest(dispute_id=dispute_id), metadata=api.service(), timeout=10
            )
        )
        assert now is not None
        if now.dispute.resolution != pb.DISPUTE_RESOLUTION_UNSPECIFIED or now.dispute.HasField(
            "escalated_at"
        ):
            break
        await asyncio.sleep(0.5)
    assert now is not None and now.dispute.resolution == pb.DISPUTE_RESOLUTION_SELLER_ACCEPTED, now
    return dispute_id


async def chaos(api: Api, stop: asyncio.Event, killed: list[str]) -> None:
    """Each service and worker killed twice, in a random order, at random moments a few seconds
    apart, each restarted after a random pause (up to KILL_ROUNDS rounds, or until told to stop)."""
    names = [n for n in api.stack.apps if n != "paysim"]
    rng = random.Random()
    for _ in range(KILL_ROUNDS):
        for name in rng.sample(names, len(names)):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.uniform(1.0, 3.0))
            if stop.is_set():
                return
            proc = api.stack.apps[name]
            await asyncio.to_thread(proc.kill)
            killed.append(name)
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            await asyncio.to_thread(proc.start)


@pytest.mark.timeout(900)
async def test_every_event_reaches_the_receiver_in_order_while_processes_die(tmp_path: Path) -> None:
    stack = make_stack(tmp_path, DAY_SECONDS)
    receiver = WebhookReceiver(secret="").start()
    try:
        await asyncio.to_thread(stack.start)
        async with open_api(stack) as api:
            stub = disputes_pb2_grpc.DisputeServiceStub(api.channels["DISPUTE"])
            notify = api.service(access.NOTIFICATIONS)
            sub = await stub.CreateWebhookSubscription(
                pb.CreateWebhookSubscriptionRequest(url=receiver.url, from_beginning=True), metadata=notify
            )
            receiver.secret = sub.secret
            stop, killed = asyncio.Event(), list[str]()
            chaotic = asyncio.create_task(chaos(api, stop, killed))
            gate = asyncio.Semaphore(10)

            async def one(n: int) -> str:
                async with gate:
                    return await drive(api, stub, n)

            try:
                ids = await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(DISPUTES))), 600)

                async def closed(dispute_id: str) -> pb.Dispute:
                    while True:
                        got = await patiently(
                            lambda: stub.GetDispute(
                                pb.GetDisputeRequest(dispute_id=dispute_id),
                                metadata=api.service(),
                                timeout=10,
                            )
                        )
                        assert got is not None
                        if got.dispute.status == pb.DISPUTE_STATUS_CLOSED_REFUNDED:
                            return got.dispute
                        await asyncio.sleep(0.5)

                finals = await asyncio.wait_for(asyncio.gather(*(closed(i) for i in ids)), 300)
            finally:
                stop.set()
                await chaotic
            assert set(killed) >= set(stack.apps) - {"paysim"}, (
                f"every service and worker was killed: {killed}"
            )
            for d in finals:
                assert len(d.refund_ids) == 1 and d.refunded_amount.minor_units == 1_500, d.dispute_id

            async def outbox(dispute_id: str) -> list[pb.DisputeEvent]:
                page = await patiently(
                    lambda: stub.ListDisputeEvents(
                        pb.ListDisputeEventsRequest(dispute_id=dispute_id, page_size=500),
                        metadata=notify,
                        timeout=10,
                    )
                )
                assert page is not None
                return list(page.events)

            expected = {i: await outbox(i) for i in ids}
            for i, events in expected.items():
                assert [e.sequence for e in events] == list(range(1, len(events) + 1)), i
                assert events[-1].type == "dispute.closed", i

            def received(dispute_id: str) -> list[str]:
                return [
                    d.event["event_id"] for d in receiver.events if d.event.get("dispute_id") == dispute_id
                ]

            for _ in range(300):
                if all(received(i) == [e.event_id for e in expected[i]] for i in ids):
                    break
                await asyncio.sleep(0.2)
            for i in ids:
                assert received(i) == [e.event_id for e in expected[i]], (
                    f"dispute {i}: receiver log differs from the outbox"
                )

            # The order feed, delivered by the same subscription, through the same deaths. An
            # order's events go on after its dispute (the clock resumes, the order completes), so
            # each is compared up to a snapshot taken once its hold was released.
            async def order_outbox(order_id: str) -> list[orders_pb2.OrderEvent]:
                for _ in range(300):
                    page = await patiently(
                        lambda: api.orders.ListOrderEvents(
                            orders_pb2.ListOrderEventsRequest(order_id=order_id, page_size=500),
                            metadata=notify,
                            timeout=10,
                        )
                    )
                    assert page is not None
                    if "order.dispute_hold_released" in {e.type for e in page.events}:
                        return list(page.events)
                    await asyncio.sleep(0.2)
                raise AssertionError(f"order {order_id}: its hold was never released")

            def order_received(order_id: str) -> list[str]:
                return [
                    d.event["event_id"]
                    for d in receiver.events
                    if d.event["type"].startswith("order.") and d.event["order_id"] == order_id
                ]

            order_logs = {d.order_id: await order_outbox(d.order_id) for d in finals}
            for o, log in order_logs.items():
                assert [e.sequence for e in log] == list(range(1, len(log) + 1)), o
                assert {"order.created", "order.dispute_hold"} <= {e.type for e in log}, o
            ids_of = {o: [e.event_id for e in log] for o, log in order_logs.items()}
            for _ in range(300):
                if all(order_received(o)[: len(x)] == x for o, x in ids_of.items()):
                    break
                await asyncio.sleep(0.2)
            for o, x in ids_of.items():
                got = order_received(o)
                assert got[: len(x)] == x, f"order {o}: receiver log differs from its outbox"
            assert receiver.refused == [], receiver.refused[:3]
            assert receiver.attempts >= sum(len(e) for e in expected.values())
    finally:
        receiver.stop()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(stack.stop)
