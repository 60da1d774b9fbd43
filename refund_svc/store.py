"""The refund ledger: refunds, their status history, and one balance row per order.

The balance row is the lock that makes "cumulative refunds never exceed what was paid" hold
under concurrency: every new refund reserves its amount on it inside the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from platform_common.sql import UTCDateTime

MIGRATIONS = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    pass


class OrderBalanceRow(Base):
    __tablename__ = "order_balances"

    order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    buyer_id: Mapped[str] = mapped_column(String(128))
    seller_id: Mapped[str] = mapped_column(String(128))
    paid_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # Sum of every refund issued for the order (a FAILED one keeps its reservation: an operator
    # may retry it, and it must still fit).
    reserved_minor: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RefundRow(Base):
    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(String(36), ForeignKey("order_balances.order_id"))
    dispute_id: Mapped[str] = mapped_column(String(128))
    buyer_id: Mapped[str] = mapped_column(String(128))
    seller_id: Mapped[str] = mapped_column(String(128))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text)
    payment_reference: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    provider_reference: Mapped[str] = mapped_column(String(128), default="")
    expected_by: Mapped[datetime] = mapped_column(UTCDateTime)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why (RefundKind without prefix) and who (the issuing service identity): the audit trail.
    kind: Mapped[str] = mapped_column(String(16), default="DISPUTE")
    issuer: Mapped[str] = mapped_column(String(128), default="")
    # The last state OrderService acknowledged for the order's escrow ("" = none yet): what is
    # still owed to it is derived from the status (refund_svc/escrow_sync.py).
    order_synced: Mapped[str] = mapped_column(String(16), default="")
    # A settlement report disagreed with this refund and was ignored (flag for operators).
    settlement_mismatch: Mapped[bool] = mapped_column(Boolean, default=False)
    # FAILED for good (no retry within the window): its amount was released to the order.
    final_failure: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_refunds_order_created", "order_id", "created_at", "id"),
        Index("ix_refunds_dispute_created", "dispute_id", "created_at", "id"),
        Index("ix_refunds_status_overdue", "status", "overdue"),
    )


class RefundEventRow(Base):
    __tablename__ = "refund_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    refund_id: Mapped[str] = mapped_column(String(36), ForeignKey("refunds.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
