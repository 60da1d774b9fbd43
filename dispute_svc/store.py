"""DisputeService's own data: the openings register and the read model behind ListDisputes.

The workflow is the source of truth for a dispute; these tables exist so that opening can be
checked per order (one open dispute, at most three, none after a settlement) under a unique
constraint, and so that disputes can be listed and filtered without asking Temporal.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import BigInteger, Boolean, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from platform_common.sql import UTCDateTime

MIGRATIONS = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    pass


OPENING, STARTED, ABANDONING, ABANDONED = "OPENING", "STARTED", "ABANDONING", "ABANDONED"


class OpeningRow(Base):
    """One row per dispute opened; (order_id, attempt) is unique, so two concurrent openings on
    one order cannot both take the same attempt number.

    state OPENING: OpenDispute calls (`inflight` of them, each holding the lease until
    `lease_until`) are starting the workflow. STARTED: the workflow exists. ABANDONING: no call
    is in it any more and it is being settled (does the workflow exist? if not, the order's hold
    recorded with `token` is dropped); it keeps its attempt number meanwhile. ABANDONED: it never
    started and holds nothing; its attempt number was given back (NULL) and its token is kept, so
    a later retry of the same request opens a newer incarnation. See dispute_svc/opener.py.
    """

    __tablename__ = "dispute_openings"

    dispute_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(36))
    buyer_id: Mapped[str] = mapped_column(String(128))
    request_id: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default=OPENING)
    token: Mapped[str] = mapped_column(String(64), default="")
    inflight: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Not settled before this: a call sent the start and lost its answer (see openings.leave).
    settle_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("order_id", "attempt", name="uq_dispute_openings_order_attempt"),
        UniqueConstraint("buyer_id", "request_id", name="uq_dispute_openings_request"),
        Index("ix_dispute_openings_order", "order_id"),
        Index("ix_dispute_openings_state", "state"),
    )


class DisputeRow(Base):
    """The read model: the latest snapshot the workflow recorded, with the columns lists filter on."""

    __tablename__ = "disputes"

    dispute_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(36), index=True)
    buyer_id: Mapped[str] = mapped_column(String(128))
    seller_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32))
    # Escalated at some point: arbiters may see it (their list is filtered in SQL, not per page).
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution: Mapped[str] = mapped_column(String(32), default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(BigInteger)
    # The whole disputes.v1.Dispute message as recorded (serialized protobuf).
    snapshot: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        Index("ix_disputes_buyer_opened", "buyer_id", "opened_at", "dispute_id"),
        Index("ix_disputes_seller_opened", "seller_id", "opened_at", "dispute_id"),
        Index("ix_disputes_status_opened", "status", "opened_at", "dispute_id"),
    )
