"""DisputeService's integration surface: the thread (SendMessage, ListMessages) and the events
(ListDisputeEvents, WatchDisputeEvents). A mixin of DisputeService (dispute_svc/server.py).

Who sees what, once: `audience` says whose events a caller may read, `_thread_party` who the
caller is on a thread; internal notes reach arbiters only, on every path.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
from disputes.v1 import disputes_pb2 as pb

from dispute_svc import requests as rq
from dispute_svc import threads
from dispute_svc.client import DisputeClient
from dispute_svc.events import check_types
from dispute_svc.model import EvidenceAddition, Party
from dispute_svc.outbox import Audience
from dispute_svc.peers import Peers
from dispute_svc.repository import DisputeRepository
from dispute_svc.workflow import DisputeWorkflow
from platform_common.auth import Caller, Role, current_caller
from platform_common.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from platform_common.feeds import HeadWatcher, WatchSlots, check_cursor, follow, page_limit
from platform_common.outbox import Page
from platform_common.paging import page_size
from platform_common.timestamps import to_timestamp
from platform_common.validate import require_uuid, storable

# How long a message waits for its just-opened dispute's first record (steps of 0.1 s).
_RECORD_WAIT_STEPS = 30


def audience(caller: Caller) -> Audience:
    if caller.role is Role.BUYER:
        return Audience(buyer_id=caller.id)
    if caller.role is Role.SELLER:
        return Audience(seller_id=caller.id)
    return Audience(arbiter=caller.role is Role.ARBITER)


def _filters(dispute_id: str, types: list[str]) -> tuple[str, list[str]]:
    return require_uuid(dispute_id, "dispute_id") if dispute_id else "", check_types(types, "types")


class EventsApi:
    _repo: DisputeRepository
    _workflows: DisputeClient
    _peers: Peers
    _head: HeadWatcher
    _slots: WatchSlots

    # --- thread --------------------------------------------------------------------------------

    async def _thread_party(self, dispute_id: str) -> tuple[Party, tuple[str, str, str, bool, list[str]]]:
        """Who the caller is on the dispute's thread (role and id together), from the read model."""
        facts = await self._repo.row_facts(dispute_id)
        if facts is None:
            if not await self._workflows.started(dispute_id):
                raise NotFound(f"dispute {dispute_id} not found")
            # Just opened: its first record lands a moment after OpenDispute answers.
            for _ in range(_RECORD_WAIT_STEPS):
                await asyncio.sleep(0.1)
                facts = await self._repo.row_facts(dispute_id)
                if facts is not None:
                    break
            else:
                raise Unavailable(f"dispute {dispute_id} is being recorded; retry in a moment")
        buyer, seller, _, escalated, _ = facts
        caller = current_caller()
        if caller.is_(Role.BUYER, buyer):
            return Party.BUYER, facts
        if caller.is_(Role.SELLER, seller):
            return Party.SELLER, facts
        if caller.role is Role.ARBITER and escalated:
            rq.not_their_own(caller, buyer, seller)
            return Party.ARBITER, facts
        raise PermissionDenied(f"dispute {dispute_id} is not yours")

    async def SendMessage(
        self, request: pb.SendMessageRequest, context: grpc.aio.ServicerContext
    ) -> pb.SendMessageResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        if not 1 <= len(request.request_id) <= 128:
            raise InvalidArgument("request_id is required (1..128 characters)")
        storable(request.request_id, "request_id")
        text = rq.text(request.text, "text", required=True)
        evidence = rq.evidence(request.evidence_ids)
        party, (_, _, _, _, attached) = await self._thread_party(dispute_id)
        caller = current_caller()
        message = threads.NewMessage(
            dispute_id=dispute_id,
            request_id=request.request_id,
            fingerprint=hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest(),
            author_id=caller.id,
            party=party,
            text=text,
            evidence_ids=evidence,
            internal=request.internal,
        )
        # Everything that could refuse it first (rule, key, rate), so no file is added for a
        # message that is then turned down.
        sent = await self._repo.post_message(message, check_only=True)
        if sent is not None:
            return pb.SendMessageResponse(message=sent)
        new = [e for e in evidence if e not in attached]
        if new and party is Party.ARBITER:
            raise InvalidArgument("arbiters cite files already attached to the dispute")
        if new:
            order_id = (await self._workflows.view(dispute_id)).order_id
            await self._peers.check_evidence(dispute_id, order_id, new, False, party)
            await self._workflows.act(
                dispute_id, DisputeWorkflow.add_evidence, EvidenceAddition(caller.id, party, new)
            )
        posted = await self._repo.post_message(message)
        assert posted is not None
        self._head.nudge()
        return pb.SendMessageResponse(message=posted)

    async def ListMessages(
        self, request: pb.ListMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMessagesResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        size = page_size(request.page.page_size)
        caller = current_caller()
        if caller.role is not Role.SERVICE:
            await self._thread_party(dispute_id)
        elif await self._repo.row_facts(dispute_id) is None:
            raise NotFound(f"dispute {dispute_id} not found")
        messages, token = await self._repo.messages(
            dispute_id, with_notes=caller.role is Role.ARBITER, size=size, token=request.page.page_token
        )
        return pb.ListMessagesResponse(messages=messages, next_page_token=token)

    async def _with_thread(self, dispute: pb.Dispute, caller: Caller) -> int:
        """The thread's latest messages merged into the dispute's timeline; returns how many
        messages the caller may see in all."""
        latest, total = await self._repo.latest_messages(
            dispute.dispute_id, with_notes=caller.role in (Role.ARBITER, Role.ARBITER_LEAD)
        )
        if latest:
            entries = list(dispute.timeline) + [threads.entry(m) for m in latest]
            entries.sort(key=lambda e: (e.at.seconds, e.at.nanos))
            del dispute.timeline[:]
            dispute.timeline.extend(entries)
        return total

    # --- events --------------------------------------------------------------------------------

    async def ListDisputeEvents(
        self, request: pb.ListDisputeEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDisputeEventsResponse:
        dispute_id, types = _filters(request.dispute_id, list(request.types))
        size = page_limit(request.page_size)
        after = check_cursor(request.after_cursor, await self._repo.head())
        page = await self._repo.events(
            audience(current_caller()), after, dispute_id=dispute_id, types=types, limit=size
        )
        return pb.ListDisputeEventsResponse(events=page.events, next_cursor=page.scanned)

    async def WatchDisputeEvents(
        self, request: pb.WatchDisputeEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchDisputeEventsResponse]:
        dispute_id, types = _filters(request.dispute_id, list(request.types))
        after = check_cursor(request.after_cursor, await self._repo.head())
        caller = current_caller()

        whose = audience(caller)

        async def read(cursor: int, limit: int) -> Page[pb.DisputeEvent]:
            return await self._repo.events(whose, cursor, dispute_id=dispute_id, types=types, limit=limit)

        with self._slots.hold(caller):
            async for item in follow(read, self._head, after, event=_event, beat=_heartbeat):
                yield item


def _event(e: pb.DisputeEvent) -> pb.WatchDisputeEventsResponse:
    return pb.WatchDisputeEventsResponse(event=e)


def _heartbeat(cursor: int) -> pb.WatchDisputeEventsResponse:
    return pb.WatchDisputeEventsResponse(
        heartbeat=pb.Heartbeat(cursor=cursor, at=to_timestamp(datetime.now(UTC)))
    )
