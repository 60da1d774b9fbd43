"""Every store upgrades a database that has data in it, on both backends: the schema of the
previous release is created, filled with rows of every kind (children referencing parents),
then migrated to the newest revision and read back through the service's own repository.

Why: on SQLite, Alembic rebuilds a changed table by copying it; a parent table rebuilt under
enforced foreign keys deletes or refuses its children. An empty database never shows that."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dispute_svc.repository import DisputeRepository
from dispute_svc.store import MIGRATIONS as DISPUTE_MIGRATIONS
from dispute_svc.store import OPENING, STARTED
from evidence_svc.store import MIGRATIONS as EVIDENCE_MIGRATIONS
from order_svc.repository import OrderRepository
from order_svc.store import MIGRATIONS as ORDER_MIGRATIONS
from platform_common.auth import Caller, Role
from platform_common.sql import make_engine, migrate
from refund_svc.store import MIGRATIONS as REFUND_MIGRATIONS
from tests.harness.postgres import fresh_database

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, 0)  # naive UTC, as the stores keep it
ACTOR = Caller("worker-disputes", Role.SERVICE)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (PostgreSQL: a fresh database on the shared server)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with fresh_database(request.getfixturevalue("postgres_url"), "mig") as url:
        yield url


def _filler(column: sa.Column[Any]) -> object:
    """A value for a required column the test does not care about."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 0
    if isinstance(kind, sa.DateTime):
        return NOW
    if isinstance(kind, sa.JSON):
        return []
    if isinstance(kind, sa.LargeBinary):
        return b""
    return "x"


def insert(conn: sa.Connection, table: str, **values: object) -> None:
    """Insert a row into the table as the old schema has it, filling required columns."""
    reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)
    row = dict(values)
    for column in reflected.columns:
        needed = not column.nullable and column.server_default is None and column.autoincrement is not True
        if (
            column.name not in row
            and needed
            and not (column.primary_key and isinstance(column.type, sa.Integer))
        ):
            row[column.name] = _filler(column)
    conn.execute(reflected.insert().values(**row))


def rows(conn: sa.Connection, sql: str, **params: object) -> list[Any]:
    return list(conn.execute(sa.text(sql), params).all())


def order(conn: sa.Connection, status: str, escrow: str, **extra: object) -> str:
    order_id = str(uuid.uuid4())
    insert(
        conn,
        "orders",
        id=order_id,
        request_id=f"req-{order_id}",
        status=status,
        escrow_status=escrow,
        total_minor=2_500,
        currency="EUR",
        created_at=NOW,
        updated_at=NOW,
        **extra,
    )
    for action in ("CREATED", status):
        insert(conn, "order_events", order_id=order_id, at=NOW, action=action, detail="")
    return order_id


async def test_orders_upgrade_with_their_events_and_open_disputes(database: str) -> None:
    engine = make_engine(database)
    migrate(engine, ORDER_MIGRATIONS, "0003")
    with engine.begin() as conn:
        paid = order(conn, "PAID", "HELD", pending_freezes=["dispute-1"])
        cancelled = order(conn, "CANCELLED", "REFUNDED")
        completed = order(conn, "COMPLETED", "RELEASED")
    migrate(engine, ORDER_MIGRATIONS)
    with engine.connect() as conn:
        assert rows(conn, "SELECT count(*) FROM order_events")[0][0] == 6, "no event lost in the rebuild"
        assert rows(conn, "SELECT order_id, dispute_id FROM order_holds") == [(paid, "dispute-1")]
        released = dict(rows(conn, "SELECT id, escrow_released_minor FROM orders"))
        assert released == {paid: 0, cancelled: 0, completed: 2_500}
        entries = rows(conn, "SELECT order_id, kind, amount_minor, state FROM order_escrow_entries")
        assert entries == [(cancelled, "CANCELLATION", 2_500, "SETTLED")]
    engine.dispose()
    repo = OrderRepository(database)  # the service starts on the upgraded database
    try:
        data = await repo.data(paid)
        assert [h.dispute_id for h in data.holds] == ["dispute-1"] and len(data.events) == 2
        # The migrated hold has no opening token: its dispute's release (token "") ends it.
        assert await repo.ledger.release_hold(paid, "dispute-1", "", datetime.now(UTC), ACTOR)
        assert (await repo.data(paid)).holds == []
        # 0005: the timeline from before is not announced as news; what follows is, from 1.
        from order_svc.outbox import Audience

        page = await repo.events(Audience(), 0, order_id="", types=[], limit=500)
        assert [(e.order_id, e.sequence, e.entry.action) for e in page.events] == [
            (paid, 1, "DISPUTE_HOLD_RELEASED")
        ]
    finally:
        repo.close()


