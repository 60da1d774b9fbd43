"""The order events outbox on SQLite and PostgreSQL under concurrency: many orders created,
shipped, held, refunded and completed at once while a reader follows the feed. Every timeline
entry has exactly one event and every event its entry; each order's sequence has no gap or
repeat; the reader, resuming from the cursors it got, never misses one (cursors commit in
order); a write that is refused or rolled back leaves no event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from orders.v1 import orders_pb2 as pb

from order_svc.escrow import EntryState
from order_svc.outbox import Audience
from order_svc.repository import OrderRepository, precondition
from order_svc.rules import NewOrder, Status
from platform_common.auth import Caller, Role
from platform_common.errors import AlreadyExists, FailedPrecondition
from platform_common.money import Money
from tests.harness.postgres import fresh_database

pytestmark = pytest.mark.integration

ORDERS = 12
ACTOR = Caller("checkout", Role.SERVICE)


@pytest.fixture(params=["sqlite", "postgresql"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderRepository]:
    if request.param == "sqlite":
        r = OrderRepository(f"sqlite:///{tmp_path / 'orders.db'}")
        yield r
        r.close()
        return
    with fresh_database(request.getfixturevalue("postgres_url"), "order_outbox") as url:
        r = OrderRepository(url)
        try:
            yield r
        finally:
            r.close()


def new_order(buyer: str) -> NewOrder:
    return NewOrder(
        request_id=f"req-{uuid.uuid4()}",
        buyer_id=buyer,
        seller_id="seller-1",
        total_minor=10_000,
        currency="EUR",
        items=[],
        payment_method_type=1,
        payment_reference="tok",
        protection_days=60,
        handling_days=7,
        fingerprint="fp",
    )


async def life(repo: OrderRepository, i: int) -> str:
    """One order's busy life: created, shipped, held by a dispute, part-refunded, released,
    completed; plus a refused transition that must leave nothing behind."""
    now = datetime.now(UTC)
    row = await repo.create(new_order(f"buyer-{i % 3}"), now, ACTOR)
    await repo.transition(
        row.id,
        [Status.PAID],
        {"status": Status.SHIPPED.value, "shipped_at": now, "protection_expires_at": now},
        (now, ACTOR, "ORDER_SHIPPED", "shipped"),
        precondition("order {id} is {status}"),
    )
    with pytest.raises(FailedPrecondition):  # refused: no entry, so no event
        await repo.transition(
            row.id,
            [Status.PAID],
            {"carrier": "x"},
            (now, ACTOR, "ORDER_SHIPPED", "again"),
            precondition("{id}"),
        )
    # The clock as the workflow records it (a bulk update): extended and paused in one write.
    clock = {
        "protection_expires_at": None,
        "protection_frozen": True,
        "protection_remaining_s": 1_234,
        "extended_days": 2,
    }
    await repo.record_protection(row.id, 1, clock, now, ACTOR)
    dispute = str(uuid.uuid4())
    await repo.ledger.hold(row.id, dispute, "", now, ACTOR)
    refund = str(uuid.uuid4())
    await repo.ledger.record_refund(
        row.id, refund, Money(2_500, "EUR"), EntryState.PENDING, "DISPUTE", "x", now, ACTOR
    )
    await repo.ledger.record_refund(
        row.id, refund, Money(2_500, "EUR"), EntryState.SETTLED, "DISPUTE", "x", now, ACTOR
    )
    await repo.ledger.record_refund(
        row.id, refund, Money(2_500, "EUR"), EntryState.SETTLED, "DISPUTE", "x", now, ACTOR
    )
    await repo.ledger.release_hold(row.id, dispute, None, now, ACTOR)
    await repo.ledger.complete(row.id, "PROTECTION_EXPIRED", now, ACTOR)
    return row.id


async def test_every_entry_has_one_event_in_order_and_a_follower_misses_none(repo: OrderRepository) -> None:
    seen: list[pb.OrderEvent] = []
    done = asyncio.Event()

    async def follow() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            page = await repo.events(Audience(), cursor, order_id="", types=[], limit=7)
            seen.extend(page.events)
            cursor = page.scanned
            if finished and len(page.events) < 7:
                return
            await asyncio.sleep(0.005)

    reader = asyncio.create_task(follow())
    ids = await asyncio.gather(*(life(repo, i) for i in range(ORDERS)))
    done.set()
    await reader

    cursors = [e.cursor for e in seen]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors), "cursor order, no repeat"
    for order_id in ids:
        data = await repo.data(order_id)
        mine = [e for e in seen if e.order_id == order_id]
        assert [e.sequence for e in mine] == list(range(1, len(mine) + 1)), "no gap, no repeat"
        assert [e.entry.action for e in mine] == [t.action for t in data.events], "one event per entry"
        assert [e.entry.detail for e in mine] == [t.detail for t in data.events]
        assert mine[0].type == "order.created" and mine[-1].type == "order.completed"
        assert mine[-1].order.status == pb.ORDER_STATUS_COMPLETED, "the order as recorded with the event"
        assert mine[-1].order.escrow.refunded.minor_units == 2_500 and not mine[-1].order.timeline
        assert {e.event_id for e in mine} == {f"{order_id}:{n}" for n in range(1, len(mine) + 1)}
        assert data.row.event_seq == len(mine)
        paused = next(e for e in mine if e.entry.action == "PROTECTION_FROZEN")
        assert paused.type == "order.protection_paused"
        assert paused.order.protection.frozen and paused.order.protection.remaining_seconds == 1_234, (
            "the order as this write left it, not as it was loaded"
        )
        assert paused.order.protection.extended_days == 2
    types = {e.entry.action: e.type for e in seen}
    assert (
        types["DISPUTE_HOLD"] == "order.dispute_hold" and types["REFUND_SETTLED"] == "order.refund_recorded"
    )


async def test_audiences_and_filters(repo: OrderRepository) -> None:
    ids = [await life(repo, i) for i in range(3)]  # buyers buyer-0, buyer-1, buyer-2
    page = await repo.events(Audience(buyer_id="buyer-1"), 0, order_id="", types=[], limit=500)
    assert page.events and {e.order_id for e in page.events} == {ids[1]}
    page = await repo.events(Audience(seller_id="seller-2"), 0, order_id="", types=[], limit=500)
    assert page.events == [] and page.scanned == await repo.head(), "scanned past what it may not see"
    page = await repo.events(Audience(), 0, order_id=ids[2], types=["order.completed"], limit=500)
    assert [(e.order_id, e.type) for e in page.events] == [(ids[2], "order.completed")]


async def test_a_rolled_back_write_leaves_no_event(repo: OrderRepository) -> None:
    order = new_order("buyer-9")
    first = await repo.create(order, datetime.now(UTC), ACTOR)
    head = await repo.head()
    # The same key with other content: the insert loses and rolls back; nothing is announced.
    with pytest.raises(AlreadyExists):
        await repo.create(NewOrder(**{**order.__dict__, "fingerprint": "other"}), datetime.now(UTC), ACTOR)
    racing = [repo.create(order, datetime.now(UTC), ACTOR) for _ in range(8)]
    assert {r.id for r in await asyncio.gather(*racing)} == {first.id}
    assert await repo.head() == head
    page = await repo.events(Audience(), 0, order_id=first.id, types=[], limit=500)
    assert [e.type for e in page.events] == ["order.created"]
