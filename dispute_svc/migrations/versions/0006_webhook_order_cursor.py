"""Webhook subscriptions follow the order feed too: how far its events were delivered.

Existing subscriptions get -1 (not started): their next delivery starts at the order feed's
newest event, so an upgrade does not flood them with the orders' past.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("order_cursor", sa.BigInteger(), nullable=False, server_default="-1"))


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.drop_column("order_cursor")