def test_refunds_upgrade_with_their_events_and_balances(database: str) -> None:
    engine = make_engine(database)
    migrate(engine, REFUND_MIGRATIONS, "0001")
    order_id = str(uuid.uuid4())
    refunds = {"final": str(uuid.uuid4()), "retryable": str(uuid.uuid4()), "ok": str(uuid.uuid4())}
    with engine.begin() as conn:
        insert(conn, "order_balances", order_id=order_id, paid_minor=9_000, currency="EUR", updated_at=NOW)
        for name, refund_id in refunds.items():
            status = "REFUNDED" if name == "ok" else "FAILED"
            insert(
                conn,
                "refunds",
                id=refund_id,
                idempotency_key=f"dispute/{uuid.uuid4()}/round/1/{name}",
                order_id=order_id,
                amount_minor=1_000,
                currency="EUR",
                status=status,
                expected_by=NOW,
                created_at=NOW,
                updated_at=NOW,
            )
            detail = "declined; final; amount released" if name == "final" else "declined; will retry"
            insert(conn, "refund_events", refund_id=refund_id, at=NOW, status=status, detail=detail)
    migrate(engine, REFUND_MIGRATIONS)
    with engine.connect() as conn:
        assert rows(conn, "SELECT count(*) FROM refund_events")[0][0] == 3
        upgraded = {
            r[0]: r[1:]
            for r in rows(conn, "SELECT id, kind, final_failure, settlement_mismatch FROM refunds")
        }
        assert upgraded == {
            refunds["final"]: ("DISPUTE", True, False),
            refunds["retryable"]: ("DISPUTE", False, False),
            refunds["ok"]: ("DISPUTE", False, False),
        }
    engine.dispose()


def test_evidence_upgrades_with_sides_and_escalation(database: str) -> None:
    engine = make_engine(database)
    migrate(engine, EVIDENCE_MIGRATIONS, "0001")
    with engine.begin() as conn:
        insert(conn, "evidence_disputes", dispute_id="d-held", order_id="o", legal_hold=True, created_at=NOW)
        insert(conn, "evidence_disputes", dispute_id="d-open", order_id="o", legal_hold=False, created_at=NOW)
        for role in ("buyer", "seller"):
            insert(
                conn,
                "evidence",
                id=str(uuid.uuid4()),
                order_id="o",
                dispute_id="d-held",
                uploader_role=role,
                object_key=f"o/{role}",
                created_at=NOW,
            )
    migrate(engine, EVIDENCE_MIGRATIONS)
    with engine.connect() as conn:
        sides = dict(rows(conn, "SELECT uploader_role, side FROM evidence"))
        assert sides == {"buyer": "BUYER", "seller": "SELLER"}
        escalated = dict(rows(conn, "SELECT dispute_id, escalated FROM evidence_disputes"))
        assert {k: bool(v) for k, v in escalated.items()} == {"d-held": True, "d-open": False}
    engine.dispose()


