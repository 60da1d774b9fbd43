"""EvidenceService: the API contract and who may call what; handlers arrive with the evidence milestone.

Until then every RPC authenticates the caller, checks the role and answers UNIMPLEMENTED.
"""

from __future__ import annotations

from evidence.v1 import evidence_pb2_grpc

from platform_common.auth import Role
from platform_common.server import MethodRoles, roles

SERVICE_NAME = "evidence.v1.EvidenceService"

B, S, A, SVC = Role.BUYER, Role.SELLER, Role.ARBITER, Role.SERVICE
METHOD_ROLES: MethodRoles = {
    "UploadEvidence": roles(B, S, A, SVC),
    "GetEvidence": roles(B, S, A, SVC),
    "ListEvidence": roles(B, S, A, SVC),
    "DownloadEvidence": roles(B, S, A, SVC),
    "AttachEvidence": roles(SVC),
    "SetLegalHold": roles(SVC),
}


class EvidenceService(evidence_pb2_grpc.EvidenceServiceServicer):
    pass
