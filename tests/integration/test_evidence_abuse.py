"""Evidence under abuse: a party attaches only its own side's files, one caller cannot take
every upload slot, and a stream that stops sending is aborted with nothing left behind."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from evidence.v1 import evidence_pb2, evidence_pb2_grpc
from minio import Minio

from deploy.stack import Stack
from platform_common import access
from platform_common.auth import Role
from tests.harness.evidence import Generated, metadata_message, upload
from tests.harness.fixtures import TEST_ENV
from tests.integration.conftest import Api
from tests.integration.disputes_api import (
    C,
    disputable,
    disputes,
    eventually,
    open_dispute,
    open_request,
    partial,
    refused,
)

IDLE_S = float(TEST_ENV["DP_EVIDENCE_IDLE_SECONDS"])


@pytest.fixture
def evidence(api: Api) -> evidence_pb2_grpc.EvidenceServiceStub:
    return evidence_pb2_grpc.EvidenceServiceStub(api.channels["EVIDENCE"])


def s3(stack: Stack) -> Minio:
    return Minio(
        stack.s3.address(),
        access_key=stack.secrets.s3_access_key,
        secret_key=stack.secrets.s3_secret_key,
        secure=False,
    )


def leftovers(stack: Stack, order_id: str) -> tuple[list[str], list[str]]:
    """Objects and unfinished multipart uploads under the order's prefix."""
    client = s3(stack)
    prefix = f"evidence/{order_id}/"
    objects = [
        o.object_name
        for o in client.list_objects(
            bucket_name="dispute-evidence", prefix=prefix, recursive=True, include_version=True
        )
    ]
    uploads = client._list_multipart_uploads(bucket_name="dispute-evidence", prefix=prefix).uploads
    return objects, [u.object_name for u in uploads]


async def test_a_buyer_cannot_claim_the_sellers_files(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub
) -> None:
    (case,) = await disputable(api)
    buyer, seller = api.auth(case.buyer, Role.BUYER), api.auth(case.seller, Role.SELLER)
    theirs = await upload(evidence, Generated("image/jpeg", 20_000), seller, order_id=case.order.order_id)
    mine = await upload(evidence, Generated("image/jpeg", 20_000), buyer, order_id=case.order.order_id)
    assert theirs.side == common_pb2.ROLE_SELLER and mine.side == common_pb2.ROLE_BUYER
    stub = disputes(api)
    # The reported defect: the claim listed the seller's file as buyer evidence.
    details = await refused(
        C.PERMISSION_DENIED,
        stub.OpenDispute(open_request(case, evidence_ids=[theirs.evidence_id]), metadata=buyer),
    )
    assert theirs.evidence_id in details and "not the buyer's" in details
    listed = await stub.ListDisputes(
        pb.ListDisputesRequest(order_id=case.order.order_id), metadata=api.service()
    )
    assert list(listed.disputes) == []  # nothing was created
    d = await open_dispute(api, case, evidence_ids=[mine.evidence_id])
    assert list(d.evidence_ids) == [mine.evidence_id]
    modify = pb.ModifyDisputeRequest(dispute_id=d.dispute_id, evidence_ids=[theirs.evidence_id])
    await refused(C.PERMISSION_DENIED, stub.ModifyDispute(modify, metadata=buyer))
    # ... and the seller cannot answer with the buyer's file either; with its own, it can.
    reject = pb.RespondAsSellerRequest(
        dispute_id=d.dispute_id,
        response_type=pb.SELLER_RESPONSE_TYPE_REJECT,
        message="see the packing photo",
        evidence_ids=[mine.evidence_id],
    )
    await refused(C.PERMISSION_DENIED, stub.RespondAsSeller(reject, metadata=seller))
    del reject.evidence_ids[:]
    reject.evidence_ids.append(theirs.evidence_id)
    answered = (await stub.RespondAsSeller(reject, metadata=seller)).dispute
    assert theirs.evidence_id in answered.offers[-1].evidence_ids
    got = await evidence.GetEvidence(
        evidence_pb2.GetEvidenceRequest(evidence_id=mine.evidence_id), metadata=buyer
    )
    assert got.evidence.dispute_id == d.dispute_id


