"""`python -m workflows.worker <domain>`: one worker process per domain (orders, disputes, refunds).

Each domain polls its own task queue (reference-app-orders-go style), so domains scale and
deploy independently; `all` runs every domain in one process for small installations.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile

import grpc
from disputes.v1 import disputes_pb2_grpc
from evidence.v1 import evidence_pb2_grpc
from orders.v1 import orders_pb2_grpc
from refunds.v1 import refunds_pb2_grpc
from temporalio.client import Client
from temporalio.worker import Worker

from platform_common.access import DISPUTES_WORKER, ORDERS_WORKER, REFUNDS_WORKER
from platform_common.auth import jwt_secret
from platform_common.config import TemporalConfig, env
from platform_common.grpc_client import service_channel
from platform_common.server import configure_logging
from refund_svc.provider.adapter import HttpPaymentProvider
from workflows.activities.disputes import DisputeActivities
from workflows.activities.orders import OrderActivities
from workflows.activities.refunds import RefundActivities
from workflows.dispute import DisputeWorkflow
from workflows.order_protection import OrderProtectionWorkflow
from workflows.refund import RefundWorkflow
from workflows.task_queues import DISPUTES, ORDERS, REFUNDS

log = logging.getLogger("worker")
DOMAINS = ("orders", "disputes", "refunds")


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


def _worker(client: Client, domain: str, secret: str) -> Worker:
    if domain == "orders":
        channel = service_channel("ORDER", ORDERS_WORKER, secret)
        orders = OrderActivities(orders_pb2_grpc.OrderServiceStub(channel))
        return Worker(
            client,
            task_queue=ORDERS,
            workflows=[OrderProtectionWorkflow],
            activities=[orders.complete_order, orders.record_protection],
        )
    if domain == "disputes":
        return _disputes_worker(client, secret)
    channel = service_channel("REFUND", REFUNDS_WORKER, secret)
    provider = HttpPaymentProvider(env("DP_PROVIDER_URL"), env("DP_PROVIDER_API_KEY"))
    refunds = RefundActivities(provider, refunds_pb2_grpc.RefundServiceStub(channel))
    return Worker(
        client,
        task_queue=REFUNDS,
        workflows=[RefundWorkflow],
        activities=[refunds.submit_refund, refunds.poll_refund, refunds.record_refund_status],
    )


def _disputes_worker(client: Client, secret: str) -> Worker:
    def channel(key: str) -> grpc.aio.Channel:
        return service_channel(key, DISPUTES_WORKER, secret)

    acts = DisputeActivities(
        orders_pb2_grpc.OrderServiceStub(channel("ORDER")),
        evidence_pb2_grpc.EvidenceServiceStub(channel("EVIDENCE")),
        refunds_pb2_grpc.RefundServiceStub(channel("REFUND")),
        disputes_pb2_grpc.DisputeServiceStub(channel("DISPUTE")),
    )
    return Worker(
        client,
        task_queue=DISPUTES,
        workflows=[DisputeWorkflow],
        activities=[
            acts.freeze_order,
            acts.unfreeze_order,
            acts.set_legal_hold,
            acts.attach_evidence,
            acts.issue_refund,
            acts.refund_statuses,
            acts.record_dispute_state,
        ],
    )


def _keep_bytecode() -> None:
    """The workflow sandbox re-imports each workflow module for every new workflow run. Without
    cached bytecode (PYTHONDONTWRITEBYTECODE is common in containers) every run recompiles the
    module from source: that was 30-40% of the disputes worker's CPU. Bytecode goes to a private
    cache directory, so a read-only code directory works too."""
    sys.dont_write_bytecode = False
    if sys.pycache_prefix is None:
        sys.pycache_prefix = os.path.join(tempfile.gettempdir(), f"dp-pycache-{os.getuid()}")


async def main() -> None:
    _keep_bytecode()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("domain", nargs="?", default="all", choices=[*DOMAINS, "all"])
    domains = DOMAINS if (d := parser.parse_args().domain) == "all" else (d,)
    configure_logging()
    cfg = TemporalConfig.from_env()
    secret = jwt_secret()
    client = await _connect(cfg)
    workers = [_worker(client, domain, secret) for domain in domains]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker for %s polling %s", ", ".join(domains), cfg.address)
    for w in workers:
        await w.__aenter__()
    await stop.wait()
    log.info("worker draining")
    await asyncio.gather(*(w.__aexit__(None, None, None) for w in workers))


if __name__ == "__main__":
    asyncio.run(main())
