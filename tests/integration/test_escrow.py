"""The order's escrow over the real stack: refunds settled through RefundService and the payment
processor move the order's ledger, completion releases only what nobody refunded, and a refund
after the release is recovered from the seller. Always: paid = held + refunded + released -
recovered, and nobody is paid twice."""

from __future__ import annotations

import asyncio
import uuid

import grpc
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from orders.v1 import orders_pb2
from refunds.v1 import refunds_pb2, refunds_pb2_grpc

from platform_common import access
from platform_common.auth import Role
from tests.harness.fixtures import DAY_SECONDS
from tests.integration.conftest import Api
from tests.integration.disputes_api import disputable, disputes, open_dispute, partial, status_becomes
from tests.integration.test_orders_disputes_hooks import wait_for_status
from tests.integration.test_refunds import provider, wait_status

C = grpc.StatusCode


def money(order: orders_pb2.Order) -> dict[str, int]:
    e = order.escrow
    return {
        "paid": e.paid.minor_units,
        "held": e.held.minor_units,
        "refunded": e.refunded.minor_units,
        "pending": e.pending.minor_units,
        "released": e.released.minor_units,
        "recovered": e.recovered.minor_units,
    }


def exact(order: orders_pb2.Order) -> dict[str, int]:
    m = money(order)
    assert m["paid"] == order.total.minor_units
    assert m["held"] + m["refunded"] + m["released"] - m["recovered"] == m["paid"], m
    assert min(m.values()) >= 0, m
    return m


async def _accept(api: Api, case_seller: str, dispute_id: str) -> None:
    await disputes(api).RespondAsSeller(
        pb.RespondAsSellerRequest(dispute_id=dispute_id, response_type=pb.SELLER_RESPONSE_TYPE_ACCEPT),
        metadata=api.auth(case_seller, Role.SELLER),
    )


async def test_a_full_refund_leaves_nothing_for_the_seller(api: Api) -> None:
    """The reported defect: the dispute refunded 100%, the clock resumed at close, and when the
    window ended CompleteOrder released the whole escrow to the seller as well."""
    (case,) = await disputable(api, protection_days=8)  # a 4 s window: it ends during the test
    full = pb.Solution(type=pb.SOLUTION_TYPE_FULL_REFUND)
    d = await open_dispute(api, case, solution=full)
    await _accept(api, case.seller, d.dispute_id)
    await status_becomes(api, d.dispute_id, pb.DISPUTE_STATUS_CLOSED_REFUNDED)
    refunded = await wait_for_status(api, case.order, orders_pb2.ORDER_STATUS_REFUNDED, 30)
    assert refunded.escrow_status == orders_pb2.ESCROW_STATUS_RETURNED
    assert exact(refunded) == {
        **money(refunded),
        "held": 0,
        "released": 0,
        "refunded": case.order.total.minor_units,
    }
    [entry] = refunded.escrow.entries
    assert entry.state == orders_pb2.ESCROW_ENTRY_STATE_SETTLED and entry.reason == "DISPUTE"
    assert entry.issuer == access.DISPUTES_WORKER and not entry.recovered_from_seller
    # The clock runs out after the dispute: the order stays refunded, nothing is released.
    await asyncio.sleep(8 * DAY_SECONDS + 2)
    after = await api.get(case.order)
    assert after.status == orders_pb2.ORDER_STATUS_REFUNDED and money(after)["released"] == 0
    assert "ORDER_COMPLETED" not in [e.action for e in after.timeline]


async def test_completion_releases_what_was_not_refunded(api: Api) -> None:
    (case,) = await disputable(api, protection_days=8)
    d = await open_dispute(api, case, solution=partial(4_000))
    await _accept(api, case.seller, d.dispute_id)
    await status_becomes(api, d.dispute_id, pb.DISPUTE_STATUS_CLOSED_REFUNDED)
    done = await wait_for_status(api, case.order, orders_pb2.ORDER_STATUS_COMPLETED, 30)
    assert done.escrow_status == orders_pb2.ESCROW_STATUS_RELEASED
    paid = case.order.total.minor_units
    assert exact(done) == {
        "paid": paid, "held": 0, "refunded": 4_000, "pending": 0, "released": paid - 4_000, "recovered": 0,
    }  # fmt: skip