async def test_support_uploads_for_a_named_party(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub
) -> None:
    (case,) = await disputable(api)
    support = api.service(access.SUPPORT)
    await refused(
        C.INVALID_ARGUMENT,
        upload(evidence, Generated("image/png", 5_000), support, order_id=case.order.order_id),
    )
    await refused(
        C.INVALID_ARGUMENT,
        upload(
            evidence,
            Generated("image/png", 5_000),
            api.auth(case.buyer, Role.BUYER),
            order_id=case.order.order_id,
            on_behalf_of=common_pb2.ROLE_SELLER,
        ),
    )
    scanned = await upload(
        evidence,
        Generated("application/pdf", 5_000),
        support,
        order_id=case.order.order_id,
        on_behalf_of=common_pb2.ROLE_BUYER,
    )
    assert scanned.side == common_pb2.ROLE_BUYER and scanned.uploader.id == access.SUPPORT
    d = await open_dispute(api, case, evidence_ids=[scanned.evidence_id])  # the buyer's own side
    assert list(d.evidence_ids) == [scanned.evidence_id]


async def test_one_caller_cannot_take_every_upload_slot(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub
) -> None:
    """The reported defect: 32 silent streams from one stranger made every other upload fail."""
    order = await api.create_order()
    stranger = api.auth(order.buyer_id, Role.BUYER)
    calls = [evidence.UploadEvidence(metadata=stranger) for _ in range(32)]
    try:
        await asyncio.sleep(0.5)  # every stream is open, none sends anything
        other = await api.create_order()
        started = time.monotonic()
        item = await upload(
            evidence,
            Generated("image/jpeg", 200_000),
            api.auth(other.buyer_id, Role.BUYER),
            order_id=other.order_id,
        )
        assert item.size_bytes == 200_000 and time.monotonic() - started < IDLE_S  # not queued behind them
        # The stranger's streams: a few admitted then aborted when idle, the rest refused.
        codes = []
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await asyncio.wait_for(call, timeout=3 * IDLE_S + 10)
            codes.append(err.value.code())
        admitted = codes.count(C.DEADLINE_EXCEEDED)
        assert 1 <= admitted <= 4 and codes.count(C.RESOURCE_EXHAUSTED) == 32 - admitted, codes
    finally:
        for call in calls:
            call.cancel()
    assert leftovers(api.stack, order.order_id) == ([], [])


async def test_a_stalled_upload_is_aborted_with_nothing_left(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub
) -> None:
    order = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    call = evidence.UploadEvidence(metadata=buyer)
    await call.write(
        metadata_message(order_id=order.order_id, filename="unboxing.mp4", content_type="video/mp4")
    )
    file = Generated("video/mp4", 12 * 1024 * 1024)  # past the first 5 MiB part: a multipart upload began
    for chunk in list(file.chunks())[:8]:
        await call.write(evidence_pb2.UploadEvidenceRequest(chunk=chunk))
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await asyncio.wait_for(call, timeout=IDLE_S + 15)  # then the client stops sending
    assert err.value.code() == C.DEADLINE_EXCEEDED, err.value.details()
    assert IDLE_S - 0.5 <= time.monotonic() - started <= IDLE_S + 10
    listed = await evidence.ListEvidence(
        evidence_pb2.ListEvidenceRequest(order_id=order.order_id), metadata=buyer
    )
    assert list(listed.evidence) == []  # no row
    for _ in range(20):  # the abort reached S3: no object, no unfinished multipart upload
        if leftovers(api.stack, order.order_id) == ([], []):
            break
        await asyncio.sleep(0.5)
    assert leftovers(api.stack, order.order_id) == ([], [])


async def test_chunks_are_at_most_one_mib_as_the_api_says(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub
) -> None:
    order = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    call = evidence.UploadEvidence(metadata=buyer)
    try:
        await call.write(
            metadata_message(order_id=order.order_id, filename="big.jpg", content_type="image/jpeg")
        )
        await call.write(evidence_pb2.UploadEvidenceRequest(chunk=b"\xff\xd8\xff" + b"\0" * (1024 * 1024)))
        await call.done_writing()
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
        pass
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == C.INVALID_ARGUMENT and "1 MB" in (err.value.details() or "")
    exactly = await upload(evidence, Generated("image/jpeg", 1024 * 1024), buyer, order_id=order.order_id)
    assert exactly.size_bytes == 1024 * 1024  # one chunk of exactly 1 MiB is fine


