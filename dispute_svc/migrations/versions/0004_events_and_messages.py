"""The events outbox, its cursor, and the message threads; disputes get their outbox position.

Existing disputes get timeline_recorded = -1 (not known yet): their next record counts the
timeline they had, and only what follows becomes events, numbered from 1. A dispute's past is
not announced to subscribers as news; its timeline in GetDispute keeps all of it.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from platform_common.sql import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("disputes") as batch:
        batch.add_column(sa.Column("timeline_recorded", sa.Integer(), nullable=False, server_default="-1"))
        batch.add_column(sa.Column("event_seq", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "dispute_events",
        sa.Column("cursor", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("dispute_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("buyer_id", sa.String(128), nullable=False),
        sa.Column("seller_id", sa.String(128), nullable=False),
        sa.Column("arbiter_visible", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("dispute_id", "seq", name="uq_dispute_events_seq"),
    )
    op.create_index("ix_dispute_events_buyer", "dispute_events", ["buyer_id", "cursor"])
    op.create_index("ix_dispute_events_seller", "dispute_events", ["seller_id", "cursor"])
    op.create_index("ix_dispute_events_dispute", "dispute_events", ["dispute_id", "cursor"])
    op.create_table(
        "dispute_event_cursor",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("last", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO dispute_event_cursor (id, last) VALUES (1, 0)")
    op.create_table(
        "dispute_messages",
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("dispute_id", sa.String(36), nullable=False),
        sa.Column("author_id", sa.String(128), nullable=False),
        sa.Column("author_role", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("dispute_id", "position", name="uq_dispute_messages_position"),
        sa.UniqueConstraint("dispute_id", "author_id", "request_id", name="uq_dispute_messages_request"),
    )
    op.create_index("ix_dispute_messages_author", "dispute_messages", ["dispute_id", "author_id", "sent_at"])
    op.create_index("ix_dispute_messages_sender", "dispute_messages", ["author_id", "sent_at"])


def downgrade() -> None:
    op.drop_table("dispute_messages")
    op.drop_table("dispute_event_cursor")
    op.drop_table("dispute_events")
    with op.batch_alter_table("disputes") as batch:
        batch.drop_column("event_seq")
        batch.drop_column("timeline_recorded")
