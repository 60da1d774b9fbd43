"""Refunds record their kind and issuer, what the order's escrow has acknowledged, and
settlement reports that disagreed with them.

Existing refunds were all dispute rounds; none has been reported to the order's escrow yet (the
recovery loop reports them, so orders completed before this change learn what was refunded).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="DISPUTE"))
        batch.add_column(sa.Column("issuer", sa.String(128), nullable=False, server_default=""))
        batch.add_column(sa.Column("order_synced", sa.String(16), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("settlement_mismatch", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("final_failure", sa.Boolean, nullable=False, server_default=sa.false()))
    # Failed for good before this change: their reservation was released (see the events).
    op.execute(
        "UPDATE refunds SET final_failure = true WHERE status = 'FAILED' AND id IN "
        "(SELECT refund_id FROM refund_events WHERE detail LIKE '%final; amount released%')"
    )
    op.create_index("ix_refunds_order_synced", "refunds", ["order_synced"])


def downgrade() -> None:
    op.drop_index("ix_refunds_order_synced", "refunds")
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("final_failure")
        batch.drop_column("settlement_mismatch")
        batch.drop_column("order_synced")
        batch.drop_column("issuer")
        batch.drop_column("kind")
