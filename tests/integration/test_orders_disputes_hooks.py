"""OrderService's hooks for disputes on the real stack: the protection freeze and account flags.

One policy day = DAY_SECONDS of real time, so short windows really run out during a test.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from orders.v1 import orders_pb2
from temporalio.client import Client, WorkflowHandle

from order_svc.client import ClockNotRunning, ProtectionClient
from order_svc.model import ProtectionState, workflow_id
from order_svc.repository import FreezesChanged, OrderRepository
from order_svc.rules import Status
from order_svc.workflow import OrderProtectionWorkflow
from platform_common.access import DISPUTES_WORKER
from platform_common.auth import Caller, Role
from platform_common.errors import FailedPrecondition
from tests.harness.fixtures import DAY_SECONDS
from tests.integration.conftest import Api, stable
from tests.integration.test_order_store import new_order

C = grpc.StatusCode
Metadata = list[tuple[str, str]]


async def expect(code: grpc.StatusCode, call: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    assert err.value.code() == code, err.value.details()
    details = err.value.details() or ""
    assert details, "every refusal carries a human-readable message"
    return details


def worker(api: Api) -> Metadata:
    return api.auth(DISPUTES_WORKER, Role.SERVICE)


async def freeze(api: Api, order_id: str, dispute_id: str, md: Metadata | None = None) -> orders_pb2.Order:
    req = orders_pb2.FreezeProtectionRequest(order_id=order_id, dispute_id=dispute_id)
    return (await api.orders.FreezeProtection(req, metadata=md or worker(api))).order


async def unfreeze(api: Api, order_id: str, dispute_id: str, md: Metadata | None = None) -> orders_pb2.Order:
    req = orders_pb2.UnfreezeProtectionRequest(order_id=order_id, dispute_id=dispute_id)
    return (await api.orders.UnfreezeProtection(req, metadata=md or worker(api))).order


def dispute() -> str:
    return str(uuid.uuid4())


def actions(order: orders_pb2.Order) -> list[str]:
    """The clock's story (hold events are checked on their own where they matter)."""
    return [e.action for e in order.timeline if not e.action.startswith("DISPUTE_HOLD")]


def unheld(order: orders_pb2.Order) -> orders_pb2.Order:
    """The order as `stable` shows it, without the holds list and hold events: what a PAID
    order's buyer and seller see change when a dispute holds it is only those."""
    copy = stable(order)
    del copy.holds[:]
    kept = [e for e in copy.timeline if not e.action.startswith("DISPUTE_HOLD")]
    del copy.timeline[:]
    copy.timeline.extend(kept)
    return copy


def assert_paused(order: orders_pb2.Order, max_seconds: float) -> None:
    assert order.protection.frozen
    assert not order.protection.HasField("expires_at")
    [deadline] = order.deadlines
    assert deadline.kind == "PROTECTION_EXPIRES"
    assert deadline.paused and not deadline.HasField("due_at")
    assert 0 < deadline.remaining_seconds <= max_seconds
    assert order.protection.remaining_seconds == deadline.remaining_seconds


def assert_running(order: orders_pb2.Order) -> datetime:
    assert not order.protection.frozen
    assert order.protection.HasField("expires_at")
    [deadline] = order.deadlines
    assert deadline.kind == "PROTECTION_EXPIRES" and not deadline.paused
    assert deadline.due_at == order.protection.expires_at
    return order.protection.expires_at.ToDatetime(tzinfo=UTC)


async def clock_state(client: Client, order: orders_pb2.Order) -> ProtectionState:
    handle: WorkflowHandle[OrderProtectionWorkflow, ProtectionState] = client.get_workflow_handle_for(
        OrderProtectionWorkflow.run, workflow_id(order.order_id)
    )
    return await handle.query(OrderProtectionWorkflow.state)


async def wait_for_status(api: Api, order: orders_pb2.Order, status: int, timeout: float) -> orders_pb2.Order:
    deadline = time.monotonic() + timeout
    current = await api.get(order)
    while current.status != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"order never reached {orders_pb2.OrderStatus.Name(status)}: {current}")
        await asyncio.sleep(0.1)
        current = await api.get(order)
    return current


# --- FreezeProtection / UnfreezeProtection ----------------------------------------------------


