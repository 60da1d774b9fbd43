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
from datetime import UTC, datetime, timedelta

from disputes.v1 import disputes_pb2 as pb
from google.protobuf import json_format

from dispute_svc import webhook_http
from dispute_svc.feeds import HeadWatcher
from dispute_svc.outbox import Audience
from dispute_svc.repository import DisputeRepository
from dispute_svc.webhook_store import Target
from platform_common.errors import InvalidArgument
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

    async def _held(self, target: Target, token: str, cursor: int, delivered: int, ahead: timedelta) -> bool:
        until = datetime.now(UTC) + ahead
        return await self._repo.webhooks.advance(target.subscription_id, token, cursor, delivered, until)

    async def _send(self, target: Target, token: str, wait_s: float) -> tuple[int, str]:
        loop = asyncio.get_running_loop()
        ends = loop.time() + CALL_BUDGET_S
        cursor, delivered, waited = target.cursor, 0, False
        posting = timedelta(seconds=webhook_http.POST_TIMEOUT_S) + _LEASE_AHEAD
        while loop.time() < ends:
            page = await self._repo.events(Audience(), cursor, types=target.types, limit=BATCH)
            for event in page.events:
                if loop.time() > ends - webhook_http.POST_TIMEOUT_S / 2:
                    return delivered, ""  # the budget is spent: the next call goes on from here
                if not await self._held(target, token, cursor, 0, posting):
                    return delivered, ""  # deleted, replayed or disabled meanwhile: stop here
                error = await post(target, event, self._local)
                if error:
                    return delivered, f"event {event.event_id}: {error}"
                delivered += 1
                cursor = event.cursor
                if not await self._held(target, token, cursor, 1, _LEASE_AHEAD):
                    return delivered, ""
            cursor = max(cursor, page.scanned)
            if not await self._held(target, token, cursor, 0, _LEASE_AHEAD):
                return delivered, ""
            if page.events:
                continue
            if delivered or waited or wait_s <= 0:
                break
            waited = True
            # Wait for events in short slices, renewing the lease before each.
            until = loop.time() + min(wait_s, max(0.0, ends - loop.time()))
            while loop.time() < until:
                if await self._head.wait_past(cursor, min(_WAIT_SLICE_S, until - loop.time())):
                    break
                if not await self._held(target, token, cursor, 0, _LEASE_AHEAD):
                    return delivered, ""
        return delivered, ""
