"""OpenDispute and RespondAsSeller over gRPC vs bare `start_workflow` / `execute_update`, on the
same Temporal server, in one run.

    .venv/bin/python -m bench.disputes_throughput [--n 300] [--concurrency 16]

Orders are created first (not timed) with a one-day handling time on a stack whose day is 4 s
(DP_DAY_SECONDS: every domain's day), and the bench waits for that day to pass, so each can be
disputed as "never shipped"; the seller's 15 days (60 s) outlast the whole run. OpenDispute reads the order and the
buyer's account from OrderService, checks the order's dispute history, registers the dispute with
EvidenceService, records the opening and runs update-with-start; RespondAsSeller (a counter-offer)
is one validated update. Baselines: `start_workflow` of a type nobody polls, and `execute_update`
on a one-line workflow served by an in-process worker.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from disputes.v1 import disputes_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc
from temporalio.client import Client
from temporalio.worker import Worker

from bench.common import bare_starts, drive, row, run_with_stack
from bench.echo_workflow import EchoWorkflow
from deploy.stack import Stack
from platform_common.access import CHECKOUT
from platform_common.auth import Role, mint_token

# The platform's day in this bench: long enough that no dispute's window ends during the run.
DAY_SECONDS = 4.0


def _auth(stack: Stack, subject: str, role: Role) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {mint_token(subject, role, stack.secrets.jwt_secret)}")]


async def bare_updates(stack: Stack, n: int, concurrency: int) -> tuple[float, list[float]]:
    client = await Client.connect(stack.temporal.address())
    queue = f"bench-echo-{uuid.uuid4().hex[:8]}"
    lat: list[float] = []
    async with Worker(client, task_queue=queue, workflows=[EchoWorkflow]):
        handles = [
            await client.start_workflow(EchoWorkflow.run, id=f"{queue}-{i}", task_queue=queue)
            for i in range(concurrency)
        ]

        async def one(i: int) -> None:
            t0 = time.perf_counter()
            await handles[i % concurrency].execute_update(EchoWorkflow.bump, i)
            lat.append(time.perf_counter() - t0)

        await drive(20, 4, one)  # warm-up
        lat.clear()
        wall = await drive(n, concurrency, one)
        for h in handles:
            await h.terminate("benchmark done")
    return wall, lat


async def bench(stack: Stack, n: int, concurrency: int) -> None:
    # The baselines first: afterwards the disputes' own timers (a buyer's 7 days after each
    # rejection) would start firing on the same server and skew them.
    starts_wall, start_lat = await bare_starts(stack, n, concurrency)
    updates_wall, update_lat = await bare_updates(stack, n, concurrency)
    service = _auth(stack, CHECKOUT, Role.SERVICE)
    price = common_pb2.Money(minor_units=4_990, currency="EUR")
    card = orders_pb2.PaymentMethod(type=orders_pb2.PAYMENT_METHOD_TYPE_CARD, reference="tok")
    total = n + 20
    async with (
        grpc.aio.insecure_channel(stack.service_address("ORDER")) as och,
        grpc.aio.insecure_channel(stack.service_address("DISPUTE")) as dch,
    ):
        orders = orders_pb2_grpc.OrderServiceStub(och)
        disputes = disputes_pb2_grpc.DisputeServiceStub(dch)
        created: list[orders_pb2.Order] = []

        async def make_order(i: int) -> None:
            request = orders_pb2.CreateOrderRequest(
                request_id=str(uuid.uuid4()),
                buyer_id=f"b-{i}",
                seller_id=f"s-{i}",
                total=price,
                payment_method=card,
                handling_days=1,
            )
            created.append((await orders.CreateOrder(request, metadata=service)).order)

        await drive(total, concurrency, make_order)
        await asyncio.sleep(DAY_SECONDS + 0.5)  # every order's ship-by date has passed
        dispute_ids: dict[int, str] = {}
        open_lat: list[float] = []

        async def open_one(i: int) -> None:
            order = created[i]
            t0 = time.perf_counter()
            resp = await disputes.OpenDispute(
                pb.OpenDisputeRequest(
                    request_id=str(uuid.uuid4()),
                    order_id=order.order_id,
                    goods_received=False,
                    reason=pb.DISPUTE_REASON_NOT_DELIVERED,
                    solution=pb.Solution(type=pb.SOLUTION_TYPE_FULL_REFUND),
                    description="Never arrived",
                ),
                metadata=_auth(stack, order.buyer_id, Role.BUYER),
            )
            open_lat.append(time.perf_counter() - t0)
            dispute_ids[i] = resp.dispute.dispute_id

        await drive(20, 4, lambda i: open_one(n + i))  # warm-up on the spare orders
        open_lat.clear()
        open_wall = await drive(n, concurrency, open_one)
        respond_lat: list[float] = []

        async def respond_one(i: int) -> None:
            t0 = time.perf_counter()
            await disputes.RespondAsSeller(
                pb.RespondAsSellerRequest(
                    dispute_id=dispute_ids[i],
                    response_type=pb.SELLER_RESPONSE_TYPE_REJECT,
                    message="Tracking shows delivered",
                    claim_version=1,
                ),
                metadata=_auth(stack, created[i].seller_id, Role.SELLER),
            )
            respond_lat.append(time.perf_counter() - t0)

        respond_wall = await drive(n, concurrency, respond_one)
    print(f"\n{n} operations each, concurrency {concurrency}, Temporal dev server on SQLite, SQLite stores")
    print(row("OpenDispute (gRPC)", n, open_wall, open_lat))
    print(row("bare start_workflow", n, starts_wall, start_lat))
    print(row("RespondAsSeller (gRPC)", n, respond_wall, respond_lat))
    print(row("bare execute_update", n, updates_wall, update_lat))
    print(f"ratio OpenDispute/s ÷ bare starts/s:      {starts_wall / open_wall:.2f}")
    print(f"ratio RespondAsSeller/s ÷ bare updates/s: {updates_wall / respond_wall:.2f}")


if __name__ == "__main__":
    run_with_stack(bench, __doc__ or "", day_seconds=DAY_SECONDS)
