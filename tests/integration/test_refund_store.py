"""The refund ledger on SQLite and PostgreSQL: the paid-amount limit holds under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from platform_common.errors import FailedPrecondition
from platform_common.money import Money
from refund_svc.repository import NewRefund, OrderFacts, RefundRepository


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RefundRepository]:
    url = (
        f"sqlite:///{tmp_path / 'refunds.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    repo = RefundRepository(url)
    yield repo
    repo.close()


def facts(order_id: str, paid: int = 10_000) -> OrderFacts:
    return OrderFacts(order_id, "buyer-1", "seller-1", Money(paid, "EUR"), "card_tok_1")


def refund(order_id: str, minor: int, key: str | None = None) -> NewRefund:
    return NewRefund(
        key or f"k-{uuid.uuid4()}",
        "fp",
        order_id,
        "d-1",
        Money(minor, "EUR"),
        "reason",
        "DISPUTE",
        "worker-disputes",
    )


async def test_concurrent_partial_refunds_never_exceed_the_paid_amount(ledger: RefundRepository) -> None:
    order_id = str(uuid.uuid4())
    now = datetime.now(UTC)

    async def attempt(i: int) -> str:
        try:
            await ledger.create(refund(order_id, 1_500), facts(order_id), now, now + timedelta(days=9))
            return "ok"
        except FailedPrecondition:
            return "refused"

    results = await asyncio.gather(*(attempt(i) for i in range(12)))
    assert results.count("ok") == 6  # 6 x 1500 = 9000 <= 10000 < 7 x 1500
    balance = await ledger.balance(order_id)
    assert balance is not None and balance.reserved_minor == 9_000
    rows, _ = await ledger.list_refunds(order_id=order_id, dispute_id="", page_size=100, page_token="")
    assert len(rows) == 6


async def test_same_key_concurrently_creates_one_refund(ledger: RefundRepository) -> None:
    order_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    # An amount that fits only once: every duplicate must get the refund, never "over-refund".
    new = refund(order_id, 9_999, key="dispute-9:round-1")
    results = await asyncio.gather(*(ledger.create(new, facts(order_id), now, now) for _ in range(15)))
    assert len({row.id for row, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    balance = await ledger.balance(order_id)
    assert balance is not None and balance.reserved_minor == 9_999


async def test_a_finally_failed_refund_releases_its_amount(ledger: RefundRepository) -> None:
    order_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    row, _ = await ledger.create(refund(order_id, 10_000), facts(order_id), now, now)
    with pytest.raises(FailedPrecondition):
        await ledger.create(refund(order_id, 1), facts(order_id), now, now)
    failed = {"status": "FAILED", "failure_reason": "declined", "overdue": False, "attempts": 1}
    await ledger.record_status(row.id, 1, failed, now, "declined", release=False)  # an operator may retry
    balance = await ledger.balance(order_id)
    assert balance is not None and balance.reserved_minor == 10_000
    await ledger.record_status(row.id, 2, failed, now, "final", release=True)
    await ledger.record_status(row.id, 2, failed, now, "final", release=True)  # a retried activity
    balance = await ledger.balance(order_id)
    assert balance is not None and balance.reserved_minor == 0
    again, created = await ledger.create(refund(order_id, 10_000), facts(order_id), now, now)
    assert created and again.id != row.id


async def test_the_overdue_gauge_counts_a_late_refund_until_it_ends(ledger: RefundRepository) -> None:
    """dp_refunds_overdue (refund_svc/gauges.py) on both databases: a refund past its overdue
    mark counts while it is on its way, and no longer once it failed for good."""

    def gauges() -> dict[tuple[str, tuple[str, ...]], float]:
        return {(g.name, tuple(g.labels.values())): g.value for g in ledger.gauges()}

    before = gauges()
    order_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    row, _ = await ledger.create(refund(order_id, 5_000), facts(order_id), now, now)
    late = {"status": "PROCESSING", "overdue": True, "attempts": 1}
    await ledger.record_status(row.id, 1, late, now, "late", release=False)
    during = gauges()
    assert during[("refunds_overdue", ())] == before[("refunds_overdue", ())] + 1
    processing = ("refunds", ("PROCESSING",))
    assert during[processing] == before.get(processing, 0) + 1
    failed = {"status": "FAILED", "failure_reason": "declined", "overdue": True, "attempts": 2}
    await ledger.record_status(row.id, 2, failed, now, "final", release=True)
    assert gauges()[("refunds_overdue", ())] == before[("refunds_overdue", ())]
