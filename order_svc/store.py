"""Order storage through SQLAlchemy 2: a SQLite file by default, PostgreSQL by URL.

All writes are conditional updates ("... WHERE status = 'PAID'") so concurrent requests cannot
both win a transition; the loser re-reads and gets a precise error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from platform_common.sql import UTCDateTime

MIGRATIONS = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    pass


class OrderRow(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), unique=True)
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    buyer_id: Mapped[str] = mapped_column(String(128))
    seller_id: Mapped[str] = mapped_column(String(128))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    payment_method_type: Mapped[int] = mapped_column(Integer)
    payment_reference: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    escrow_status: Mapped[str] = mapped_column(String(16))
    handling_days: Mapped[int] = mapped_column(Integer)
    protection_days: Mapped[int] = mapped_column(Integer)
    extended_days: Mapped[int] = mapped_column(Integer, default=0)
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    protection_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    protection_frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    protection_remaining_s: Mapped[int] = mapped_column(BigInteger, default=0)
    protection_revision: Mapped[int] = mapped_column(BigInteger, default=0)
    # Escrow paid out to the seller so far (order_svc/escrow.py; refunds are OrderEscrowEntryRow).
    escrow_released_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Events this order has in the outbox (order_svc/outbox.py): the last one's sequence.
    event_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completion_reason: Mapped[str | None] = mapped_column(String(32))
    escrow_released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_orders_buyer_created", "buyer_id", "created_at", "id"),
        Index("ix_orders_seller_created", "seller_id", "created_at", "id"),
    )


class OrderHoldRow(Base):
    """An open dispute holding the order: while any exists the order cannot complete, release
    escrow or be cancelled, and its protection clock counts as paused from `held_at`.

    Recorded by OpenDispute before it answers (so no process being down can let the order
    complete under an acknowledged dispute) and by the dispute's own freeze; released when the
    dispute ends, or when an opening is abandoned (only by the opening that recorded it: `token`).
    """

    __tablename__ = "order_holds"

    order_id: Mapped[str] = mapped_column(String(36), ForeignKey("orders.id"), primary_key=True)
    dispute_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # "g<generation>.<random>" from OpenDispute (a newer opening of the same dispute takes the
    # hold over, an older one never does); "" when recorded by the dispute's own freeze.
    token: Mapped[str] = mapped_column(String(64), default="")
    held_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the hold ended. Kept, so that a late hold of an opening already abandoned (same
    # token) is refused instead of holding the order for ever.
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OrderEscrowEntryRow(Base):
    """One movement of the order's escrow other than the payment itself: a refund (pending,
    settled or failed for good) or the return of a cancelled order's payment."""

    __tablename__ = "order_escrow_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(36), ForeignKey("orders.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    covered: Mapped[bool] = mapped_column(Boolean)
    # Why the refund was issued (its kind, e.g. DISPUTE) and by whom: the ledger's audit trail.
    reason: Mapped[str] = mapped_column(String(32), default="")
    issuer: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("order_id", "key", name="uq_order_escrow_entry"),)


class OrderEventRow(Base):
    """Append-only timeline of an order, for audit and display."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(36), ForeignKey("orders.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[str] = mapped_column(String(128))
    actor_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(48))
    detail: Mapped[str] = mapped_column(Text, default="")


class OrderOutboxRow(Base):
    """One order event for the platform's other services (ListOrderEvents, WatchOrderEvents,
    webhooks): written in the transaction of the timeline entry it announces."""

    __tablename__ = "order_outbox"

    cursor: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    order_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(64))
    buyer_id: Mapped[str] = mapped_column(String(128))
    seller_id: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The serialized orders.v1.OrderEvent, as every reader gets it.
    body: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        UniqueConstraint("order_id", "seq", name="uq_order_outbox_seq"),
        Index("ix_order_outbox_buyer", "buyer_id", "cursor"),
        Index("ix_order_outbox_seller", "seller_id", "cursor"),
        Index("ix_order_outbox_order", "order_id", "cursor"),
    )


class OrderEventCursorRow(Base):
    """The one row (id 1) that hands out the outbox's global cursors (platform_common/outbox.py)."""

    __tablename__ = "order_event_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger)


class AccountRow(Base):
    """The platform's trust & safety flag on an account (buyer or seller id). No row: not blocked."""

    __tablename__ = "accounts"

    account_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The service that made the last change, for audit.
    updated_by: Mapped[str] = mapped_column(String(128))


def event_row(
    order_id: str, at: datetime, actor_id: str, role: str, action: str, detail: str
) -> OrderEventRow:
    return OrderEventRow(
        order_id=order_id, at=at, actor_id=actor_id, actor_role=role, action=action, detail=detail
    )


@dataclass(frozen=True)
class OrderData:
    """An order with everything its API view shows."""

    row: OrderRow
    events: list[OrderEventRow]
    holds: list[OrderHoldRow]
    entries: list[OrderEscrowEntryRow]
    # Holds the order has ever had (released ones included).
    holds_ever: int = 0
