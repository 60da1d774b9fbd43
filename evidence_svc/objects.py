"""Evidence bytes on S3 (MinIO, SeaweedFS, any S3 with object lock) through the minio SDK.

minio-py is synchronous: uploads run in a thread that reads from a small bounded queue fed by
the gRPC stream, so memory stays flat whatever the file size; multipart parts are 5 MiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import queue
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from typing import Any

import urllib3
from minio import Minio
from minio.error import S3Error

from platform_common.errors import Unavailable

PART_SIZE = 5 * 1024 * 1024
_QUEUE_CHUNKS = 8
_DONE = object()


class UploadAborted(Exception):
    """Raised inside the uploading thread to make minio-py abort the multipart upload."""


class _QueueReader(io.RawIOBase):
    """A file-like view of chunks pushed from asyncio; blocking reads happen in the upload thread."""

    def __init__(self) -> None:
        self.chunks: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_CHUNKS)
        self._buffer = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or len(self._buffer) < size):
            item = self.chunks.get()
            if item is _DONE:
                self._eof = True
            elif isinstance(item, BaseException):
                raise item
            else:
                self._buffer += item
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def unavailable(exc: Exception) -> Unavailable:
    return Unavailable(
        f"evidence storage (S3) is unavailable ({type(exc).__name__}); nothing was stored, retry later"
    )


class ObjectStore:
    def __init__(
        self, endpoint: str, access_key: str, secret_key: str, bucket: str, secure: bool = False
    ) -> None:
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=60),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
            maxsize=16,
        )
        self.client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, http_client=http
        )
        self.bucket = bucket

    def ensure_bucket(self) -> None:
        """Idempotent start-up: the bucket exists and has object lock (legal holds need it)."""
        if not self.client.bucket_exists(bucket_name=self.bucket):
            try:
                self.client.make_bucket(bucket_name=self.bucket, object_lock=True)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
        if self.client.get_object_lock_config(bucket_name=self.bucket) is None:
            raise RuntimeError(f"bucket {self.bucket} exists without object lock; evidence cannot be sealed")

    async def upload(self, key: str, chunks: AsyncIterator[bytes], content_type: str) -> str:
        """Stream `chunks` to `key`; returns the version id. Any exception raised by the iterator
        (a passed limit, a disconnect) aborts the multipart upload: nothing is left behind."""
        reader = _QueueReader()
        loop = asyncio.get_running_loop()

        def put() -> str:
            result = self.client.put_object(
                bucket_name=self.bucket,
                object_name=key,
                data=reader,  # type: ignore[arg-type]  # any object with read() works
                length=-1,
                part_size=PART_SIZE,
                content_type=content_type,
            )
            return str(result.version_id or "")

        task = loop.run_in_executor(None, put)

        async def feed(item: object) -> bool:
            """Hand one chunk to the upload thread; False if that thread has stopped (S3 down)."""
            while True:
                try:
                    await loop.run_in_executor(None, partial(reader.chunks.put, item, timeout=0.5))
                    return True
                except queue.Full:
                    if task.done():
                        return False

        try:
            async for chunk in chunks:
                if not await feed(chunk):
                    break  # the upload thread failed: surface its error below
            else:
                await feed(_DONE)
        except BaseException as exc:
            _offer(reader, UploadAborted(str(exc)))
            with contextlib.suppress(Exception):
                await task
            raise
        try:
            return await task
        except (S3Error, urllib3.exceptions.HTTPError, OSError) as exc:
            raise unavailable(exc) from exc

    async def remove(self, key: str, version_id: str) -> None:
        await asyncio.to_thread(
            self.client.remove_object, bucket_name=self.bucket, object_name=key, version_id=version_id or None
        )

    async def download(
        self, key: str, version_id: str, chunk_size: int = 1024 * 1024
    ) -> AsyncIterator[bytes]:
        resp = await asyncio.to_thread(
            self.client.get_object, bucket_name=self.bucket, object_name=key, version_id=version_id or None
        )
        try:
            while True:
                chunk = await asyncio.to_thread(resp.read, chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            resp.close()
            resp.release_conn()

    def presign(self, key: str, version_id: str, ttl: timedelta) -> str:
        return self.client.presigned_get_object(
            bucket_name=self.bucket, object_name=key, expires=ttl, version_id=version_id or None
        )

    async def set_legal_hold(self, key: str, version_id: str, on: bool) -> None:
        fn = self.client.enable_object_legal_hold if on else self.client.disable_object_legal_hold
        await asyncio.to_thread(fn, bucket_name=self.bucket, object_name=key, version_id=version_id or None)


def _offer(reader: _QueueReader, item: BaseException) -> None:
    """Wake the upload thread with an error even if the queue is full."""
    while True:
        try:
            reader.chunks.put_nowait(item)
            return
        except queue.Full:
            with contextlib.suppress(queue.Empty):
                reader.chunks.get_nowait()
