"""An index on when decisions were made: every arbiter's workload (decided in the last 7 days)
reads them by time across all arbiters, which the (arbiter_id, decided_at) index cannot serve.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_dispute_decisions_decided", "dispute_decisions", ["decided_at"])


def downgrade() -> None:
    op.drop_index("ix_dispute_decisions_decided", "dispute_decisions")
