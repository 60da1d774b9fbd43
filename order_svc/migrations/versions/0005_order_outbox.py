"""The order events outbox and its cursor; orders get their outbox position.

Existing orders start at sequence 0: what their timeline already shows is not announced to
subscribers as news; only what happens from this release on becomes events.

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
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("event_seq", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "order_outbox",
        sa.Column("cursor", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("buyer_id", sa.String(128), nullable=False),
        sa.Column("seller_id", sa.String(128), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("order_id", "seq", name="uq_order_outbox_seq"),
    )
    op.create_index("ix_order_outbox_buyer", "order_outbox", ["buyer_id", "cursor"])
    op.create_index("ix_order_outbox_seller", "order_outbox", ["seller_id", "cursor"])
    op.create_index("ix_order_outbox_order", "order_outbox", ["order_id", "cursor"])
    op.create_table(
        "order_event_cursor",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("last", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO order_event_cursor (id, last) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("order_event_cursor")
    op.drop_table("order_outbox")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("event_seq")
