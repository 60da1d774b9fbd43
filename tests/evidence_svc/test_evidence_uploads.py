"""One upload's rules on their own (evidence_svc/uploads.py): the metadata's checks before a
byte is read, the dispute's totals, and the stream's checks while the bytes pass."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
from evidence.v1 import evidence_pb2

from evidence_svc import uploads
from evidence_svc.rules import DISPUTE_MAX_BYTES, DISPUTE_MAX_FILES, MB, PNG
from platform_common.errors import InvalidArgument, ResourceExhausted

PNG_HEAD = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


def meta(**fields: object) -> evidence_pb2.UploadMetadata:
    base: dict[str, object] = {"order_id": "o", "filename": "a.png", "content_type": "image/png"}
    return evidence_pb2.UploadMetadata(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "error", "words"),
    [
        ({"dispute_id": "d"}, InvalidArgument, "exactly one of"),
        ({"order_id": ""}, InvalidArgument, "exactly one of"),
        ({"filename": "dir/"}, InvalidArgument, "filename"),
        ({"filename": "a\x01.png"}, InvalidArgument, "filename"),
        ({"content_type": "image/gif"}, InvalidArgument, "not accepted"),
        ({"sha256": "ABC"}, InvalidArgument, "sha256"),
        ({"size_bytes": -1}, InvalidArgument, "negative"),
        ({"size_bytes": 21 * MB}, ResourceExhausted, "20 MB"),
    ],
)
def test_the_metadata_is_checked_before_any_byte(
    fields: dict[str, object], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        uploads.plan(meta(**fields))


def test_a_plan_keeps_the_clients_base_name_only() -> None:
    p = uploads.plan(meta(filename="C:\\Users\\me\\photo.png"))
    assert (p.filename, p.claimed, p.limit) == ("photo.png", PNG, 20 * MB)


def test_a_dispute_file_counts_against_the_disputes_totals() -> None:
    p = uploads.plan(meta())
    p.within_dispute(DISPUTE_MAX_FILES - 1, 0)
    with pytest.raises(ResourceExhausted, match="20 evidence files"):
        uploads.plan(meta()).within_dispute(DISPUTE_MAX_FILES, 0)
    nearly_full = uploads.plan(meta(size_bytes=2 * MB))
    with pytest.raises(ResourceExhausted, match="2 GB"):
        nearly_full.within_dispute(3, DISPUTE_MAX_BYTES - MB)
    roomy = uploads.plan(meta())
    roomy.within_dispute(3, DISPUTE_MAX_BYTES - MB)
    assert roomy.limit == MB  # the stream is cut at what the dispute has left


async def _stream(*chunks: bytes) -> AsyncIterator[evidence_pb2.UploadEvidenceRequest]:
    for c in chunks:
        yield evidence_pb2.UploadEvidenceRequest(chunk=c)


async def _send(p: uploads.Plan, *chunks: bytes) -> tuple[bytes, uploads.Receipt]:
    receipt = uploads.Receipt()
    out = b"".join([c async for c in uploads.checked_chunks(_stream(*chunks), p, receipt)])
    return out, receipt


async def test_the_bytes_pass_unchanged_and_are_measured() -> None:
    body = PNG_HEAD + b"x" * 1000
    digest = hashlib.sha256(body).hexdigest()
    out, receipt = await _send(uploads.plan(meta(size_bytes=len(body), sha256=digest)), body[:5], body[5:])
    assert out == body and receipt.size == len(body) and receipt.detected == PNG
    assert receipt.sha256.hexdigest() == digest


@pytest.mark.parametrize(
    ("fields", "chunks", "words"),
    [
        ({}, [b""], "at least one byte"),
        ({}, [b"x" * (uploads.MAX_CHUNK + 1)], "chunks are limited"),
        ({}, [], "empty"),
        ({}, [b"%PDF-1.7" + b"\0" * 100], "declared image/png but the bytes are application/pdf"),
        ({}, [b"plain text, long enough to be sniffed: " * 3], "not a image/png"),
        ({"size_bytes": 5}, [PNG_HEAD], "size_bytes said 5"),
        ({"sha256": "0" * 64}, [PNG_HEAD], "do not match"),
    ],
)
async def test_the_stream_is_refused_at_the_first_broken_rule(
    fields: dict[str, object], chunks: list[bytes], words: str
) -> None:
    with pytest.raises(InvalidArgument, match=words):
        await _send(uploads.plan(meta(**fields)), *chunks)


async def test_a_file_growing_past_its_limit_is_cut_at_once() -> None:
    p = uploads.plan(meta())
    p.limit = 200
    with pytest.raises(ResourceExhausted, match="aborted at 300 bytes"):
        await _send(p, PNG_HEAD, b"x" * 192)