async def test_freeze_pauses_the_clock_and_unfreeze_resumes_it(api: Api) -> None:
    window = 8 * DAY_SECONDS  # 4 s: long enough to freeze in time, short enough to outlast
    order = await api.ship(await api.create_order(protection_days=8))
    d1 = dispute()

    frozen = await freeze(api, order.order_id, d1)
    assert frozen.status == orders_pb2.ORDER_STATUS_SHIPPED
    assert_paused(frozen, window)
    assert actions(frozen)[-1] == "PROTECTION_FROZEN"
    assert stable(await api.get(order)) == stable(frozen)  # the read model shows it at once

    again = await freeze(api, order.order_id, d1)  # a retried freeze changes nothing
    assert stable(again) == stable(frozen)
    assert actions(again).count("PROTECTION_FROZEN") == 1

    await asyncio.sleep(window + 1)  # longer than the whole window: a frozen clock cannot expire
    still = await api.get(order)
    assert still.status == orders_pb2.ORDER_STATUS_SHIPPED
    assert stable(still) == stable(frozen)

    # Only the dispute that froze the clock can unfreeze it.
    assert stable(await unfreeze(api, order.order_id, dispute())) == stable(frozen)

    resumed_at = datetime.now(UTC)
    thawed = await unfreeze(api, order.order_id, d1)
    expires = assert_running(thawed)
    left = timedelta(seconds=frozen.protection.remaining_seconds)
    assert timedelta(seconds=-2) < expires - (resumed_at + left) < timedelta(seconds=2)
    assert actions(thawed)[-2:] == ["PROTECTION_FROZEN", "PROTECTION_RESUMED"]
    assert stable(await api.get(order)) == stable(thawed)
    assert stable(await unfreeze(api, order.order_id, d1)) == stable(thawed)  # retried: no-op

    # The resumed clock really runs: the order completes when the time it had left is used up.
    done = await wait_for_status(api, order, orders_pb2.ORDER_STATUS_COMPLETED, left.total_seconds() + 15)
    assert done.completion_reason == orders_pb2.COMPLETION_REASON_PROTECTION_EXPIRED
    assert done.completed_at.ToDatetime(tzinfo=UTC) >= expires


async def test_the_clock_stays_frozen_while_any_dispute_holds_it(api: Api) -> None:
    order = await api.ship(await api.create_order(protection_days=180))
    d1, d2 = dispute(), dispute()
    first = await freeze(api, order.order_id, d1)
    assert_paused(first, 180 * DAY_SECONDS)
    both = await freeze(api, order.order_id, d2)
    assert_paused(both, 180 * DAY_SECONDS)
    assert both.protection.remaining_seconds == first.protection.remaining_seconds
    one_left = await unfreeze(api, order.order_id, d1)
    assert_paused(one_left, 180 * DAY_SECONDS)
    assert "PROTECTION_RESUMED" not in actions(one_left)
    assert_running(await unfreeze(api, order.order_id, d2))
    assert actions(await api.get(order)).count("PROTECTION_RESUMED") == 1


async def test_no_running_clock_means_the_order_is_returned_unchanged(api: Api) -> None:
    paid = await api.create_order()
    before = stable(await api.get(paid))
    # A PAID order keeps the hold for its shipment (see the tests below): only the hold shows.
    d0 = dispute()
    held = await freeze(api, paid.order_id, d0)
    assert unheld(held) == before and [h.dispute_id for h in held.holds] == [d0]
    assert not held.protection.frozen and [d.kind for d in held.deadlines] == ["SHIP_BY"]
    assert unheld(await unfreeze(api, paid.order_id, dispute())) == before
    released = await unfreeze(api, paid.order_id, d0)
    assert unheld(released) == before and not released.holds
    assert paid.status == orders_pb2.ORDER_STATUS_PAID

    shipped = await api.ship(await api.create_order())
    await api.orders.ConfirmReceipt(
        orders_pb2.ConfirmReceiptRequest(order_id=shipped.order_id),
        metadata=api.auth(shipped.buyer_id, Role.BUYER),
    )
    completed = stable(await api.get(shipped))
    assert completed.status == orders_pb2.ORDER_STATUS_COMPLETED
    assert [d.kind for d in completed.deadlines] == ["DISPUTE_GRACE_ENDS"]  # disputes may still open
    d = dispute()
    # A dispute within the completion grace holds the completed order (what escrow still keeps
    # waits for it); there is no clock to freeze any more.
    held = await freeze(api, shipped.order_id, d)
    assert unheld(held) == unheld(completed) and [h.dispute_id for h in held.holds] == [d]
    ended = await unfreeze(api, shipped.order_id, d)
    assert unheld(ended) == unheld(completed) and not ended.holds
    assert not (await api.get(shipped)).protection.frozen


