"""Dispute events to a webhook receiver under a steady load of actions, in one run: the delivery
lag (the event's moment in the dispute → the receiver has it, verified) and the events/s
delivered, next to the actions/s of the load and a baseline, the same receiver's POSTs/s from a
bare sequential sender (what one ordered subscription could reach at best).

    .venv/bin/python -m bench.event_delivery [--n 200] [--concurrency 16]

Load: n disputes opened (orders never shipped within their one-day handling time, on a 4 s
day), then each answered by its seller (a rejection), at fixed concurrency. Every action
produces one or two events; all are delivered by one subscription (one workflow, in order).
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from datetime import datetime

import grpc
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from disputes.v1 import disputes_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc

from bench.common import drive, pct, run_with_stack
from deploy.stack import Stack
from examples.webhook_receiver import SIGNATURE_HEADER, Delivery, WebhookReceiver
from platform_common.access import CHECKOUT, NOTIFICATIONS
from platform_common.auth import Role, mint_token
from platform_common.signing import sign

DAY_SECONDS = 4.0


def _auth(stack: Stack, subject: str, role: Role) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {mint_token(subject, role, stack.secrets.jwt_secret)}")]


def bare_posts(receiver: WebhookReceiver, n: int) -> float:
    """Sequential signed POSTs of an event-sized body, as one ordered delivery would send them."""
    body = (
        b'{"event_id": "bench:%d", "dispute_id": "bench", "type": "dispute.updated", "pad": "'
        + b"x" * 900
        + b'"}'
    )
    started = time.perf_counter()
    for i in range(n):
        payload = body % i
        request = urllib.request.Request(
            receiver.url,
            data=payload,
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(payload, receiver.secret, int(time.time())),
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            resp.read()
    return n / (time.perf_counter() - started)


async def bench(stack: Stack, n: int, concurrency: int) -> None:
    receiver = WebhookReceiver(secret="").start()
    service = _auth(stack, CHECKOUT, Role.SERVICE)
    async with (
        grpc.aio.insecure_channel(stack.service_address("ORDER")) as och,
        grpc.aio.insecure_channel(stack.service_address("DISPUTE")) as dch,
    ):
        orders = orders_pb2_grpc.OrderServiceStub(och)
        disputes = disputes_pb2_grpc.DisputeServiceStub(dch)
        sub = await disputes.CreateWebhookSubscription(
            pb.CreateWebhookSubscriptionRequest(url=receiver.url),
            metadata=_auth(stack, NOTIFICATIONS, Role.SERVICE),
        )
        receiver.secret = sub.secret
        baseline = await asyncio.to_thread(bare_posts, receiver, 500)
        receiver.events.clear()
        created: list[orders_pb2.Order] = []

        async def make_order(i: int) -> None:
            request = orders_pb2.CreateOrderRequest(
                request_id=str(uuid.uuid4()),
                buyer_id=f"b-{i}",
                seller_id=f"s-{i}",
                total=common_pb2.Money(minor_units=4_990, currency="EUR"),
                payment_method=orders_pb2.PaymentMethod(
                    type=orders_pb2.PAYMENT_METHOD_TYPE_CARD, reference="tok"
                ),
                handling_days=1,
            )
            created.append((await orders.CreateOrder(request, metadata=service)).order)

        await drive(n, concurrency, make_order)
        await asyncio.sleep(DAY_SECONDS + 0.5)
        ids: dict[int, str] = {}

        async def open_one(i: int) -> None:
            resp = await disputes.OpenDispute(
                pb.OpenDisputeRequest(
                    request_id=str(uuid.uuid4()),
                    order_id=created[i].order_id,
                    goods_received=False,
                    reason=pb.DISPUTE_REASON_NOT_DELIVERED,
                    solution=pb.Solution(type=pb.SOLUTION_TYPE_FULL_REFUND),
                    description="Never arrived",
                ),
                metadata=_auth(stack, created[i].buyer_id, Role.BUYER),
            )
            ids[i] = resp.dispute.dispute_id

        async def respond_one(i: int) -> None:
            await disputes.RespondAsSeller(
                pb.RespondAsSellerRequest(
                    dispute_id=ids[i],
                    response_type=pb.SELLER_RESPONSE_TYPE_REJECT,
                    message="Delivered",
                    claim_version=1,
                ),
                metadata=_auth(stack, created[i].seller_id, Role.SELLER),
            )

        started = time.perf_counter()
        open_wall = await drive(n, concurrency, open_one)
        respond_wall = await drive(n, concurrency, respond_one)
        load_wall = time.perf_counter() - started
        mine = set(ids.values())
        for _ in range(600):  # every dispute's two events (opened, answered) have arrived
            counts: dict[str, int] = {}
            for d in receiver.events:
                counts[str(d.event.get("dispute_id"))] = counts.get(str(d.event.get("dispute_id")), 0) + 1
            if all(counts.get(x, 0) >= 2 for x in mine):
                break
            await asyncio.sleep(0.1)
    got = [d for d in receiver.events if d.event.get("dispute_id") in mine]
    lags = [
        (
            d.received_at
            - datetime.fromisoformat(str(d.event["occurred_at"]).replace("Z", "+00:00")).timestamp()
        )
        * 1000
        for d in got
    ]

    def at(d: Delivery, field: str) -> float:
        return datetime.fromisoformat(str(d.event[field]).replace("Z", "+00:00")).timestamp()

    recording = [(at(d, "recorded_at") - at(d, "occurred_at")) * 1000 for d in got]
    sending = [(d.received_at - at(d, "recorded_at")) * 1000 for d in got]
    first = min(d.received_at for d in got)
    last = max(d.received_at for d in got)
    receiver.stop()
    actions = 2 * n / load_wall
    delivered = len(got) / (last - first)
    print(f"\n{n} disputes opened then answered, concurrency {concurrency}; one webhook subscription")
    print(
        f"load: OpenDispute {n / open_wall:.1f}/s, RespondAsSeller {n / respond_wall:.1f}/s ({actions:.1f} actions/s)"
    )
    print(
        f"delivered {len(got)} events at {delivered:.1f} events/s; lag p50 {pct(lags, 0.5):.0f} ms, p99 {pct(lags, 0.99):.0f} ms"
    )
    print(
        f"  of which recording (the action → its event in the outbox) p50 {pct(recording, 0.5):.0f} ms, "
        f"p99 {pct(recording, 0.99):.0f} ms; delivering (outbox → receiver) p50 {pct(sending, 0.5):.0f} ms, "
        f"p99 {pct(sending, 0.99):.0f} ms"
    )
    print(f"baseline: bare sequential signed POSTs to the same receiver {baseline:.1f}/s")
    print(f"ratio events/s delivered ÷ bare POSTs/s: {delivered / baseline:.2f}")
    print(f"ratio events/s delivered ÷ events/s produced: {delivered / (len(got) / load_wall):.2f}")


if __name__ == "__main__":
    run_with_stack(bench, __doc__ or "", day_seconds=DAY_SECONDS, extra_env={"DP_WEBHOOK_ALLOW_LOCAL": "1"})
