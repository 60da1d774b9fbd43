"""CreateOrder + MarkShipped over gRPC vs bare `start_workflow`, on the same Temporal server.

Starts its own local stack in a temp folder (real day length), drives N order pairs at a fixed
concurrency, then N bare workflow starts, and prints throughput, p50/p99 and the ratio.

    .venv/bin/python -m bench.orders_throughput [--orders 400] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from common.v1 import common_pb2
from orders.v1 import orders_pb2, orders_pb2_grpc
from temporalio.client import Client

from deploy.stack import Ports, Stack
from platform_common.auth import Role, mint_token


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def drive(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    queue = iter(range(n))

    async def lane() -> None:
        for i in queue:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.perf_counter() - started


def row(name: str, n: int, wall: float, lat: list[float]) -> str:
    ms = [x * 1000 for x in lat]
    return (
        f"{name:<28} {n / wall:>9.1f}/s   p50 {statistics.median(ms):>7.1f} ms   p99 {pct(ms, 0.99):>7.1f} ms"
    )


async def bench(stack: Stack, n: int, concurrency: int) -> None:
    secret = stack.secrets.jwt_secret
    service = [("authorization", f"Bearer {mint_token('bench', Role.SERVICE, secret)}")]
    seller_id = "bench-seller"
    seller = [("authorization", f"Bearer {mint_token(seller_id, Role.SELLER, secret)}")]
    channel = grpc.aio.insecure_channel(stack.service_address("ORDER"))
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    create_lat: list[float] = []
    ship_lat: list[float] = []
    pair_lat: list[float] = []
    price = common_pb2.Money(minor_units=4_990, currency="EUR")

    async def order_pair(i: int) -> None:
        t0 = time.perf_counter()
        created = await stub.CreateOrder(
            orders_pb2.CreateOrderRequest(
                request_id=str(uuid.uuid4()),
                buyer_id=f"bench-buyer-{i % 50}",
                seller_id=seller_id,
                total=price,
                payment_method=orders_pb2.PaymentMethod(
                    type=orders_pb2.PAYMENT_METHOD_TYPE_CARD, reference="tok"
                ),
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

    client = await Client.connect(stack.temporal.address())
    start_lat: list[float] = []
    run = uuid.uuid4().hex[:8]

    async def bare_start(i: int) -> None:
        t0 = time.perf_counter()
        await client.start_workflow("BenchNoop", id=f"bench-{run}-{i}", task_queue="bench-nobody-polls")
        start_lat.append(time.perf_counter() - t0)

    await drive(20, 4, lambda i: bare_start(10_000_000 + i))
    start_lat.clear()
    starts_wall = await drive(n, concurrency, bare_start)

    pairs_per_s = n / orders_wall
    starts_per_s = n / starts_wall
    print(
        f"\n{n} operations each, concurrency {concurrency}, Temporal dev server on SQLite, SQLite order store"
    )
    print(row("CreateOrder (gRPC)", n, orders_wall, create_lat))
    print(row("MarkShipped (gRPC)", n, orders_wall, ship_lat))
    print(row("CreateOrder+MarkShipped", n, orders_wall, pair_lat))
    print(row("bare start_workflow", n, starts_wall, start_lat))
    print(f"ratio (order pairs/s ÷ bare starts/s): {pairs_per_s / starts_per_s:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dp-bench-") as tmp:
        stack = Stack(Path(tmp), Ports.random())
        stack.start()
        try:
            asyncio.run(bench(stack, args.orders, args.concurrency))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
