"""Evidence metadata operations. Per-dispute totals are checked again inside the transaction
that records a file, under a lock on the dispute row, so concurrent uploads cannot pass them."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from evidence_svc.rules import DISPUTE_MAX_BYTES, DISPUTE_MAX_FILES, OPENING_MAX, Kind, human
from evidence_svc.store import MIGRATIONS, DisputeRow, EvidenceRow
from platform_common.errors import FailedPrecondition, NotFound, PermissionDenied, ResourceExhausted
from platform_common.paging import keyset, split_page
from platform_common.sql import SqlStore

# The parties evidence can belong to (EvidenceRow.side).
SIDES = ("BUYER", "SELLER")


def _usage(s: Session, dispute_id: str) -> tuple[int, int]:
    files, size = s.execute(
        select(func.count(EvidenceRow.id), func.coalesce(func.sum(EvidenceRow.size_bytes), 0)).where(
            EvidenceRow.dispute_id == dispute_id
        )
    ).one()
    return int(files), int(size)


def check_totals(files: int, size: int) -> None:
    if files > DISPUTE_MAX_FILES:
        raise ResourceExhausted(f"a dispute holds at most {DISPUTE_MAX_FILES} evidence files")
    if size > DISPUTE_MAX_BYTES:
        raise ResourceExhausted(f"a dispute holds at most {human(DISPUTE_MAX_BYTES)} of evidence")


def _attach_rules(
    s: Session,
    dispute: DisputeRow,
    stored: DisputeRow | None,
    evidence_ids: list[str],
    at_opening: bool,
    party: str,
) -> tuple[list[EvidenceRow], list[EvidenceRow]]:
    """Every check of an attach, writing nothing: (the items, those not yet attached). `stored` is
    the dispute as registered (None before its first attach); the new items are counted against
    its current usage, items already attached to it only once. `party` (BUYER, SELLER) may attach
    only files on its own side; ARBITER any file of the order; "" (a binding of files already
    checked) is not checked for ownership."""
    if stored is not None and stored.order_id != dispute.order_id:
        raise FailedPrecondition(f"dispute {dispute.dispute_id} is about order {stored.order_id}")
    rows = [s.get(EvidenceRow, i) for i in evidence_ids]
    missing = [i for i, r in zip(evidence_ids, rows, strict=True) if r is None]
    if missing:
        raise NotFound(f"evidence not found: {', '.join(missing)}")
    found = [r for r in rows if r is not None]
    for r in found:
        if r.order_id != dispute.order_id:
            raise FailedPrecondition(f"evidence {r.id} belongs to another order")
        if r.dispute_id not in (None, dispute.dispute_id):
            raise FailedPrecondition(f"evidence {r.id} is attached to another dispute")
        if party in SIDES and r.side != party:
            raise PermissionDenied(
                f"evidence {r.id} is not the {party.lower()}'s: attach files you uploaded yourself"
            )
    new = [r for r in found if r.dispute_id is None]
    if at_opening:
        counts = Counter(Kind(r.kind) for r in found)
        for kind, limit in OPENING_MAX.items():
            if counts[kind] > limit:
                raise ResourceExhausted(
                    f"at most {limit} {kind.value.lower()}{'s' if limit > 1 else ''} when opening a dispute "
                    f"(got {counts[kind]})"
                )
    files, size = _usage(s, dispute.dispute_id)
    check_totals(files + len(new), size + sum(r.size_bytes for r in new))
    return found, new


class EvidenceRepository:
    def __init__(self, url: str) -> None:
        self._sql = SqlStore(url, MIGRATIONS, "evidence-db")

    def close(self) -> None:
        self._sql.close()

    async def get(self, evidence_id: str) -> EvidenceRow:
        return await self._sql.run(self._get, evidence_id)

    def _get(self, evidence_id: str) -> EvidenceRow:
        with self._sql.sessions() as s:
            row = s.get(EvidenceRow, evidence_id)
            if row is None:
                raise NotFound(f"evidence {evidence_id} not found")
            return row

    async def dispute(self, dispute_id: str) -> DisputeRow:
        return await self._sql.run(self._dispute, dispute_id)

    def _dispute(self, dispute_id: str) -> DisputeRow:
        with self._sql.sessions() as s:
            row = s.get(DisputeRow, dispute_id)
            if row is None:
                raise NotFound(f"dispute {dispute_id} has no evidence file yet (unknown to EvidenceService)")
            return row

    async def order_escalated(self, order_id: str) -> bool:
        """Whether a dispute of the order was escalated (arbiters may see the order's files)."""
        return await self._sql.run(self._order_escalated, order_id)

    def _order_escalated(self, order_id: str) -> bool:
        with self._sql.sessions() as s:
            query = select(DisputeRow.dispute_id).where(
                DisputeRow.order_id == order_id, DisputeRow.escalated.is_(True)
            )
            return s.scalar(query.limit(1)) is not None

    async def usage(self, dispute_id: str) -> tuple[int, int]:
        return await self._sql.run(self._usage_sync, dispute_id)

    def _usage_sync(self, dispute_id: str) -> tuple[int, int]:
        with self._sql.sessions() as s:
            return _usage(s, dispute_id)

    async def list_evidence(
        self, *, order_id: str, dispute_id: str, page_size: int, page_token: str, escalated_only: bool = False
    ) -> tuple[list[EvidenceRow], str]:
        """A dispute's or an order's files; `escalated_only` keeps those of escalated disputes
        (what an arbiter may see), filtered in SQL so pages stay full."""
        return await self._sql.run(self._list, order_id, dispute_id, page_size, page_token, escalated_only)

    def _list(
        self, order_id: str, dispute_id: str, page_size: int, page_token: str, escalated_only: bool
    ) -> tuple[list[EvidenceRow], str]:
        q = select(EvidenceRow)
        q = (
            q.where(EvidenceRow.dispute_id == dispute_id)
            if dispute_id
            else q.where(EvidenceRow.order_id == order_id)
        )
        if escalated_only:
            escalated = select(DisputeRow.dispute_id).where(DisputeRow.escalated.is_(True))
            q = q.where(EvidenceRow.dispute_id.in_(escalated))
        q = keyset(q, EvidenceRow.created_at, EvidenceRow.id, page_size, page_token)
        with self._sql.sessions() as s:
            rows = list(s.scalars(q).all())
        return split_page(rows, page_size, lambda r: (r.created_at, r.id))

    async def insert(self, row: EvidenceRow) -> bool:
        """Record an uploaded file; True if its dispute is sealed (the file must be sealed too)."""
        return await self._sql.write(self._insert, row)

    def _insert(self, row: EvidenceRow) -> bool:
        with self._sql.sessions() as s, s.begin():
            sealed = False
            if row.dispute_id:
                # Under the dispute's lock: totals and the seal are read as they are now, not as
                # they were when the (possibly minutes-long) upload began.
                dispute = s.get(DisputeRow, row.dispute_id, with_for_update=True)
                sealed = bool(dispute and dispute.legal_hold)
                files, size = _usage(s, row.dispute_id)
                check_totals(files + 1, size + row.size_bytes)
            s.add(row)
            return sealed

    async def delete(self, evidence_id: str) -> None:
        await self._sql.write(self._delete, evidence_id)

    def _delete(self, evidence_id: str) -> None:
        with self._sql.sessions() as s, s.begin():
            row = s.get(EvidenceRow, evidence_id)
            if row is not None:
                s.delete(row)

    async def attach(
        self, dispute: DisputeRow, evidence_ids: list[str], at_opening: bool, party: str
    ) -> list[EvidenceRow]:
        try:
            return await self._sql.write(self._attach, dispute, evidence_ids, at_opening, party)
        except IntegrityError:  # a concurrent first attach registered the dispute: go again
            return await self._sql.write(self._attach, dispute, evidence_ids, at_opening, party)

    def _attach(
        self, dispute: DisputeRow, evidence_ids: list[str], at_opening: bool, party: str
    ) -> list[EvidenceRow]:
        with self._sql.sessions() as s, s.begin():
            stored = s.get(DisputeRow, dispute.dispute_id, with_for_update=True)
            if stored is None:
                s.add(dispute)
                s.flush()
            found, new = _attach_rules(s, dispute, stored, evidence_ids, at_opening, party)
            for r in new:
                r.dispute_id = dispute.dispute_id  # the seal, if any, is applied by the caller on S3 first
            return found

    async def check_attach(
        self, dispute: DisputeRow, evidence_ids: list[str], at_opening: bool, party: str
    ) -> list[EvidenceRow]:
        """Dry run of `attach`: the same rules and errors, and the items as they would be once
        attached, but nothing is written (the session is never committed)."""
        return await self._sql.run(self._check_attach, dispute, evidence_ids, at_opening, party)

    def _check_attach(
        self, dispute: DisputeRow, evidence_ids: list[str], at_opening: bool, party: str
    ) -> list[EvidenceRow]:
        with self._sql.sessions() as s:
            stored = s.get(DisputeRow, dispute.dispute_id)
            found, new = _attach_rules(s, dispute, stored, evidence_ids, at_opening, party)
            s.expunge_all()  # detached copies: the changes below describe the answer, never reach the store
            for r in new:
                r.dispute_id = dispute.dispute_id
            if stored is not None and stored.legal_hold:
                for r in found:  # a real attach to a sealed dispute seals every item it returns
                    r.legal_hold = True
            return found

    async def held_files(self, dispute_id: str) -> list[EvidenceRow]:
        return await self._sql.run(self._held_files, dispute_id)

    def _held_files(self, dispute_id: str) -> list[EvidenceRow]:
        with self._sql.sessions() as s:
            return list(s.scalars(select(EvidenceRow).where(EvidenceRow.dispute_id == dispute_id)))

    async def set_hold(self, dispute_id: str, evidence_id: str | None, on: bool, at: datetime) -> None:
        await self._sql.write(self._set_hold, dispute_id, evidence_id, on, at)

    def _set_hold(self, dispute_id: str, evidence_id: str | None, on: bool, at: datetime) -> None:
        with self._sql.sessions() as s, s.begin():
            if evidence_id is None:
                seal = {"legal_hold": on, **({"escalated": True} if on else {})}
                s.execute(update(DisputeRow).where(DisputeRow.dispute_id == dispute_id).values(**seal))
            else:
                s.execute(update(EvidenceRow).where(EvidenceRow.id == evidence_id).values(legal_hold=on))
