"""`python -m refund_svc`: run RefundService and its provider-webhook listener."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import timedelta

from disputes.v1 import disputes_pb2_grpc
from orders.v1 import orders_pb2_grpc
from refunds.v1 import refunds_pb2_grpc
from temporalio.client import Client

from platform_common.access import REFUND_SVC
from platform_common.auth import jwt_secret
from platform_common.config import TemporalConfig, day_length_seconds, env, env_float
from platform_common.errors import Unavailable
from platform_common.grpc_client import service_channel
from platform_common.observe import observability
from platform_common.server import run_service
from platform_common.tracing import temporal_interceptors
from refund_svc.client import RefundClient
from refund_svc.escrow_sync import EscrowRefused, EscrowSync
from refund_svc.provider.adapter import SIGNATURE_TOLERANCE_S
from refund_svc.repository import RefundRepository
from refund_svc.server import METHOD_ROLES, SERVICE_NAME, RefundService
from refund_svc.webhook import serve_webhooks

log = logging.getLogger("refund_svc")


async def heal(repo: RefundRepository, workflows: RefundClient, escrow: EscrowSync, every_s: float) -> None:
    """Finish what an outage or a crash interrupted: report refunds to their order's escrow
    (before any money moves, and again when they settle or fail for good), and start workflows
    for refunds recorded without one. Both are idempotent."""
    while True:
        try:
            await escrow.catch_up()
            for row in await repo.unstarted():
                try:  # each on its own: one that cannot start now holds up no other
                    await escrow.sync(row)
                    await workflows.start(row)
                except (Unavailable, EscrowRefused) as exc:
                    log.info("refund %s not started yet: %s", row.id, exc.message)
        except Exception as exc:
            log.info("refund recovery deferred: %s", exc)
        await asyncio.sleep(every_s)


async def main() -> None:
    observability("refund-svc")
    secret = jwt_secret()
    repo = RefundRepository(os.environ.get("DP_REFUND_DB_URL", "sqlite:///data/refunds.db"))
    temporal = TemporalConfig.from_env()
    client = await Client.connect(
        temporal.address, namespace=temporal.namespace, lazy=True, interceptors=temporal_interceptors()
    )
    day = timedelta(seconds=day_length_seconds())
    workflows = RefundClient(client, day)
    orders = service_channel("ORDER", REFUND_SVC, secret)
    disputes = disputes_pb2_grpc.DisputeServiceStub(service_channel("DISPUTE", REFUND_SVC, secret))
    service = RefundService(repo, workflows, orders_pb2_grpc.OrderServiceStub(orders), day, disputes)
    webhook_address = os.environ.get("DP_REFUND_WEBHOOK_LISTEN", "127.0.0.1:50064")
    webhooks = serve_webhooks(
        webhook_address,
        env("DP_PROVIDER_WEBHOOK_SECRET"),
        workflows.settlement,
        asyncio.get_running_loop(),
        env_float("DP_PROVIDER_WEBHOOK_TOLERANCE_SECONDS", SIGNATURE_TOLERANCE_S),
    )
    log.info("provider webhooks on http://%s/webhooks/provider", webhook_address)
    healing = asyncio.create_task(
        heal(repo, workflows, service.escrow, float(os.environ.get("DP_REFUND_RECOVERY_SECONDS", "30")))
    )
    try:
        await run_service(
            key="REFUND",
            service_name=SERVICE_NAME,
            method_roles=METHOD_ROLES,
            register=lambda s: refunds_pb2_grpc.add_RefundServiceServicer_to_server(service, s),
            gauges=repo.gauges,
        )
    finally:
        healing.cancel()
        webhooks.shutdown()
        webhooks.server_close()
        await orders.close()
        repo.close()


if __name__ == "__main__":
    asyncio.run(main())
