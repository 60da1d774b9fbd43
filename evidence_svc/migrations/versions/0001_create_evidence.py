"""Create evidence metadata and evidence disputes.

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
        "evidence_disputes",
        sa.Column("dispute_id", sa.String(128), primary_key=True),
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("buyer_id", sa.String(128), nullable=False),
        sa.Column("seller_id", sa.String(128), nullable=False),
        sa.Column("legal_hold", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "evidence",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("dispute_id", sa.String(128)),
        sa.Column("buyer_id", sa.String(128), nullable=False),
        sa.Column("seller_id", sa.String(128), nullable=False),
        sa.Column("uploader_id", sa.String(128), nullable=False),
        sa.Column("uploader_role", sa.String(16), nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("declared_type", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("object_key", sa.String(256), nullable=False, unique=True),
        sa.Column("version_id", sa.String(128), nullable=False),
        sa.Column("legal_hold", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_evidence_order_created", "evidence", ["order_id", "created_at", "id"])
    op.create_index("ix_evidence_dispute_created", "evidence", ["dispute_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_table("evidence")
    op.drop_table("evidence_disputes")
