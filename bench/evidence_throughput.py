"""Evidence upload throughput through EvidenceService vs a direct minio-py put of the same bytes
to the same MinIO, and the service's peak RSS during a 500 MB upload.

    .venv/bin/python -m bench.evidence_throughput [--n 500] (MB per upload)
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import Iterator

import grpc
from common.v1 import common_pb2
from evidence.v1 import evidence_pb2_grpc
from minio import Minio
from orders.v1 import orders_pb2, orders_pb2_grpc

from bench.common import run_with_stack
from deploy.stack import Stack
from platform_common.access import CHECKOUT
from platform_common.auth import Role, mint_token
from tests.harness.evidence import MB, Generated, rss_kb, upload


class _Stream(io.RawIOBase):
    """The generated file as a stream, for minio-py's unknown-length multipart upload."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._buf = chunks, b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buf) < size:
            nxt = next(self._chunks, None)
            if nxt is None:
                break
            self._buf += nxt
        out, self._buf = (self._buf, b"") if size < 0 else (self._buf[:size], self._buf[size:])
        return out


async def bench(stack: Stack, n: int, concurrency: int) -> None:
    del concurrency  # one upload at a time: this measures a single stream
    size = n * MB
    secret = stack.secrets.jwt_secret
    service = [("authorization", f"Bearer {mint_token(CHECKOUT, Role.SERVICE, secret)}")]
    async with grpc.aio.insecure_channel(stack.service_address("ORDER")) as och:
        order = (
            await orders_pb2_grpc.OrderServiceStub(och).CreateOrder(
                orders_pb2.CreateOrderRequest(
                    request_id=str(uuid.uuid4()),
                    buyer_id="bench-buyer",
                    seller_id="bench-seller",
                    total=common_pb2.Money(minor_units=1000, currency="EUR"),
                    payment_method=orders_pb2.PaymentMethod(
                        type=orders_pb2.PAYMENT_METHOD_TYPE_CARD, reference="t"
                    ),
                ),
                metadata=service,
            )
        ).order
    pid = stack.apps["evidence_svc"].pid
    assert pid is not None
    buyer = [("authorization", f"Bearer {mint_token('bench-buyer', Role.BUYER, secret)}")]
    video = Generated("video/mp4", size)
    async with grpc.aio.insecure_channel(stack.service_address("EVIDENCE")) as ech:
        stub = evidence_pb2_grpc.EvidenceServiceStub(ech)
        await upload(stub, Generated("video/mp4", 8 * MB), buyer, order_id=order.order_id)  # warm-up
        rss_before = rss_kb(pid)
        t0 = time.perf_counter()
        await upload(stub, video, buyer, order_id=order.order_id)
        service_s = time.perf_counter() - t0
        peak = rss_kb(pid, "VmHWM")
    client = Minio(
        stack.s3.address(),
        access_key=stack.secrets.s3_access_key,
        secret_key=stack.secrets.s3_secret_key,
        secure=False,
    )
    t0 = time.perf_counter()
    await asyncio.to_thread(
        client.put_object,
        bucket_name="dispute-evidence",
        object_name=f"bench/{uuid.uuid4()}",
        data=_Stream(video.chunks()),  # type: ignore[arg-type]
        length=-1,
        part_size=5 * MB,
    )
    direct_s = time.perf_counter() - t0
    print(f"\n{n} MB video, one stream, MinIO on local disk")
    print(f"EvidenceService upload (gRPC)  {size / MB / service_s:8.1f} MB/s  ({service_s:.1f} s)")
    print(f"direct minio-py put_object     {size / MB / direct_s:8.1f} MB/s  ({direct_s:.1f} s)")
    print(f"ratio (service / direct): {direct_s / service_s:.2f}")
    print(
        f"evidence_svc RSS before {rss_before // 1024} MB, peak during upload {peak // 1024} MB "
        f"(growth {(peak - rss_before) // 1024} MB; budget 64 MB)"
    )


if __name__ == "__main__":
    run_with_stack(bench, __doc__ or "")
