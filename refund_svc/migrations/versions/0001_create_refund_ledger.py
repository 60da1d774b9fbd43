"""Create the refund ledger.

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
        "order_balances",
        sa.Column("order_id", sa.String(36), primary_key=True),
        sa.Column("buyer_id", sa.String(128), nullable=False),
        sa.Column("seller_id", sa.String(128), nullable=False),
        sa.Column("paid_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reserved_minor", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "reserved_minor >= 0 AND reserved_minor <= paid_minor", name="ck_reserved_within_paid"
        ),
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(36), sa.ForeignKey("order_balances.order_id"), nullable=False),
        sa.Column("dispute_id", sa.String(128), nullable=False),
        sa.Column("buyer_id", sa.String(128), nullable=False),
        sa.Column("seller_id", sa.String(128), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payment_reference", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("provider_reference", sa.String(128), nullable=False, server_default=""),
        sa.Column("expected_by", UTCDateTime(), nullable=False),
        sa.Column("overdue", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("failure_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("revision", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("refunded_at", UTCDateTime()),
        sa.CheckConstraint("amount_minor > 0", name="ck_refund_positive"),
    )
    op.create_index("ix_refunds_order_created", "refunds", ["order_id", "created_at", "id"])
    op.create_index("ix_refunds_dispute_created", "refunds", ["dispute_id", "created_at", "id"])
    op.create_table(
        "refund_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("refund_id", sa.String(36), sa.ForeignKey("refunds.id"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_refund_events_refund_id", "refund_events", ["refund_id"])


def downgrade() -> None:
    op.drop_table("refund_events")
    op.drop_table("refunds")
    op.drop_table("order_balances")
