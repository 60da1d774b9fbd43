"""Files to and from EvidenceService in chunks: memory stays constant whatever the size, and
every chunk reports its bytes, so the progress bar (and the final count) is exactly what went
over the wire."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from evidence.v1 import evidence_pb2

# The API's largest chunk (UploadEvidenceRequest.chunk: 1 byte..1 MiB): fewest messages.
CHUNK_BYTES = 1024 * 1024


def chunks(file: BinaryIO, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    while block := file.read(size):
        yield block


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in chunks(file):
            digest.update(block)
    return digest.hexdigest()


class FileRead:
    """The upload stream: the metadata, then the file's chunks. `sent(n)` runs once gRPC has
    taken a chunk (it asks for the next one), so the count never runs ahead of the stream.

    The stream opens the file itself: gRPC reads it on its own thread, and a call the server
    ends early must not have the file closed under that thread by the caller. A file that fails
    to read ends the stream; gRPC then reports only UNKNOWN, so the error is kept in `error` for
    the caller to report instead."""

    def __init__(
        self, metadata: evidence_pb2.UploadMetadata, path: Path, sent: Callable[[int], None]
    ) -> None:
        self._metadata, self._path, self._sent = metadata, path, sent
        self.error: OSError | None = None

    def __iter__(self) -> Iterator[evidence_pb2.UploadEvidenceRequest]:
        yield evidence_pb2.UploadEvidenceRequest(metadata=self._metadata)
        try:
            with self._path.open("rb") as file:
                for block in chunks(file):
                    yield evidence_pb2.UploadEvidenceRequest(chunk=block)
                    self._sent(len(block))
        except OSError as exc:
            self.error = exc
            raise


class Meter:
    """Bytes moved so far, and the callbacks watching them (a progress bar, a test)."""

    def __init__(self, *watchers: Callable[[int], None]) -> None:
        self.total = 0
        self._watchers = watchers

    def __call__(self, n: int) -> None:
        self.total += n
        for watch in self._watchers:
            watch(n)
