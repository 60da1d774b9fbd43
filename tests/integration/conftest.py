"""Clients for the real stack: tokens minted with the stack's secret, one channel per service."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from common.v1 import common_pb2
from orders.v1 import orders_pb2, orders_pb2_grpc

from deploy.stack import Stack
from dispute_svc.repository import DisputeRepository
from platform_common import access
from platform_common.auth import Role, mint_token
from tests.harness.postgres import fresh_database

pytestmark = pytest.mark.integration


@dataclass
class Api:
    stack: Stack
    orders: orders_pb2_grpc.OrderServiceStub
    channels: dict[str, grpc.aio.Channel]

    def auth(self, subject: str, role: Role) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {mint_token(subject, role, self.stack.secrets.jwt_secret)}")]

    def service(self, identity: str = access.SUPPORT) -> list[tuple[str, str]]:
        """A platform service's token; by default the support tools' (they read everything).
        Each service identity may call only its own RPCs (platform_common/access.py)."""
        return self.auth(identity, Role.SERVICE)

    def checkout(self) -> list[tuple[str, str]]:
        return self.service(access.CHECKOUT)

    async def create_order(
        self,
        buyer: str | None = None,
        seller: str | None = None,
        minor_units: int = 12_999,
        currency: str = "EUR",
        protection_days: int = 0,
    ) -> orders_pb2.Order:
        resp = await self.orders.CreateOrder(
            orders_pb2.CreateOrderRequest(
                request_id=str(uuid.uuid4()),
                buyer_id=buyer or f"buyer-{uuid.uuid4().hex[:8]}",
                seller_id=seller or f"seller-{uuid.uuid4().hex[:8]}",
                total=common_pb2.Money(minor_units=minor_units, currency=currency),
                items=[
                    orders_pb2.OrderItem(
                        sku="SKU-1",
                        title="Wireless earbuds",
                        quantity=1,
                        unit_price=common_pb2.Money(minor_units=minor_units, currency=currency),
                    )
                ],
                payment_method=orders_pb2.PaymentMethod(
                    type=orders_pb2.PAYMENT_METHOD_TYPE_CARD, reference="card_tok_42"
                ),
                protection_days=protection_days,
            ),
            metadata=self.checkout(),
        )
        return resp.order

    async def get(self, order: orders_pb2.Order) -> orders_pb2.Order:
        resp = await self.orders.GetOrder(
            orders_pb2.GetOrderRequest(order_id=order.order_id), metadata=self.service()
        )
        return resp.order

    async def ship(self, order: orders_pb2.Order) -> orders_pb2.Order:
        resp = await self.orders.MarkShipped(
            orders_pb2.MarkShippedRequest(
                order_id=order.order_id, carrier="DHL", tracking_number="JD0146000033"
            ),
            metadata=self.auth(order.seller_id, Role.SELLER),
        )
        return resp.order


@contextlib.asynccontextmanager
async def open_api(stack: Stack) -> AsyncIterator[Api]:
    channels = {k: grpc.aio.insecure_channel(stack.service_address(k)) for k in stack.ports.services}
    try:
        yield Api(stack, orders_pb2_grpc.OrderServiceStub(channels["ORDER"]), channels)
    finally:
        for ch in channels.values():
            await ch.close()


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[Api]:
    async with open_api(stack) as opened:
        yield opened


def stable(order: orders_pb2.Order) -> orders_pb2.Order:
    """The order without clock-dependent fields, for 'nothing changed' comparisons."""
    copy = orders_pb2.Order()
    copy.CopyFrom(order)
    for d in copy.deadlines:
        d.remaining_seconds = 0
    return copy


@pytest.fixture(params=["sqlite", "postgresql"])
def dispute_repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DisputeRepository]:
    """DisputeService's store on a file of its own (SQLite) and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        r = DisputeRepository(f"sqlite:///{tmp_path / 'disputes.db'}")
        yield r
        r.close()
        return
    with fresh_database(request.getfixturevalue("postgres_url"), "disputes") as url:
        r = DisputeRepository(url)
        try:
            yield r
        finally:
            r.close()
