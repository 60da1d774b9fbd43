"""DisputeService's webhook RPCs: subscriptions for platform services, and the two internal
RPCs their delivery workflows call. A mixin of DisputeService (dispute_svc/server.py).

A subscription belongs to the service identity that made it: another identity neither sees it
nor learns that it exists (NOT_FOUND).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import grpc
from disputes.v1 import disputes_pb2 as pb

from dispute_svc.client import WebhookClient
from dispute_svc.events import check_types
from dispute_svc.peers import Peers
from dispute_svc.policy import Policy
from dispute_svc.repository import DisputeRepository
from dispute_svc.webhooks import Deliveries, Feeds, allow_local, check_url
from platform_common.auth import current_caller
from platform_common.errors import InvalidArgument, NotFound, Unavailable
from platform_common.validate import require_uuid, storable


class WebhooksApi:
    _repo: DisputeRepository
    _hooks: WebhookClient
    _deliveries: Deliveries
    _policy: Policy
    _peers: Peers

    async def _cursor(self, value: int) -> int:
        if value < 0 or value > await self._repo.head():
            raise InvalidArgument("after_cursor must be between 0 and the newest event's cursor")
        return value

    async def _order_feed(self, feeds: Feeds, value: int | None) -> int:
        """The order feed's start for a subscription: `value` (checked against the feed's head)
        or its head. OrderService checks the order types; it must answer, or nothing is made."""
        if value is not None and value < 0:
            raise InvalidArgument("order_after_cursor must be 0 or a cursor of the order feed")
        if not feeds.orders:
            return 0 if value is None else value
        head = int((await self._peers.order_events(0, feeds.order_types, 1)).head_cursor)
        if value is None:
            return head
        if not 0 <= value <= head:
            raise InvalidArgument("order_after_cursor must be between 0 and the order feed's newest cursor")
        return value

    async def _own(self, subscription_id: str) -> pb.WebhookSubscription:
        found = await self._repo.webhooks.get(require_uuid(subscription_id, "subscription_id"))
        if found is None or found.owner != current_caller().id:
            raise NotFound(f"webhook subscription {subscription_id} not found")
        return found

    async def CreateWebhookSubscription(
        self, request: pb.CreateWebhookSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateWebhookSubscriptionResponse:
        if len(request.request_id) > 128:
            raise InvalidArgument("request_id must be at most 128 characters")
        storable(request.request_id, "request_id")
        url = await check_url(request.url, allow_local())
        feeds = Feeds.of(list(request.event_types))
        dispute_types = check_types(feeds.dispute_types, "event_types")
        order_types = sorted(set(feeds.order_types))
        types = dispute_types + order_types
        after = 0 if request.from_beginning else (await self._cursor(request.after_cursor) or None)
        wanted = request.order_after_cursor if request.HasField("order_after_cursor") else None
        owner = current_caller().id
        if request.request_id and await self._repo.webhooks.made(owner, request.request_id):
            order_after = 0  # a retry: the store returns what the first attempt made
        else:
            order_after = await self._order_feed(feeds, 0 if request.from_beginning else wanted)
        created, secret = await self._repo.webhooks.create(
            owner,
            request.request_id,
            url,
            types,
            "whsec_" + secrets.token_urlsafe(32),
            after,
            order_after,
            datetime.now(UTC),
        )
        try:
            await self._hooks.start(created.subscription_id, self._policy.day_seconds)
        except Exception:
            if request.request_id:
                # Kept for the retry of this request, which starts the workflow again (and the
                # reconciler would start it anyway: the subscription is ACTIVE).
                raise Unavailable(
                    "the workflow engine did not answer; retry with the same request_id"
                ) from None
            # Nothing half-made: without its workflow the subscription would never be delivered.
            await self._repo.webhooks.delete(created.subscription_id)
            raise Unavailable(
                "the workflow engine did not take the subscription; nothing was created, retry"
            ) from None
        return pb.CreateWebhookSubscriptionResponse(subscription=created, secret=secret)

    async def ListWebhookSubscriptions(
        self, request: pb.ListWebhookSubscriptionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListWebhookSubscriptionsResponse:
        return pb.ListWebhookSubscriptionsResponse(
            subscriptions=await self._repo.webhooks.owned(current_caller().id)
        )

    async def DeleteWebhookSubscription(
        self, request: pb.DeleteWebhookSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteWebhookSubscriptionResponse:
        found = await self._own(request.subscription_id)
        await self._repo.webhooks.delete(found.subscription_id)
        await self._hooks.stop(found.subscription_id)
        return pb.DeleteWebhookSubscriptionResponse()

    async def ReplayWebhookSubscription(
        self, request: pb.ReplayWebhookSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReplayWebhookSubscriptionResponse:
        found = await self._own(request.subscription_id)
        after = await self._cursor(request.after_cursor)
        order_after = None
        if request.HasField("order_after_cursor"):
            order_after = await self._order_feed(
                Feeds.of(list(found.event_types)), request.order_after_cursor
            )
        replayed = await self._repo.webhooks.replay(found.subscription_id, after, order_after)
        if replayed is None:
            raise NotFound(f"webhook subscription {request.subscription_id} not found")
        await self._hooks.start(found.subscription_id, self._policy.day_seconds)
        return pb.ReplayWebhookSubscriptionResponse(subscription=replayed)

    # --- internal ------------------------------------------------------------------------------

    async def DeliverWebhookEvents(
        self, request: pb.DeliverWebhookEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeliverWebhookEventsResponse:
        subscription_id = require_uuid(request.subscription_id, "subscription_id")
        if not 0 <= request.wait_seconds <= 60:
            raise InvalidArgument("wait_seconds must be between 0 and 60")
        return await self._deliveries.deliver(subscription_id, request.wait_seconds)

    async def DisableWebhookSubscription(
        self, request: pb.DisableWebhookSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisableWebhookSubscriptionResponse:
        subscription_id = require_uuid(request.subscription_id, "subscription_id")
        since = request.failing_since.ToDatetime(tzinfo=UTC) if request.HasField("failing_since") else None
        disabled = await self._repo.webhooks.disable(
            subscription_id, request.reason or "disabled by its delivery workflow", since
        )
        return pb.DisableWebhookSubscriptionResponse(disabled=disabled)

    async def reconcile_webhooks(self) -> int:
        """Make sure every ACTIVE subscription has its delivery workflow (its start failed, or the
        workflow ended without disabling it): an active subscription is always delivered. A
        running workflow is kept as it is. Returns how many subscriptions were checked."""
        active = await self._repo.webhooks.active()
        for subscription_id in active:
            await self._hooks.start(subscription_id, self._policy.day_seconds, wake=False)
        return len(active)
