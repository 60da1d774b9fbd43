"""`python -m dispute_svc`: run DisputeService."""

import asyncio

from disputes.v1 import disputes_pb2_grpc

from dispute_svc.server import METHOD_ROLES, SERVICE_NAME, DisputeService
from platform_common.server import configure_logging, run_service

if __name__ == "__main__":
    configure_logging()
    # Generated servicer bases mark every RPC abstract; unimplemented ones answer UNIMPLEMENTED.
    service = DisputeService()  # type: ignore[abstract]
    asyncio.run(
        run_service(
            key="DISPUTE",
            service_name=SERVICE_NAME,
            method_roles=METHOD_ROLES,
            register=lambda s: disputes_pb2_grpc.add_DisputeServiceServicer_to_server(service, s),
        )
    )
