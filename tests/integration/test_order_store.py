"""The order store on both backends it supports: SQLite (default) and PostgreSQL (by URL).

Concurrent writers race for the same transition; exactly one may win on either database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from order_svc.domain import NewOrder, Status
from order_svc.repository import OrderRepository, precondition
from platform_common.auth import Caller, Role
from platform_common.errors import AlreadyExists, FailedPrecondition

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
    stored, events = await repo.get(row.id)
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
    stored, events = await repo.get(row.id)
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
