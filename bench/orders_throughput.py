"""CreateOrder + MarkShipped over gRPC vs bare `start_workflow`, on the same Temporal server.

    .venv/bin/python -m bench.orders_throughput [--n 400] [--concurrency 16]

Starts its own local stack (real day length), prints throughput, p50/p99 and the ratio.
"""

from __future__ import annotations

import time
import uuid

import grpc
from common.v1 import common_pb2
from orders.v1 import orders_pb2, orders_pb2_grpc

from bench.common import bare_starts, drive, row, run_with_stack
from deploy.stack import Stack
from platform_common.access import CHECKOUT
from platform_common.auth import Role, mint_token


async def bench(stack: Stack, n: int, concurrency: int) -> None:
    secret = stack.secrets.jwt_secret
    service = [("authorization", f"Bearer {mint_token(CHECKOUT, Role.SERVICE, secret)}")]
    seller_id = "bench-seller"
    seller = [("authorization", f"Bearer {mint_token(seller_id, Role.SELLER, secret)}")]
    channel = grpc.aio.insecure_channel(stack.service_address("ORDER"))
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    create_lat: list[float] = []
    ship_lat: list[float] = []
    pair_lat: list[float] = []
    price = common_pb2.Money(minor_units=4_990, currency="EUR")
    card = orders_pb2.PaymentMethod(type=orders_pb2.PAYMENT_METHOD_TYPE_CARD, reference="tok")

    async def order_pair(i: int) -> None:
        t0 = time.perf_counter()
        created = await stub.CreateOrder(
            orders_pb2.CreateOrderRequest(
                request_id=str(uuid.uuid4()),
                buyer_id=f"bench-buyer-{i % 50}",
                seller_id=seller_id,
                total=price,
                payment_method=card,
            ),
            metadata=service,
        )
        t1 = time.perf_counter()
        await stub.MarkShipped(
            orders_pb2.MarkShippedRequest(
                order_id=created.order.order_id, carrier="DHL", tracking_number="BENCH0001"
            ),
            metadata=seller,
        )
        t2 = time.perf_counter()
        create_lat.append(t1 - t0)
        ship_lat.append(t2 - t1)
        pair_lat.append(t2 - t0)

    await drive(20, 4, order_pair)  # warm-up: connections, SQLite pages, workflow cache
    for lst in (create_lat, ship_lat, pair_lat):
        lst.clear()
    orders_wall = await drive(n, concurrency, order_pair)
    await channel.close()
    starts_wall, start_lat = await bare_starts(stack, n, concurrency)

    print(
        f"\n{n} operations each, concurrency {concurrency}, Temporal dev server on SQLite, SQLite order store"
    )
    print(row("CreateOrder (gRPC)", n, orders_wall, create_lat))
    print(row("MarkShipped (gRPC)", n, orders_wall, ship_lat))
    print(row("CreateOrder+MarkShipped", n, orders_wall, pair_lat))
    print(row("bare start_workflow", n, starts_wall, start_lat))
    print(f"ratio (order pairs/s / bare starts/s): {starts_wall / orders_wall:.2f}")


if __name__ == "__main__":
    run_with_stack(bench, __doc__ or "")
