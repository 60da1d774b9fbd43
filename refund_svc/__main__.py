"""`python -m refund_svc`: run RefundService and its provider-webhook listener."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import timedelta

from orders.v1 import orders_pb2_grpc
from refunds.v1 import refunds_pb2_grpc
from temporalio.client import Client

from platform_common.auth import jwt_secret
from platform_common.config import TemporalConfig, day_length_seconds, env, target_address
from platform_common.grpc_client import service_channel
from platform_common.server import configure_logging, run_service
from refund_svc.repository import RefundRepository
from refund_svc.runner import RefundRunner
from refund_svc.server import METHOD_ROLES, SERVICE_NAME, RefundService
from refund_svc.webhook import serve_webhooks

log = logging.getLogger("refund_svc")


async def heal_unstarted(repo: RefundRepository, runner: RefundRunner, every_s: float) -> None:
    """Keep starting workflows for refunds recorded without one (Temporal was down, or the
    process died between the ledger write and the start). Starting is idempotent."""
    while True:
        try:
            for row in await repo.unstarted():
                await runner.start(row)
        except Exception as exc:
            log.info("recovery of unstarted refunds deferred: %s", exc)
        await asyncio.sleep(every_s)


async def main() -> None:
    configure_logging()
    secret = jwt_secret()
    repo = RefundRepository(os.environ.get("DP_REFUND_DB_URL", "sqlite:///data/refunds.db"))
    temporal = TemporalConfig.from_env()
    client = await Client.connect(temporal.address, namespace=temporal.namespace, lazy=True)
    day = timedelta(seconds=day_length_seconds())
    runner = RefundRunner(client, day)
    orders = service_channel(target_address("ORDER"), "refund-svc", secret)
    service = RefundService(repo, runner, orders_pb2_grpc.OrderServiceStub(orders), day)
    webhook_address = os.environ.get("DP_REFUND_WEBHOOK_LISTEN", "127.0.0.1:50064")
    webhooks = serve_webhooks(
        webhook_address, env("DP_PROVIDER_WEBHOOK_SECRET"), runner.settlement, asyncio.get_running_loop()
    )
    log.info("provider webhooks on http://%s/webhooks/provider", webhook_address)
    healing = asyncio.create_task(
        heal_unstarted(repo, runner, float(os.environ.get("DP_REFUND_RECOVERY_SECONDS", "30")))
    )
    try:
        await run_service(
            key="REFUND",
            service_name=SERVICE_NAME,
            method_roles=METHOD_ROLES,
            register=lambda s: refunds_pb2_grpc.add_RefundServiceServicer_to_server(service, s),
        )
    finally:
        healing.cancel()
        webhooks.shutdown()
        webhooks.server_close()
        await orders.close()
        repo.close()


if __name__ == "__main__":
    asyncio.run(main())
