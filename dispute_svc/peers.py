"""The services DisputeService asks before it acts: OrderService (orders, blocked accounts, the
hold an opening puts on its order, the order events its webhooks deliver) and EvidenceService
(attaching files). Their refusals reach
the caller with their own code; their messages are quoted, never their ids of other parties."""

from __future__ import annotations

from datetime import datetime

import grpc
from common.v1 import common_pb2
from evidence.v1 import evidence_pb2, evidence_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc

from platform_common import errors
from platform_common.enums import to_proto
from platform_common.timestamps import to_timestamp
from platform_common.validate import fetch_order

_RELAYED: dict[grpc.StatusCode, type[errors.DomainError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
}


def _relay(service: str, exc: grpc.aio.AioRpcError) -> errors.DomainError:
    kind = _RELAYED.get(exc.code())
    if kind is None:
        return errors.Unavailable(f"{service} unavailable ({exc.code().name}); nothing was changed, retry")
    return kind(f"{service}: {exc.details()}")


class Peers:
    def __init__(
        self, orders: orders_pb2_grpc.OrderServiceStub, evidence: evidence_pb2_grpc.EvidenceServiceStub
    ) -> None:
        self._orders = orders
        self._evidence = evidence

    async def order(self, order_id: str) -> orders_pb2.Order:
        return await fetch_order(self._orders, order_id)

    async def blocked(self, account_id: str) -> bool:
        try:
            resp = await self._orders.GetAccountStatus(
                orders_pb2.GetAccountStatusRequest(account_id=account_id), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            raise _relay("OrderService", exc) from exc
        return bool(resp.account.blocked)

    async def order_count(
        self, *, buyer_id: str = "", seller_id: str = "", since: datetime, timeout: float
    ) -> tuple[int, int] | None:
        """Orders one buyer placed or one seller received since `since`, and how many of them a
        dispute has held; None when OrderService cannot say within `timeout` (party signals are
        advice for people: shown as unknown, never an error)."""
        request = orders_pb2.CountOrdersRequest(
            buyer_id=buyer_id, seller_id=seller_id, created_since=to_timestamp(since)
        )
        try:
            resp = await self._orders.CountOrders(request, timeout=timeout)
        except grpc.aio.AioRpcError:
            return None
        return int(resp.count), int(resp.disputed)

    async def hold(self, order_id: str, dispute_id: str, token: str) -> bool:
        """The opening holds its order (OrderService's own store, nothing else), before OpenDispute
        answers: whatever is down afterwards, the order cannot complete under the dispute."""
        return await self._hold(order_id, dispute_id, token, release=False)

    async def release(self, order_id: str, dispute_id: str, token: str) -> None:
        """Drop the hold of an opening abandoned before its dispute started."""
        await self._hold(order_id, dispute_id, token, release=True)

    async def _hold(self, order_id: str, dispute_id: str, token: str, *, release: bool) -> bool:
        request = orders_pb2.HoldForDisputeRequest(
            order_id=order_id, dispute_id=dispute_id, token=token, release=release
        )
        try:
            resp = await self._orders.HoldForDispute(request, timeout=10)
        except grpc.aio.AioRpcError as exc:
            raise _relay("OrderService", exc) from exc
        return bool(resp.held)

    async def order_events(
        self, after: int, types: list[str], limit: int, timeout: float = 10
    ) -> orders_pb2.ListOrderEventsResponse:
        """A page of OrderService's order events (the webhook subscriptions' second feed)."""
        request = orders_pb2.ListOrderEventsRequest(after_cursor=after, types=types, page_size=limit)
        try:
            resp: orders_pb2.ListOrderEventsResponse = await self._orders.ListOrderEvents(
                request, timeout=timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise _relay("OrderService", exc) from exc
        return resp

    async def check_evidence(
        self, dispute_id: str, order_id: str, evidence_ids: list[str], at_opening: bool, party: str
    ) -> None:
        """A dry run of attaching files to the dispute for `party` (BUYER, SELLER, ARBITER):
        EvidenceService's limits and ownership checks, nothing written. A refusal reaches the
        caller before the action is sent; the workflow binds the files once the action is
        accepted, so a refused action binds none."""
        try:
            await self._evidence.AttachEvidence(
                evidence_pb2.AttachEvidenceRequest(
                    dispute_id=dispute_id,
                    evidence_ids=evidence_ids,
                    at_opening=at_opening,
                    order_id=order_id,
                    validate_only=True,
                    party=to_proto(common_pb2.Role, party),
                ),
                timeout=15,
            )
        except grpc.aio.AioRpcError as exc:
            raise _relay("EvidenceService", exc) from exc
