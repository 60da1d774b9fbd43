"""DisputeService's arbitration desk: the queue, claims and hand-overs, and arbiters' workload.

The queue and the workload are read from the read model (dispute_svc/queue.py). Claims,
releases and reassignments are workflow updates like every action (dispute_svc/
workflow_assignment.py): the workflow decides, so a claim is atomic and the appeal rule is the
one every action obeys.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from datetime import UTC, datetime, timedelta

import grpc
from disputes.v1 import disputes_pb2 as pb
from google.protobuf.duration_pb2 import Duration

from dispute_svc import requests as rq
from dispute_svc import threads
from dispute_svc.client import DisputeClient
from dispute_svc.model import Assignment, Party
from dispute_svc.peers import Peers
from dispute_svc.policy import Policy
from dispute_svc.queue import WAITING_STATUSES, first_deadline
from dispute_svc.repository import DisputeRepository
from dispute_svc.signals import median
from dispute_svc.workflow import DisputeWorkflow
from platform_common.auth import ACCOUNT_ID_MAX_CHARS, Role, current_caller
from platform_common.enums import parse, to_proto
from platform_common.errors import DomainError, InvalidArgument, PermissionDenied
from platform_common.paging import page_size
from platform_common.validate import require_uuid, storable

log = logging.getLogger(__name__)


def _arbiter_id(value: str, field: str) -> str:
    if len(value) > ACCOUNT_ID_MAX_CHARS:
        raise InvalidArgument(f"{field} must be at most {ACCOUNT_ID_MAX_CHARS} characters")
    if value:
        storable(value, field)
    return value


def _whose(requested: str) -> str:
    """Whose disputes or workload: a lead may name anyone (or nobody: all); an arbiter only
    themselves."""
    caller = current_caller()
    requested = _arbiter_id(requested, "arbiter_id")
    if caller.role is Role.ARBITER_LEAD:
        return requested
    if requested not in ("", caller.id):
        raise PermissionDenied("arbiters see only their own workload and disputes; leads see everyone's")
    return caller.id


def _share(part: int, whole: int | None) -> float:
    return part / whole if whole else 0.0


def _duration(value: timedelta | None) -> Duration | None:
    if value is None:
        return None
    out = Duration()
    out.FromTimedelta(value)
    return out


class ArbitrationApi:
    _repo: DisputeRepository
    _workflows: DisputeClient
    _peers: Peers
    _policy: Policy

    async def _party_signals(self, d: pb.Dispute, patience: float) -> pb.PartySignals:
        """The buyer's history and the seller's defect rate, for GetDispute's arbitration team.
        OrderService's counts wait at most `patience` (what the caller's deadline leaves)."""
        days = self._policy.signal_window_days
        since = datetime.now(UTC) - self._policy.days(days)
        buyer, seller, buyer_orders, seller_orders, openings = await asyncio.gather(
            self._repo.histories.of(buyer_id=d.buyer_id, since=since),
            self._repo.histories.of(seller_id=d.seller_id, since=since),
            self._peers.order_count(buyer_id=d.buyer_id, since=since, timeout=patience),
            self._peers.order_count(seller_id=d.seller_id, since=since, timeout=patience),
            # What the opening itself counted for the flag (the openings register), not the
            # read model, so GetDispute and the opening's flag never disagree.
            self._repo.openings.opened_by(d.buyer_id, since, besides=""),
        )
        bought, bought_disputed = buyer_orders or (0, 0)
        sold, sold_disputed = seller_orders or (0, 0)
        return pb.PartySignals(
            window_days=days,
            buyer=pb.BuyerSignals(
                buyer_id=d.buyer_id,
                disputes_opened=buyer.disputes,
                orders=bought,
                orders_known=buyer_orders is not None,
                disputed_order_share=_share(bought_disputed, bought),
                outcomes=[
                    pb.OutcomeCount(resolution=to_proto(pb.DisputeResolution, r), count=n)
                    for r, n in sorted(buyer.outcomes.items())
                ],
                still_open=buyer.still_open,
                flagged_for_review=openings >= self._policy.buyer_review_disputes,
            ),
            seller=pb.SellerSignals(
                seller_id=d.seller_id,
                disputes=seller.disputes,
                orders=sold,
                orders_known=seller_orders is not None,
                disputed_orders=sold_disputed,
                defect_rate=_share(sold_disputed, sold),
                disputes_lost=seller.lost,
                median_response_time=_duration(median(seller.response_times)),
                silent_timeout_share=seller.silent_share,
            ),
        )

    async def _act(self, dispute_id: str, update: object, arg: object) -> pb.Dispute:
        raise NotImplementedError  # DisputeService's

    async def _arbiter_may_act(self, dispute_id: str) -> None:
        raise NotImplementedError  # DisputeService's

    async def _team_note(self, dispute_id: str, what: str, text: str) -> None:
        """A release note or a reassignment reason, kept on the thread as an internal note: the
        arbitration team reads it, no party ever does. The action has happened already, so a
        note that cannot be written (the thread's rate limit) is logged, never an error."""
        if not text:
            return
        caller = current_caller()
        note = threads.NewMessage(
            dispute_id=dispute_id,
            request_id=f"{what}-{uuid.uuid4()}",
            fingerprint=hashlib.sha256(text.encode()).hexdigest(),
            author_id=caller.id,
            party=Party.ARBITER,
            text=f"{what} by {caller.role.value} {caller.id}: {text}",
            evidence_ids=[],
            internal=True,
        )
        try:
            await self._repo.post_message(note)
        except DomainError as exc:
            log.warning("dispute %s: the %s note was not kept: %s", dispute_id, what, exc)

    async def ListArbitrationQueue(
        self, request: pb.ListArbitrationQueueRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListArbitrationQueueResponse:
        which = parse(pb.ArbitrationQueueFilter, request.filter, "filter", allow_unset=True)
        if request.arbiter_id and which != "MINE":
            raise InvalidArgument("arbiter_id is for the MINE filter (whose disputes)")
        arbiter_id = (_whose(request.arbiter_id) or current_caller().id) if which == "MINE" else ""
        size = page_size(request.page.page_size)
        entries, token = await self._repo.queue.page(
            unassigned=which == "UNASSIGNED",
            arbiter_id=arbiter_id,
            breached=which == "BREACHED",
            size=size,
            token=request.page.page_token,
        )
        now = datetime.now(UTC)
        counts = await self._repo.queue.counts(now)
        return pb.ListArbitrationQueueResponse(
            entries=[
                pb.ArbitrationQueueEntry(
                    dispute=e.dispute,
                    first_deadline=first_deadline(e.dispute),
                    target_missed=e.target is not None and e.target <= now,
                    sla_breached=e.breached,
                )
                for e in entries
            ],
            next_page_token=token,
            counts=pb.ArbitrationQueueCounts(
                waiting=counts.waiting,
                unassigned=counts.unassigned,
                target_missed=counts.target_missed,
                breached=counts.breached,
                by_status=[
                    pb.QueueStatusCount(status=to_proto(pb.DisputeStatus, s), count=counts.by_status[s])
                    for s in WAITING_STATUSES
                ],
            ),
        )

    async def ClaimDispute(
        self, request: pb.ClaimDisputeRequest, context: grpc.aio.ServicerContext
    ) -> pb.ClaimDisputeResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        await self._arbiter_may_act(dispute_id)
        action = Assignment(current_caller().id)
        return pb.ClaimDisputeResponse(dispute=await self._act(dispute_id, DisputeWorkflow.claim, action))

    async def ReleaseDispute(
        self, request: pb.ReleaseDisputeRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReleaseDisputeResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        note = rq.text(request.note, "note")
        await self._arbiter_may_act(dispute_id)
        action = Assignment(current_caller().id, note=note)
        dispute = await self._act(dispute_id, DisputeWorkflow.release, action)
        await self._team_note(dispute_id, "release", note)
        return pb.ReleaseDisputeResponse(dispute=dispute)

    async def ReassignDispute(
        self, request: pb.ReassignDisputeRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReassignDisputeResponse:
        dispute_id = require_uuid(request.dispute_id, "dispute_id")
        to = _arbiter_id(request.arbiter_id, "arbiter_id")
        reason = rq.text(request.reason, "reason", required=True)
        await self._arbiter_may_act(dispute_id)
        action = Assignment(current_caller().id, to, reason)
        dispute = await self._act(dispute_id, DisputeWorkflow.reassign, action)
        await self._team_note(dispute_id, "reassignment", reason)
        return pb.ReassignDisputeResponse(dispute=dispute)

    async def GetArbiterWorkload(
        self, request: pb.GetArbiterWorkloadRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetArbiterWorkloadResponse:
        found = await self._repo.queue.workload(_whose(request.arbiter_id), datetime.now(UTC))
        out = []
        for w in found:
            entry = pb.ArbiterWorkload(
                arbiter_id=w.arbiter_id, open_assigned=w.open_assigned, decided_last_7_days=w.decided
            )
            if (taken := _duration(w.median)) is not None:
                entry.median_time_to_decision.CopyFrom(taken)
            out.append(entry)
        return pb.GetArbiterWorkloadResponse(arbiters=out)
