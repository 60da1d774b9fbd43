"""Helpers for evidence tests: generated files (never stored in the repo) and a streaming client."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
from evidence.v1 import evidence_pb2, evidence_pb2_grpc

MB = 1024 * 1024
CHUNK = MB
_BLOCK = os.urandom(CHUNK)  # random once; varied per chunk below so files do not compress

HEADERS = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "video/mp4": b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",
    "video/quicktime": b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ",
    "application/pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
    "text/plain": b"this is only a text file, not a photo\n",
}


@dataclass
class Generated:
    """A file made on the fly: its chunks can be streamed twice and its digest is known."""

    content_type: str
    size: int

    def chunks(self) -> Iterator[bytes]:
        header = HEADERS[self.content_type]
        sent = 0
        index = 0
        while sent < self.size:
            block = (header if index == 0 else b"") + index.to_bytes(8, "big") + _BLOCK
            block = block[: min(CHUNK, self.size - sent)]
            sent += len(block)
            index += 1
            yield block

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


def metadata_message(**fields: object) -> evidence_pb2.UploadEvidenceRequest:
    return evidence_pb2.UploadEvidenceRequest(metadata=evidence_pb2.UploadMetadata(**fields))  # type: ignore[arg-type]


async def upload(
    stub: evidence_pb2_grpc.EvidenceServiceStub,
    file: Generated,
    auth: list[tuple[str, str]],
    *,
    declared: str | None = None,
    **meta: object,
) -> evidence_pb2.Evidence:
    # Writes one message at a time: when the server ends the call early (a limit passed), the
    # next write fails and awaiting the call yields the server's own status, never a local one.
    call = stub.UploadEvidence(metadata=auth)
    try:
        await call.write(
            metadata_message(
                filename=meta.pop("filename", "unboxing.bin"),
                content_type=declared or file.content_type,
                **meta,
            )
        )
        for chunk in file.chunks():
            await call.write(evidence_pb2.UploadEvidenceRequest(chunk=chunk))
        await call.done_writing()
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
        pass  # the call has ended; its status follows
    resp = await call
    return resp.evidence


async def download(
    stub: evidence_pb2_grpc.EvidenceServiceStub, evidence_id: str, auth: list[tuple[str, str]]
) -> tuple[evidence_pb2.Evidence, str, int]:
    digest = hashlib.sha256()
    size = 0
    meta = evidence_pb2.Evidence()
    async for msg in stub.DownloadEvidence(
        evidence_pb2.DownloadEvidenceRequest(evidence_id=evidence_id), metadata=auth
    ):
        if msg.HasField("metadata"):
            meta = msg.metadata
        else:
            digest.update(msg.chunk)
            size += len(msg.chunk)
    return meta, digest.hexdigest(), size


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not found for {pid}")