async def test_a_dispute_before_shipment_starts_the_clock_frozen(api: Api, temporal_client: Client) -> None:
    """A buyer may dispute an order that never shipped; if it ships later, the clock must not
    run (and release escrow) while that dispute is open."""
    days = 4
    window = days * DAY_SECONDS  # 2 s
    paid = await api.create_order(protection_days=days)
    before = stable(await api.get(paid))
    d1 = dispute()

    # Kept on the order as a hold: a PAID order has no clock yet (its deadline is SHIP_BY).
    assert unheld(await freeze(api, paid.order_id, d1)) == before
    again = await freeze(api, paid.order_id, d1)  # retried: still one hold
    assert unheld(again) == before and len(again.holds) == 1
    assert before.status == orders_pb2.ORDER_STATUS_PAID and not before.protection.frozen

    shipped = await api.ship(paid)
    assert shipped.status == orders_pb2.ORDER_STATUS_SHIPPED
    assert_paused(shipped, window)
    assert shipped.protection.remaining_seconds == int(window)  # the whole window is left
    assert actions(shipped)[-2:] == ["ORDER_SHIPPED", "PROTECTION_FROZEN"]
    assert stable(await api.get(paid)) == stable(shipped)
    state = await clock_state(temporal_client, shipped)
    assert state.frozen_by == [d1] and state.expires_at is None
    assert state.remaining_us == round(window * 1_000_000)

    await asyncio.sleep(window + 1)  # longer than the whole window: still frozen, not completed
    still = await api.get(paid)
    assert still.status == orders_pb2.ORDER_STATUS_SHIPPED
    assert stable(still) == stable(shipped)
    # The dispute's freeze retried after shipment, and an unrelated release: nothing changes.
    assert stable(await freeze(api, paid.order_id, d1)) == stable(shipped)
    assert stable(await unfreeze(api, paid.order_id, dispute())) == stable(shipped)

    resumed_at = datetime.now(UTC)
    thawed = await unfreeze(api, paid.order_id, d1)  # the dispute ended: the full window runs now
    expires = assert_running(thawed)
    late = expires - (resumed_at + timedelta(seconds=window))
    assert timedelta(seconds=-0.1) < late < timedelta(seconds=1), late
    assert actions(thawed)[-3:] == ["ORDER_SHIPPED", "PROTECTION_FROZEN", "PROTECTION_RESUMED"]

    done = await wait_for_status(api, paid, orders_pb2.ORDER_STATUS_COMPLETED, window + 15)
    assert done.completion_reason == orders_pb2.COMPLETION_REASON_PROTECTION_EXPIRED
    assert done.escrow_status == orders_pb2.ESCROW_STATUS_RELEASED
    assert done.completed_at.ToDatetime(tzinfo=UTC) >= expires


async def test_a_dispute_released_before_shipment_leaves_the_clock_running(
    api: Api, temporal_client: Client
) -> None:
    paid = await api.create_order(protection_days=180)
    before = stable(await api.get(paid))
    d1 = dispute()
    assert unheld(await freeze(api, paid.order_id, d1)) == before
    assert unheld(await unfreeze(api, paid.order_id, d1)) == before
    assert unheld(await unfreeze(api, paid.order_id, d1)) == before  # retried release

    shipped_at = datetime.now(UTC)
    shipped = await api.ship(paid)
    expires = assert_running(shipped)
    assert timedelta(0) < expires - shipped_at < timedelta(seconds=180 * DAY_SECONDS + 1)
    assert "PROTECTION_FROZEN" not in actions(shipped)
    assert (await clock_state(temporal_client, shipped)).frozen_by == []

    # Of two disputes before shipment, the one still open freezes the clock until it ends.
    other = await api.create_order(protection_days=180)
    d2, d3 = dispute(), dispute()
    for d in (d2, d3, d2):
        await freeze(api, other.order_id, d)
    await unfreeze(api, other.order_id, d2)
    frozen = await api.ship(other)
    assert_paused(frozen, 180 * DAY_SECONDS)
    assert frozen.protection.remaining_seconds == int(180 * DAY_SECONDS)
    assert (await clock_state(temporal_client, frozen)).frozen_by == [d3]
    assert stable(await unfreeze(api, other.order_id, d2)) == stable(frozen)  # already released
    assert_running(await unfreeze(api, other.order_id, d3))