async def test_a_trickling_upload_is_aborted_like_a_stalled_one(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub
) -> None:
    """A chunk every half second keeps a stream "active"; what counts is progress: less than
    64 KiB per idle period and the upload is aborted, its slot freed."""
    order = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    call = evidence.UploadEvidence(metadata=buyer)
    await call.write(
        metadata_message(order_id=order.order_id, filename="slow.jpg", content_type="image/jpeg")
    )
    data = b"".join(Generated("image/jpeg", 200_000).chunks())
    started = time.monotonic()

    async def trickle() -> None:
        for offset in range(0, len(data), 200):
            if call.done():
                return
            await call.write(evidence_pb2.UploadEvidenceRequest(chunk=data[offset : offset + 200]))
            await asyncio.sleep(0.5)

    writer = asyncio.create_task(trickle())
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await asyncio.wait_for(call, timeout=IDLE_S + 15)
    finally:
        writer.cancel()
    # A chunk in flight at the very moment the server ends the call fails on the client's side
    # first (gRPC core's "Internal error from Core" on its send); the server's answer is then
    # lost, and what it did is checked below all the same: aborted in time, nothing kept.
    raced = err.value.code() == C.INTERNAL and "SendMessageOperation" in (
        err.value.debug_error_string() or ""
    )
    assert err.value.code() == C.DEADLINE_EXCEEDED or raced, err.value.details()
    assert time.monotonic() - started <= IDLE_S + 5, "each tiny chunk must not restart the idle timer"
    listed = await evidence.ListEvidence(
        evidence_pb2.ListEvidenceRequest(order_id=order.order_id), metadata=buyer
    )
    assert list(listed.evidence) == []


async def test_an_empty_chunk_is_refused(api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub) -> None:
    order = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    call = evidence.UploadEvidence(metadata=buyer)
    try:
        await call.write(
            metadata_message(order_id=order.order_id, filename="empty.jpg", content_type="image/jpeg")
        )
        await call.write(evidence_pb2.UploadEvidenceRequest(chunk=b""))
        await call.done_writing()
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
        pass
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == C.INVALID_ARGUMENT and "at least one byte" in (err.value.details() or "")


async def test_an_arbiter_sees_only_the_escalated_disputes_files_of_an_order(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub
) -> None:
    (case,) = await disputable(api)
    buyer, seller = api.auth(case.buyer, Role.BUYER), api.auth(case.seller, Role.SELLER)
    arbiter = api.auth("arbiter-ana", Role.ARBITER)
    claimed = await upload(evidence, Generated("image/jpeg", 20_000), buyer, order_id=case.order.order_id)
    stray = await upload(evidence, Generated("image/jpeg", 20_000), buyer, order_id=case.order.order_id)
    d = await open_dispute(api, case, evidence_ids=[claimed.evidence_id], solution=partial(9_000))
    stub = disputes(api)
    counter = pb.RespondAsSellerRequest(
        dispute_id=d.dispute_id,
        response_type=pb.SELLER_RESPONSE_TYPE_COUNTER_OFFER,
        counter_offer=partial(2_000),
        message="20 EUR, keep the item",
    )
    await stub.RespondAsSeller(counter, metadata=seller)
    reject = pb.RejectOfferRequest(dispute_id=d.dispute_id, offer_version=2, message="too low", escalate=True)
    await stub.RejectOffer(reject, metadata=buyer)
    by_order = evidence_pb2.ListEvidenceRequest(order_id=case.order.order_id)

    async def visible() -> bool:
        try:
            return bool((await evidence.ListEvidence(by_order, metadata=arbiter)).evidence)
        except grpc.aio.AioRpcError:
            return False  # the escalation has not reached EvidenceService yet

    await eventually(visible, 15, "the escalated dispute's files visible to arbiters")
    listed = await evidence.ListEvidence(by_order, metadata=arbiter)
    assert [e.evidence_id for e in listed.evidence] == [claimed.evidence_id]
    await refused(
        C.PERMISSION_DENIED,
        evidence.GetEvidence(
            evidence_pb2.GetEvidenceRequest(evidence_id=stray.evidence_id), metadata=arbiter
        ),
    )
    mine = await evidence.ListEvidence(by_order, metadata=buyer)
    assert {e.evidence_id for e in mine.evidence} == {claimed.evidence_id, stray.evidence_id}
