"""The escrow ledger (released amount, one entry per refund or cancellation) and dispute holds.

Existing data is carried over: completed orders released their whole payment, cancelled ones
returned it, and the freezes kept on PAID orders (orders.pending_freezes) become holds.

Revision ID: 0004
Revises: 0003
"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from platform_common.sql import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_holds",
        sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), primary_key=True),
        sa.Column("dispute_id", sa.String(36), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False, server_default=""),
        sa.Column("held_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "order_escrow_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), nullable=False, index=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("covered", sa.Boolean, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False, server_default=""),
        sa.Column("issuer", sa.String(128), nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("order_id", "key", name="uq_order_escrow_entry"),
    )
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("escrow_released_minor", sa.BigInteger, nullable=False, server_default="0")
        )

    conn = op.get_bind()
    conn.execute(
        sa.text("UPDATE orders SET escrow_released_minor = total_minor WHERE escrow_status = 'RELEASED'")
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    cancelled = conn.execute(
        sa.text("SELECT id, total_minor, updated_at FROM orders WHERE status = 'CANCELLED'")
    ).all()
    for order_id, total, updated in cancelled:
        conn.execute(
            sa.text(
                "INSERT INTO order_escrow_entries (order_id, key, kind, amount_minor, state, covered, "
                "reason, issuer, created_at, updated_at) VALUES (:o, 'cancellation', 'CANCELLATION', "
                ":a, 'SETTLED', :c, 'CANCELLATION', '', :t, :t)"
            ),
            {"o": order_id, "a": total, "c": True, "t": updated or now},
        )
    pending = conn.execute(
        sa.text("SELECT id, pending_freezes, updated_at FROM orders WHERE status = 'PAID'")
    ).all()
    for order_id, raw, updated in pending:
        freezes = raw if isinstance(raw, list) else json.loads(raw or "[]")
        for dispute_id in freezes:
            conn.execute(
                sa.text(
                    "INSERT INTO order_holds (order_id, dispute_id, token, held_at) VALUES (:o, :d, '', :t)"
                ),
                {"o": order_id, "d": dispute_id, "t": updated or now},
            )
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("pending_freezes")


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("pending_freezes", sa.JSON, nullable=False, server_default="[]"))
        batch.drop_column("escrow_released_minor")
    op.drop_table("order_escrow_entries")
    op.drop_table("order_holds")