async def test_an_interrupted_shipment_catches_its_clock_up(api: Api, temporal_client: Client) -> None:
    """MarkShipped starts the clock before it records the shipment. If it was interrupted in
    between and disputes froze or released the order since, the retry brings the clock it finds
    to the order's freezes before recording it."""
    clock = ProtectionClient(temporal_client)
    window = timedelta(seconds=180 * DAY_SECONDS)

    async def interrupted(order: orders_pb2.Order, frozen_by: list[str]) -> None:
        started = await clock.start(
            order.order_id, order.buyer_id, order.seller_id, datetime.now(UTC) + window, window, frozen_by
        )
        assert started.created and (await api.get(order)).status == orders_pb2.ORDER_STATUS_PAID

    # Started running; a dispute froze the order afterwards.
    first = await api.create_order(protection_days=180)
    await interrupted(first, [])
    d1 = dispute()
    await freeze(api, first.order_id, d1)
    shipped = await api.ship(first)
    assert shipped.status == orders_pb2.ORDER_STATUS_SHIPPED
    assert_paused(shipped, window.total_seconds())
    assert actions(shipped).count("PROTECTION_FROZEN") == 1
    assert (await clock_state(temporal_client, shipped)).frozen_by == [d1]
    assert_running(await unfreeze(api, first.order_id, d1))

    # Started frozen by a dispute that ended before the retry.
    second = await api.create_order(protection_days=180)
    d2 = dispute()
    await freeze(api, second.order_id, d2)
    await interrupted(second, [d2])
    await unfreeze(api, second.order_id, d2)
    running = await api.ship(second)
    assert running.status == orders_pb2.ORDER_STATUS_SHIPPED
    assert_running(running)
    assert (await clock_state(temporal_client, running)).frozen_by == []
    assert stable(await unfreeze(api, second.order_id, d2)) == stable(running)  # retried: no-op


async def test_receipt_is_confirmed_once_the_dispute_ends(api: Api) -> None:
    """Confirming receipt completes the order and releases escrow: not while a dispute holds it."""
    order = await api.ship(await api.create_order(protection_days=180))
    d = dispute()
    assert_paused(await freeze(api, order.order_id, d), 180 * DAY_SECONDS)
    confirm = orders_pb2.ConfirmReceiptRequest(order_id=order.order_id)
    buyer = api.auth(order.buyer_id, Role.BUYER)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.orders.ConfirmReceipt(confirm, metadata=buyer)
    assert refused.value.code() == C.FAILED_PRECONDITION
    assert dict(refused.value.trailing_metadata() or ()).get("dp-error-reason") == "DISPUTE_OPEN"
    assert (await api.get(order)).status == orders_pb2.ORDER_STATUS_SHIPPED
    await unfreeze(api, order.order_id, d)
    await api.orders.ConfirmReceipt(confirm, metadata=buyer)
    done = await wait_for_status(api, order, orders_pb2.ORDER_STATUS_COMPLETED, 15)
    assert done.completion_reason == orders_pb2.COMPLETION_REASON_BUYER_CONFIRMED
    assert not done.protection.frozen and done.protection.remaining_seconds == 0
    assert [d.kind for d in done.deadlines] == ["DISPUTE_GRACE_ENDS"]


async def test_an_ended_clock_answers_not_running(api: Api, temporal_client: Client) -> None:
    """The race the hooks tolerate: the row still says SHIPPED while the clock has ended."""
    order = await api.ship(await api.create_order())
    await api.orders.ConfirmReceipt(
        orders_pb2.ConfirmReceiptRequest(order_id=order.order_id),
        metadata=api.auth(order.buyer_id, Role.BUYER),
    )
    handle: WorkflowHandle[OrderProtectionWorkflow, ProtectionState] = (
        temporal_client.get_workflow_handle_for(OrderProtectionWorkflow.run, workflow_id(order.order_id))
    )
    await asyncio.wait_for(handle.result(), timeout=30)
    clock = ProtectionClient(temporal_client)
    with pytest.raises(ClockNotRunning):
        await clock.freeze(order.order_id, dispute())
    with pytest.raises(ClockNotRunning):
        await clock.unfreeze(order.order_id, dispute())


