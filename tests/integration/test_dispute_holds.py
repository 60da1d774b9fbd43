"""An opening holds its order whatever process is down: the hold is recorded by OpenDispute in
OrderService's own store before anything else, so the order never completes (or releases escrow,
or is cancelled) under an acknowledged dispute; and an opening that failed never blocks its
order. These tests stop the disputes worker, or Temporal itself, on the shared stack."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from disputes.v1 import disputes_pb2 as pb
from orders.v1 import orders_pb2

from deploy.stack import Stack
from platform_common.auth import Role
from tests.harness.fixtures import DAY_SECONDS
from tests.integration.conftest import Api
from tests.integration.disputes_api import (
    C,
    Case,
    disputable,
    disputes,
    get,
    open_dispute,
    open_request,
    refused,
    status_becomes,
)
from tests.integration.test_orders_disputes_hooks import wait_for_status

PROTECTION_DAYS = 8  # a 4 s window: opening is possible from 2.5 s after shipment


def _now() -> datetime:
    return datetime.now(UTC)


async def test_an_opening_holds_its_order_with_the_disputes_worker_down(api: Api) -> None:
    """The reported defect: OpenDispute 0.25 policy days before the window ends, the disputes
    worker down. The order must not complete for three windows, and must complete correctly
    (the whole escrow to the seller, after the time it had left) once the dispute ends."""
    stack = api.stack
    order = await api.ship(await api.create_order(protection_days=PROTECTION_DAYS))
    case = Case(order)
    expires = (await api.get(order)).protection.expires_at.ToDatetime(tzinfo=UTC)
    worker = stack.apps["worker-disputes"]
    worker.kill()
    try:
        await asyncio.sleep((expires - timedelta(seconds=0.25 * DAY_SECONDS) - _now()).total_seconds())
        accepted_at = _now()
        opening = asyncio.ensure_future(
            disputes(api).OpenDispute(
                open_request(case), metadata=api.auth(case.buyer, Role.BUYER), timeout=60
            )
        )
        await asyncio.sleep(3 * PROTECTION_DAYS * DAY_SECONDS)  # three whole windows
        held = await api.get(order)
        assert held.status == orders_pb2.ORDER_STATUS_SHIPPED, held
        assert held.escrow_status == orders_pb2.ESCROW_STATUS_HELD and held.escrow.released.minor_units == 0
        [hold] = held.holds
        assert hold.held_at.ToDatetime(tzinfo=UTC) < expires  # held before the window ended
        assert held.protection.frozen and held.deadlines[0].paused
        assert not opening.done()  # OpenDispute waits for the worker; the hold did not
    finally:
        worker.start()
    dispute = (await opening).dispute
    # Opened when OpenDispute accepted it, not when the worker came back 12 s later.
    assert abs(dispute.opened_at.ToDatetime(tzinfo=UTC) - accepted_at) < timedelta(seconds=2)
    assert [h.dispute_id for h in (await api.get(order)).holds] == [dispute.dispute_id]

    await disputes(api).CancelDispute(
        pb.CancelDisputeRequest(dispute_id=dispute.dispute_id), metadata=api.auth(case.buyer, Role.BUYER)
    )
    await status_becomes(api, dispute.dispute_id, pb.DISPUTE_STATUS_CLOSED_CANCELLED)
    ended_at = _now()
    done = await wait_for_status(api, order, orders_pb2.ORDER_STATUS_COMPLETED, 20)
    assert done.escrow_status == orders_pb2.ESCROW_STATUS_RELEASED
    assert done.escrow.released.minor_units == order.total.minor_units and not done.holds
    # It completed once the dispute ended, after (about) the 0.125 s it had left.
    assert done.completed_at.ToDatetime(tzinfo=UTC) > ended_at - timedelta(seconds=1)


async def test_get_dispute_answers_within_the_callers_deadline_with_the_worker_down(api: Api) -> None:
    (case,) = await disputable(api)
    d = await open_dispute(api, case)
    recorded = await status_becomes(api, d.dispute_id, pb.DISPUTE_STATUS_AWAITING_SELLER_RESPONSE)
    worker = api.stack.apps["worker-disputes"]
    worker.kill()
    try:
        started = time.monotonic()
        resp = await disputes(api).GetDispute(
            pb.GetDisputeRequest(dispute_id=d.dispute_id), metadata=api.service(), timeout=3
        )
        took = time.monotonic() - started
        assert resp.dispute.dispute_id == d.dispute_id == recorded.dispute_id
        assert took < 2.0, took  # the query gave up after 1 s and the read model answered
    finally:
        worker.start()


async def test_cancel_order_is_refused_while_a_dispute_is_open(api: Api) -> None:
    """An unshipped order disputed after its ship-by date cannot be cancelled under the dispute
    (the cancellation would return the payment while the dispute settles a refund as well)."""
    paid = await api.create_order()
    case = Case(paid)
    buyer = api.auth(case.buyer, Role.BUYER)
    # Not shipped within its handling time: 7 days.
    await asyncio.sleep(7 * DAY_SECONDS + 0.3)
    d = await open_dispute(api, case, goods_received=False, reason=pb.DISPUTE_REASON_NOT_DELIVERED,
                           solution=pb.Solution(type=pb.SOLUTION_TYPE_FULL_REFUND))  # fmt: skip
    cancel = orders_pb2.CancelOrderRequest(order_id=paid.order_id, reason="never mind")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.orders.CancelOrder(cancel, metadata=buyer)
    assert err.value.code() == C.FAILED_PRECONDITION
    assert dict(err.value.trailing_metadata() or ()).get("dp-error-reason") == "DISPUTE_OPEN"
    assert (await api.get(paid)).status == orders_pb2.ORDER_STATUS_PAID
    await disputes(api).CancelDispute(pb.CancelDisputeRequest(dispute_id=d.dispute_id), metadata=buyer)
    await status_becomes(api, d.dispute_id, pb.DISPUTE_STATUS_CLOSED_CANCELLED)
    for _ in range(50):  # the hold goes with the dispute's close
        if not (await api.get(paid)).holds:
            break
        await asyncio.sleep(0.2)
    cancelled = (await api.orders.CancelOrder(cancel, metadata=buyer)).order
    assert cancelled.status == orders_pb2.ORDER_STATUS_CANCELLED
    assert cancelled.escrow_status == orders_pb2.ESCROW_STATUS_RETURNED
    assert cancelled.escrow.refunded.minor_units == paid.total.minor_units


async def test_an_opening_that_failed_with_temporal_down_never_blocks_the_order(api: Api) -> None:
    stack: Stack = api.stack
    # An order never shipped, past its ship-by date: disputable as not received, and with no
    # protection clock running, nothing about it changes by itself however long the outage and
    # Temporal's restart take (a shipped order's window could end meanwhile).
    order = await api.create_order()
    await asyncio.sleep(7 * DAY_SECONDS + 0.3)  # the default 7 handling days
    case = Case(await api.get(order))
    not_received = {
        "goods_received": False,
        "reason": pb.DISPUTE_REASON_NOT_DELIVERED,
        "solution": pb.Solution(type=pb.SOLUTION_TYPE_FULL_REFUND, return_goods=False),
    }
    buyer = api.auth(case.buyer, Role.BUYER)
    stack.temporal.stop()
    try:
        code = await refused(
            C.UNAVAILABLE,
            disputes(api).OpenDispute(open_request(case, **not_received), metadata=buyer, timeout=45),
        )
        assert code
    finally:
        stack.temporal.start()
    # At once (not a minute later): another opening on the order settles the failed one (its
    # workflow never started: abandoned, its hold dropped) and opens.
    for _ in range(60):
        try:
            d = await open_dispute(api, case, **not_received)
            break
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == C.UNAVAILABLE, exc  # Temporal still coming back: never ALREADY_EXISTS
            await asyncio.sleep(0.5)
    else:
        raise AssertionError("the order stayed blocked")
    assert d.attempt == 1  # the abandoned opening gave its attempt number back
    held = await api.get(case.order)
    assert held.status == orders_pb2.ORDER_STATUS_PAID
    assert [h.dispute_id for h in held.holds] == [d.dispute_id], [(e.action, e.detail) for e in held.timeline]
    # Open and running. Which open state it is in is not this test's point: its deadlines run
    # from the moment the opening was accepted, and the worker reconnecting after Temporal's
    # restart can take longer than the seller's 15 test days (7.5 s) on a loaded machine, in
    # which case the dispute has rightly escalated already.
    assert (await get(api, d.dispute_id)).status in (
        pb.DISPUTE_STATUS_AWAITING_SELLER_RESPONSE,
        pb.DISPUTE_STATUS_UNDER_ARBITRATION,
    )
