"""EvidenceService: streaming uploads with limits enforced as bytes arrive, type detection from
the bytes, SHA-256 while streaming, party-only access, and legal hold for escalated disputes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
from common.v1 import common_pb2
from evidence.v1 import evidence_pb2, evidence_pb2_grpc
from orders.v1 import orders_pb2_grpc

from evidence_svc import uploads
from evidence_svc.objects import S3_FAILURES, ObjectStore, unavailable
from evidence_svc.repository import EvidenceRepository
from evidence_svc.rules import (
    DISPUTE_MAX_FILES,
    human,
)
from evidence_svc.store import DisputeRow, EvidenceRow
from platform_common import access, enums
from platform_common.auth import EVIDENCE_API, Caller, Role, current_caller
from platform_common.errors import (
    DeadlineExceeded,
    DomainError,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
)
from platform_common.paging import page_size
from platform_common.server import MethodRoles
from platform_common.timestamps import to_timestamp
from platform_common.validate import fetch_order, require_uuid

SERVICE_NAME = EVIDENCE_API
METHOD_ROLES: MethodRoles = access.EVIDENCE

# Uploads one caller may have in progress at once: below the server's cap, so no single caller
# (or stalled client) can take every slot.
MAX_UPLOADS_PER_CALLER = 4
# A stream that sends less than PROGRESS_BYTES in this long is aborted (nothing is kept): a
# trickle of tiny chunks keeps no slot for ever.
IDLE_SECONDS = 30.0
PROGRESS_BYTES = 64 * 1024
# Refused uploads whose remaining bytes are read (see _drain) at once; the others are answered
# straight away, so refusals cannot be turned into a way of holding the server busy.
MAX_DRAINING = 8
_SIDE_OF_ROLE = {common_pb2.ROLE_BUYER: "BUYER", common_pb2.ROLE_SELLER: "SELLER"}
_PARTIES = {**_SIDE_OF_ROLE, common_pb2.ROLE_ARBITER: "ARBITER"}
DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_MAX_SECONDS = 10.0
DEFAULT_URL_TTL = 300
MAX_URL_TTL = 3600
_KINDS = {
    "IMAGE": evidence_pb2.EVIDENCE_KIND_IMAGE,
    "VIDEO": evidence_pb2.EVIDENCE_KIND_VIDEO,
    "DOCUMENT": evidence_pb2.EVIDENCE_KIND_DOCUMENT,
}
_ROLES = {r.value: enums.to_proto(common_pb2.Role, r.name) for r in Role}


def _now() -> datetime:
    return datetime.now(UTC)


def _check_party(buyer_id: str, seller_id: str, caller: Caller, what: str) -> None:
    """Only the order's buyer and seller (role and id together), arbiters (of escalated
    disputes, checked by the caller) and services see a case's evidence."""
    if caller.role is Role.BUYER and not caller.is_(Role.BUYER, buyer_id):
        raise PermissionDenied(f"{what} belongs to another buyer's case")
    if caller.role is Role.SELLER and not caller.is_(Role.SELLER, seller_id):
        raise PermissionDenied(f"{what} belongs to another seller's case")


async def _idle_guarded(
    requests: AsyncIterator[evidence_pb2.UploadEvidenceRequest], idle_s: float
) -> AsyncIterator[evidence_pb2.UploadEvidenceRequest]:
    """The client's messages, aborting the upload unless every `idle_s` brings at least
    PROGRESS_BYTES (or the end of the file): a stalled or trickling stream must not hold an
    upload slot (and a multipart upload) for ever."""
    stream = aiter(requests)
    loop = asyncio.get_running_loop()
    deadline, progress = loop.time() + idle_s, 0
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                message = await anext(stream)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise DeadlineExceeded(
                f"less than {human(PROGRESS_BYTES)} in {idle_s:g} s: the upload was aborted, nothing was kept"
            ) from None
        progress += len(message.chunk)
        if progress >= PROGRESS_BYTES:
            deadline, progress = loop.time() + idle_s, 0
        yield message


def to_proto(row: EvidenceRow) -> evidence_pb2.Evidence:
    return evidence_pb2.Evidence(
        evidence_id=row.id,
        dispute_id=row.dispute_id or "",
        order_id=row.order_id,
        filename=row.filename,
        content_type=row.content_type,
        kind=_KINDS[row.kind],
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        uploader=common_pb2.Actor(
            id=row.uploader_id, role=_ROLES.get(row.uploader_role, common_pb2.ROLE_UNSPECIFIED)
        ),
        uploaded_at=to_timestamp(row.created_at),
        legal_hold=row.legal_hold,
        declared_content_type=row.declared_type,
        side=enums.to_proto(common_pb2.Role, row.side),
    )


