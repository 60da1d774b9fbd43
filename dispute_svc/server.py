"""DisputeService: the API contract and who may call what; handlers arrive with the disputes milestone.

Until then every RPC authenticates the caller, checks the role and answers UNIMPLEMENTED.
"""

from __future__ import annotations

from disputes.v1 import disputes_pb2_grpc

from platform_common.auth import Role
from platform_common.server import MethodRoles, roles

SERVICE_NAME = "disputes.v1.DisputeService"

B, S, A, SVC = Role.BUYER, Role.SELLER, Role.ARBITER, Role.SERVICE
METHOD_ROLES: MethodRoles = {
    "OpenDispute": roles(B),
    "GetDispute": roles(B, S, A, SVC),
    "ListDisputes": roles(B, S, A, SVC),
    "RespondAsSeller": roles(S),
    "AcceptOffer": roles(B),
    "RejectOffer": roles(B),
    "ModifyDispute": roles(B),
    "EscalateDispute": roles(B),
    "CancelDispute": roles(B),
    "RequestInformation": roles(A),
    "SubmitInformation": roles(B, S),
    "DecideDispute": roles(A),
    "AppealDecision": roles(B),
    "SubmitReturnShipment": roles(B),
    "ConfirmReturnReceived": roles(S),
    "RecordDisputeState": roles(SVC),
}


class DisputeService(disputes_pb2_grpc.DisputeServiceServicer):
    pass
