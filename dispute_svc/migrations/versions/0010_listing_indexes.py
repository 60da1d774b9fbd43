"""Indexes for the two listings no party filter narrows: every dispute newest first (services)
and the escalated ones newest first (the arbitration team). At 100,000 disputes a page of
either sorted the whole table (PostgreSQL p99 93 ms, bench.read_model_queries). And a covering
index for the arbitration queue's counts, which read every waiting dispute (on SQLite, with
statistics, the planner scanned the whole table for them: p50 254 ms).

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_disputes_opened", "disputes", ["opened_at", "dispute_id"])
    op.create_index("ix_disputes_escalated_opened", "disputes", ["escalated", "opened_at", "dispute_id"])
    op.create_index(
        "ix_disputes_queue_counts",
        "disputes",
        ["waiting", "status", "arbiter_id", "sla_breached", "sla_target"],
    )


def downgrade() -> None:
    op.drop_index("ix_disputes_queue_counts", "disputes")
    op.drop_index("ix_disputes_escalated_opened", "disputes")
    op.drop_index("ix_disputes_opened", "disputes")
