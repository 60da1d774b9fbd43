"""OpenDispute and RespondAsSeller over gRPC against fair baselines on the same Temporal server,
at several concurrency levels (c=1, 16 and 64 by default) in one run.

    .venv/bin/python -m bench.disputes_throughput [--n 300] [--levels 1,16,64]

Baselines, each measured just before the platform's figure at the same level:
- OpenDispute vs update-with-start of a one-line workflow (BenchOpened) served by an in-process
  worker: the same Temporal call OpenDispute makes, without the platform around it;
- RespondAsSeller vs `execute_update` on a one-line workflow (BenchEcho), also in-process.

OpenDispute reads the order and the buyer's account from OrderService, checks the order's dispute
history, registers the dispute with EvidenceService, holds the order, records the opening and
runs update-with-start; RespondAsSeller (a rejection) is one validated update.

Every order is created first (not timed) with a one-day handling time, and the bench waits until
the last one's SHIP_BY deadline (read from the orders themselves) has passed, so each can be
disputed as never shipped; before, a warm-up could open a dispute a moment too early and fail.
The platform's day here is DAY_SECONDS: the seller's 15 days and the buyer's 7 after a rejection
outlast the whole run, so no dispute timer fires while anything is measured.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import grpc
from disputes.v1 import disputes_pb2 as pb
from disputes.v1 import disputes_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from bench.common import (
    Measured,
    bearer,
    compare,
    drive,
    levels_arguments,
    never_arrived,
    order_request,
    run_stack,
)
from bench.echo_workflow import EchoWorkflow, OpenedWorkflow
from deploy.stack import Stack
from platform_common.access import CHECKOUT
from platform_common.auth import Role

# The platform's day in this bench: the buyer's 7 days after the last rejection (210 s) outlast
# the run, and the wait for the orders' handling day (30 s) is paid once.
DAY_SECONDS = 30.0
WARM_UP = 20


async def measure(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> Measured:
    lat: list[float] = []

    async def timed(i: int) -> None:
        t0 = time.perf_counter()
        await one(i)
        lat.append(time.perf_counter() - t0)

    wall = await drive(n, concurrency, timed)
    return Measured(n, wall, lat)


class Baselines:
    """The bare Temporal calls, on a task queue of their own served by this process."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.queue = f"bench-{uuid.uuid4().hex[:8]}"

    async def update_with_start(self, n: int, concurrency: int, tag: str) -> Measured:
        async def one(i: int) -> None:
            start = WithStartWorkflowOperation(
                OpenedWorkflow.run,
                id=f"{self.queue}-open-{tag}-{i}",
                task_queue=self.queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            await self.client.execute_update_with_start_workflow(
                OpenedWorkflow.opened, i, start_workflow_operation=start
            )

        return await measure(n, concurrency, one)

    async def updates(self, n: int, concurrency: int, tag: str) -> Measured:
        handles = [
            await self.client.start_workflow(
                EchoWorkflow.run, id=f"{self.queue}-echo-{tag}-{i}", task_queue=self.queue
            )
            for i in range(concurrency)
        ]

        async def one(i: int) -> None:
            await handles[i % concurrency].execute_update(EchoWorkflow.bump, i)

        try:
            return await measure(n, concurrency, one)
        finally:
            for h in handles:
                await h.terminate("benchmark done")


class Platform:
    def __init__(
        self,
        stack: Stack,
        orders: orders_pb2_grpc.OrderServiceStub,
        disputes: disputes_pb2_grpc.DisputeServiceStub,
    ) -> None:
        self.stack, self.orders, self.disputes = stack, orders, disputes

    async def make_orders(self, count: int) -> list[orders_pb2.Order]:
        service = bearer(self.stack, CHECKOUT, Role.SERVICE)
        made: list[orders_pb2.Order] = []

        async def one(i: int) -> None:
            request = order_request(f"b-{uuid.uuid4().hex[:10]}", f"s-{uuid.uuid4().hex[:10]}")
            made.append((await self.orders.CreateOrder(request, metadata=service)).order)

        await drive(count, 16, one)
        return made

    async def open(self, orders: list[orders_pb2.Order], concurrency: int) -> tuple[Measured, list[str]]:
        ids: list[str] = [""] * len(orders)

        async def one(i: int) -> None:
            order = orders[i]
            resp = await self.disputes.OpenDispute(
                never_arrived(order.order_id),
                metadata=bearer(self.stack, order.buyer_id, Role.BUYER),
            )
            ids[i] = resp.dispute.dispute_id

        return await measure(len(orders), concurrency, one), ids

    async def respond(self, orders: list[orders_pb2.Order], ids: list[str], concurrency: int) -> Measured:
        async def one(i: int) -> None:
            await self.disputes.RespondAsSeller(
                pb.RespondAsSellerRequest(
                    dispute_id=ids[i],
                    response_type=pb.SELLER_RESPONSE_TYPE_REJECT,
                    message="Tracking shows delivered",
                    claim_version=1,
                ),
                metadata=bearer(self.stack, orders[i].seller_id, Role.SELLER),
            )

        return await measure(len(orders), concurrency, one)


async def until_shippable(orders: list[orders_pb2.Order]) -> None:
    """Until every order's SHIP_BY deadline has passed: only then is "never shipped" a dispute."""
    due = max(d.due_at.ToDatetime(tzinfo=UTC) for o in orders for d in o.deadlines if d.kind == "SHIP_BY")
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.5)


