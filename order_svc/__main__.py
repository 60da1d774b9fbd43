"""`python -m order_svc`: run OrderService."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import timedelta

from disputes.v1 import disputes_pb2_grpc
from orders.v1 import orders_pb2_grpc
from temporalio.client import Client

from order_svc.client import ProtectionClient
from order_svc.repository import OrderRepository
from order_svc.server import METHOD_ROLES, SERVICE_NAME, OrderService
from platform_common.access import ORDER_SVC
from platform_common.auth import jwt_secret
from platform_common.config import TemporalConfig, day_length_seconds
from platform_common.grpc_client import service_channel
from platform_common.observe import observability
from platform_common.server import run_service
from platform_common.tracing import temporal_interceptors

log = logging.getLogger("order_svc")


async def main() -> None:
    observability("order-svc")
    secret = jwt_secret()  # fail fast on a missing secret, before opening the database
    db_url = os.environ.get("DP_ORDER_DB_URL", "sqlite:///data/orders.db")
    day = timedelta(seconds=day_length_seconds())
    repo = OrderRepository(db_url, day)
    temporal = TemporalConfig.from_env()
    # Lazy: the service starts even while Temporal is down; affected RPCs answer UNAVAILABLE.
    client = await Client.connect(
        temporal.address, namespace=temporal.namespace, lazy=True, interceptors=temporal_interceptors()
    )
    # Arbiters see only orders with an escalated dispute: DisputeService knows which.
    disputes = disputes_pb2_grpc.DisputeServiceStub(service_channel("DISPUTE", ORDER_SVC, secret))
    service = OrderService(repo, ProtectionClient(client), day, disputes)
    log.info("order database: %s", db_url.split("@")[-1])  # never log credentials
    try:
        await run_service(
            key="ORDER",
            service_name=SERVICE_NAME,
            method_roles=METHOD_ROLES,
            register=lambda s: orders_pb2_grpc.add_OrderServiceServicer_to_server(service, s),
        )
    finally:
        repo.close()


if __name__ == "__main__":
    asyncio.run(main())
