"""Openings get `settle_after`: a call whose start may still be committing inside Temporal (it
timed out or was cancelled after sending it) leaves the opening unsettleable until then, so
nobody abandons a dispute that is about to exist. NULL for every existing opening.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from platform_common.sql import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dispute_openings") as batch:
        batch.add_column(sa.Column("settle_after", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dispute_openings") as batch:
        batch.drop_column("settle_after")
