"""Webhook deliveries: one call POSTs a subscription's next events in cursor order, signed.

Called by the subscription's delivery workflow (through the internal RPC DeliverWebhookEvents):
the workflow owns the retry schedule and the decision to disable; this owns the HTTP and the
cursor. Each event is one POST of its JSON; the cursor moves past it only after a 2xx, and the
first failure ends the call, so nothing is ever sent ahead of an undelivered event.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from disputes.v1 import disputes_pb2 as pb
from google.protobuf import json_format
from google.protobuf.message import Message
from orders.v1 import orders_pb2

from dispute_svc import webhook_http
from dispute_svc.outbox import Audience
from dispute_svc.peers import Peers
from dispute_svc.repository import DisputeRepository
from dispute_svc.webhook_store import Target
from platform_common.errors import DomainError, InvalidArgument, Unavailable
from platform_common.feeds import HeadWatcher
from platform_common.outbox import Page
from platform_common.signing import sign
from platform_common.timestamps import to_timestamp

SIGNATURE_HEADER = "Dp-Signature"
EVENT_ID_HEADER = "Dp-Event-Id"
EVENT_TYPE_HEADER = "Dp-Event-Type"
# One call delivers for at most this long, then returns (the workflow calls again at once); a
# POST is started only while there is time for it to finish within the budget.
CALL_BUDGET_S = 20.0
MAX_URL = 2048
BATCH = 100
# A delivery holds its subscription only this far ahead, renewed at every step: a holder that
# dies (its process killed) frees the subscription for the next delivery within seconds.
_LEASE_AHEAD = timedelta(seconds=5)
_WAIT_SLICE_S = 2.0
# The cursor is written at least this often while events flow (at most this much is resent
# after a crash), and after this many events.
_FLUSH_S = 0.25
_FLUSH_EVENTS = 50
# While waiting, the order feed (OrderService's) is asked this often for new events; one read
# may take this long (a slow OrderService must not hold up the dispute feed); after a failed
# read the order feed pauses this long.
ORDER_POLL_S = 0.5
ORDER_READ_TIMEOUT_S = 2.0
ORDER_RETRY_S = 5.0
log = logging.getLogger(__name__)


def allow_local() -> bool:
    """Plain-http receivers and local addresses only where configured (development and tests)."""
    return os.environ.get("DP_WEBHOOK_ALLOW_LOCAL", "").lower() in ("1", "true", "yes")


async def check_url(url: str, local: bool) -> str:
    """https to a public address (http and local addresses only where allowed), a host, no
    credentials, ASCII only (an internationalised host is written in its xn-- form)."""
    if len(url) > MAX_URL:
        raise InvalidArgument(f"url must be at most {MAX_URL} characters")
    if not url.isascii() or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidArgument("url must be ASCII without spaces (percent-encode, xn-- hosts)")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidArgument("url is not a valid URL") from None
    schemes = ("https", "http") if local else ("https",)
    if parts.scheme not in schemes:
        raise InvalidArgument(f"url must be {' or '.join(schemes)}://")
    if not parts.hostname or parts.username or parts.password or parts.fragment or port == 0:
        raise InvalidArgument("url needs a host, and no user:password, #fragment or port 0")
    try:
        await webhook_http.resolve(parts.hostname, port or 443, local)
    except webhook_http.Refused as exc:
        raise InvalidArgument(f"url: {exc}") from None
    return url


ORDER_TYPE_PREFIX = "order."


@dataclass(frozen=True)
class Feeds:
    """Which feeds a subscription's type filter draws on, and with which types: no filter is
    every event of both; otherwise each feed with the types of its own catalog, if any."""

    dispute_types: list[str]
    order_types: list[str]

    @classmethod
    def of(cls, types: list[str]) -> Feeds:
        orders = [t for t in types if t.startswith(ORDER_TYPE_PREFIX)]
        return cls([t for t in types if not t.startswith(ORDER_TYPE_PREFIX)], orders)

    @property
    def disputes(self) -> bool:
        return bool(self.dispute_types) or not self.order_types

    @property
    def orders(self) -> bool:
        return bool(self.order_types) or not self.dispute_types


class FeedRefused(Exception):
    """A feed refused the delivery's read for good: the delivery fails with this reason."""


class Event(Protocol):
    """A dispute or an order event: what a delivery needs of either."""

    cursor: int
    event_id: str
    type: str


def body_of(event: Message) -> bytes:
    return json_format.MessageToJson(event, preserving_proto_field_name=True, indent=None).encode()


