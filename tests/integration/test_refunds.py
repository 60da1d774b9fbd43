"""RefundService over gRPC on the real stack, with the simulated processor as a separate process."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import grpc
import pytest
from common.v1 import common_pb2
from orders.v1 import orders_pb2
from refunds.v1 import refunds_pb2, refunds_pb2_grpc

from deploy.stack import Stack
from platform_common import access
from platform_common.auth import Role
from tests.integration.conftest import Api

C = grpc.StatusCode


def provider(stack: Stack, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{stack.ports.provider}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={
            "Authorization": f"Bearer {stack.secrets.provider_api_key}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        result: dict[str, Any] = json.loads(resp.read())
        return result


def provider_refunds(stack: Stack, key: str) -> list[dict[str, Any]]:
    """What the processor holds for one ledger refund (its attempts are '<key>:<n>')."""
    return [
        r
        for r in provider(stack, "GET", "/admin/refunds")["refunds"]
        if r["idempotency_key"].startswith(f"{key}:")
    ]


@pytest.fixture
def processor(stack: Stack) -> Iterator[None]:
    """Tests change the processor's behaviour; every test starts and ends with the defaults."""
    defaults = {"available": True, "decline_rate": 0.0, "never_settle": False, "response_delay_seconds": 0.0}
    provider(stack, "POST", "/admin/config", defaults)
    yield
    provider(stack, "POST", "/admin/config", defaults)


@pytest.fixture
def refunds(api: Api, processor: None) -> refunds_pb2_grpc.RefundServiceStub:
    return refunds_pb2_grpc.RefundServiceStub(api.channels["REFUND"])


def issue(
    order: orders_pb2.Order, minor: int, key: str | None = None, **kw: Any
) -> refunds_pb2.IssueRefundRequest:
    """A dispute round's refund, as the disputes worker issues it."""
    dispute_id = kw.get("dispute_id") or str(uuid.uuid4())
    return refunds_pb2.IssueRefundRequest(
        idempotency_key=key or f"dispute/{dispute_id}/round/1",
        order_id=order.order_id,
        dispute_id=dispute_id,
        amount=common_pb2.Money(minor_units=minor, currency=kw.get("currency", order.total.currency)),
        reason=kw.get("reason", "item not as described"),
        kind=refunds_pb2.REFUND_KIND_DISPUTE,
    )


def worker(api: Api) -> list[tuple[str, str]]:
    return api.service(access.DISPUTES_WORKER)


async def wait_status(
    api: Api, refunds: refunds_pb2_grpc.RefundServiceStub, refund_id: str, status: int, timeout: float = 60
) -> refunds_pb2.Refund:
    deadline = time.monotonic() + timeout
    while True:
        refund = (
            await refunds.GetRefund(refunds_pb2.GetRefundRequest(refund_id=refund_id), metadata=api.service())
        ).refund
        if refund.status == status:
            return refund
        if time.monotonic() > deadline:
            raise AssertionError(f"refund never reached {refunds_pb2.RefundStatus.Name(status)}: {refund}")
        await asyncio.sleep(0.1)


