"""An index on a buyer's openings by time: the review threshold counts the buyer's openings in
the signal window when a dispute is opened, from the openings register (written before
OpenDispute answers) instead of the read model (written after the workflow has run).

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_dispute_openings_buyer", "dispute_openings", ["buyer_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_dispute_openings_buyer", "dispute_openings")