async def bench(stack: Stack, n: int, levels: list[int]) -> None:
    sizes = {c: n if c > 1 else max(30, n // 4) for c in levels}
    client = await Client.connect(stack.temporal.address())
    base = Baselines(client)
    async with (
        grpc.aio.insecure_channel(stack.service_address("ORDER")) as och,
        grpc.aio.insecure_channel(stack.service_address("DISPUTE")) as dch,
        Worker(client, task_queue=base.queue, workflows=[EchoWorkflow, OpenedWorkflow]),
    ):
        platform = Platform(
            stack, orders_pb2_grpc.OrderServiceStub(och), disputes_pb2_grpc.DisputeServiceStub(dch)
        )
        orders = await platform.make_orders(WARM_UP + sum(sizes.values()))
        await until_shippable(orders)
        # Warm-up: every path once at low concurrency, nothing kept.
        warm, orders = orders[:WARM_UP], orders[WARM_UP:]
        await base.update_with_start(WARM_UP, 4, "warm")
        await base.updates(WARM_UP, 4, "warm")
        _, warm_ids = await platform.open(warm, 4)
        await platform.respond(warm, warm_ids, 4)
        lines = []
        for c in levels:
            batch, orders = orders[: sizes[c]], orders[sizes[c] :]
            uws = await base.update_with_start(sizes[c], c, f"c{c}")
            opened, ids = await platform.open(batch, c)
            upd = await base.updates(sizes[c], c, f"c{c}")
            responded = await platform.respond(batch, ids, c)
            lines += [
                compare("OpenDispute", c, opened, uws),
                compare("  bare update-with-start", c, uws, uws),
                compare("RespondAsSeller", c, responded, upd),
                compare("  bare execute_update", c, upd, upd),
            ]
    print(f"\n{sizes} operations per level; Temporal dev server on SQLite, SQLite stores")
    print("\n".join(lines))
    print("goals: OpenDispute rate >= 0.60x, RespondAsSeller rate >= 0.80x, both p99 <= 2.00x (c=16, c=64)")


def main() -> None:
    args = levels_arguments(__doc__ or "", 300)
    levels = [int(x) for x in args.levels.split(",")]
    run_stack(lambda stack: bench(stack, args.n, levels), day_seconds=DAY_SECONDS)


if __name__ == "__main__":
    main()
