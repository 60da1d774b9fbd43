"""The order store on both backends it supports: SQLite (default) and PostgreSQL (by URL).

Concurrent writers race for the same transition; exactly one may win on either database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from order_svc.escrow import EntryState
from order_svc.ledger import ledger_of
from order_svc.repository import OrderRepository, precondition
from order_svc.rules import NewOrder, Status
from platform_common.auth import Caller, Role
from platform_common.errors import AlreadyExists, FailedPrecondition
from platform_common.money import Money

ACTOR = Caller("checkout", Role.SERVICE)


@pytest.fixture(params=["sqlite", "postgresql"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderRepository]:
    url = (
        f"sqlite:///{tmp_path / 'orders.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    repository = OrderRepository(url)  # runs the Alembic migrations (twice on PostgreSQL: idempotent)
    yield repository
    repository.close()


def new_order(buyer: str = "buyer-1", fingerprint: str = "fp-1") -> NewOrder:
    return NewOrder(
        request_id=f"req-{uuid.uuid4()}",
        buyer_id=buyer,
        seller_id="seller-1",
        total_minor=2_599,
        currency="EUR",
        items=[{"sku": "A", "title": "Lamp", "quantity": 1, "unit_price_minor": 2_599}],
        payment_method_type=1,
        payment_reference="tok",
        protection_days=60,
        handling_days=7,
        fingerprint=fingerprint,
    )


async def test_create_is_idempotent_under_concurrency(repo: OrderRepository) -> None:
    order = new_order()
    rows = await asyncio.gather(*(repo.create(order, datetime.now(UTC), ACTOR) for _ in range(10)))
    assert len({r.id for r in rows}) == 1
    listed, _ = await repo.list_orders(
        buyer_id="buyer-1", seller_id="", status=None, page_size=50, page_token=""
    )
    assert [r.id for r in listed if r.request_id == order.request_id] == [rows[0].id]
    changed = NewOrder(**{**order.__dict__, "fingerprint": "other"})
    with pytest.raises(AlreadyExists):
        await repo.create(changed, datetime.now(UTC), ACTOR)


async def test_one_of_many_concurrent_transitions_wins(repo: OrderRepository) -> None:
    row = await repo.create(new_order(), datetime.now(UTC), ACTOR)

    async def ship(i: int) -> str:
        try:
            await repo.transition(
                row.id,
                [Status.PAID],
                {"status": Status.SHIPPED.value, "carrier": f"carrier-{i}"},
                (datetime.now(UTC), ACTOR, "ORDER_SHIPPED", str(i)),
                precondition("order {id} is {status}"),
            )
            return "won"
        except FailedPrecondition:
            return "refused"

    results = await asyncio.gather(*(ship(i) for i in range(12)))
    assert results.count("won") == 1
    data = await repo.data(row.id)
    stored, events = data.row, data.events
    assert stored.status == Status.SHIPPED.value
    assert [e.action for e in events].count("ORDER_SHIPPED") == 1


async def test_protection_revisions_ignore_stale_writes(repo: OrderRepository) -> None:
    row = await repo.create(new_order(), datetime.now(UTC), ACTOR)
    base = datetime(2030, 1, 1, tzinfo=UTC)

    def clock(days: int) -> dict[str, object]:
        return {
            "protection_expires_at": base + timedelta(days=days),
            "protection_frozen": False,
            "protection_remaining_s": 0,
            "extended_days": days,
        }

    await repo.record_protection(row.id, 2, clock(10), datetime.now(UTC), ACTOR)
    await repo.record_protection(row.id, 1, clock(5), datetime.now(UTC), ACTOR)  # late retry
    await repo.record_protection(row.id, 2, clock(7), datetime.now(UTC), ACTOR)  # duplicate
    data = await repo.data(row.id)
    stored, events = data.row, data.events
    assert stored.protection_expires_at == base + timedelta(days=10)
    assert stored.protection_revision == 2
    assert [e.action for e in events].count("PROTECTION_EXTENDED") == 1


async def test_pagination_is_stable_newest_first(repo: OrderRepository) -> None:
    buyer = f"buyer-{uuid.uuid4().hex[:6]}"
    start = datetime(2030, 1, 1, tzinfo=UTC)
    made = [await repo.create(new_order(buyer), start + timedelta(seconds=i // 2), ACTOR) for i in range(7)]
    seen, token = [], ""
    while True:
        page, token = await repo.list_orders(
            buyer_id=buyer, seller_id="", status=None, page_size=3, page_token=token
        )
        seen += [r.id for r in page]
        if not token:
            break
    expected = [r.id for r in sorted(made, key=lambda r: (r.created_at, r.id), reverse=True)]
    assert seen == expected


# --- the money side: holds and the escrow ledger, on both databases --------------------------


async def _shipped(repo: OrderRepository) -> str:
    row = await repo.create(new_order(), datetime.now(UTC), ACTOR)
    await repo.transition(
        row.id,
        [Status.PAID],
        {"status": Status.SHIPPED.value},
        (datetime.now(UTC), ACTOR, "ORDER_SHIPPED", "x"),
        precondition("order {id} is {status}"),
    )
    return row.id


async def test_a_hold_and_a_completion_exclude_each_other(repo: OrderRepository) -> None:
    """Raced on 10 orders at once: a hold recorded before the completion stops it (the order
    stays shipped, nothing released); a hold that comes after it holds the completed order (a
    dispute within the completion grace) - never a completion that released money under a hold."""
    orders = [await _shipped(repo) for _ in range(10)]
    dispute = str(uuid.uuid4())
    now = datetime.now(UTC)
    holding = [asyncio.ensure_future(repo.ledger.hold(o, dispute, "g1.t", now, ACTOR)) for o in orders]
    completing = [
        asyncio.ensure_future(repo.ledger.complete(o, "PROTECTION_EXPIRED", now, ACTOR)) for o in orders
    ]
    holds, completions = await asyncio.gather(*holding), await asyncio.gather(*completing)
    for order_id, hold, done in zip(orders, holds, completions, strict=True):
        data = await repo.data(order_id)
        assert hold.hold is not None and [h.dispute_id for h in data.holds] == [dispute]
        actions = [e.action for e in data.events]
        if data.row.status == Status.COMPLETED.value:
            assert not done.holds and done.released == 2_599
            assert actions.index("ORDER_COMPLETED") < actions.index("DISPUTE_HOLD")
        else:
            assert data.row.status == Status.SHIPPED.value and "ORDER_COMPLETED" not in actions
            assert [h.dispute_id for h in done.holds] == [dispute] and done.released == 0
            assert data.row.escrow_released_minor == 0


async def test_a_refund_that_fails_under_a_hold_waits_for_the_disputes_end(repo: OrderRepository) -> None:
    """A completed order keeps a pending refund's amount in escrow. If that refund fails while a
    dispute holds the order, the money stays in escrow (the dispute may still award it); when the
    last hold ends, it goes to the seller. paid = refunded + released - recovered throughout."""
    order_id = await _shipped(repo)
    now = datetime.now(UTC)
    refund = str(uuid.uuid4())
    eur = Money(1_000, "EUR")
    await repo.ledger.record_refund(
        order_id, refund, eur, EntryState.PENDING, "GOODWILL", "support", now, ACTOR
    )
    done = await repo.ledger.complete(order_id, "PROTECTION_EXPIRED", now, ACTOR)
    assert done.released == 1_599
    dispute = str(uuid.uuid4())
    await repo.ledger.hold(order_id, dispute, "g1.t", now, ACTOR)
    await repo.ledger.record_refund(
        order_id, refund, eur, EntryState.CANCELLED, "GOODWILL", "support", now, ACTOR
    )
    data = await repo.data(order_id)
    ledger = ledger_of(data.row, data.entries)
    assert data.row.escrow_released_minor == 1_599 and ledger.held == 1_000, "kept for the dispute"
    assert await repo.ledger.release_hold(order_id, dispute, "g1.t", now, ACTOR)
    data = await repo.data(order_id)
    ledger = ledger_of(data.row, data.entries)
    assert data.row.escrow_released_minor == 2_599 and ledger.held == 0
    assert ledger.paid == ledger.refunded + ledger.released - ledger.recovered
    assert [e.action for e in data.events][-2:] == ["DISPUTE_HOLD_RELEASED", "ESCROW_RELEASED"]
    # Releasing again (a retried activity) moves nothing.
    assert await repo.ledger.release_hold(order_id, dispute, "g1.t", now, ACTOR)
    assert (await repo.data(order_id)).row.escrow_released_minor == 2_599


async def test_refund_reports_move_the_escrow_exactly_once(repo: OrderRepository) -> None:
    order_id = await _shipped(repo)
    refund = str(uuid.uuid4())
    now = datetime.now(UTC)
    eur = Money(1_000, "EUR")
    # Duplicated and reordered reports, concurrently: one pending entry, settled once.
    await asyncio.gather(
        *(
            repo.ledger.record_refund(order_id, refund, eur, state, "DISPUTE", "worker-disputes", now, ACTOR)
            for state in [EntryState.SETTLED, EntryState.PENDING] * 5
        )
    )
    data = await repo.data(order_id)
    ledger = ledger_of(data.row, data.entries)
    assert [(e.key, e.state) for e in ledger.entries] == [(refund, EntryState.SETTLED)]
    assert ledger.refunded == 1_000 and ledger.held == 1_599
    done = await repo.ledger.complete(order_id, "PROTECTION_EXPIRED", now, ACTOR)
    assert done.released == 1_599
    data = await repo.data(order_id)
    assert data.row.escrow_status == "RELEASED" and data.row.escrow_released_minor == 1_599
    # A refund within the completion grace: recovered from the seller.
    late = str(uuid.uuid4())
    for state in (EntryState.PENDING, EntryState.SETTLED):
        await repo.ledger.record_refund(
            order_id, late, Money(599, "EUR"), state, "GOODWILL", "support", now, ACTOR
        )
    data = await repo.data(order_id)
    ledger = ledger_of(data.row, data.entries)
    assert ledger.recovered == 599 and ledger.seller_net == 1_000 and ledger.held == 0
    with pytest.raises(FailedPrecondition):  # it would exceed what was paid
        await repo.ledger.record_refund(
            order_id,
            str(uuid.uuid4()),
            Money(1_001, "EUR"),
            EntryState.PENDING,
            "GOODWILL",
            "support",
            now,
            ACTOR,
        )


async def test_a_refund_of_the_whole_payment_ends_the_order_refunded(repo: OrderRepository) -> None:
    order_id = await _shipped(repo)
    now = datetime.now(UTC)
    refund = str(uuid.uuid4())
    await repo.ledger.record_refund(
        order_id, refund, Money(2_599, "EUR"), EntryState.SETTLED, "DISPUTE", "w", now, ACTOR
    )
    data = await repo.data(order_id)
    assert data.row.status == Status.REFUNDED.value and data.row.escrow_status == "RETURNED"
    done = await repo.ledger.complete(order_id, "PROTECTION_EXPIRED", now, ACTOR)  # the clock ends later
    assert done.released == 0
    data = await repo.data(order_id)
    assert data.row.status == Status.REFUNDED.value and data.row.escrow_released_minor == 0
    assert "ORDER_REFUNDED" in [e.action for e in data.events]


async def test_counts_orders_and_the_disputed_ones_among_them(repo: OrderRepository) -> None:
    """The defect rate's numerator and denominator are the same orders: an older order a dispute
    holds counts in neither, an order held twice (or released) counts once."""
    now = datetime.now(UTC)
    seller = f"seller-{uuid.uuid4().hex[:8]}"

    async def order(created: datetime) -> str:
        new = new_order(buyer=f"buyer-{uuid.uuid4().hex[:8]}")
        row = await repo.create(replace(new, seller_id=seller), created, ACTOR)
        return row.id

    old, twice, released, _plain = [await order(t) for t in (now - timedelta(days=100), now, now, now)]
    for order_id, disputes in ((old, 1), (twice, 2), (released, 1)):
        for _ in range(disputes):
            dispute = str(uuid.uuid4())
            assert (await repo.ledger.hold(order_id, dispute, "g1.t", now, ACTOR)).hold is not None
            if order_id == released:
                assert await repo.ledger.release_hold(order_id, dispute, "g1.t", now, ACTOR)
    since = now - timedelta(days=90)
    assert await repo.count_orders("", seller, since) == (3, 2)
    assert await repo.count_orders("", seller, now - timedelta(days=200)) == (4, 3)
    assert await repo.count_orders("", f"{seller}-nobody", since) == (0, 0)
