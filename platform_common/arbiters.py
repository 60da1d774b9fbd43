"""What an arbiter may see outside DisputeService: the orders, evidence and refunds of disputes
that were escalated to arbitration (arbiters act on escalated disputes), and nothing else.

Escalation is the disputes domain's fact, so services ask DisputeService with their own identity;
if it cannot answer, the read is refused as UNAVAILABLE (fail closed), never allowed.
"""

from __future__ import annotations

import grpc
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2, disputes_pb2_grpc

from platform_common.errors import PermissionDenied, Unavailable


def _unavailable(exc: grpc.aio.AioRpcError) -> Unavailable:
    return Unavailable(f"DisputeService unavailable ({exc.code().name}); retry")


async def require_escalated_order(disputes: disputes_pb2_grpc.DisputeServiceStub, order_id: str) -> None:
    """PERMISSION_DENIED unless some dispute on the order was escalated (an order has at most
    max_disputes_per_order disputes, so one page holds them all)."""
    try:
        page = await disputes.ListDisputes(
            disputes_pb2.ListDisputesRequest(order_id=order_id, page=common_pb2.PageRequest(page_size=100)),
            timeout=5,
        )
    except grpc.aio.AioRpcError as exc:
        raise _unavailable(exc) from exc
    if not any(d.HasField("escalated_at") for d in page.disputes):
        raise PermissionDenied("arbiters see only orders with a dispute under arbitration")


async def require_escalated_dispute(disputes: disputes_pb2_grpc.DisputeServiceStub, dispute_id: str) -> None:
    """PERMISSION_DENIED unless the dispute was escalated."""
    try:
        resp = await disputes.GetDispute(disputes_pb2.GetDisputeRequest(dispute_id=dispute_id), timeout=5)
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            raise PermissionDenied("arbiters see only disputes under arbitration") from exc
        raise _unavailable(exc) from exc
    if not resp.dispute.HasField("escalated_at"):
        raise PermissionDenied("arbiters see only disputes under arbitration")
