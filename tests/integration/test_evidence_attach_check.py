"""AttachEvidence with validate_only: every check of a real attach and the same answer, but
nothing written (no dispute registered, nothing bound, no legal hold change)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from common.v1 import common_pb2
from evidence.v1 import evidence_pb2, evidence_pb2_grpc

from deploy.stack import Stack
from platform_common import access
from platform_common.auth import Role
from tests.harness.evidence import Generated, upload
from tests.integration.conftest import Api

C = grpc.StatusCode
Stub = evidence_pb2_grpc.EvidenceServiceStub


@pytest.fixture
async def evidence(stack: Stack) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(stack.service_address("EVIDENCE")) as channel:
        yield evidence_pb2_grpc.EvidenceServiceStub(channel)


def new_dispute() -> str:
    return str(uuid.uuid4())


def ids(items: list[evidence_pb2.Evidence]) -> list[str]:
    return [e.evidence_id for e in items]


async def attach(
    api: Api,
    evidence: Stub,
    dispute_id: str,
    order_id: str,
    evidence_ids: list[str],
    *,
    at_opening: bool = False,
    validate_only: bool = False,
) -> evidence_pb2.AttachEvidenceResponse:
    return await evidence.AttachEvidence(
        evidence_pb2.AttachEvidenceRequest(
            dispute_id=dispute_id,
            order_id=order_id,
            evidence_ids=evidence_ids,
            at_opening=at_opening,
            validate_only=validate_only,
            # The dry run (DisputeService's) names whose files they are; the binding does not.
            party=common_pb2.ROLE_BUYER if validate_only else common_pb2.ROLE_UNSPECIFIED,
        ),
        metadata=api.service(access.DISPUTE_SVC if validate_only else access.DISPUTES_WORKER),
    )


async def refusal(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    return err.value.code(), err.value.details() or ""


async def refused_alike(
    api: Api,
    evidence: Stub,
    dispute_id: str,
    order_id: str,
    evidence_ids: list[str],
    *,
    at_opening: bool = False,
) -> tuple[grpc.StatusCode, str]:
    """The dry run is refused exactly like the real call (same code, same message)."""
    checked = await refusal(
        attach(api, evidence, dispute_id, order_id, evidence_ids, at_opening=at_opening, validate_only=True)
    )
    real = await refusal(attach(api, evidence, dispute_id, order_id, evidence_ids, at_opening=at_opening))
    assert checked == real
    return checked


async def by_order(api: Api, evidence: Stub, order_id: str) -> dict[str, evidence_pb2.Evidence]:
    listed = await evidence.ListEvidence(
        evidence_pb2.ListEvidenceRequest(order_id=order_id), metadata=api.service()
    )
    return {e.evidence_id: e for e in listed.evidence}


async def unregistered(api: Api, evidence: Stub, dispute_id: str) -> None:
    """EvidenceService has never heard of the dispute: no registration row was written."""
    code, _ = await refusal(
        evidence.ListEvidence(evidence_pb2.ListEvidenceRequest(dispute_id=dispute_id), metadata=api.service())
    )
    assert code == C.NOT_FOUND


async def test_validate_only_answers_like_an_attach_and_writes_nothing(api: Api, evidence: Stub) -> None:
    order = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    items = [
        await upload(evidence, Generated("image/jpeg", 30_000), buyer, order_id=order.order_id)
        for _ in range(3)
    ] + [await upload(evidence, Generated("video/mp4", 60_000), buyer, order_id=order.order_id)]
    dispute_id = new_dispute()

    checked = await attach(
        api, evidence, dispute_id, order.order_id, ids(items), at_opening=True, validate_only=True
    )
    assert ids(list(checked.evidence)) == ids(items)
    assert {e.dispute_id for e in checked.evidence} == {dispute_id}  # described as once attached
    assert not any(e.legal_hold for e in checked.evidence)

    # Nothing was written: items unbound, dispute unknown (no upload against it either).
    assert {e.dispute_id for e in (await by_order(api, evidence, order.order_id)).values()} == {""}
    for item in items:
        got = await evidence.GetEvidence(
            evidence_pb2.GetEvidenceRequest(evidence_id=item.evidence_id), metadata=buyer
        )
        assert got.evidence.dispute_id == "" and not got.evidence.legal_hold
    await unregistered(api, evidence, dispute_id)
    code, _ = await refusal(upload(evidence, Generated("image/png", 1000), buyer, dispute_id=dispute_id))
    assert code == C.NOT_FOUND

    # The real attach still works and answers exactly what the dry run announced.
    real = await attach(api, evidence, dispute_id, order.order_id, ids(items), at_opening=True)
    assert real == checked
    listed = await evidence.ListEvidence(
        evidence_pb2.ListEvidenceRequest(dispute_id=dispute_id), metadata=buyer
    )
    assert sorted(ids(list(listed.evidence))) == sorted(ids(items))

    # Once attached, a dry run of the same attach (as for a retried dispute action) still passes.
    again = await attach(
        api, evidence, dispute_id, order.order_id, ids(items), at_opening=True, validate_only=True
    )
    assert again == real


async def test_validate_only_refuses_like_the_real_call_and_binds_nothing(api: Api, evidence: Stub) -> None:
    order = await api.create_order()
    other = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    images = [
        await upload(evidence, Generated("image/jpeg", 20_000), buyer, order_id=order.order_id)
        for _ in range(4)
    ]
    videos = [
        await upload(evidence, Generated("video/mp4", 40_000), buyer, order_id=order.order_id)
        for _ in range(2)
    ]
    foreign = await upload(
        evidence,
        Generated("image/png", 10_000),
        api.auth(other.buyer_id, Role.BUYER),
        order_id=other.order_id,
    )
    dispute_id = new_dispute()
    oid = order.order_id

    code, details = await refused_alike(api, evidence, dispute_id, oid, ids(images), at_opening=True)
    assert code == C.RESOURCE_EXHAUSTED and "3 images" in details
    code, details = await refused_alike(
        api, evidence, dispute_id, oid, ids(images[:1] + videos), at_opening=True
    )
    assert code == C.RESOURCE_EXHAUSTED and "1 video" in details
    code, details = await refused_alike(
        api, evidence, dispute_id, oid, [*ids(images[:1]), foreign.evidence_id]
    )
    assert code == C.FAILED_PRECONDITION and "another order" in details
    unknown = str(uuid.uuid4())
    code, details = await refused_alike(api, evidence, dispute_id, oid, [images[0].evidence_id, unknown])
    assert code == C.NOT_FOUND and unknown in details
    code, _ = await refused_alike(api, evidence, dispute_id, oid, ["not-a-uuid"])
    assert code == C.INVALID_ARGUMENT
    code, _ = await refused_alike(api, evidence, "", oid, ids(images[:1]))
    assert code == C.INVALID_ARGUMENT
    code, _ = await refused_alike(api, evidence, dispute_id, "not-a-uuid", ids(images[:1]))
    assert code == C.INVALID_ARGUMENT
    code, _ = await refused_alike(api, evidence, dispute_id, str(uuid.uuid4()), ids(images[:1]))
    assert code == C.NOT_FOUND  # unknown order
    code, _ = await refused_alike(api, evidence, dispute_id, oid, [str(uuid.uuid4()) for _ in range(21)])
    assert code == C.RESOURCE_EXHAUSTED
    code, _ = await refusal(
        evidence.AttachEvidence(
            evidence_pb2.AttachEvidenceRequest(
                dispute_id=dispute_id, order_id=oid, evidence_ids=ids(images[:1]), validate_only=True
            ),
            metadata=buyer,
        )
    )
    assert code == C.PERMISSION_DENIED  # internal, as the real call

    # Nothing bound by any of the refused calls (dry or real), nothing registered.
    assert {e.dispute_id for e in (await by_order(api, evidence, oid)).values()} == {""}
    await unregistered(api, evidence, dispute_id)


async def test_validate_only_checks_other_disputes_and_the_per_dispute_totals(
    api: Api, evidence: Stub
) -> None:
    order = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    first, second = new_dispute(), new_dispute()
    oid = order.order_id
    opening = [await upload(evidence, Generated("image/jpeg", 10_000), buyer, order_id=oid) for _ in range(2)]
    await attach(api, evidence, first, oid, ids(opening), at_opening=True)

    # An item bound to another dispute; a dispute registered for another order.
    code, details = await refused_alike(api, evidence, second, oid, ids(opening[:1]))
    assert code == C.FAILED_PRECONDITION and "another dispute" in details
    elsewhere = await api.create_order()
    code, details = await refused_alike(api, evidence, first, elsewhere.order_id, [])
    assert code == C.FAILED_PRECONDITION and oid in details

    # 18 more files against the dispute: 20 in all. Dry runs count what it already holds.
    added = [
        await upload(evidence, Generated("image/png", 5_000), buyer, dispute_id=first) for _ in range(17)
    ]
    spare = [await upload(evidence, Generated("image/png", 5_000), buyer, order_id=oid) for _ in range(2)]
    code, details = await refused_alike(api, evidence, first, oid, ids(spare))  # 19 + 2
    assert code == C.RESOURCE_EXHAUSTED and "20 evidence files" in details
    # Items already attached count once: 19 held + 1 new, repeated ids included, is exactly 20.
    request = ids(opening + added[:3] + spare[:1] + opening[:1])
    checked = await attach(api, evidence, first, oid, request, validate_only=True)
    assert ids(list(checked.evidence)) == ids(opening + added[:3] + spare[:1])
    assert {e.dispute_id for e in checked.evidence} == {first}
    spared = await by_order(api, evidence, oid)
    assert spared[spare[0].evidence_id].dispute_id == ""  # still unbound after the dry run
    assert await attach(api, evidence, first, oid, request) == checked


async def test_validate_only_on_a_sealed_dispute_changes_no_hold(api: Api, evidence: Stub) -> None:
    order = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    dispute_id = new_dispute()
    opening = await upload(evidence, Generated("image/jpeg", 10_000), buyer, order_id=order.order_id)
    await attach(api, evidence, dispute_id, order.order_id, [opening.evidence_id], at_opening=True)
    await evidence.SetLegalHold(
        evidence_pb2.SetLegalHoldRequest(dispute_id=dispute_id, legal_hold=True),
        metadata=api.service(access.DISPUTES_WORKER),
    )
    try:
        late = await upload(evidence, Generated("image/png", 10_000), buyer, order_id=order.order_id)
        checked = await attach(
            api, evidence, dispute_id, order.order_id, [late.evidence_id], validate_only=True
        )
        [described] = checked.evidence
        assert described.dispute_id == dispute_id and described.legal_hold  # as a real attach answers
        stored = (await by_order(api, evidence, order.order_id))[late.evidence_id]
        assert stored.dispute_id == "" and not stored.legal_hold  # but nothing changed
        real = await attach(api, evidence, dispute_id, order.order_id, [late.evidence_id])
        assert real == checked
    finally:
        await evidence.SetLegalHold(
            evidence_pb2.SetLegalHoldRequest(dispute_id=dispute_id, legal_hold=False),
            metadata=api.service(access.DISPUTES_WORKER),
        )
