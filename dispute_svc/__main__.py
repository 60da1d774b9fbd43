"""`python -m dispute_svc`: run DisputeService."""

from __future__ import annotations

import asyncio
import logging
import os

from disputes.v1 import disputes_pb2_grpc
from evidence.v1 import evidence_pb2_grpc
from orders.v1 import orders_pb2_grpc
from temporalio.client import Client

from dispute_svc.client import DisputeClient
from dispute_svc.opener import Opener
from dispute_svc.peers import Peers
from dispute_svc.policy import DEFAULT_VERSION, for_new_disputes
from dispute_svc.repository import DisputeRepository
from dispute_svc.server import METHOD_ROLES, SERVICE_NAME, DisputeService
from platform_common.access import DISPUTE_SVC
from platform_common.auth import jwt_secret
from platform_common.config import TemporalConfig, day_length_seconds
from platform_common.grpc_client import service_channel
from platform_common.observe import observability
from platform_common.server import run_service
from platform_common.tracing import temporal_interceptors

log = logging.getLogger("dispute_svc")


async def main() -> None:
    observability("dispute-svc")
    secret = jwt_secret()
    # New disputes open under this policy version, on the platform's time scale; in-flight ones
    # keep the version (and the day length) they opened with.
    dispute_policy = for_new_disputes(
        os.environ.get("DP_DISPUTE_POLICY", DEFAULT_VERSION), day_length_seconds()
    )
    db_url = os.environ.get("DP_DISPUTE_DB_URL", "sqlite:///data/disputes.db")
    repo = DisputeRepository(db_url)
    temporal = TemporalConfig.from_env()
    client = await Client.connect(
        temporal.address, namespace=temporal.namespace, lazy=True, interceptors=temporal_interceptors()
    )
    peers = Peers(
        orders_pb2_grpc.OrderServiceStub(service_channel("ORDER", DISPUTE_SVC, secret)),
        evidence_pb2_grpc.EvidenceServiceStub(service_channel("EVIDENCE", DISPUTE_SVC, secret)),
    )
    service = DisputeService(repo, DisputeClient(client), peers, dispute_policy)
    log.info(
        "dispute database: %s; policy for new disputes: %s", db_url.split("@")[-1], dispute_policy.version
    )
    reconciling = asyncio.create_task(
        reconcile_openings(service.opener, float(os.environ.get("DP_OPENING_RECONCILE_SECONDS", "10")))
    )
    keeping_webhooks = asyncio.create_task(
        reconcile_webhooks(service, float(os.environ.get("DP_WEBHOOK_RECONCILE_SECONDS", "60")))
    )
    try:
        await run_service(
            key="DISPUTE",
            service_name=SERVICE_NAME,
            method_roles=METHOD_ROLES,
            register=lambda s: disputes_pb2_grpc.add_DisputeServiceServicer_to_server(service, s),
            gauges=repo.gauges,
        )
    finally:
        reconciling.cancel()
        keeping_webhooks.cancel()
        repo.close()


async def reconcile_openings(opener: Opener, every_s: float) -> None:
    """Settle openings that a crash or an outage left half-done: a failed opening must never
    hold its order (or block its next opening) for longer than this."""
    while True:
        await asyncio.sleep(every_s)
        try:
            settled = await opener.reconcile()
            if settled:
                log.info("settled %d interrupted dispute openings", settled)
        except Exception as exc:
            log.info("opening reconciliation deferred: %s", exc)


async def reconcile_webhooks(service: DisputeService, every_s: float) -> None:
    """Every ACTIVE webhook subscription keeps a running delivery workflow, whatever failed."""
    while True:
        try:
            await service.reconcile_webhooks()
        except Exception as exc:
            log.info("webhook reconciliation deferred: %s", exc)
        await asyncio.sleep(every_s)


if __name__ == "__main__":
    asyncio.run(main())