async def test_cancelled_orders_are_refused(api: Api) -> None:
    order = await api.create_order()
    await api.orders.CancelOrder(
        orders_pb2.CancelOrderRequest(order_id=order.order_id, reason="changed my mind"),
        metadata=api.auth(order.buyer_id, Role.BUYER),
    )
    before = stable(await api.get(order))
    d = dispute()
    details = await expect(C.FAILED_PRECONDITION, freeze(api, order.order_id, d))
    assert "CANCELLED" in details
    assert stable(await unfreeze(api, order.order_id, d)) == before  # nothing holds it: a no-op
    assert stable(await api.get(order)) == before


async def test_only_the_disputes_worker_may_freeze(api: Api) -> None:
    order = await api.ship(await api.create_order(protection_days=180))
    before = stable(await api.get(order))
    callers = [
        api.auth(order.buyer_id, Role.BUYER),
        api.auth(order.seller_id, Role.SELLER),
        api.auth("arb-1", Role.ARBITER),
        api.service(),  # support: a service, but not the disputes worker
        api.checkout(),
        api.auth("worker-orders", Role.SERVICE),
        api.auth("dispute-svc", Role.SERVICE),  # it holds orders while opening, nothing more
    ]
    d = dispute()
    for md in callers:
        await expect(C.PERMISSION_DENIED, freeze(api, order.order_id, d, md))
        await expect(C.PERMISSION_DENIED, unfreeze(api, order.order_id, d, md))
    assert stable(await api.get(order)) == before
    assert_paused(await freeze(api, order.order_id, d), 180 * DAY_SECONDS)  # the worker may


async def test_bad_ids_and_unknown_orders(api: Api) -> None:
    order = await api.ship(await api.create_order(protection_days=180))
    before = stable(await api.get(order))
    for call in (freeze, unfreeze):
        await expect(C.NOT_FOUND, call(api, str(uuid.uuid4()), dispute()))
        await expect(C.INVALID_ARGUMENT, call(api, "", dispute()))
        await expect(C.INVALID_ARGUMENT, call(api, "order-1", dispute()))
        await expect(C.INVALID_ARGUMENT, call(api, order.order_id, ""))
        details = await expect(C.INVALID_ARGUMENT, call(api, order.order_id, "dispute-1"))
        assert "dispute_id" in details
    assert stable(await api.get(order)) == before


# --- SetAccountBlocked / GetAccountStatus -------------------------------------------------------


async def set_blocked(
    api: Api, account_id: str, blocked: bool, reason: str = "", md: Metadata | None = None
) -> orders_pb2.AccountStatus:
    req = orders_pb2.SetAccountBlockedRequest(account_id=account_id, blocked=blocked, reason=reason)
    return (await api.orders.SetAccountBlocked(req, metadata=md or api.service())).account


async def status(api: Api, account_id: str, md: Metadata | None = None) -> orders_pb2.AccountStatus:
    req = orders_pb2.GetAccountStatusRequest(account_id=account_id)
    return (await api.orders.GetAccountStatus(req, metadata=md or api.service())).account


async def test_block_and_unblock_an_account(api: Api) -> None:
    account = f"buyer-{uuid.uuid4().hex[:8]}"
    unknown = await status(api, account)
    assert unknown == orders_pb2.AccountStatus(account_id=account, blocked=False)
    assert not unknown.HasField("updated_at")

    started = datetime.now(UTC)
    blocked = await set_blocked(api, account, True, "chargeback fraud, case 4411")
    assert blocked.account_id == account and blocked.blocked
    assert blocked.reason == "chargeback fraud, case 4411"
    assert abs(blocked.updated_at.ToDatetime(tzinfo=UTC) - started) < timedelta(seconds=5)
    assert await status(api, account) == blocked
    # Arbiters are not account readers: they see a dispute's parties through the dispute.
    await expect(C.PERMISSION_DENIED, status(api, account, api.auth("arb-1", Role.ARBITER)))

    await asyncio.sleep(0.05)
    assert await set_blocked(api, account, True, "chargeback fraud, case 4411") == blocked  # idempotent

    unblocked = await set_blocked(api, account, False, "appeal accepted")
    assert not unblocked.blocked and unblocked.reason == "appeal accepted"
    assert unblocked.updated_at.ToDatetime() > blocked.updated_at.ToDatetime()
    assert await status(api, account, api.auth(account, Role.BUYER)) == unblocked