class EvidenceService(evidence_pb2_grpc.EvidenceServiceServicer):
    def __init__(
        self,
        repo: EvidenceRepository,
        objects: ObjectStore,
        orders: orders_pb2_grpc.OrderServiceStub,
        max_uploads: int = 32,
        per_caller: int = MAX_UPLOADS_PER_CALLER,
        idle_s: float = IDLE_SECONDS,
    ) -> None:
        self._repo = repo
        self._objects = objects
        self._orders = orders
        # Each upload holds at most ~15 MiB; this bounds the total whatever the number of clients.
        self._uploads = asyncio.Semaphore(max_uploads)
        self._per_caller_limit = min(per_caller, max_uploads)
        self._active: dict[tuple[str, str], int] = {}
        self._idle_s = idle_s
        self._draining = asyncio.Semaphore(MAX_DRAINING)

    async def _drain(self, requests: AsyncIterator[evidence_pb2.UploadEvidenceRequest]) -> None:
        if self._draining.locked():
            return  # enough refused uploads are being read already: answer this one now
        async with self._draining:
            await _drain(requests)

    async def _parties(self, order_id: str) -> tuple[str, str]:
        order = await fetch_order(self._orders, order_id)
        return order.buyer_id, order.seller_id

    # --- upload -------------------------------------------------------------------------------

    async def UploadEvidence(
        self,
        request_iterator: AsyncIterator[evidence_pb2.UploadEvidenceRequest],
        context: grpc.aio.ServicerContext,
    ) -> evidence_pb2.UploadEvidenceResponse:
        caller = current_caller()
        key = (caller.role.value, caller.id)
        requests = _idle_guarded(request_iterator, self._idle_s)
        # Checked and taken without an await in between: no other upload can slip in.
        if self._active.get(key, 0) >= self._per_caller_limit:
            await self._drain(requests)
            raise ResourceExhausted(
                f"you have {self._per_caller_limit} uploads in progress already; finish one first"
            )
        if self._uploads.locked():
            await self._drain(requests)
            raise ResourceExhausted("too many uploads in progress on this server; retry shortly")
        self._active[key] = self._active.get(key, 0) + 1
        try:
            async with self._uploads:
                return await self._upload(requests)
        except DeadlineExceeded:
            raise  # the client stopped sending: nothing to drain
        except DomainError:
            await self._drain(requests)  # nothing is stored any more; see _drain
            raise
        finally:
            left = self._active[key] - 1
            if left:
                self._active[key] = left
            else:
                del self._active[key]

    async def _upload(
        self, request_iterator: AsyncIterator[evidence_pb2.UploadEvidenceRequest]
    ) -> evidence_pb2.UploadEvidenceResponse:
        caller = current_caller()
        first = await anext(aiter(request_iterator), None)
        if first is None or not first.HasField("metadata"):
            raise InvalidArgument("the first message must carry the upload metadata")
        meta = first.metadata
        p = uploads.plan(meta)
        side = self._side(caller, meta.on_behalf_of)
        dispute: DisputeRow | None = None
        if meta.dispute_id:
            dispute = await self._repo.dispute(require_uuid(meta.dispute_id, "metadata.dispute_id"))
            order_id, buyer_id, seller_id = dispute.order_id, dispute.buyer_id, dispute.seller_id
        else:
            order_id = require_uuid(meta.order_id, "metadata.order_id")
            buyer_id, seller_id = await self._parties(order_id)
        _check_party(buyer_id, seller_id, caller, f"order {order_id}")
        if dispute is not None:
            p.within_dispute(*await self._repo.usage(dispute.dispute_id))

        evidence_id = str(uuid.uuid4())
        key = f"evidence/{order_id}/{evidence_id}"  # never the client's filename
        receipt = uploads.Receipt()
        chunks = uploads.checked_chunks(request_iterator, p, receipt)
        version = await self._objects.upload(key, chunks, p.claimed.content_type)
        row = EvidenceRow(
            id=evidence_id,
            order_id=order_id,
            dispute_id=dispute.dispute_id if dispute else None,
            buyer_id=buyer_id,
            seller_id=seller_id,
            uploader_id=caller.id,
            uploader_role=caller.role.value,
            filename=p.filename,
            declared_type=meta.content_type[:64],
            content_type=p.claimed.content_type,
            kind=p.claimed.kind.value,
            size_bytes=receipt.size,
            sha256=receipt.sha256.hexdigest(),
            object_key=key,
            version_id=version,
            legal_hold=False,
            created_at=_now(),
            side=side,
        )
        try:
            sealed = await self._repo.insert(row)
            if sealed:  # evidence added to a sealed case is sealed too
                await self._objects.set_legal_hold(key, version, True)
                await self._repo.set_hold(row.dispute_id or "", row.id, True, _now())
                row.legal_hold = True
        except BaseException:
            await self._repo.delete(row.id)
            await self._objects.remove(key, version)
            raise
        return evidence_pb2.UploadEvidenceResponse(evidence=to_proto(row))

    @staticmethod
    def _side(caller: Caller, on_behalf_of: int) -> str:
        """The party an upload belongs to: the uploader itself, or the party a service names."""
        if caller.role is Role.SERVICE:
            side = _SIDE_OF_ROLE.get(on_behalf_of, "")  # type: ignore[call-overload]
            if not side:
                raise InvalidArgument(
                    "services upload for a party: set metadata.on_behalf_of to ROLE_BUYER or ROLE_SELLER"
                )
            return str(side)
        if on_behalf_of:
            raise InvalidArgument(
                "metadata.on_behalf_of is for services; buyers and sellers upload for themselves"
            )
        return caller.role.value.upper()

    # --- reads --------------------------------------------------------------------------------

    async def _readable(self, evidence_id: str) -> EvidenceRow:
        row = await self._repo.get(require_uuid(evidence_id, "evidence_id"))
        caller = current_caller()
        _check_party(row.buyer_id, row.seller_id, caller, f"evidence {row.id}")
        if caller.role is Role.ARBITER:
            escalated = row.dispute_id is not None and (await self._repo.dispute(row.dispute_id)).escalated
            if not escalated:
                raise PermissionDenied("arbiters see the evidence of disputes under arbitration only")
        return row

    async def GetEvidence(
        self, request: evidence_pb2.GetEvidenceRequest, context: grpc.aio.ServicerContext
    ) -> evidence_pb2.GetEvidenceResponse:
        ttl = request.url_ttl_seconds or DEFAULT_URL_TTL
        if not 1 <= ttl <= MAX_URL_TTL:
            raise InvalidArgument(f"url_ttl_seconds must be between 1 and {MAX_URL_TTL}")
        row = await self._readable(request.evidence_id)
        url = self._objects.presign(row.object_key, row.version_id, timedelta(seconds=ttl))
        return evidence_pb2.GetEvidenceResponse(
            evidence=to_proto(row),
            download_url=url,
            url_expires_at=to_timestamp(_now() + timedelta(seconds=ttl)),
        )

    async def ListEvidence(
        self, request: evidence_pb2.ListEvidenceRequest, context: grpc.aio.ServicerContext
    ) -> evidence_pb2.ListEvidenceResponse:
        if bool(request.dispute_id) == bool(request.order_id):
            raise InvalidArgument("exactly one of dispute_id or order_id is required")
        size = page_size(request.page.page_size)
        caller = current_caller()
        dispute_id = require_uuid(request.dispute_id, "dispute_id") if request.dispute_id else ""
        if dispute_id:
            dispute = await self._repo.dispute(dispute_id)
            buyer_id, seller_id, what = dispute.buyer_id, dispute.seller_id, f"dispute {dispute.dispute_id}"
            order_id = ""
            escalated = dispute.escalated
        else:
            order_id = require_uuid(request.order_id, "order_id")
            buyer_id, seller_id = await self._parties(order_id)
            what = f"order {order_id}"
            escalated = caller.role is Role.ARBITER and await self._repo.order_escalated(order_id)
        _check_party(buyer_id, seller_id, caller, what)
        if caller.role is Role.ARBITER and not escalated:
            raise PermissionDenied("arbiters see the evidence of disputes under arbitration only")
        rows, token = await self._repo.list_evidence(
            order_id=order_id,
            dispute_id=dispute_id,
            page_size=size,
            page_token=request.page.page_token,
            # An order's files outside its escalated disputes are not an arbiter's to see.
            escalated_only=caller.role is Role.ARBITER,
        )
        return evidence_pb2.ListEvidenceResponse(evidence=[to_proto(r) for r in rows], next_page_token=token)

    async def DownloadEvidence(
        self, request: evidence_pb2.DownloadEvidenceRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[evidence_pb2.DownloadEvidenceResponse]:
        row = await self._readable(request.evidence_id)
        yield evidence_pb2.DownloadEvidenceResponse(metadata=to_proto(row))
        try:
            async for chunk in self._objects.download(row.object_key, row.version_id):
                yield evidence_pb2.DownloadEvidenceResponse(chunk=chunk)
        except S3_FAILURES as exc:
            raise unavailable(exc) from exc

    # --- disputes -----------------------------------------------------------------------------

    async def AttachEvidence(
        self, request: evidence_pb2.AttachEvidenceRequest, context: grpc.aio.ServicerContext
    ) -> evidence_pb2.AttachEvidenceResponse:
        caller = current_caller()
        owners = access.ATTACH_VALIDATE_ONLY if request.validate_only else access.ATTACH_BIND
        if caller.id not in owners:
            mode = "dry-run" if request.validate_only else "bind"
            raise PermissionDenied(f"{caller.describe()} may not {mode} evidence (see docs/access.md)")
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        party = _PARTIES.get(request.party, "")  # type: ignore[call-overload]
        if request.party and not party:
            raise InvalidArgument("party must be ROLE_BUYER, ROLE_SELLER or ROLE_ARBITER")
        if request.validate_only and not party:
            raise InvalidArgument("party is required with validate_only: whose files are these?")
        order_id = require_uuid(request.order_id, "order_id")
        if len(request.evidence_ids) > DISPUTE_MAX_FILES:
            raise ResourceExhausted(f"a dispute holds at most {DISPUTE_MAX_FILES} evidence files")
        ids = [require_uuid(i, "evidence_ids[]") for i in dict.fromkeys(request.evidence_ids)]
        buyer_id, seller_id = await self._parties(order_id)
        dispute = DisputeRow(
            dispute_id=dispute_id,
            order_id=order_id,
            buyer_id=buyer_id,
            seller_id=seller_id,
            legal_hold=False,
            escalated=False,
            created_at=_now(),
        )
        if request.validate_only:  # same checks and answer, nothing written (see the proto)
            rows = await self._repo.check_attach(dispute, ids, request.at_opening, party)
            return evidence_pb2.AttachEvidenceResponse(evidence=[to_proto(r) for r in rows])
        rows = await self._repo.attach(dispute, ids, request.at_opening, party)
        stored = await self._repo.dispute(dispute_id)
        if stored.legal_hold:
            await self._hold(stored.dispute_id, True)
            rows = [await self._repo.get(r.id) for r in rows]
        return evidence_pb2.AttachEvidenceResponse(evidence=[to_proto(r) for r in rows])

    async def SetLegalHold(
        self, request: evidence_pb2.SetLegalHoldRequest, context: grpc.aio.ServicerContext
    ) -> evidence_pb2.SetLegalHoldResponse:
        dispute = await self._repo.dispute(require_uuid(request.dispute_id, "dispute_id"))
        changed = await self._hold(dispute.dispute_id, request.legal_hold)
        return evidence_pb2.SetLegalHoldResponse(changed_count=changed)

    async def _hold(self, dispute_id: str, on: bool) -> int:
        """Idempotent: seal (or release) every file of the dispute on S3, then record it."""
        changed = 0
        await self._repo.set_hold(dispute_id, None, on, _now())  # new uploads follow the dispute's state
        for row in await self._repo.held_files(dispute_id):
            try:
                await self._objects.set_legal_hold(row.object_key, row.version_id, on)
            except S3_FAILURES as exc:
                raise unavailable(exc) from exc
            if row.legal_hold != on:
                await self._repo.set_hold(dispute_id, row.id, on, _now())
                changed += 1
        return changed


async def _drain(requests: AsyncIterator[evidence_pb2.UploadEvidenceRequest]) -> None:
    """Read (and drop) what the client is still sending, within bounds, before answering.

    gRPC clients that are still writing when the server answers often see a local INTERNAL error
    instead of the server's status; reading the rest of a slightly-too-big file lets them see the
    real reason. Nothing is stored, and a client that keeps sending past the bounds is cut off.
    """
    budget = DRAIN_MAX_BYTES
    try:
        async with asyncio.timeout(DRAIN_MAX_SECONDS):
            async for req in requests:
                budget -= len(req.chunk)
                if budget < 0:
                    return
    except (TimeoutError, grpc.RpcError, DomainError):  # DomainError: stalled, or bad bytes
        return
