"""One upload's rules, applied while its bytes stream through: what the metadata may say, how
big the file may grow, what its first bytes must be, and whether what arrived is what was
announced. The service (`server.py`) decides who may upload where; this module only checks
the stream, so each rule can be read (and tested) without a gRPC server.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from evidence.v1 import evidence_pb2

from evidence_svc.rules import (
    DISPUTE_MAX_BYTES,
    DISPUTE_MAX_FILES,
    MAX_BYTES,
    SNIFF_BYTES,
    FileType,
    declared,
    human,
    sniff,
)
from platform_common.errors import InvalidArgument, ResourceExhausted

# As the proto says: a chunk carries at most 1 MiB.
MAX_CHUNK = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Plan:
    """An upload as its metadata announced it, and the most bytes it may send."""

    meta: evidence_pb2.UploadMetadata
    filename: str
    claimed: FileType
    limit: int
    limit_reason: str

    def within_dispute(self, files: int, used_bytes: int) -> None:
        """A file for a dispute also counts against the dispute's totals."""
        if files + 1 > DISPUTE_MAX_FILES:
            raise ResourceExhausted(f"a dispute holds at most {DISPUTE_MAX_FILES} evidence files")
        if DISPUTE_MAX_BYTES - used_bytes < self.limit:
            self.limit = DISPUTE_MAX_BYTES - used_bytes
            self.limit_reason = f"a dispute holds at most {human(DISPUTE_MAX_BYTES)} of evidence"
        if self.meta.size_bytes > self.limit:
            raise ResourceExhausted(self.limit_reason)


def plan(meta: evidence_pb2.UploadMetadata) -> Plan:
    """The metadata's own checks, before a single byte is read: a file announced too big is
    refused at once."""
    if bool(meta.dispute_id) == bool(meta.order_id):
        raise InvalidArgument("exactly one of metadata.dispute_id or metadata.order_id is required")
    filename = meta.filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not filename or len(filename) > 255 or any(ord(c) < 32 for c in filename):
        raise InvalidArgument("metadata.filename must be 1..255 printable characters")
    claimed = declared(meta.content_type)
    if claimed is None:
        raise InvalidArgument(
            f"content type {meta.content_type!r} is not accepted (JPEG, PNG, WebP, HEIC, MP4, QuickTime, WebM, PDF)"
        )
    if meta.sha256 and not _SHA256.match(meta.sha256):
        raise InvalidArgument("metadata.sha256 must be 64 lower-case hex characters")
    if meta.size_bytes < 0:
        raise InvalidArgument("metadata.size_bytes must not be negative")
    limit = MAX_BYTES[claimed.kind]
    reason = f"{claimed.kind.value.lower()} files are limited to {human(limit)}"
    if meta.size_bytes > limit:
        raise ResourceExhausted(reason)
    return Plan(meta, filename, claimed, limit, reason)


@dataclass
class Receipt:
    """What the stream turned out to be: filled in while the bytes pass through."""

    size: int = 0
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)
    detected: FileType | None = None


async def checked_chunks(
    requests: AsyncIterator[evidence_pb2.UploadEvidenceRequest], p: Plan, receipt: Receipt
) -> AsyncIterator[bytes]:
    """The upload's bytes, passed on only while every rule holds: the first one broken raises,
    which aborts the object store's upload, so nothing of a refused file is kept."""
    head = b""
    async for req in requests:
        if not req.HasField("chunk"):
            raise InvalidArgument("only the first message may carry metadata")
        data = req.chunk
        if not data:
            raise InvalidArgument("a chunk must carry at least one byte")
        if len(data) > MAX_CHUNK:
            raise InvalidArgument(f"chunks are limited to {human(MAX_CHUNK)}")
        receipt.size += len(data)
        if receipt.size > p.limit:
            raise ResourceExhausted(f"{p.limit_reason}; upload aborted at {receipt.size} bytes")
        receipt.sha256.update(data)
        if receipt.detected is None:
            head += data
            if len(head) < SNIFF_BYTES:
                continue
            receipt.detected = matching(head, p.claimed)
            data, head = head, b""
        yield data
    if receipt.detected is None:
        if not head:
            raise InvalidArgument("the file is empty")
        receipt.detected = matching(head, p.claimed)
        yield head
    if p.meta.size_bytes and receipt.size != p.meta.size_bytes:
        raise InvalidArgument(
            f"received {receipt.size} bytes but metadata.size_bytes said {p.meta.size_bytes}"
        )
    if p.meta.sha256 and receipt.sha256.hexdigest() != p.meta.sha256:
        raise InvalidArgument("the received bytes do not match metadata.sha256")


def matching(head: bytes, claimed: FileType) -> FileType:
    """The type the first bytes show, which must be the type the client declared."""
    detected = sniff(head)
    if detected is None:
        raise InvalidArgument(f"the bytes are not a {claimed.content_type} file (nor any accepted type)")
    if detected != claimed:
        raise InvalidArgument(f"declared {claimed.content_type} but the bytes are {detected.content_type}")
    return detected
