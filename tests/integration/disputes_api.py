"""Dispute helpers for integration tests over gRPC on the real stack."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
import pytest
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from disputes.v1 import disputes_pb2_grpc
from orders.v1 import orders_pb2

from platform_common.auth import Role
from tests.harness.fixtures import DAY_SECONDS
from tests.integration.conftest import Api

C = grpc.StatusCode


@dataclass
class Case:
    """An order shipped long enough ago to be disputed, and who is who."""

    order: orders_pb2.Order

    @property
    def buyer(self) -> str:
        return self.order.buyer_id

    @property
    def seller(self) -> str:
        return self.order.seller_id


async def disputable(api: Api, count: int = 1, protection_days: int = 180) -> list[Case]:
    """Orders shipped `min_days_after_shipment` (5 policy days) ago."""
    orders = [await api.create_order(protection_days=protection_days) for _ in range(count)]
    for o in orders:
        await api.ship(o)
    await asyncio.sleep(5 * DAY_SECONDS + 0.2)
    return [Case(await api.get(o)) for o in orders]


def disputes(api: Api) -> disputes_pb2_grpc.DisputeServiceStub:
    return disputes_pb2_grpc.DisputeServiceStub(api.channels["DISPUTE"])


def partial(minor: int, currency: str = "EUR", return_goods: bool = False) -> pb.Solution:
    return pb.Solution(
        type=pb.SOLUTION_TYPE_PARTIAL_REFUND,
        amount=common_pb2.Money(minor_units=minor, currency=currency),
        return_goods=return_goods,
    )


def open_request(case: Case, **overrides: object) -> pb.OpenDisputeRequest:
    fields: dict[str, object] = {
        "request_id": str(uuid.uuid4()),
        "order_id": case.order.order_id,
        "goods_received": True,
        "reason": pb.DISPUTE_REASON_COLOR_NOT_AS_DESCRIBED,
        "solution": partial(4_000),
        "description": "Le coloris ne correspond pas — 颜色不对",
    }
    fields.update(overrides)
    return pb.OpenDisputeRequest(**fields)  # type: ignore[arg-type]


async def open_dispute(api: Api, case: Case, **overrides: object) -> pb.Dispute:
    resp = await disputes(api).OpenDispute(
        open_request(case, **overrides), metadata=api.auth(case.buyer, Role.BUYER)
    )
    return resp.dispute


async def escalated(api: Api, case: Case, **overrides: object) -> pb.Dispute:
    """A dispute the buyer escalated at once, on rejecting the seller's counter-offer."""
    stub = disputes(api)
    d = await open_dispute(api, case, **{"solution": partial(9_000), **overrides})
    await stub.RespondAsSeller(
        pb.RespondAsSellerRequest(
            dispute_id=d.dispute_id,
            response_type=pb.SELLER_RESPONSE_TYPE_COUNTER_OFFER,
            counter_offer=partial(2_000),
            message="20 EUR",
        ),
        metadata=api.auth(case.seller, Role.SELLER),
    )
    resp = await stub.RejectOffer(
        pb.RejectOfferRequest(dispute_id=d.dispute_id, offer_version=2, message="no", escalate=True),
        metadata=api.auth(case.buyer, Role.BUYER),
    )
    assert resp.dispute.status == pb.DISPUTE_STATUS_UNDER_ARBITRATION
    return resp.dispute


async def get(api: Api, dispute_id: str) -> pb.Dispute:
    resp = await disputes(api).GetDispute(pb.GetDisputeRequest(dispute_id=dispute_id), metadata=api.service())
    return resp.dispute


async def refused(code: grpc.StatusCode, call: Awaitable[object], reason: str = "") -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code, (err.value.code(), err.value.details())
    if reason:
        trailing = dict(err.value.trailing_metadata() or ())
        assert trailing.get("dp-error-reason") == reason, trailing
    return err.value.details() or ""


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def status_becomes(api: Api, dispute_id: str, status: int, timeout: float = 30.0) -> pb.Dispute:
    async def check() -> bool:
        return (await get(api, dispute_id)).status == status

    await eventually(check, timeout, f"dispute {dispute_id} to become {pb.DisputeStatus.Name(status)}")
    return await get(api, dispute_id)
