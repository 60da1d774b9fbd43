"""Create the dispute openings register and the disputes read model.

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
        "dispute_openings",
        sa.Column("dispute_id", sa.String(36), primary_key=True),
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("buyer_id", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("order_id", "attempt", name="uq_dispute_openings_order_attempt"),
        sa.UniqueConstraint("buyer_id", "request_id", name="uq_dispute_openings_request"),
    )
    op.create_table(
        "disputes",
        sa.Column("dispute_id", sa.String(36), primary_key=True),
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("buyer_id", sa.String(128), nullable=False),
        sa.Column("seller_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("escalated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("resolution", sa.String(32), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("snapshot", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_disputes_order_id", "disputes", ["order_id"])
    op.create_index("ix_disputes_buyer_opened", "disputes", ["buyer_id", "opened_at", "dispute_id"])
    op.create_index("ix_disputes_seller_opened", "disputes", ["seller_id", "opened_at", "dispute_id"])
    op.create_index("ix_disputes_status_opened", "disputes", ["status", "opened_at", "dispute_id"])


def downgrade() -> None:
    op.drop_table("disputes")
    op.drop_table("dispute_openings")
