"""Every RPC of the platform called as every identity of the access table (and a stranger): what
the table allows gets past authorization (any answer but PERMISSION_DENIED), everything else is
PERMISSION_DENIED, before the request is even parsed. Internal RPCs answer only their owner."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from common.v1 import common_pb2
from evidence.v1 import evidence_pb2
from refunds.v1 import refunds_pb2

from platform_common import access
from platform_common.auth import Role
from tests.integration.conftest import Api
from tests.integration.rpc_walk import all_rpcs, call

C = grpc.StatusCode
STRANGER = "scraper"  # a validly signed service token of no known identity
IDENTITIES: list[tuple[Role, str]] = [
    (Role.BUYER, "buyer-walk"),
    (Role.SELLER, "seller-walk"),
    (Role.ARBITER, "arbiter-walk"),
    (Role.ARBITER_LEAD, "lead-walk"),
    *[(Role.SERVICE, name) for name in access.SERVICE_IDENTITIES],
    (Role.SERVICE, STRANGER),
]
# Never the answer to a request the caller got wrong, whoever the caller is.
SERVER_FAULTS = {C.INTERNAL, C.UNKNOWN, C.UNIMPLEMENTED}


def test_the_table_declares_every_rpc_and_nothing_else() -> None:
    declared = {(api, name) for api, methods in access.TABLE.items() for name in methods}
    assert declared == {(r.api, r.name) for r in all_rpcs()}


def test_docs_show_the_table_as_it_is() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "access.md").read_text()
    assert access.markdown() in docs, (
        "run `python -m platform_common.access` and paste it into docs/access.md"
    )


async def test_every_rpc_as_every_identity(api: Api) -> None:
    checked = 0
    for rpc in all_rpcs():
        rules = access.TABLE[rpc.api][rpc.name]
        for role, subject in IDENTITIES:
            outcome = await call(api.channels[rpc.key], rpc, b"", api.auth(subject, role))
            allowed = subject in rules.services if role is Role.SERVICE else role in rules.roles
            where = f"{rpc} as {role.value} {subject}: {outcome.code.name} {outcome.details}"
            assert outcome.code not in SERVER_FAULTS, where
            if allowed:
                assert outcome.code != C.PERMISSION_DENIED or rpc.name in ("AttachEvidence", "IssueRefund"), (
                    where
                )
            else:
                assert outcome.code == C.PERMISSION_DENIED, where
            checked += 1
    assert checked == len(all_rpcs()) * len(IDENTITIES)


async def test_attach_evidence_modes_have_their_own_owner(api: Api) -> None:
    """The dry run is DisputeService's; binding files to a dispute is only the disputes worker's
    (a service that could bind could tie a buyer's file to a made-up dispute)."""
    rpc = next(r for r in all_rpcs() if r.name == "AttachEvidence")
    channel = api.channels["EVIDENCE"]
    for validate_only, owner in ((True, access.DISPUTE_SVC), (False, access.DISPUTES_WORKER)):
        body = evidence_pb2.AttachEvidenceRequest(validate_only=validate_only)
        for subject in (access.DISPUTE_SVC, access.DISPUTES_WORKER):
            outcome = await call(channel, rpc, body, api.service(subject))
            if subject == owner:
                assert outcome.code == C.INVALID_ARGUMENT, outcome  # past the owner check: input next
            else:
                assert outcome.code == C.PERMISSION_DENIED, outcome


@pytest.mark.parametrize("kind", ["DISPUTE", "CANCELLATION", "GOODWILL"])
async def test_each_refund_kind_has_its_issuers(api: Api, kind: str) -> None:
    rpc = next(r for r in all_rpcs() if r.name == "IssueRefund")
    body = refunds_pb2.IssueRefundRequest(
        idempotency_key="probe-key",
        order_id="9c6c2f0e-0000-4000-8000-000000000000",
        kind=refunds_pb2.RefundKind.Value(f"REFUND_KIND_{kind}"),
        amount=common_pb2.Money(minor_units=1, currency="EUR"),
        reason="probe",
    )
    for subject in access.REFUNDS["IssueRefund"].services:
        outcome = await call(api.channels["REFUND"], rpc, body, api.service(subject))
        if subject in access.REFUND_ISSUERS[kind]:
            assert outcome.code in (C.INVALID_ARGUMENT, C.NOT_FOUND), (subject, outcome)
        else:
            assert outcome.code == C.PERMISSION_DENIED, (subject, outcome)