async def test_account_requests_are_validated(api: Api) -> None:
    account = f"seller-{uuid.uuid4().hex[:8]}"
    for bad_id in ("", "   ", "a" * 129):
        await expect(C.INVALID_ARGUMENT, set_blocked(api, bad_id, True))
        await expect(C.INVALID_ARGUMENT, status(api, bad_id))
    await expect(C.INVALID_ARGUMENT, set_blocked(api, account, True, "r" * 501))
    await expect(C.INVALID_ARGUMENT, set_blocked(api, account, True, "line\x00break"))
    for role in (Role.BUYER, Role.SELLER, Role.ARBITER):  # trust & safety tooling only
        await expect(C.PERMISSION_DENIED, set_blocked(api, account, True, md=api.auth(account, role)))
    assert not (await status(api, account)).HasField("updated_at")  # nothing was written

    longest = "a" * 120 + uuid.uuid4().hex[:8]
    edge = await set_blocked(api, longest, True, "é" * 500)  # limits count characters, not bytes
    assert (edge.account_id, edge.blocked, edge.reason) == (longest, True, "é" * 500)
    assert await status(api, longest) == edge


async def test_buyers_and_sellers_read_only_their_own_status(api: Api) -> None:
    buyer, other = f"buyer-{uuid.uuid4().hex[:8]}", f"buyer-{uuid.uuid4().hex[:8]}"
    seller = f"seller-{uuid.uuid4().hex[:8]}"
    await set_blocked(api, buyer, True, "abuse")
    assert (await status(api, buyer, api.auth(buyer, Role.BUYER))).blocked
    await expect(C.PERMISSION_DENIED, status(api, buyer, api.auth(other, Role.BUYER)))
    await expect(C.PERMISSION_DENIED, status(api, buyer, api.auth(seller, Role.SELLER)))
    assert not (await status(api, other, api.auth(other, Role.BUYER))).blocked
    assert not (await status(api, seller, api.auth(seller, Role.SELLER))).blocked


