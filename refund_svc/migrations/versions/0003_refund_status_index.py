"""An index for the platform gauges: refunds by status, and the overdue ones still on their way,
counted at every metrics scrape (refund_svc/gauges.py) without scanning the ledger.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_refunds_status_overdue", "refunds", ["status", "overdue"])


def downgrade() -> None:
    op.drop_index("ix_refunds_status_overdue", "refunds")
