"""RefundService: the API contract and who may call what; handlers arrive with the refunds milestone.

Until then every RPC authenticates the caller, checks the role and answers UNIMPLEMENTED.
"""

from __future__ import annotations

from refunds.v1 import refunds_pb2_grpc

from platform_common.auth import Role
from platform_common.server import MethodRoles, roles

SERVICE_NAME = "refunds.v1.RefundService"

B, S, A, SVC = Role.BUYER, Role.SELLER, Role.ARBITER, Role.SERVICE
METHOD_ROLES: MethodRoles = {
    "IssueRefund": roles(SVC),
    "GetRefund": roles(B, S, A, SVC),
    "ListRefunds": roles(B, S, A, SVC),
}


class RefundService(refunds_pb2_grpc.RefundServiceServicer):
    pass