async def post(target: Target, event: Event, local: bool) -> str:
    """POST one event; "" on a 2xx, else what went wrong (coarsely)."""
    assert isinstance(event, Message)
    body = body_of(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "dispute-platform-webhooks/1",
        SIGNATURE_HEADER: sign(body, target.secret, int(time.time())),
        EVENT_ID_HEADER: event.event_id,
        EVENT_TYPE_HEADER: event.type,
    }
    return await webhook_http.post(target.url, body, headers, local)


# The two feeds a subscription draws on (Feeds): names of the _Feed of each.
_DISPUTES, _ORDERS = "disputes", "orders"


@dataclass
class _Feed:
    """One feed of a delivery: where it got to, and how to read on from there."""

    name: str
    cursor: int
    read: Callable[[int, int], Awaitable[Page[Event] | None]]


class Deliveries:
    def __init__(self, repo: DisputeRepository, head: HeadWatcher, peers: Peers, local: bool = False) -> None:
        self._repo, self._head, self._peers, self._local = repo, head, peers, local
        # After OrderService failed to answer, the order feeds of this process pause until then.
        self._orders_resume_at = 0.0

    async def deliver(self, subscription_id: str, wait_s: float) -> pb.DeliverWebhookEventsResponse:
        token = str(uuid.uuid4())
        store = self._repo.webhooks
        target = await store.lease(subscription_id, token, datetime.now(UTC), _LEASE_AHEAD)
        if target == "GONE":
            return pb.DeliverWebhookEventsResponse(outcome=pb.DELIVERY_OUTCOME_GONE)
        if isinstance(target, str):
            return pb.DeliverWebhookEventsResponse(outcome=pb.DELIVERY_OUTCOME_BUSY)
        delivered, error = 0, None  # cut short (cancelled, or the store failed): says nothing
        try:
            delivered, error = await self._send(target, token, wait_s)
        finally:
            failing = await asyncio.shield(store.release(subscription_id, token, error, datetime.now(UTC)))
        if error:
            return pb.DeliverWebhookEventsResponse(
                outcome=pb.DELIVERY_OUTCOME_FAILED,
                delivered=delivered,
                error=error,
                failing_since=to_timestamp(failing) if failing else None,
            )
        return pb.DeliverWebhookEventsResponse(outcome=pb.DELIVERY_OUTCOME_OK, delivered=delivered)

    async def _orders_page(self, after: int, types: list[str], limit: int) -> Page[Event] | None:
        resp = await self._orders_call(after, types, limit)
        return None if resp is None else Page(list(resp.events), resp.next_cursor)

    async def _orders_call(
        self, after: int, types: list[str], limit: int
    ) -> orders_pb2.ListOrderEventsResponse | None:
        """The order feed's next page, or None while OrderService cannot be asked (the order
        events wait at their cursor, the dispute events go on; asked again after a pause).
        A refusal that asking again would not change (a cursor past a restored feed's head,
        a missing right) is the delivery failing, visibly: FeedRefused."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._orders_resume_at:
            return None
        try:
            resp = await self._peers.order_events(after, types, limit, timeout=ORDER_READ_TIMEOUT_S)
        except Unavailable as exc:
            log.warning("order events for webhooks unavailable: %s", exc)
            self._orders_resume_at = loop.time() + ORDER_RETRY_S
            return None
        except DomainError as exc:
            raise FeedRefused(f"the order feed refused: {exc}") from exc
        return resp

    async def _feeds(self, target: Target) -> list[_Feed]:
        feeds = Feeds.of(target.types)
        out = []
        if feeds.disputes:

            async def disputes(after: int, limit: int) -> Page[Event]:
                page = await self._repo.events(Audience(), after, types=feeds.dispute_types, limit=limit)
                return Page(list(page.events), page.scanned)

            out.append(_Feed(_DISPUTES, target.cursor, disputes))
        if feeds.orders:
            cursor = target.order_cursor
            if cursor < 0:  # made before order events: start at the order feed's head
                cursor = await self._order_head()
            if cursor >= 0:

                async def orders(after: int, limit: int) -> Page[Event] | None:
                    return await self._orders_page(after, feeds.order_types, limit)

                out.append(_Feed(_ORDERS, cursor, orders))
        return out

    async def _order_head(self) -> int:
        """The order feed's newest cursor; -1 while OrderService cannot be asked."""
        resp = await self._orders_call(0, [], 1)
        return -1 if resp is None else int(resp.head_cursor)

    async def _send(self, target: Target, token: str, wait_s: float) -> tuple[int, str]:
        """Deliver as events come, from each feed in its cursor order, for up to the call's
        budget. The cursors are written (and the lease renewed) at most every FLUSH_S or
        FLUSH_EVENTS, before a POST if the lease is short, and always before returning: a crash
        resends at most that stretch."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + CALL_BUDGET_S
        hold = timedelta(seconds=webhook_http.POST_TIMEOUT_S) + _LEASE_AHEAD
        state = _Progress(loop.time())
        try:
            feeds = await self._feeds(target)
        except FeedRefused as exc:
            return 0, str(exc)
        by_name = {f.name: f for f in feeds}

        async def flush() -> bool:
            until = datetime.now(UTC) + hold
            dispute = by_name[_DISPUTES].cursor if _DISPUTES in by_name else target.cursor
            order = by_name[_ORDERS].cursor if _ORDERS in by_name else target.order_cursor
            ok = await self._repo.webhooks.advance(
                target.subscription_id, token, dispute, order, state.unsaved, until
            )
            state.unsaved, state.saved_at, state.lease_ends = (
                0,
                loop.time(),
                loop.time() + hold.total_seconds(),
            )
            return ok

        # The lease as taken runs only a few seconds ahead: hold it for a POST first.
        if not await flush():
            return 0, ""
        try:
            return await self._deliver_feeds(target, feeds, state, ends, wait_s, flush)
        except FeedRefused as exc:
            await flush()
            return state.delivered, str(exc)

    async def _deliver_feeds(
        self,
        target: Target,
        feeds: list[_Feed],
        state: _Progress,
        ends: float,
        wait_s: float,
        flush: Callable[[], Awaitable[bool]],
    ) -> tuple[int, str]:
        loop = asyncio.get_running_loop()
        spent = False
        while loop.time() < ends and not spent:
            full = False
            for feed in feeds:
                page = await feed.read(feed.cursor, BATCH)
                if page is None:
                    continue
                for event in page.events:
                    if loop.time() > ends - webhook_http.POST_TIMEOUT_S / 2:
                        spent = True
                        break  # the budget is spent: the next call goes on from here
                    if state.lease_ends - loop.time() < webhook_http.POST_TIMEOUT_S + 1 and not await flush():
                        return state.delivered, ""  # deleted, replayed or disabled meanwhile: stop here
                    error = await post(target, event, self._local)
                    if error:
                        await flush()
                        return state.delivered, f"event {event.event_id}: {error}"
                    state.delivered += 1
                    state.unsaved += 1
                    feed.cursor = event.cursor
                    due = loop.time() - state.saved_at >= _FLUSH_S or state.unsaved >= _FLUSH_EVENTS
                    if due and not await flush():
                        return state.delivered, ""
                else:
                    feed.cursor = max(feed.cursor, page.scanned)
                full = full or len(page.events) == BATCH
                if spent:
                    break
            if not await flush():
                return state.delivered, ""
            if spent or full:
                continue
            if wait_s <= 0:
                break
            if not await self._wait(feeds, min(wait_s, max(0.0, ends - loop.time())), flush):
                break
        return state.delivered, ""

    async def _wait(self, feeds: list[_Feed], wait_s: float, flush: Callable[[], Awaitable[bool]]) -> bool:
        """Wait up to `wait_s` for an event on any feed, renewing the lease every slice: True if
        one came (False also when the lease was lost). The dispute feed wakes this at once; the
        order feed, another service's, is asked every ORDER_POLL_S."""
        loop = asyncio.get_running_loop()
        until = loop.time() + wait_s
        by_name = {f.name: f for f in feeds}
        disputes, orders = by_name.get(_DISPUTES), by_name.get(_ORDERS)
        renewed = loop.time()
        while loop.time() < until:
            step = min(ORDER_POLL_S if orders else _WAIT_SLICE_S, until - loop.time())
            if disputes is not None:
                if await self._head.wait_past(disputes.cursor, step):
                    return True
            else:
                await asyncio.sleep(step)
            if orders is not None:
                page = await orders.read(orders.cursor, 1)
                if page is not None and page.events:
                    return True
            if loop.time() - renewed >= _WAIT_SLICE_S:
                if not await flush():
                    return False
                renewed = loop.time()
        return False


@dataclass
class _Progress:
    lease_ends: float
    delivered: int = 0
    unsaved: int = 0
    saved_at: float = 0.0
