"""Create orders and order_events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from platform_common.sql import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False, unique=True),
        sa.Column("request_fingerprint", sa.String(64), nullable=False),
        sa.Column("buyer_id", sa.String(128), nullable=False),
        sa.Column("seller_id", sa.String(128), nullable=False),
        sa.Column("total_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("payment_method_type", sa.Integer, nullable=False),
        sa.Column("payment_reference", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("escrow_status", sa.String(16), nullable=False),
        sa.Column("handling_days", sa.Integer, nullable=False),
        sa.Column("protection_days", sa.Integer, nullable=False),
        sa.Column("extended_days", sa.Integer, nullable=False, server_default="0"),
        sa.Column("carrier", sa.String(64)),
        sa.Column("tracking_number", sa.String(64)),
        sa.Column("shipped_at", UTCDateTime()),
        sa.Column("delivered_at", UTCDateTime()),
        sa.Column("protection_expires_at", UTCDateTime()),
        sa.Column("protection_frozen", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("protection_remaining_s", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("protection_revision", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("completed_at", UTCDateTime()),
        sa.Column("completion_reason", sa.String(32)),
        sa.Column("escrow_released_at", UTCDateTime()),
        sa.Column("cancelled_at", UTCDateTime()),
        sa.Column("cancel_reason", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_orders_buyer_created", "orders", ["buyer_id", "created_at", "id"])
    op.create_index("ix_orders_seller_created", "orders", ["seller_id", "created_at", "id"])
    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.String(128), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_order_events_order_id", "order_events", ["order_id"])


def downgrade() -> None:
    op.drop_table("order_events")
    op.drop_table("orders")
