"""Evidence metadata (the bytes live on S3) and the disputes evidence is attached to."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import BigInteger, Boolean, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from platform_common.sql import UTCDateTime

MIGRATIONS = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    pass


class DisputeRow(Base):
    """A dispute as EvidenceService knows it: its order, its parties, whether it is sealed."""

    __tablename__ = "evidence_disputes"

    dispute_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(36))
    buyer_id: Mapped[str] = mapped_column(String(128))
    seller_id: Mapped[str] = mapped_column(String(128))
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Sealed at least once, i.e. escalated to arbitration: arbiters may see its evidence.
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)


class EvidenceRow(Base):
    __tablename__ = "evidence"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(36))
    dispute_id: Mapped[str | None] = mapped_column(String(128))
    buyer_id: Mapped[str] = mapped_column(String(128))
    seller_id: Mapped[str] = mapped_column(String(128))
    uploader_id: Mapped[str] = mapped_column(String(128))
    uploader_role: Mapped[str] = mapped_column(String(16))
    # The client's filename, kept as metadata only; never part of the object key.
    filename: Mapped[str] = mapped_column(Text)
    declared_type: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(256))
    version_id: Mapped[str] = mapped_column(String(128))
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # BUYER or SELLER: the party this evidence belongs to (only it may attach it to an action).
    side: Mapped[str] = mapped_column(String(16), default="")

    __table_args__ = (
        Index("ix_evidence_order_created", "order_id", "created_at", "id"),
        Index("ix_evidence_dispute_created", "dispute_id", "created_at", "id"),
    )
