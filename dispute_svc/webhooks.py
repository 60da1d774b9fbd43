"""Webhook deliveries: one call POSTs a subscription's next events in cursor order, signed.

Called by the subscription's delivery workflow (through the internal RPC DeliverWebhookEvents):
the workflow owns the retry schedule and the decision to disable; this owns the HTTP and the
cursor. Each event is one POST of its JSON; the cursor moves past it only after a 2xx, and the
first failure ends the call, so nothing is ever sent ahead of an undelivered event.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from disputes.v1 import disputes_pb2 as pb
from google.protobuf import json_format

from dispute_svc import webhook_http
from dispute_svc.outbox import Audience
from dispute_svc.repository import DisputeRepository
from dispute_svc.webhook_store import Target
from platform_common.errors import InvalidArgument
from platform_common.feeds import HeadWatcher
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


def body_of(event: pb.DisputeEvent) -> bytes:
    return json_format.MessageToJson(event, preserving_proto_field_name=True, indent=None).encode()


async def post(target: Target, event: pb.DisputeEvent, local: bool) -> str:
    """POST one event; "" on a 2xx, else what went wrong (coarsely)."""
    body = body_of(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "dispute-platform-webhooks/1",
        SIGNATURE_HEADER: sign(body, target.secret, int(time.time())),
        EVENT_ID_HEADER: event.event_id,
        EVENT_TYPE_HEADER: event.type,
    }
    return await webhook_http.post(target.url, body, headers, local)


class Deliveries:
    def __init__(self, repo: DisputeRepository, head: HeadWatcher, local: bool = False) -> None:
        self._repo, self._head, self._local = repo, head, local

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

    async def _send(self, target: Target, token: str, wait_s: float) -> tuple[int, str]:
        """Deliver as events come, for up to the call's budget. The cursor is written (and the
        lease renewed) at most every FLUSH_S or FLUSH_EVENTS, before a POST if the lease is
        short, and always before returning: a crash resends at most that stretch."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + CALL_BUDGET_S
        hold = timedelta(seconds=webhook_http.POST_TIMEOUT_S) + _LEASE_AHEAD
        state = _Progress(target.cursor, loop.time() + hold.total_seconds())

        async def flush() -> bool:
            until = datetime.now(UTC) + hold
            ok = await self._repo.webhooks.advance(
                target.subscription_id, token, state.cursor, state.unsaved, until
            )
            state.unsaved, state.saved_at, state.lease_ends = (
                0,
                loop.time(),
                loop.time() + hold.total_seconds(),
            )
            return ok

        spent = False
        while loop.time() < ends and not spent:
            page = await self._repo.events(Audience(), state.cursor, types=target.types, limit=BATCH)
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
                state.cursor = event.cursor
                due = loop.time() - state.saved_at >= _FLUSH_S or state.unsaved >= _FLUSH_EVENTS
                if due and not await flush():
                    return state.delivered, ""
            else:
                state.cursor = max(state.cursor, page.scanned)
            if not await flush():
                return state.delivered, ""
            if spent or len(page.events) == BATCH:
                continue
            if wait_s <= 0:
                break
            # Wait for more (in short slices, renewing the lease), until the budget is spent.
            until = loop.time() + min(wait_s, max(0.0, ends - loop.time()))
            arrived = False
            while loop.time() < until and not arrived:
                arrived = await self._head.wait_past(state.cursor, min(_WAIT_SLICE_S, until - loop.time()))
                if not arrived and not await flush():
                    return state.delivered, ""
            if not arrived:
                break
        return state.delivered, ""


@dataclass
class _Progress:
    cursor: int
    lease_ends: float
    delivered: int = 0
    unsaved: int = 0
    saved_at: float = 0.0
