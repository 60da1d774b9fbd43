"""DisputeService's store operations: openings (one per dispute, unique per order and attempt)
and the read model that RecordDisputeState keeps current."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from disputes.v1 import disputes_pb2
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from dispute_svc.store import MIGRATIONS, DisputeRow, OpeningRow
from platform_common.errors import AlreadyExists
from platform_common.paging import keyset, split_page
from platform_common.sql import SqlStore


@dataclass(frozen=True)
class PastDispute:
    """One dispute of an order as far as opening rules care. `status` is "" until the workflow's
    first record arrives (a moment after opening)."""

    dispute_id: str
    attempt: int
    created_at: datetime
    status: str
    resolution: str


class DisputeRepository:
    def __init__(self, url: str) -> None:
        self._sql = SqlStore(url, MIGRATIONS, "dispute-db")

    def close(self) -> None:
        self._sql.close()

    # --- openings -----------------------------------------------------------------------------

    async def opening_by_request(self, buyer_id: str, request_id: str) -> OpeningRow | None:
        return await self._sql.run(self._opening_by_request, buyer_id, request_id)

    def _opening_by_request(self, buyer_id: str, request_id: str) -> OpeningRow | None:
        with self._sql.sessions() as s:
            return s.scalar(
                select(OpeningRow).where(OpeningRow.buyer_id == buyer_id, OpeningRow.request_id == request_id)
            )

    async def order_history(self, order_id: str) -> list[PastDispute]:
        return await self._sql.run(self._order_history, order_id)

    def _order_history(self, order_id: str) -> list[PastDispute]:
        with self._sql.sessions() as s:
            rows = s.execute(
                select(OpeningRow, DisputeRow.status, DisputeRow.resolution)
                .outerjoin(DisputeRow, DisputeRow.dispute_id == OpeningRow.dispute_id)
                .where(OpeningRow.order_id == order_id)
                .order_by(OpeningRow.attempt)
            ).all()
            return [
                PastDispute(o.dispute_id, o.attempt, o.created_at, status or "", resolution or "")
                for o, status, resolution in rows
            ]

    async def add_opening(self, row: OpeningRow) -> None:
        await self._sql.write(self._add_opening, row)

    def _add_opening(self, row: OpeningRow) -> None:
        try:
            with self._sql.sessions.begin() as s:
                s.add(row)
        except IntegrityError:
            raise AlreadyExists(
                f"another dispute is being opened on order {row.order_id} at this moment"
            ) from None

    async def drop_opening(self, dispute_id: str) -> None:
        """Forget an opening whose workflow was never started (so it does not block the order)."""
        await self._sql.write(self._drop_opening, dispute_id)

    def _drop_opening(self, dispute_id: str) -> None:
        with self._sql.sessions.begin() as s:
            if s.get(DisputeRow, dispute_id) is None:
                s.execute(delete(OpeningRow).where(OpeningRow.dispute_id == dispute_id))

    # --- read model ---------------------------------------------------------------------------

    async def record(self, dispute: disputes_pb2.Dispute, revision: int) -> bool:
        return await self._sql.write(self._record, dispute, revision)

    def _record(self, d: disputes_pb2.Dispute, revision: int) -> bool:
        values = {
            "order_id": d.order_id,
            "buyer_id": d.buyer_id,
            "seller_id": d.seller_id,
            "status": disputes_pb2.DisputeStatus.Name(d.status).removeprefix("DISPUTE_STATUS_"),
            "escalated": d.HasField("escalated_at"),
            "resolution": disputes_pb2.DisputeResolution.Name(d.resolution).removeprefix(
                "DISPUTE_RESOLUTION_"
            ),
            "opened_at": d.opened_at.ToDatetime(tzinfo=UTC),
            "updated_at": d.updated_at.ToDatetime(tzinfo=UTC),
            "revision": revision,
            "snapshot": d.SerializeToString(),
        }
        with self._sql.sessions.begin() as s:
            row = s.get(DisputeRow, d.dispute_id, with_for_update=not self._sql.is_sqlite)
            if row is None:
                try:
                    with s.begin_nested():
                        s.add(DisputeRow(dispute_id=d.dispute_id, **values))
                    return True
                except IntegrityError:  # a concurrent first record won; compare revisions with it
                    row = s.get(DisputeRow, d.dispute_id, with_for_update=not self._sql.is_sqlite)
                    assert row is not None
            if row.revision >= revision:
                return False
            for key, value in values.items():
                setattr(row, key, value)
            return True

    async def get(self, dispute_id: str) -> disputes_pb2.Dispute | None:
        return await self._sql.run(self._get, dispute_id)

    def _get(self, dispute_id: str) -> disputes_pb2.Dispute | None:
        with self._sql.sessions() as s:
            row = s.get(DisputeRow, dispute_id)
            return None if row is None else disputes_pb2.Dispute.FromString(row.snapshot)

    async def search(
        self,
        *,
        buyer_id: str,
        seller_id: str,
        status: str,
        order_id: str,
        size: int,
        token: str,
        escalated_only: bool = False,
    ) -> tuple[list[disputes_pb2.Dispute], str]:
        return await self._sql.run(
            self._list, buyer_id, seller_id, status, order_id, size, token, escalated_only
        )

    def _list(
        self,
        buyer_id: str,
        seller_id: str,
        status: str,
        order_id: str,
        size: int,
        token: str,
        escalated_only: bool,
    ) -> tuple[list[disputes_pb2.Dispute], str]:
        query = select(DisputeRow)
        if escalated_only:
            query = query.where(DisputeRow.escalated.is_(True))
        for column, value in (
            (DisputeRow.buyer_id, buyer_id),
            (DisputeRow.seller_id, seller_id),
            (DisputeRow.status, status),
            (DisputeRow.order_id, order_id),
        ):
            if value:
                query = query.where(column == value)
        query = keyset(query, DisputeRow.opened_at, DisputeRow.dispute_id, size, token)
        with self._sql.sessions() as s:
            rows = list(s.scalars(query).all())
        page, next_token = split_page(rows, size, lambda r: (r.opened_at, r.dispute_id))
        return [disputes_pb2.Dispute.FromString(r.snapshot) for r in page], next_token