# --- the account upsert on both SQL backends -----------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderRepository]:
    url = (
        f"sqlite:///{tmp_path / 'orders.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    repository = OrderRepository(url)  # runs the migrations, 0002 (accounts) included
    yield repository
    repository.close()


async def test_concurrent_first_writes_store_one_account(repo: OrderRepository) -> None:
    account = f"buyer-{uuid.uuid4().hex}"
    actor = Caller("trust-safety", Role.SERVICE)
    base = datetime(2030, 1, 1, tzinfo=UTC)
    rows = await asyncio.gather(
        *(repo.set_account(account, True, "fraud", base + timedelta(seconds=i), actor) for i in range(10))
    )
    assert len({r.updated_at for r in rows}) == 1  # one insert won; the rest were no-ops
    stored = await repo.get_account(account)
    assert stored is not None and stored.blocked and stored.updated_at == rows[0].updated_at
    changed = await repo.set_account(account, False, "", base + timedelta(days=1), actor)
    assert not changed.blocked and changed.updated_at == base + timedelta(days=1)
    assert await repo.get_account(f"never-{uuid.uuid4().hex}") is None


async def test_holds_and_shipment_exclude_each_other(repo: OrderRepository) -> None:
    actor = Caller("seller-1", Role.SELLER)
    row = await repo.create(new_order(), datetime.now(UTC), actor)
    d1, d2 = dispute(), dispute()
    now = datetime.now(UTC)
    await asyncio.gather(*(repo.ledger.hold(row.id, d, "", now, actor) for d in (d1, d2, d1, d2)))
    held = await repo.data(row.id)
    assert sorted(h.dispute_id for h in held.holds) == sorted([d1, d2])
    assert await repo.ledger.release_hold(row.id, d1, None, now, actor)
    assert await repo.ledger.release_hold(row.id, d1, None, now, actor)  # idempotent
    assert [h.dispute_id for h in (await repo.data(row.id)).holds] == [d2]

    shipped_values = {
        "status": Status.SHIPPED.value,
        "protection_expires_at": None,
        "protection_frozen": True,
        "protection_remaining_s": 6,
        "extended_days": 0,
    }
    event = (datetime.now(UTC), actor, "ORDER_SHIPPED", "DHL 1234")
    with pytest.raises(FreezesChanged) as changed:  # started with a stale set of holds
        await repo.ship(row.id, [d1, d2], shipped_values, event)
    assert changed.value.pending == [d2]
    assert (await repo.get(row.id)).status == Status.PAID.value

    shipped = await repo.ship(row.id, [d2], shipped_values, event)
    assert shipped.status == Status.SHIPPED.value
    events = (await repo.data(row.id)).events
    assert [e.action for e in events][-2:] == ["ORDER_SHIPPED", "PROTECTION_FROZEN"]
    # ... and a second shipment loses.
    with pytest.raises(FailedPrecondition):
        await repo.ship(row.id, [d2], shipped_values, event)


async def test_a_release_drops_only_the_hold_of_its_own_opening(repo: OrderRepository) -> None:
    """Openings hold with a token "g<incarnation>.<random>". A newer incarnation takes the hold
    over; an abandoned one's release then leaves it alone, and a late hold by an incarnation that
    was released holds nothing (only a newer one holds again)."""
    actor = Caller("dispute-svc", Role.SERVICE)
    row = await repo.create(new_order(), datetime.now(UTC), actor)
    d = dispute()
    now = datetime.now(UTC)
    await repo.ledger.hold(row.id, d, "g1.first", now, actor)
    await repo.ledger.hold(row.id, d, "g2.retry", now, actor)
    await repo.ledger.hold(row.id, d, "g1.first", now, actor)  # an older incarnation takes nothing over
    assert not await repo.ledger.release_hold(row.id, d, "g1.first", now, actor)
    assert [h.token for h in (await repo.data(row.id)).holds] == ["g2.retry"]
    assert await repo.ledger.release_hold(row.id, d, "g2.retry", now, actor)
    assert not (await repo.data(row.id)).holds
    late = await repo.ledger.hold(row.id, d, "g2.retry", now, actor)  # a late call of the released one
    assert late.hold is None and not (await repo.data(row.id)).holds
    revived = await repo.ledger.hold(row.id, d, "g3.again", now, actor)
    assert revived.hold is not None and [h.token for h in (await repo.data(row.id)).holds] == ["g3.again"]


async def test_a_hold_that_arrives_after_its_release_holds_nothing(repo: OrderRepository) -> None:
    """A stalled opening's hold reaches OrderService only after the opening was abandoned and
    its (not yet existing) hold released: it must not hold the order for ever."""
    actor = Caller("dispute-svc", Role.SERVICE)
    row = await repo.create(new_order(), datetime.now(UTC), actor)
    d = dispute()
    now = datetime.now(UTC)
    assert await repo.ledger.release_hold(row.id, d, "g1.stalled", now, actor)
    late = await repo.ledger.hold(row.id, d, "g1.stalled", now, actor)
    assert late.hold is None and not (await repo.data(row.id)).holds
    cancelled = await repo.ledger.cancel(row.id, "buyer changed their mind", now, actor)
    assert cancelled.status == Status.CANCELLED.value  # a held order could not be cancelled


async def test_the_disputes_own_freeze_owns_the_hold(repo: OrderRepository) -> None:
    """Once the dispute's workflow holds the order (token ""), no opening's release ends the hold:
    only the dispute's own release at its close does."""
    actor = Caller("dispute-svc", Role.SERVICE)
    row = await repo.create(new_order(), datetime.now(UTC), actor)
    d = dispute()
    now = datetime.now(UTC)
    await repo.ledger.hold(row.id, d, "g1.opening", now, actor)
    await repo.ledger.hold(row.id, d, "", now, actor)
    await repo.ledger.hold(row.id, d, "g2.newer", now, actor)  # no opening takes it back
    assert not await repo.ledger.release_hold(row.id, d, "g1.opening", now, actor)
    assert not await repo.ledger.release_hold(row.id, d, "g2.newer", now, actor)
    assert [h.token for h in (await repo.data(row.id)).holds] == [""]
    assert await repo.ledger.release_hold(row.id, d, None, now, actor)
    assert not (await repo.data(row.id)).holds
