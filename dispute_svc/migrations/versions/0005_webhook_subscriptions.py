"""Webhook subscriptions: who is sent which dispute events, and how far deliveries got.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from platform_common.sql import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("subscription_id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("types", sa.String(4096), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("disabled_reason", sa.String(1024), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("delivered", sa.BigInteger(), nullable=False),
        sa.Column("failing_since", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(1024), nullable=False),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("lease_token", sa.String(36), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.UniqueConstraint("owner", "request_id", name="uq_webhook_subscriptions_request"),
    )
    op.create_index("ix_webhook_subscriptions_owner", "webhook_subscriptions", ["owner", "created_at"])


def downgrade() -> None:
    op.drop_table("webhook_subscriptions")