async def test_dispute_openings_upgrade_to_their_life_cycle(database: str) -> None:
    engine = make_engine(database)
    migrate(engine, DISPUTE_MIGRATIONS, "0001")
    started, unfinished = str(uuid.uuid4()), str(uuid.uuid4())
    with engine.begin() as conn:
        for n, dispute_id in enumerate((started, unfinished), start=1):
            insert(
                conn,
                "dispute_openings",
                dispute_id=dispute_id,
                order_id="order-1",
                buyer_id="buyer-1",
                request_id=f"r{n}",
                attempt=n,
                created_at=NOW,
            )
        insert(
            conn,
            "disputes",
            dispute_id=started,
            order_id="order-1",
            status="CLOSED",
            resolution="WITHDRAWN",
            opened_at=NOW,
            updated_at=NOW,
            revision=1,
            snapshot=b"",
        )
    migrate(engine, DISPUTE_MIGRATIONS)
    engine.dispose()
    repo = DisputeRepository(database)
    try:
        history = {p.dispute_id: p for p in await repo.openings.order_history("order-1")}
        assert history[started].state == STARTED
        # Never recorded by its workflow: the reconciler asks Temporal and settles it.
        assert history[unfinished].state == OPENING and history[unfinished].inflight == 0
        assert [r.dispute_id for r in await repo.openings.unresolved(datetime.now(UTC))] == [unfinished]
    finally:
        repo.close()


async def test_disputes_recorded_before_the_outbox_announce_only_what_follows(database: str) -> None:
    from common.v1 import common_pb2
    from disputes.v1 import disputes_pb2 as pb

    from dispute_svc.outbox import Audience
    from dispute_svc.repository import Recorded
    from platform_common.timestamps import to_timestamp

    engine = make_engine(database)
    migrate(engine, DISPUTE_MIGRATIONS, "0003")
    dispute_id, order_id = str(uuid.uuid4()), str(uuid.uuid4())
    at = to_timestamp(NOW.replace(tzinfo=UTC))

    def snapshot(actions: list[str]) -> pb.Dispute:
        return pb.Dispute(
            dispute_id=dispute_id,
            order_id=order_id,
            buyer_id="buyer-1",
            seller_id="seller-1",
            status=pb.DISPUTE_STATUS_AWAITING_BUYER_RESPONSE,
            opened_at=at,
            updated_at=at,
            timeline=[common_pb2.TimelineEntry(at=at, action=a) for a in actions],
        )

    old = snapshot(["DISPUTE_OPENED", "COUNTER_OFFER"])
    with engine.begin() as conn:
        insert(
            conn,
            "disputes",
            dispute_id=dispute_id,
            order_id=order_id,
            buyer_id="buyer-1",
            seller_id="seller-1",
            status="AWAITING_BUYER_RESPONSE",
            opened_at=NOW,
            updated_at=NOW,
            revision=2,
            snapshot=old.SerializeToString(),
        )
    migrate(engine, DISPUTE_MIGRATIONS)
    engine.dispose()
    repo = DisputeRepository(database)
    try:
        assert (await repo.events(Audience(), 0, limit=10)).events == []
        new = snapshot(["DISPUTE_OPENED", "COUNTER_OFFER", "OFFER_REJECTED"])
        when = NOW.replace(tzinfo=UTC)
        assert await repo.record(Recorded(new, 3, "AWAITING_BUYER_RESPONSE", "", when, when))
        page = await repo.events(Audience(), 0, limit=10)
        # Only what happened after the upgrade is news; the past stays in the timeline.
        assert [(e.sequence, e.entry.action, e.cursor) for e in page.events] == [(1, "OFFER_REJECTED", 1)]
        assert page.scanned == 1 == await repo.head()
        # A stale or repeated record writes nothing more.
        assert not await repo.record(Recorded(new, 3, "AWAITING_BUYER_RESPONSE", "", when, when))
        assert len((await repo.events(Audience(), 0, limit=10)).events) == 1
    finally:
        repo.close()


_BULK = 600


