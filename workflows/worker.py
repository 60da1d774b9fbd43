"""`python -m workflows.worker`: the worker process for the orders domain.

One task queue per domain (reference-app-orders-go style); later domains add their own worker
here or in their own process without touching this one.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from orders.v1 import orders_pb2_grpc
from temporalio.client import Client
from temporalio.worker import Worker

from platform_common.auth import jwt_secret
from platform_common.config import TemporalConfig, target_address
from platform_common.grpc_client import service_channel
from platform_common.server import configure_logging
from workflows.activities.orders import OrderActivities
from workflows.order_protection import OrderProtectionWorkflow
from workflows.task_queues import ORDERS

log = logging.getLogger("worker")


async def _connect(cfg: TemporalConfig) -> Client:
    """Wait for Temporal at start-up (it may still be booting), then connect."""
    delay = 0.5
    while True:
        try:
            return await Client.connect(cfg.address, namespace=cfg.namespace)
        except RuntimeError as exc:
            log.warning("Temporal at %s not reachable yet (%s); retrying", cfg.address, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def main() -> None:
    configure_logging()
    cfg = TemporalConfig.from_env()
    client = await _connect(cfg)
    channel = service_channel(target_address("ORDER"), "worker-orders", jwt_secret())
    activities = OrderActivities(orders_pb2_grpc.OrderServiceStub(channel))
    worker = Worker(
        client,
        task_queue=ORDERS,
        workflows=[OrderProtectionWorkflow],
        activities=[activities.complete_order, activities.record_protection],
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker polling task queue %r on %s", ORDERS, cfg.address)
    async with worker:
        await stop.wait()
        log.info("worker draining")
    await channel.close()


if __name__ == "__main__":
    asyncio.run(main())
