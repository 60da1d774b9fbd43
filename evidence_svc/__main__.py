"""`python -m evidence_svc`: run EvidenceService (creates its object-lock bucket if missing)."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os

from evidence.v1 import evidence_pb2_grpc
from orders.v1 import orders_pb2_grpc

from evidence_svc.objects import ObjectStore
from evidence_svc.repository import EvidenceRepository
from evidence_svc.server import (
    IDLE_SECONDS,
    MAX_UPLOADS_PER_CALLER,
    METHOD_ROLES,
    SERVICE_NAME,
    EvidenceService,
)
from platform_common.access import EVIDENCE_SVC
from platform_common.auth import jwt_secret
from platform_common.config import env, env_float
from platform_common.grpc_client import service_channel
from platform_common.observe import observability
from platform_common.server import run_service

log = logging.getLogger("evidence_svc")


def keep_memory_flat() -> None:
    """glibc raises its mmap threshold after large frees, after which every 1-5 MiB chunk buffer
    lands in heap arenas that are never returned: RSS creeps up with each upload. A fixed
    threshold keeps big buffers in mmap, released as soon as they are freed."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc: nothing to tune
    m_mmap_threshold, m_arena_max = -3, -8
    libc.mallopt(m_mmap_threshold, 256 * 1024)
    libc.mallopt(m_arena_max, 2)


async def main() -> None:
    observability("evidence-svc")
    keep_memory_flat()
    secret = jwt_secret()
    objects = ObjectStore(
        env("DP_S3_ENDPOINT"),
        env("DP_S3_ACCESS_KEY"),
        env("DP_S3_SECRET_KEY"),
        os.environ.get("DP_EVIDENCE_BUCKET", "dispute-evidence"),
        secure=os.environ.get("DP_S3_SECURE", "false").lower() == "true",
    )
    for attempt in range(60):  # S3 may still be starting
        try:
            await asyncio.to_thread(objects.ensure_bucket)
            break
        except RuntimeError:
            raise
        except Exception as exc:
            if attempt == 59:
                raise
            log.info("waiting for S3 at %s: %s", env("DP_S3_ENDPOINT"), exc)
            await asyncio.sleep(1)
    repo = EvidenceRepository(os.environ.get("DP_EVIDENCE_DB_URL", "sqlite:///data/evidence.db"))
    orders = service_channel("ORDER", EVIDENCE_SVC, secret)
    service = EvidenceService(
        repo,
        objects,
        orders_pb2_grpc.OrderServiceStub(orders),
        int(os.environ.get("DP_EVIDENCE_MAX_UPLOADS", "32")),
        int(os.environ.get("DP_EVIDENCE_MAX_UPLOADS_PER_CALLER", str(MAX_UPLOADS_PER_CALLER))),
        env_float("DP_EVIDENCE_IDLE_SECONDS", IDLE_SECONDS),
    )

    janitor_every = float(os.environ.get("DP_EVIDENCE_JANITOR_SECONDS", "30"))

    async def janitor() -> None:
        while True:
            await asyncio.sleep(janitor_every)
            try:
                await objects.retry_aborts()
            except Exception:
                log.exception("evidence janitor failed; will try again")

    cleaning = asyncio.create_task(janitor())
    try:
        await run_service(
            key="EVIDENCE",
            service_name=SERVICE_NAME,
            method_roles=METHOD_ROLES,
            register=lambda s: evidence_pb2_grpc.add_EvidenceServiceServicer_to_server(service, s),
            # A fixed HTTP/2 window: gRPC's bandwidth probing would let a fast client park many
            # megabytes per upload in the transport while the service is busy writing to S3.
            options=[("grpc.http2.bdp_probe", 0)],
        )
    finally:
        cleaning.cancel()
        await orders.close()
        repo.close()


if __name__ == "__main__":
    asyncio.run(main())