async def expect(code: grpc.StatusCode, call: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    assert err.value.code() == code, err.value.details()
    return err.value.details() or ""


async def test_refund_reaches_the_original_payment_method_with_a_tracker(
    api: Api, refunds: refunds_pb2_grpc.RefundServiceStub
) -> None:
    order = await api.ship(await api.create_order(minor_units=10_000))
    issued = (await refunds.IssueRefund(issue(order, 4_000), metadata=worker(api))).refund
    assert issued.status == refunds_pb2.REFUND_STATUS_PENDING
    assert issued.payment_method_reference == order.payment_method.reference == "card_tok_42"
    assert issued.expected_by.ToDatetime(tzinfo=UTC) > issued.created_at.ToDatetime(
        tzinfo=UTC
    )  # shown at once

    done = await wait_status(api, refunds, issued.refund_id, refunds_pb2.REFUND_STATUS_REFUNDED)
    history = [refunds_pb2.RefundStatus.Name(h.status) for h in done.status_history]
    assert history[0] == "REFUND_STATUS_PENDING" and history[-1] == "REFUND_STATUS_REFUNDED"
    assert "REFUND_STATUS_PROCESSING" in history
    times = [h.at.ToDatetime(tzinfo=UTC) for h in done.status_history]
    assert times == sorted(times)
    [at_provider] = provider_refunds(api.stack, issued.idempotency_key)
    assert at_provider["id"] == done.provider_reference and at_provider["status"] == "succeeded"
    assert at_provider["amount_minor"] == 4_000 and at_provider["payment_reference"] == "card_tok_42"
    assert done.HasField("refunded_at")

    mine = await refunds.GetRefund(
        refunds_pb2.GetRefundRequest(refund_id=issued.refund_id),
        metadata=api.auth(order.buyer_id, Role.BUYER),
    )
    assert mine.refund.status == refunds_pb2.REFUND_STATUS_REFUNDED
    await expect(
        C.PERMISSION_DENIED,
        refunds.GetRefund(
            refunds_pb2.GetRefundRequest(refund_id=issued.refund_id), metadata=api.auth("other", Role.BUYER)
        ),
    )
    listed = await refunds.ListRefunds(
        refunds_pb2.ListRefundsRequest(order_id=order.order_id), metadata=api.service()
    )
    assert [r.refund_id for r in listed.refunds] == [issued.refund_id]
    assert listed.refunded_total.minor_units == 4_000


async def test_duplicates_sequential_and_concurrent_make_one_provider_refund(
    api: Api, refunds: refunds_pb2_grpc.RefundServiceStub
) -> None:
    order = await api.create_order(minor_units=5_000)
    request = issue(order, 5_000)
    first = (await refunds.IssueRefund(request, metadata=worker(api))).refund
    again = (await refunds.IssueRefund(request, metadata=worker(api))).refund
    assert again.refund_id == first.refund_id

    concurrent = issue(order, 2_500)
    other_order = await api.create_order(minor_units=2_500)
    burst = issue(other_order, 2_500)
    results = await asyncio.gather(
        *(refunds.IssueRefund(burst, metadata=worker(api)) for _ in range(20)), return_exceptions=True
    )
    ids = {r.refund.refund_id for r in results if not isinstance(r, BaseException)}
    assert len(ids) == 1, results
    await wait_status(api, refunds, next(iter(ids)), refunds_pb2.REFUND_STATUS_REFUNDED)
    await wait_status(api, refunds, first.refund_id, refunds_pb2.REFUND_STATUS_REFUNDED)
    assert len(provider_refunds(api.stack, burst.idempotency_key)) == 1
    assert len(provider_refunds(api.stack, request.idempotency_key)) == 1

    request.amount.minor_units = 4_000  # same key, different request
    details = await expect(C.ALREADY_EXISTS, refunds.IssueRefund(request, metadata=worker(api)))
    assert first.refund_id in details
    # The order is fully refunded: any further refund is refused and nothing is written.
    await expect(C.FAILED_PRECONDITION, refunds.IssueRefund(concurrent, metadata=worker(api)))
    listed = await refunds.ListRefunds(
        refunds_pb2.ListRefundsRequest(order_id=order.order_id), metadata=api.service()
    )
    assert len(listed.refunds) == 1


async def test_over_refunds_are_refused_even_when_concurrent(
    api: Api, refunds: refunds_pb2_grpc.RefundServiceStub
) -> None:
    order = await api.create_order(minor_units=10_000)
    details = await expect(
        C.FAILED_PRECONDITION, refunds.IssueRefund(issue(order, 10_001), metadata=worker(api))
    )
    assert "exceeds" in details
    partials = [issue(order, 3_000) for _ in range(6)]
    results = await asyncio.gather(
        *(refunds.IssueRefund(r, metadata=worker(api)) for r in partials), return_exceptions=True
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(accepted) == 3 and len(refused) == 3
    assert all(r.code() == C.FAILED_PRECONDITION for r in refused)
    listed = await refunds.ListRefunds(
        refunds_pb2.ListRefundsRequest(order_id=order.order_id), metadata=api.service()
    )
    assert sum(r.amount.minor_units for r in listed.refunds) == 9_000
    for r in accepted:
        await wait_status(api, refunds, r.refund.refund_id, refunds_pb2.REFUND_STATUS_REFUNDED)
    refused_keys = {p.idempotency_key for p in partials} - {r.refund.idempotency_key for r in accepted}
    assert all(provider_refunds(api.stack, k) == [] for k in refused_keys)  # nothing reached the provider


async def test_bad_requests_get_exact_codes(api: Api, refunds: refunds_pb2_grpc.RefundServiceStub) -> None:
    order = await api.create_order(minor_units=1_000, currency="EUR")
    svc = worker(api)
    await expect(C.INVALID_ARGUMENT, refunds.IssueRefund(issue(order, 100, key="has spaces"), metadata=svc))
    await expect(C.INVALID_ARGUMENT, refunds.IssueRefund(issue(order, 0), metadata=svc))
    await expect(C.INVALID_ARGUMENT, refunds.IssueRefund(issue(order, -5), metadata=svc))
    await expect(C.INVALID_ARGUMENT, refunds.IssueRefund(issue(order, 100, currency="USD"), metadata=svc))
    await expect(C.INVALID_ARGUMENT, refunds.IssueRefund(issue(order, 100, currency="EURO"), metadata=svc))
    await expect(C.INVALID_ARGUMENT, refunds.IssueRefund(issue(order, 100, reason=""), metadata=svc))
    unknown = orders_pb2.Order(order_id=str(uuid.uuid4()), total=order.total)
    await expect(C.NOT_FOUND, refunds.IssueRefund(issue(unknown, 100), metadata=svc))
    await expect(
        C.PERMISSION_DENIED,
        refunds.IssueRefund(issue(order, 100), metadata=api.auth(order.buyer_id, Role.BUYER)),
    )
    await expect(C.UNAUTHENTICATED, refunds.IssueRefund(issue(order, 100), metadata=[]))
    await expect(
        C.PERMISSION_DENIED,
        refunds.RecordRefundStatus(
            refunds_pb2.RecordRefundStatusRequest(refund_id=str(uuid.uuid4()), revision=9), metadata=svc
        ),
    )
    await expect(
        C.NOT_FOUND,
        refunds.GetRefund(refunds_pb2.GetRefundRequest(refund_id=str(uuid.uuid4())), metadata=svc),
    )
    await expect(
        C.INVALID_ARGUMENT, refunds.ListRefunds(refunds_pb2.ListRefundsRequest(), metadata=api.service())
    )
    cancelled = await api.create_order()
    await api.orders.CancelOrder(
        orders_pb2.CancelOrderRequest(order_id=cancelled.order_id),
        metadata=api.auth(cancelled.buyer_id, Role.BUYER),
    )
    await expect(C.FAILED_PRECONDITION, refunds.IssueRefund(issue(cancelled, 100), metadata=svc))
    listed = await refunds.ListRefunds(
        refunds_pb2.ListRefundsRequest(order_id=order.order_id), metadata=api.service()
    )
    assert list(listed.refunds) == []  # none of the refused requests wrote anything


async def test_decline_then_operator_retry_refunds_once(
    api: Api, refunds: refunds_pb2_grpc.RefundServiceStub
) -> None:
    order = await api.create_order(minor_units=3_000)
    provider(api.stack, "POST", "/admin/config", {"decline_rate": 1.0})
    issued = (await refunds.IssueRefund(issue(order, 3_000), metadata=worker(api))).refund
    failed = await wait_status(api, refunds, issued.refund_id, refunds_pb2.REFUND_STATUS_FAILED)
    assert "declined" in failed.failure_reason
    provider(api.stack, "POST", "/admin/config", {"decline_rate": 0.0})

    await expect(
        C.PERMISSION_DENIED,
        refunds.RetryRefund(
            refunds_pb2.RetryRefundRequest(refund_id=issued.refund_id, note="x"),
            metadata=api.auth(order.buyer_id, Role.BUYER),
        ),
    )
    ops = api.service(access.SUPPORT)
    await refunds.RetryRefund(
        refunds_pb2.RetryRefundRequest(refund_id=issued.refund_id, note="card re-issued"), metadata=ops
    )
    done = await wait_status(api, refunds, issued.refund_id, refunds_pb2.REFUND_STATUS_REFUNDED)
    assert done.attempts == 2 and done.refund_id == issued.refund_id
    at_provider = provider_refunds(api.stack, issued.idempotency_key)
    assert sorted(r["status"] for r in at_provider) == ["declined", "succeeded"]
    await expect(
        C.FAILED_PRECONDITION,
        refunds.RetryRefund(
            refunds_pb2.RetryRefundRequest(refund_id=issued.refund_id, note="again"), metadata=ops
        ),
    )
    listed = await refunds.ListRefunds(
        refunds_pb2.ListRefundsRequest(order_id=order.order_id), metadata=api.service()
    )
    assert len(listed.refunds) == 1 and listed.refunded_total.minor_units == 3_000


async def test_worker_killed_between_provider_call_and_ledger_update(
    api: Api, refunds: refunds_pb2_grpc.RefundServiceStub
) -> None:
    stack = api.stack
    order = await api.create_order(minor_units=7_000)
    provider(
        stack, "POST", "/admin/config", {"response_delay_seconds": 3.0}
    )  # the answer is slow to come back
    issued = (await refunds.IssueRefund(issue(order, 7_000), metadata=worker(api))).refund
    for _ in range(100):
        if provider_refunds(stack, issued.idempotency_key):
            break
        await asyncio.sleep(0.05)
    assert provider_refunds(stack, issued.idempotency_key), "the provider never received the refund"
    refunds_worker = stack.apps["worker-refunds"]
    refunds_worker.kill()  # SIGKILL while the activity waits for the provider's answer
    current = (
        await refunds.GetRefund(
            refunds_pb2.GetRefundRequest(refund_id=issued.refund_id), metadata=api.service()
        )
    ).refund
    assert current.status == refunds_pb2.REFUND_STATUS_PENDING  # the ledger has not heard of it yet
    provider(stack, "POST", "/admin/config", {"response_delay_seconds": 0.0})
    refunds_worker.start()
    done = await wait_status(api, refunds, issued.refund_id, refunds_pb2.REFUND_STATUS_REFUNDED, timeout=90)
    [only] = provider_refunds(stack, issued.idempotency_key)
    assert only["id"] == done.provider_reference and only["status"] == "succeeded"
