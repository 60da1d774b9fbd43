"""Evidence bytes on S3 (MinIO, SeaweedFS, any S3 with object lock) through the minio SDK.

Uploads are multipart with 5 MiB parts, driven here rather than by `put_object`: the service
holds at most the part being filled plus the one being sent, whatever the file size, and it
knows each upload id, so a failed or refused upload is always aborted (retried later if S3 is
down at that moment).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.error import S3Error

from platform_common.errors import DomainError, Unavailable

log = logging.getLogger(__name__)
PART_SIZE = 5 * 1024 * 1024
S3_FAILURES = (S3Error, urllib3.exceptions.HTTPError, OSError)


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
        self.pending_aborts: list[tuple[str, str]] = []

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
        """Stream `chunks` to `key`; returns the version id. An exception raised by the iterator
        (a passed limit, a disconnect) or by S3 aborts the upload: nothing is left behind."""
        bucket = self.bucket
        headers: dict[str, str | list[str] | tuple[str]] = {"Content-Type": content_type}
        buf = bytearray()
        upload_id = ""
        parts: list[Part] = []
        inflight: asyncio.Future[str] | None = None
        try:
            async for chunk in chunks:
                buf += chunk
                while len(buf) >= PART_SIZE:
                    if not upload_id:
                        upload_id = await asyncio.to_thread(
                            self.client._create_multipart_upload, bucket, key, headers
                        )
                    data = bytes(buf[:PART_SIZE])
                    del buf[:PART_SIZE]
                    if inflight is not None:
                        parts.append(Part(len(parts) + 1, await inflight))
                    number = len(parts) + 1
                    inflight = asyncio.ensure_future(
                        asyncio.to_thread(
                            self.client._upload_part, bucket, key, data, None, upload_id, number
                        )
                    )
            if not upload_id:  # small file: a single PUT
                result = await asyncio.to_thread(self.client._put_object, bucket, key, bytes(buf), headers)
                return str(result.version_id or "")
            if inflight is not None:
                parts.append(Part(len(parts) + 1, await inflight))
                inflight = None
            if buf:
                etag = await asyncio.to_thread(
                    self.client._upload_part, bucket, key, bytes(buf), None, upload_id, len(parts) + 1
                )
                parts.append(Part(len(parts) + 1, etag))
            done = await asyncio.to_thread(
                self.client._complete_multipart_upload, bucket, key, upload_id, parts
            )
            return str(done.version_id or "")
        except BaseException as exc:
            if inflight is not None:
                with contextlib.suppress(BaseException):
                    await inflight
            if upload_id:
                await self._abort(key, upload_id)
            if isinstance(exc, S3_FAILURES) and not isinstance(exc, DomainError):
                raise unavailable(exc) from exc
            raise

    async def _abort(self, key: str, upload_id: str) -> None:
        try:
            await asyncio.to_thread(self.client._abort_multipart_upload, self.bucket, key, upload_id)
        except S3_FAILURES as exc:
            log.warning("could not abort upload %s of %s (%s); will retry", upload_id, key, exc)
            self.pending_aborts.append((key, upload_id))

    async def retry_aborts(self) -> None:
        """Abort uploads that failed while S3 was unreachable, once it answers again."""
        pending, self.pending_aborts = self.pending_aborts, []
        for key, upload_id in pending:
            try:
                await asyncio.to_thread(self.client._abort_multipart_upload, self.bucket, key, upload_id)
                log.info("aborted leftover upload %s of %s", upload_id, key)
            except S3Error as exc:
                if exc.code == "NoSuchUpload":
                    log.info(
                        "aborted leftover upload %s of %s (the server had already dropped it)", upload_id, key
                    )
                else:
                    log.info("leftover upload %s of %s not aborted yet: %s", upload_id, key, exc.code)
                    self.pending_aborts.append((key, upload_id))
            except S3_FAILURES as exc:
                log.info("leftover upload %s of %s not aborted yet: %s", upload_id, key, type(exc).__name__)
                self.pending_aborts.append((key, upload_id))

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
