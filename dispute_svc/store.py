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
        Index("ix_dispute_openings_buyer", "buyer_id", "created_at"),
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
    # The outbox's place in this dispute: timeline entries already turned into events (-1: not
    # known yet, a row from before the outbox), and the last event sequence number given
    # (timeline entries and messages share it).
    timeline_recorded: Mapped[int] = mapped_column(Integer, default=0)
    event_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # The arbitration queue (dispute_svc/queue.py): waiting for arbitration, whose, and its SLA
    # clock (the first SLA deadline, the target, the breach flag).
    waiting: Mapped[bool] = mapped_column(Boolean, default=False)
    arbiter_id: Mapped[str] = mapped_column(String(128), default="")
    sla_due: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sla_target: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sla_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    # Party signals (dispute_svc/signals.py): the seller's first answer, or a window that ended
    # without one.
    seller_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    seller_silent: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_disputes_buyer_opened", "buyer_id", "opened_at", "dispute_id"),
        Index("ix_disputes_seller_opened", "seller_id", "opened_at", "dispute_id"),
        Index("ix_disputes_status_opened", "status", "opened_at", "dispute_id"),
        # ListDisputes without a party filter (services, newest first) and the arbitration
        # team's view (escalated only): without these, each page sorted the whole table.
        Index("ix_disputes_opened", "opened_at", "dispute_id"),
        Index("ix_disputes_escalated_opened", "escalated", "opened_at", "dispute_id"),
        # The queue's counts read every waiting dispute: from this index alone, never the rows.
        Index("ix_disputes_queue_counts", "waiting", "status", "arbiter_id", "sla_breached", "sla_target"),
        Index("ix_disputes_queue", "waiting", "sla_due", "dispute_id"),
        Index("ix_disputes_arbiter", "arbiter_id", "waiting"),
    )


class DecisionRow(Base):
    """One arbitration decision (a round), for arbiters' workload: who decided, when, and when
    the round began (the escalation, a contested return, or the appeal)."""

    __tablename__ = "dispute_decisions"

    dispute_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    round: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    arbiter_id: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_dispute_decisions_arbiter", "arbiter_id", "decided_at"),
        Index("ix_dispute_decisions_decided", "decided_at"),
    )


class EventRow(Base):
    """The outbox: one row per dispute event, written in the transaction that records what it
    describes. `cursor` is given from EventCursorRow under its row lock, so cursors increase in
    commit order (a reader past cursor N never misses an event that commits later with a smaller
    one, as it could with a plain sequence on PostgreSQL)."""

    __tablename__ = "dispute_events"

    cursor: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    dispute_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(64))
    buyer_id: Mapped[str] = mapped_column(String(128))
    seller_id: Mapped[str] = mapped_column(String(128))
    # The dispute was escalated when this was recorded: arbiters see it.
    arbiter_visible: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The whole disputes.v1.DisputeEvent (serialized protobuf), cursor included.
    body: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        UniqueConstraint("dispute_id", "seq", name="uq_dispute_events_seq"),
        Index("ix_dispute_events_buyer", "buyer_id", "cursor"),
        Index("ix_dispute_events_seller", "seller_id", "cursor"),
        Index("ix_dispute_events_dispute", "dispute_id", "cursor"),
    )


class EventCursorRow(Base):
    """The one row holding the last cursor given."""

    __tablename__ = "dispute_event_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger, default=0)


class MessageRow(Base):
    """One message or internal note of a dispute's thread (bodies live here, not in history)."""

    __tablename__ = "dispute_messages"

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dispute_id: Mapped[str] = mapped_column(String(36))
    author_id: Mapped[str] = mapped_column(String(128))
    author_role: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Position in the thread (1, 2, ...), given under the dispute row's lock: pages are stable.
    position: Mapped[int] = mapped_column(BigInteger)
    # The whole disputes.v1.DisputeMessage (serialized protobuf).
    body: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        UniqueConstraint("dispute_id", "position", name="uq_dispute_messages_position"),
        UniqueConstraint("dispute_id", "author_id", "request_id", name="uq_dispute_messages_request"),
        Index("ix_dispute_messages_author", "dispute_id", "author_id", "sent_at"),
        Index("ix_dispute_messages_sender", "author_id", "sent_at"),
    )


ACTIVE, DISABLED = "ACTIVE", "DISABLED"


class WebhookRow(Base):
    """A webhook subscription and where its deliveries stand (dispute_svc/webhooks.py)."""

    __tablename__ = "webhook_subscriptions"

    subscription_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    url: Mapped[str] = mapped_column(String(2048))
    # Space-separated catalog types; empty for all.
    types: Mapped[str] = mapped_column(String(4096), default="")
    secret: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    disabled_reason: Mapped[str] = mapped_column(String(1024), default="")
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    # How far the order feed (OrderService's outbox, its own cursors) was delivered; -1 for a
    # subscription made before order events: its next delivery starts at the feed's head.
    order_cursor: Mapped[int] = mapped_column(BigInteger, default=-1)
    delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(String(1024), default="")
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # One delivery at a time: the holder's token and until when it holds.
    lease_token: Mapped[str] = mapped_column(String(36), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The creator's idempotency key (NULL without one).
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)

    __table_args__ = (
        Index("ix_webhook_subscriptions_owner", "owner", "created_at"),
        UniqueConstraint("owner", "request_id", name="uq_webhook_subscriptions_request"),
    )
