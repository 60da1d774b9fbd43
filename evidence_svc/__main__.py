"""`python -m evidence_svc`: run EvidenceService."""

import asyncio

from evidence.v1 import evidence_pb2_grpc

from evidence_svc.server import METHOD_ROLES, SERVICE_NAME, EvidenceService
from platform_common.server import configure_logging, run_service

if __name__ == "__main__":
    configure_logging()
    # Generated servicer bases mark every RPC abstract; unimplemented ones answer UNIMPLEMENTED.
    service = EvidenceService()  # type: ignore[abstract]
    asyncio.run(
        run_service(
            key="EVIDENCE",
            service_name=SERVICE_NAME,
            method_roles=METHOD_ROLES,
            register=lambda s: evidence_pb2_grpc.add_EvidenceServiceServicer_to_server(service, s),
        )
    )
