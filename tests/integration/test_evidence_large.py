"""Large evidence through the platform's own EvidenceService on MinIO: the 500 MB video limit,
the 2 GB per-dispute total, constant memory, and an S3 outage in the middle of an upload.

Files are generated while streaming; nothing large is stored in the repository."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from evidence.v1 import evidence_pb2, evidence_pb2_grpc
from minio import Minio

from deploy.binaries import s3_binary
from deploy.processes import Process, free_port, port_open, wait_until
from deploy.stack import ROOT, LocalS3, Stack
from platform_common import access
from platform_common.auth import Role
from tests.harness.evidence import MB, Generated, metadata_message, rss_kb, upload
from tests.integration.conftest import Api

C = grpc.StatusCode
MEMORY_BUDGET_KB = 64 * 1024


@pytest.fixture
async def evidence(stack: Stack) -> AsyncIterator[evidence_pb2_grpc.EvidenceServiceStub]:
    async with grpc.aio.insecure_channel(stack.service_address("EVIDENCE")) as channel:
        yield evidence_pb2_grpc.EvidenceServiceStub(channel)


async def test_a_501_mb_video_is_aborted_at_500_mb_with_flat_memory(
    api: Api, stack: Stack, evidence: evidence_pb2_grpc.EvidenceServiceStub
) -> None:
    pid = stack.apps["evidence_svc"].pid
    assert pid is not None
    order = await api.create_order()
    before = rss_kb(pid)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await upload(
            evidence,
            Generated("video/mp4", 501 * MB),
            api.auth(order.buyer_id, Role.BUYER),
            order_id=order.order_id,
        )
    assert err.value.code() == C.RESOURCE_EXHAUSTED and "500 MB" in (err.value.details() or "")
    peak = rss_kb(pid, "VmHWM")
    assert peak - before < MEMORY_BUDGET_KB, f"RSS grew by {(peak - before) // 1024} MB"
    listed = await evidence.ListEvidence(
        evidence_pb2.ListEvidenceRequest(order_id=order.order_id), metadata=api.service()
    )
    assert list(listed.evidence) == []


async def test_per_dispute_total_of_2_gb(
    api: Api, stack: Stack, evidence: evidence_pb2_grpc.EvidenceServiceStub
) -> None:
    order = await api.create_order()
    buyer = api.auth(order.buyer_id, Role.BUYER)
    dispute_id = str(uuid.uuid4())
    await evidence.AttachEvidence(
        evidence_pb2.AttachEvidenceRequest(dispute_id=dispute_id, order_id=order.order_id, at_opening=True),
        metadata=api.service(access.DISPUTES_WORKER),
    )
    pid = stack.apps["evidence_svc"].pid
    assert pid is not None
    before = rss_kb(pid)
    for _ in range(4):  # 4 x 500 MB = 2,000 MB of the 2,048 MB allowed
        stored = await upload(evidence, Generated("video/mp4", 500 * MB), buyer, dispute_id=dispute_id)
        assert stored.size_bytes == 500 * MB
    assert rss_kb(pid, "VmHWM") - before < MEMORY_BUDGET_KB
    # 48 MB are left: a 20 MB photo fits, the next 30 MB do not.
    await upload(evidence, Generated("image/jpeg", 20 * MB), buyer, dispute_id=dispute_id)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await upload(evidence, Generated("video/mp4", 30 * MB), buyer, dispute_id=dispute_id)
    assert err.value.code() == C.RESOURCE_EXHAUSTED and "2 GB" in (err.value.details() or "")
    listed = await evidence.ListEvidence(
        evidence_pb2.ListEvidenceRequest(dispute_id=dispute_id), metadata=buyer
    )
    assert len(listed.evidence) == 5


async def test_s3_stopped_mid_upload_gives_unavailable_and_leaves_nothing(
    api: Api, stack: Stack, tmp_path: Path
) -> None:
    # Its own MinIO and EvidenceService: this test stops the S3 server.
    s3 = LocalS3(s3_binary(), tmp_path, "127.0.0.1", free_port(), free_port(), stack.secrets)
    port = free_port()
    env = {
        **stack.app_env(),
        "DP_S3_ENDPOINT": s3.address(),
        "DP_EVIDENCE_LISTEN": f"127.0.0.1:{port}",
        "DP_EVIDENCE_DB_URL": f"sqlite:///{tmp_path / 'evidence.db'}",
        "DP_EVIDENCE_JANITOR_SECONDS": "0.5",
        "DP_EVIDENCE_METRICS_LISTEN": f"127.0.0.1:{free_port()}",  # beside the stack's own
        "DP_LOG_FORMAT": "text",  # the abort's line is read below
    }
    service = Process(
        "evidence-outage", [sys.executable, "-m", "evidence_svc"], tmp_path / "evidence.log", env, ROOT
    )
    s3.start()
    try:
        service.start()
        wait_until(lambda: port_open("127.0.0.1", port), "evidence_svc", 60, service)
        order = await api.create_order()
        buyer = api.auth(order.buyer_id, Role.BUYER)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = evidence_pb2_grpc.EvidenceServiceStub(channel)
            video = Generated("video/mp4", 96 * MB)
            call = stub.UploadEvidence(metadata=buyer, timeout=120)
            with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
                await call.write(
                    metadata_message(
                        order_id=order.order_id, filename="unboxing.mp4", content_type="video/mp4"
                    )
                )
                for sent, chunk in enumerate(video.chunks()):
                    if sent == 40:
                        await asyncio.to_thread(s3.stop)  # the S3 server goes away mid-upload
                    await call.write(evidence_pb2.UploadEvidenceRequest(chunk=chunk))
                await call.done_writing()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call
            assert err.value.code() == C.UNAVAILABLE, err.value.details()
            assert "S3" in (err.value.details() or "")

            await asyncio.to_thread(s3.start)
            listed = await stub.ListEvidence(
                evidence_pb2.ListEvidenceRequest(order_id=order.order_id), metadata=buyer
            )
            assert list(listed.evidence) == []  # no metadata row
            client = Minio(
                s3.address(),
                access_key=stack.secrets.s3_access_key,
                secret_key=stack.secrets.s3_secret_key,
                secure=False,
            )
            leftovers = list(
                client.list_objects(
                    bucket_name="dispute-evidence", prefix="evidence/", recursive=True, include_version=True
                )
            )
            assert leftovers == []  # no partial object
            # The abort that failed while S3 was down is retried once it is back (MinIO lists an
            # incomplete upload only by its exact key, which the service logs).
            log = tmp_path / "evidence.log"
            for _ in range(40):
                if "aborted leftover upload" in log.read_text():
                    break
                await asyncio.sleep(0.25)
            text = log.read_text()
            assert "aborted leftover upload" in text, text[-2000:]
            key = text.split("aborted leftover upload ", 1)[1].split(" of ", 1)[1].split()[0]
            assert client._list_multipart_uploads(bucket_name="dispute-evidence", prefix=key).uploads == []
            # And the service works again once S3 is back.
            ok = await upload(stub, Generated("image/jpeg", 2 * MB), buyer, order_id=order.order_id)
            assert ok.size_bytes == 2 * MB
    finally:
        service.stop()
        s3.stop()
