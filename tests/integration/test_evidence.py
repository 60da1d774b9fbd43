"""EvidenceService over gRPC against every S3 server on the machine: MinIO and SeaweedFS."""

from __future__ import annotations

import asyncio
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from evidence.v1 import evidence_pb2, evidence_pb2_grpc
from minio import Minio
from minio.error import S3Error
from orders.v1 import orders_pb2

from deploy.binaries import S3Binary, _seaweed
from deploy.processes import Process, free_port, port_open, wait_until
from deploy.stack import ROOT, LocalS3, Stack
from platform_common import access
from platform_common.auth import Role
from tests.harness.evidence import MB, Generated, download, upload
from tests.integration.conftest import Api

C = grpc.StatusCode
BUCKET = "dispute-evidence"


@dataclass
class Backend:
    name: str
    address: str
    s3: Minio
    process: Process


def _minio(endpoint: str, stack: Stack) -> Minio:
    return Minio(
        endpoint, access_key=stack.secrets.s3_access_key, secret_key=stack.secrets.s3_secret_key, secure=False
    )


@pytest.fixture(scope="module", params=["minio", "seaweedfs"])
def backend(
    request: pytest.FixtureRequest, stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    if request.param == "minio":
        yield Backend(
            "minio",
            stack.service_address("EVIDENCE"),
            _minio(stack.s3.address(), stack),
            stack.apps["evidence_svc"],
        )
        return
    # A second, independent S3 implementation with its own EvidenceService process.
    data: Path = tmp_path_factory.mktemp("seaweed")
    binary: S3Binary = _seaweed()
    s3 = LocalS3(binary, data, "127.0.0.1", free_port(), free_port(), stack.secrets)
    port = free_port()
    env = {
        **stack.app_env(),
        "DP_S3_ENDPOINT": s3.address(),
        "DP_EVIDENCE_LISTEN": f"127.0.0.1:{port}",
        "DP_EVIDENCE_DB_URL": f"sqlite:///{data / 'evidence.db'}",
        "DP_EVIDENCE_METRICS_LISTEN": f"127.0.0.1:{free_port()}",  # beside the stack's own
    }
    proc = Process(
        "evidence-seaweed", [sys.executable, "-m", "evidence_svc"], data / "evidence.log", env, ROOT
    )
    s3.start()
    try:
        proc.start()
        wait_until(lambda: port_open("127.0.0.1", port), "evidence_svc on SeaweedFS", 60, proc)
        yield Backend("seaweedfs", f"127.0.0.1:{port}", _minio(s3.address(), stack), proc)
    finally:
        proc.stop()
        s3.stop()


@pytest.fixture
async def evidence(backend: Backend) -> AsyncIterator[evidence_pb2_grpc.EvidenceServiceStub]:
    async with grpc.aio.insecure_channel(backend.address) as channel:
        yield evidence_pb2_grpc.EvidenceServiceStub(channel)


async def expect(code: grpc.StatusCode, call: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    assert err.value.code() == code, err.value.details()
    return err.value.details() or ""


def objects(backend: Backend, order_id: str) -> list[str]:
    found = backend.s3.list_objects(
        bucket_name=BUCKET, prefix=f"evidence/{order_id}/", recursive=True, include_version=True
    )
    return [o.object_name for o in found]


async def nothing_stored(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub, backend: Backend, order_id: str
) -> None:
    listed = await evidence.ListEvidence(
        evidence_pb2.ListEvidenceRequest(order_id=order_id), metadata=api.service()
    )
    assert list(listed.evidence) == []
    assert objects(backend, order_id) == []


async def test_upload_detects_type_hashes_and_downloads_exactly(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub, backend: Backend
) -> None:
    order = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    photo = Generated("image/jpeg", 3 * MB + 12_345)
    stored = await upload(evidence, photo, buyer, order_id=order.order_id, filename="../../etc/passwd me.jpg")
    assert stored.sha256 == photo.sha256() and stored.size_bytes == photo.size
    assert stored.content_type == "image/jpeg" and stored.kind == evidence_pb2.EVIDENCE_KIND_IMAGE
    assert stored.filename == "passwd me.jpg" and stored.uploader.id == order.buyer_id
    assert objects(backend, order.order_id) == [
        f"evidence/{order.order_id}/{stored.evidence_id}"
    ]  # not the filename

    meta, digest, size = await download(evidence, stored.evidence_id, api.auth(order.seller_id, Role.SELLER))
    assert (digest, size, meta.evidence_id) == (stored.sha256, photo.size, stored.evidence_id)

    got = await evidence.GetEvidence(
        evidence_pb2.GetEvidenceRequest(evidence_id=stored.evidence_id), metadata=buyer
    )
    with urllib.request.urlopen(got.download_url, timeout=10) as resp:
        assert resp.read(16) == next(photo.chunks())[:16]

    video = Generated("video/mp4", 2 * MB)
    clip = await upload(
        evidence, video, buyer, order_id=order.order_id, size_bytes=video.size, sha256=video.sha256()
    )
    assert clip.kind == evidence_pb2.EVIDENCE_KIND_VIDEO and clip.content_type == "video/mp4"


async def test_wrong_types_and_integrity_failures_leave_nothing(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub, backend: Backend
) -> None:
    order = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    text = Generated("text/plain", 4 * MB)
    details = await expect(
        C.INVALID_ARGUMENT, upload(evidence, text, buyer, order_id=order.order_id, declared="image/jpeg")
    )
    assert "image/jpeg" in details
    pdf = Generated("application/pdf", 1 * MB)
    await expect(
        C.INVALID_ARGUMENT, upload(evidence, pdf, buyer, order_id=order.order_id, declared="image/png")
    )
    await expect(
        C.INVALID_ARGUMENT, upload(evidence, pdf, buyer, order_id=order.order_id, declared="application/zip")
    )
    await expect(C.INVALID_ARGUMENT, upload(evidence, pdf, buyer, order_id=order.order_id, sha256="0" * 64))
    await expect(
        C.INVALID_ARGUMENT, upload(evidence, pdf, buyer, order_id=order.order_id, size_bytes=pdf.size + 1)
    )
    await expect(
        C.INVALID_ARGUMENT, upload(evidence, Generated("image/jpeg", 0), buyer, order_id=order.order_id)
    )
    await nothing_stored(api, evidence, backend, order.order_id)


async def test_a_21_mb_image_is_aborted_at_the_limit(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub, backend: Backend
) -> None:
    order = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    big = Generated("image/jpeg", 21 * MB)
    details = await expect(C.RESOURCE_EXHAUSTED, upload(evidence, big, buyer, order_id=order.order_id))
    assert "20 MB" in details
    declared = await expect(
        C.RESOURCE_EXHAUSTED, upload(evidence, big, buyer, order_id=order.order_id, size_bytes=big.size)
    )
    assert "20 MB" in declared  # refused before a single byte when the size is announced
    big_pdf = Generated("application/pdf", 11 * MB)
    assert "10 MB" in await expect(
        C.RESOURCE_EXHAUSTED, upload(evidence, big_pdf, buyer, order_id=order.order_id)
    )
    await nothing_stored(api, evidence, backend, order.order_id)


async def test_only_the_parties_arbiters_and_services_see_evidence(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub, backend: Backend
) -> None:
    order = await api.create_order()
    item = await upload(
        evidence,
        Generated("image/png", 200_000),
        api.auth(order.seller_id, Role.SELLER),
        order_id=order.order_id,
    )
    outsiders: dict[grpc.StatusCode, list[list[tuple[str, str]]]] = {
        C.PERMISSION_DENIED: [api.auth("another-buyer", Role.BUYER), api.auth("another-shop", Role.SELLER)],
        C.UNAUTHENTICATED: [[]],
    }
    for code, callers in outsiders.items():
        for md in callers:
            await expect(
                code,
                evidence.GetEvidence(
                    evidence_pb2.GetEvidenceRequest(evidence_id=item.evidence_id), metadata=md
                ),
            )
            await expect(
                code,
                evidence.ListEvidence(evidence_pb2.ListEvidenceRequest(order_id=order.order_id), metadata=md),
            )
            await expect(code, download(evidence, item.evidence_id, md))
            await expect(code, upload(evidence, Generated("image/png", 1000), md, order_id=order.order_id))
    for md in (api.auth(order.buyer_id, Role.BUYER), api.service()):
        listed = await evidence.ListEvidence(
            evidence_pb2.ListEvidenceRequest(order_id=order.order_id), metadata=md
        )
        assert [e.evidence_id for e in listed.evidence] == [item.evidence_id]
    # Arbiters see the evidence of disputes under arbitration only: there is none on this order.
    arbiter = api.auth("arbiter-7", Role.ARBITER)
    await expect(
        C.PERMISSION_DENIED,
        evidence.ListEvidence(evidence_pb2.ListEvidenceRequest(order_id=order.order_id), metadata=arbiter),
    )
    await expect(
        C.PERMISSION_DENIED,
        evidence.GetEvidence(evidence_pb2.GetEvidenceRequest(evidence_id=item.evidence_id), metadata=arbiter),
    )
    await expect(C.PERMISSION_DENIED, download(evidence, item.evidence_id, arbiter))
    await expect(
        C.NOT_FOUND,
        evidence.GetEvidence(
            evidence_pb2.GetEvidenceRequest(evidence_id=str(uuid.uuid4())), metadata=api.service()
        ),
    )


async def test_presigned_urls_expire(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub, backend: Backend
) -> None:
    order = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    item = await upload(evidence, Generated("image/jpeg", 50_000), buyer, order_id=order.order_id)
    got = await evidence.GetEvidence(
        evidence_pb2.GetEvidenceRequest(evidence_id=item.evidence_id, url_ttl_seconds=2), metadata=buyer
    )
    with urllib.request.urlopen(got.download_url, timeout=10) as resp:
        assert resp.status == 200
    await asyncio.sleep(3.5)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(got.download_url, timeout=10)
    assert err.value.code == 403
    await expect(
        C.INVALID_ARGUMENT,
        evidence.GetEvidence(
            evidence_pb2.GetEvidenceRequest(evidence_id=item.evidence_id, url_ttl_seconds=7200),
            metadata=buyer,
        ),
    )


async def test_opening_limits_per_dispute_totals_and_legal_hold(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub, backend: Backend
) -> None:
    order = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    images = [
        await upload(evidence, Generated("image/jpeg", 30_000), buyer, order_id=order.order_id)
        for _ in range(4)
    ]
    videos = [
        await upload(evidence, Generated("video/mp4", 60_000), buyer, order_id=order.order_id)
        for _ in range(2)
    ]
    dispute_id = str(uuid.uuid4())
    worker = api.service(access.DISPUTES_WORKER)

    def attach(items: list[evidence_pb2.Evidence], at_opening: bool = True) -> object:
        return evidence.AttachEvidence(
            evidence_pb2.AttachEvidenceRequest(
                dispute_id=dispute_id,
                order_id=order.order_id,
                evidence_ids=[e.evidence_id for e in items],
                at_opening=at_opening,
            ),
            metadata=worker,
        )

    assert "3 images" in await expect(C.RESOURCE_EXHAUSTED, attach(images))  # a 4th image at opening
    assert "1 video" in await expect(C.RESOURCE_EXHAUSTED, attach(images[:1] + videos))
    await expect(
        C.PERMISSION_DENIED,
        evidence.AttachEvidence(
            evidence_pb2.AttachEvidenceRequest(dispute_id=dispute_id, order_id=order.order_id), metadata=buyer
        ),
    )
    opened = await attach(images[:3] + videos[:1])  # type: ignore[misc]
    assert {e.dispute_id for e in opened.evidence} == {dispute_id}

    # Later additions against the dispute, up to 20 files and not beyond.
    added = [
        await upload(evidence, Generated("image/png", 10_000), buyer, dispute_id=dispute_id)
        for _ in range(16)
    ]
    assert all(e.dispute_id == dispute_id for e in added)
    assert "20 evidence files" in await expect(
        C.RESOURCE_EXHAUSTED, upload(evidence, Generated("image/png", 10_000), buyer, dispute_id=dispute_id)
    )
    assert "20 evidence files" in await expect(C.RESOURCE_EXHAUSTED, attach(images[3:], at_opening=False))
    listed = await evidence.ListEvidence(
        evidence_pb2.ListEvidenceRequest(dispute_id=dispute_id, page=None), metadata=buyer
    )
    assert len(listed.evidence) == 20

    # Escalation seals the case: on the real server no held version can be deleted or replaced.
    sealed = await evidence.SetLegalHold(
        evidence_pb2.SetLegalHoldRequest(dispute_id=dispute_id, legal_hold=True), metadata=worker
    )
    assert sealed.changed_count == 20
    target = await evidence.GetEvidence(
        evidence_pb2.GetEvidenceRequest(evidence_id=images[0].evidence_id), metadata=buyer
    )
    assert target.evidence.legal_hold
    key = f"evidence/{order.order_id}/{images[0].evidence_id}"
    [version] = [
        o.version_id for o in backend.s3.list_objects(bucket_name=BUCKET, prefix=key, include_version=True)
    ]
    with pytest.raises(S3Error) as refused:
        backend.s3.remove_object(bucket_name=BUCKET, object_name=key, version_id=version)
    assert refused.value.code in ("AccessDenied", "InvalidRequest"), refused.value  # MinIO: "WORM protected"
    import io

    backend.s3.put_object(bucket_name=BUCKET, object_name=key, data=io.BytesIO(b"tampered"), length=8)
    _, digest, _ = await download(evidence, images[0].evidence_id, buyer)
    assert digest == images[0].sha256  # the evidence read is the sealed version, untouched

    released = await evidence.SetLegalHold(
        evidence_pb2.SetLegalHoldRequest(dispute_id=dispute_id, legal_hold=False), metadata=worker
    )
    assert released.changed_count == 20
    backend.s3.remove_object(
        bucket_name=BUCKET, object_name=key, version_id=version
    )  # now retention allows it


async def test_bad_upload_requests(
    api: Api, evidence: evidence_pb2_grpc.EvidenceServiceStub, backend: Backend
) -> None:
    order = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    f = Generated("image/jpeg", 1000)
    await expect(C.INVALID_ARGUMENT, upload(evidence, f, buyer))  # neither order nor dispute
    await expect(C.INVALID_ARGUMENT, upload(evidence, f, buyer, order_id=order.order_id, dispute_id="d"))
    await expect(C.INVALID_ARGUMENT, upload(evidence, f, buyer, order_id="not-a-uuid"))
    await expect(C.NOT_FOUND, upload(evidence, f, buyer, order_id=str(uuid.uuid4())))
    await expect(C.INVALID_ARGUMENT, upload(evidence, f, buyer, dispute_id="no-such-dispute"))
    await expect(C.NOT_FOUND, upload(evidence, f, buyer, dispute_id=str(uuid.uuid4())))
    await expect(C.INVALID_ARGUMENT, upload(evidence, f, buyer, order_id=order.order_id, filename=""))
    shipped = await api.ship(await api.create_order())
    assert shipped.status == orders_pb2.ORDER_STATUS_SHIPPED
    await nothing_stored(api, evidence, backend, order.order_id)
