"""The arbitration queue: each dispute's place in it (waiting, whose, its SLA clock), and one
row per decision for arbiters' workload; and what party signals need (the seller's first answer,
or a window that ended in silence).

Existing disputes get their columns and decisions from the snapshot they have, so a dispute
that waits for an arbiter is in the queue from the upgrade on, not only after its next change.

Revision ID: 0007
Revises: 0006
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from disputes.v1 import disputes_pb2
from google.protobuf.message import DecodeError

from dispute_svc.queue import decision_rows, queue_columns
from dispute_svc.signals import signal_columns
from platform_common.sql import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None
_BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("disputes") as batch:
        batch.add_column(sa.Column("waiting", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("arbiter_id", sa.String(128), nullable=False, server_default=""))
        batch.add_column(sa.Column("sla_due", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("sla_target", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("sla_breached", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("seller_answered_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("seller_silent", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_disputes_queue", "disputes", ["waiting", "sla_due", "dispute_id"])
    op.create_index("ix_disputes_arbiter", "disputes", ["arbiter_id", "waiting"])
    decisions = op.create_table(
        "dispute_decisions",
        sa.Column("dispute_id", sa.String(36), primary_key=True),
        sa.Column("round", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("arbiter_id", sa.String(128), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_dispute_decisions_arbiter", "dispute_decisions", ["arbiter_id", "decided_at"])
    disputes = sa.table(
        "disputes",
        sa.column("dispute_id", sa.String()),
        sa.column("snapshot", sa.LargeBinary()),
        sa.column("waiting", sa.Boolean()),
        sa.column("arbiter_id", sa.String()),
        sa.column("sla_due", UTCDateTime()),
        sa.column("sla_target", UTCDateTime()),
        sa.column("sla_breached", sa.Boolean()),
        sa.column("seller_answered_at", UTCDateTime()),
        sa.column("seller_silent", sa.Boolean()),
    )
    bind = op.get_bind()
    after = ""
    while True:  # in batches by id: a large table is never held in memory at once
        batch_rows = bind.execute(
            sa.select(disputes.c.dispute_id, disputes.c.snapshot)
            .where(disputes.c.dispute_id > after)
            .order_by(disputes.c.dispute_id)
            .limit(_BATCH)
        ).all()
        if not batch_rows:
            break
        after = batch_rows[-1][0]
        for dispute_id, snapshot in batch_rows:
            _backfill(bind, disputes, decisions, dispute_id, snapshot)


def _backfill(bind: Any, disputes: Any, decisions: Any, dispute_id: str, snapshot: bytes | None) -> None:
    try:
        d = disputes_pb2.Dispute.FromString(snapshot or b"")
    except DecodeError:
        return  # unreadable: its next record from the workflow sets its columns
    bind.execute(
        disputes.update()
        .where(disputes.c.dispute_id == dispute_id)
        .values(**queue_columns(d), **signal_columns(d))
    )
    rows = [
        {
            "dispute_id": r.dispute_id,
            "round": r.round,
            "arbiter_id": r.arbiter_id,
            "decided_at": r.decided_at,
            "started_at": r.started_at,
        }
        for r in decision_rows(d)
    ]
    if rows:
        bind.execute(decisions.insert(), rows)


def downgrade() -> None:
    op.drop_index("ix_dispute_decisions_arbiter", "dispute_decisions")
    op.drop_table("dispute_decisions")
    op.drop_index("ix_disputes_arbiter", "disputes")
    op.drop_index("ix_disputes_queue", "disputes")
    with op.batch_alter_table("disputes") as batch:
        for name in (
            "seller_silent",
            "seller_answered_at",
            "sla_breached",
            "sla_target",
            "sla_due",
            "arbiter_id",
            "waiting",
        ):
            batch.drop_column(name)
