"""Evidence has a side (the party it belongs to: only that party may attach it) and disputes
remember that they were escalated (arbiters see the evidence of those only).

Existing files belong to their uploader's side; a dispute ever sealed was escalated.

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
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("side", sa.String(16), nullable=False, server_default=""))
    with op.batch_alter_table("evidence_disputes") as batch:
        batch.add_column(sa.Column("escalated", sa.Boolean, nullable=False, server_default=sa.false()))
    op.execute("UPDATE evidence SET side = 'BUYER' WHERE uploader_role = 'buyer'")
    op.execute("UPDATE evidence SET side = 'SELLER' WHERE uploader_role = 'seller'")
    op.execute("UPDATE evidence_disputes SET escalated = legal_hold")


def downgrade() -> None:
    with op.batch_alter_table("evidence_disputes") as batch:
        batch.drop_column("escalated")
    with op.batch_alter_table("evidence") as batch:
        batch.drop_column("side")