async def test_disputes_waiting_for_an_arbiter_are_in_the_queue_from_the_upgrade_on(database: str) -> None:
    from common.v1 import common_pb2
    from disputes.v1 import disputes_pb2 as pb

    from platform_common.timestamps import to_timestamp

    engine = make_engine(database)
    migrate(engine, DISPUTE_MIGRATIONS, "0006")
    now = datetime.now(UTC).replace(microsecond=0)
    escalated = to_timestamp(now)
    waiting, decided = str(uuid.uuid4()), str(uuid.uuid4())
    target = to_timestamp(now.replace(year=now.year + 1))
    snapshots = {
        waiting: pb.Dispute(
            dispute_id=waiting,
            status=pb.DISPUTE_STATUS_UNDER_ARBITRATION,
            arbiter_id="arb-1",
            escalated_at=escalated,
            deadlines=[
                common_pb2.Deadline(kind="ARBITRATION_TARGET", due_at=target),
                common_pb2.Deadline(kind="ARBITRATION_MAX", due_at=target),
            ],
        ),
        decided: pb.Dispute(
            dispute_id=decided,
            status=pb.DISPUTE_STATUS_DECIDED,
            timeline=[common_pb2.TimelineEntry(at=escalated, action="ESCALATED")],
            decisions=[pb.Decision(round=1, arbiter_id="arb-2", decided_at=to_timestamp(now))],
        ),
    }
    with engine.begin() as conn:
        for dispute_id, d in snapshots.items():
            status = pb.DisputeStatus.Name(d.status).removeprefix("DISPUTE_STATUS_")
            insert(conn, "disputes", dispute_id=dispute_id, status=status, snapshot=d.SerializeToString())
        insert(conn, "disputes", dispute_id=str(uuid.uuid4()), status="OPEN", snapshot=b"\xff\xff")
        # More than one backfill batch (500), all of them filled in.
        bulk = pb.Dispute()
        bulk.CopyFrom(snapshots[waiting])
        bulk.arbiter_id = "arb-bulk"
        for _ in range(_BULK):
            bulk.dispute_id = str(uuid.uuid4())
            insert(
                conn,
                "disputes",
                dispute_id=bulk.dispute_id,
                status="UNDER_ARBITRATION",
                snapshot=bulk.SerializeToString(),
            )
    migrate(engine, DISPUTE_MIGRATIONS)
    engine.dispose()
    repo = DisputeRepository(database)
    try:
        entries, _ = await repo.queue.page(
            unassigned=False, arbiter_id="arb-1", breached=False, size=10, token=""
        )
        assert [(e.dispute.dispute_id, e.dispute.arbiter_id, e.due) for e in entries] == [
            (waiting, "arb-1", target.ToDatetime(tzinfo=UTC))
        ]
        found = {w.arbiter_id: (w.open_assigned, w.decided) for w in await repo.queue.workload("", now)}
        assert found == {"arb-1": (1, 0), "arb-2": (0, 1), "arb-bulk": (_BULK, 0)}
    finally:
        repo.close()


def test_webhook_subscriptions_made_before_order_events_start_at_the_order_feeds_head(database: str) -> None:
    engine = make_engine(database)
    migrate(engine, DISPUTE_MIGRATIONS, "0005")
    subscription_id = str(uuid.uuid4())
    with engine.begin() as conn:
        insert(
            conn,
            "webhook_subscriptions",
            subscription_id=subscription_id,
            owner="notifications",
            url="https://hooks.example.com/x",
            types="",
            status="ACTIVE",
            cursor=42,
            delivered=7,
            created_at=NOW,
        )
    migrate(engine, DISPUTE_MIGRATIONS)
    with engine.connect() as conn:
        got = rows(conn, "SELECT cursor, order_cursor, delivered FROM webhook_subscriptions")
        assert got == [(42, -1, 7)], "the dispute feed's position kept; the order feed not started"
    engine.dispose()
