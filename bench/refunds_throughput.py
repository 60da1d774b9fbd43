"""IssueRefund over gRPC vs bare `start_workflow`, on the same Temporal server.

    .venv/bin/python -m bench.refunds_throughput [--n 400] [--concurrency 16]

Orders are created first (not timed); each IssueRefund reads the order from OrderService,
reserves the amount in the ledger and starts a RefundWorkflow. Prints throughput, p50/p99, ratio.
"""

from __future__ import annotations

import time
import uuid

import grpc
from common.v1 import common_pb2
from orders.v1 import orders_pb2, orders_pb2_grpc
from refunds.v1 import refunds_pb2, refunds_pb2_grpc

from bench.common import bare_starts, drive, row, run_with_stack
from deploy.stack import Stack
from platform_common.access import CHECKOUT, SUPPORT
from platform_common.auth import Role, mint_token


async def bench(stack: Stack, n: int, concurrency: int) -> None:
    secret = stack.secrets.jwt_secret
    checkout = [("authorization", f"Bearer {mint_token(CHECKOUT, Role.SERVICE, secret)}")]
    support = [("authorization", f"Bearer {mint_token(SUPPORT, Role.SERVICE, secret)}")]
    price = common_pb2.Money(minor_units=4_990, currency="EUR")
    card = orders_pb2.PaymentMethod(type=orders_pb2.PAYMENT_METHOD_TYPE_CARD, reference="tok")
    async with (
        grpc.aio.insecure_channel(stack.service_address("ORDER")) as och,
        grpc.aio.insecure_channel(stack.service_address("REFUND")) as rch,
    ):
        orders = orders_pb2_grpc.OrderServiceStub(och)
        refunds = refunds_pb2_grpc.RefundServiceStub(rch)
        order_ids: list[str] = []

        async def make_order(i: int) -> None:
            resp = await orders.CreateOrder(
                orders_pb2.CreateOrderRequest(
                    request_id=str(uuid.uuid4()),
                    buyer_id=f"b-{i}",
                    seller_id="s",
                    total=price,
                    payment_method=card,
                ),
                metadata=checkout,
            )
            order_ids.append(resp.order.order_id)

        await drive(n + 20, concurrency, make_order)
        lat: list[float] = []

        async def refund(i: int) -> None:
            t0 = time.perf_counter()
            await refunds.IssueRefund(
                refunds_pb2.IssueRefundRequest(
                    idempotency_key=f"bench-{uuid.uuid4().hex}",
                    order_id=order_ids[i],
                    amount=common_pb2.Money(minor_units=1_000, currency="EUR"),
                    reason="benchmark",
                    kind=refunds_pb2.REFUND_KIND_GOODWILL,
                ),
                metadata=support,
            )
            lat.append(time.perf_counter() - t0)

        await drive(20, 4, lambda i: refund(n + i))  # warm-up on the spare orders
        lat.clear()
        wall = await drive(n, concurrency, refund)
    starts_wall, start_lat = await bare_starts(stack, n, concurrency)
    print(f"\n{n} operations each, concurrency {concurrency}, Temporal dev server on SQLite, SQLite ledger")
    print(row("IssueRefund (gRPC)", n, wall, lat))
    print(row("bare start_workflow", n, starts_wall, start_lat))
    print(f"ratio (IssueRefund/s / bare starts/s): {starts_wall / wall:.2f}")


if __name__ == "__main__":
    run_with_stack(bench, __doc__ or "")
