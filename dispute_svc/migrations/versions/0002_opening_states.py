"""Openings get a life cycle: OPENING (an OpenDispute call is starting the workflow; `inflight`
calls hold a lease), STARTED, ABANDONING (never started; its order hold is being dropped). An
abandoned opening gives its attempt number back (attempt becomes NULL).

Existing openings with a read-model row are STARTED; the others are OPENING with no lease, so
the next opening on their order (or the reconciler) settles whether they ever started.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from platform_common.sql import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dispute_openings") as batch:
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="STARTED"))
        batch.add_column(sa.Column("token", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("inflight", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("lease_until", UTCDateTime(), nullable=True))
        batch.alter_column("attempt", existing_type=sa.Integer, nullable=True)
    op.execute(
        "UPDATE dispute_openings SET state = 'OPENING' "
        "WHERE dispute_id NOT IN (SELECT dispute_id FROM disputes)"
    )
    op.create_index("ix_dispute_openings_order", "dispute_openings", ["order_id"])
    op.create_index("ix_dispute_openings_state", "dispute_openings", ["state"])


def downgrade() -> None:
    op.drop_index("ix_dispute_openings_state", "dispute_openings")
    op.drop_index("ix_dispute_openings_order", "dispute_openings")
    op.execute("DELETE FROM dispute_openings WHERE attempt IS NULL")
    with op.batch_alter_table("dispute_openings") as batch:
        batch.alter_column("attempt", existing_type=sa.Integer, nullable=False)
        batch.drop_column("lease_until")
        batch.drop_column("inflight")
        batch.drop_column("token")
        batch.drop_column("state")
