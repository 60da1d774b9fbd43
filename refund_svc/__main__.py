"""`python -m refund_svc`: run RefundService."""

import asyncio

from refunds.v1 import refunds_pb2_grpc

from platform_common.server import configure_logging, run_service
from refund_svc.server import METHOD_ROLES, SERVICE_NAME, RefundService

if __name__ == "__main__":
    configure_logging()
    # Generated servicer bases mark every RPC abstract; unimplemented ones answer UNIMPLEMENTED.
    service = RefundService()  # type: ignore[abstract]
    asyncio.run(
        run_service(
            key="REFUND",
            service_name=SERVICE_NAME,
            method_roles=METHOD_ROLES,
            register=lambda s: refunds_pb2_grpc.add_RefundServiceServicer_to_server(service, s),
        )
    )
