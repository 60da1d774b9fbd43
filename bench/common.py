"""Shared benchmark plumbing: a fixed-concurrency driver, percentiles, and the baseline (bare
`start_workflow` on the same Temporal server) every figure is compared against."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from orders.v1 import orders_pb2
from temporalio.client import Client

from deploy.stack import Ports, Stack
from platform_common.auth import Role, mint_token


def bearer(stack: Stack, subject: str, role: Role) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {mint_token(subject, role, stack.secrets.jwt_secret)}")]


def order_request(buyer_id: str, seller_id: str) -> orders_pb2.CreateOrderRequest:
    """A 49.90 EUR card order with one day to ship: disputable as never shipped a day later."""
    return orders_pb2.CreateOrderRequest(
        request_id=str(uuid.uuid4()),
        buyer_id=buyer_id,
        seller_id=seller_id,
        total=common_pb2.Money(minor_units=4_990, currency="EUR"),
        payment_method=orders_pb2.PaymentMethod(type=orders_pb2.PAYMENT_METHOD_TYPE_CARD, reference="tok"),
        handling_days=1,
    )


def never_arrived(order_id: str) -> pb.OpenDisputeRequest:
    return pb.OpenDisputeRequest(
        request_id=str(uuid.uuid4()),
        order_id=order_id,
        goods_received=False,
        reason=pb.DISPUTE_REASON_NOT_DELIVERED,
        solution=pb.Solution(type=pb.SOLUTION_TYPE_FULL_REFUND),
        description="Never arrived",
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def drive(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run `one(0..n-1)` on `concurrency` lanes; returns the wall time."""
    queue = iter(range(n))

    async def lane() -> None:
        for i in queue:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.perf_counter() - started


@dataclass(frozen=True)
class Measured:
    """One path at one concurrency: operations, wall time and each operation's latency (s)."""

    n: int
    wall: float
    lat: list[float]

    @property
    def rate(self) -> float:
        return self.n / self.wall

    def p(self, q: float) -> float:
        return pct(self.lat, q)


def compare(name: str, concurrency: int, ours: Measured, base: Measured) -> str:
    """One line: our rate and percentiles, and the ratios against the baseline of the same run."""
    return (
        f"c={concurrency:<3} {name:<24} {ours.rate:>7.1f}/s  p50 {ours.p(0.5) * 1000:>7.1f} ms  "
        f"p99 {ours.p(0.99) * 1000:>7.1f} ms  | rate {ours.rate / base.rate:>4.2f}x  "
        f"p99 {ours.p(0.99) / base.p(0.99):>4.2f}x of the baseline"
    )


def levels_arguments(description: str, n: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=n, help="operations per measurement (c=1: a quarter)")
    parser.add_argument("--levels", default="1,16,64", help="concurrency levels, comma-separated")
    return parser.parse_args()


def row(name: str, n: int, wall: float, lat: list[float]) -> str:
    ms = [x * 1000 for x in lat]
    return (
        f"{name:<28} {n / wall:>9.1f}/s   p50 {statistics.median(ms):>7.1f} ms   p99 {pct(ms, 0.99):>7.1f} ms"
    )


async def bare_starts(stack: Stack, n: int, concurrency: int) -> tuple[float, list[float]]:
    """Baseline: `start_workflow` of a type nobody polls, so only the server's work is measured."""
    client = await Client.connect(stack.temporal.address())
    lat: list[float] = []
    run = uuid.uuid4().hex[:8]

    async def one(i: int) -> None:
        t0 = time.perf_counter()
        await client.start_workflow("BenchNoop", id=f"bench-{run}-{i}", task_queue="bench-nobody-polls")
        lat.append(time.perf_counter() - t0)

    await drive(20, 4, lambda i: one(10_000_000 + i))  # warm-up
    lat.clear()
    return await drive(n, concurrency, one), lat


def run_with_stack(
    main: Callable[[Stack, int, int], Coroutine[Any, Any, None]],
    description: str,
    day_seconds: float | None = None,
    extra_env: dict[str, str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=400, help="operations per measurement")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    run_stack(lambda stack: main(stack, args.n, args.concurrency), day_seconds, extra_env)


def run_stack(
    main: Callable[[Stack], Coroutine[Any, Any, None]],
    day_seconds: float | None = None,
    extra_env: dict[str, str] | None = None,
) -> None:
    """The whole platform on a scratch directory, for one bench."""
    with tempfile.TemporaryDirectory(prefix="dp-bench-") as tmp:
        stack = Stack(Path(tmp), Ports.random(), day_seconds=day_seconds, extra_env=extra_env)
        stack.start()
        try:
            asyncio.run(main(stack))
        finally:
            stack.stop()