async def test_a_refund_after_the_release_is_recovered_from_the_seller(api: Api) -> None:
    (case,) = await disputable(api)
    await api.orders.ConfirmReceipt(
        orders_pb2.ConfirmReceiptRequest(order_id=case.order.order_id),
        metadata=api.auth(case.buyer, Role.BUYER),
    )
    completed = await wait_for_status(api, case.order, orders_pb2.ORDER_STATUS_COMPLETED, 15)
    paid = case.order.total.minor_units
    assert exact(completed)["released"] == paid
    # Within the completion grace the buyer may still dispute; the refund is paid by the
    # platform and taken back from the seller.
    d = await open_dispute(api, case, solution=partial(2_500))
    await _accept(api, case.seller, d.dispute_id)
    await status_becomes(api, d.dispute_id, pb.DISPUTE_STATUS_CLOSED_REFUNDED)

    async def recovered() -> orders_pb2.Order:
        for _ in range(100):
            order = await api.get(case.order)
            if money(order)["recovered"]:
                return order
            await asyncio.sleep(0.2)
        raise AssertionError("the recovery never reached the order")

    order = await recovered()
    assert exact(order) == {
        "paid": paid, "held": 0, "refunded": 2_500, "pending": 0, "released": paid, "recovered": 2_500,
    }  # fmt: skip
    assert order.status == orders_pb2.ORDER_STATUS_COMPLETED
    assert [e.recovered_from_seller for e in order.escrow.entries] == [True]


async def test_a_pending_refund_is_held_back_from_the_release(api: Api) -> None:
    """A goodwill refund by support is still settling when the buyer confirms receipt: its
    amount stays in escrow, the rest goes to the seller, and the refund settles from escrow."""
    order = await api.ship(await api.create_order(minor_units=10_000))
    refunds = refunds_pb2_grpc.RefundServiceStub(api.channels["REFUND"])
    provider(api.stack, "POST", "/admin/config", {"never_settle": True})
    try:
        issued = (
            await refunds.IssueRefund(
                refunds_pb2.IssueRefundRequest(
                    idempotency_key=f"support/{uuid.uuid4()}",
                    order_id=order.order_id,
                    amount=common_pb2.Money(minor_units=3_000, currency="EUR"),
                    reason="parcel arrived late; goodwill",
                    kind=refunds_pb2.REFUND_KIND_GOODWILL,
                ),
                metadata=api.service(access.SUPPORT),
            )
        ).refund
        assert issued.kind == refunds_pb2.REFUND_KIND_GOODWILL and issued.issuer == access.SUPPORT
        held = await api.get(order)  # the order knew of it before the refund was answered
        assert exact(held)["pending"] == 3_000
        await api.orders.ConfirmReceipt(
            orders_pb2.ConfirmReceiptRequest(order_id=order.order_id),
            metadata=api.auth(order.buyer_id, Role.BUYER),
        )
        done = await wait_for_status(api, order, orders_pb2.ORDER_STATUS_COMPLETED, 15)
        assert done.escrow_status == orders_pb2.ESCROW_STATUS_HELD  # 3,000 still held for the refund
        assert exact(done) == {
            "paid": 10_000, "held": 3_000, "refunded": 0, "pending": 3_000, "released": 7_000, "recovered": 0,
        }  # fmt: skip
    finally:
        provider(api.stack, "POST", "/admin/config", {"never_settle": False})
    await wait_status(api, refunds, issued.refund_id, refunds_pb2.REFUND_STATUS_REFUNDED, timeout=60)
    for _ in range(100):
        settled = await api.get(order)
        if money(settled)["refunded"]:
            break
        await asyncio.sleep(0.2)
    assert exact(settled) == {
        "paid": 10_000, "held": 0, "refunded": 3_000, "pending": 0, "released": 7_000, "recovered": 0,
    }  # fmt: skip
    assert settled.escrow_status == orders_pb2.ESCROW_STATUS_RELEASED
    [entry] = settled.escrow.entries
    assert (entry.reason, entry.issuer) == ("GOODWILL", access.SUPPORT)
