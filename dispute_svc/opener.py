"""OpenDispute: the opening rules checked against OrderService and the openings register, the
order held, then the workflow started by update-with-start. Idempotent on the buyer's request id.

Why it is shaped like this:
- The hold on the order is recorded before the workflow starts and before OpenDispute answers,
  in OrderService's own store: from the moment an opening is acknowledged the order cannot
  complete or release escrow, whatever process is down afterwards.
- An opening is a row with a life cycle (OPENING, STARTED, ABANDONING; dispute_svc/openings.py).
  Concurrent copies of one request join the same opening and all return the same dispute; a
  different request on the order is refused while one is opening (DISPUTE_ALREADY_OPEN).
- An opening whose workflow never started is abandoned by the last call to leave it (or, after a
  crash, once its lease ran out, by the next opening on the order or the reconciler): its order
  hold is dropped and its attempt number given back, so a failed opening never blocks the order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from disputes.v1 import disputes_pb2 as pb
from orders.v1 import orders_pb2

from dispute_svc import requests as rq
from dispute_svc.engine import DisputeEngine
from dispute_svc.opening import check_history, check_parties, check_window
from dispute_svc.openings import OpeningRaced, PastDispute
from dispute_svc.peers import Peers
from dispute_svc.repository import DisputeRepository
from dispute_svc.store import ABANDONING, OPENING, STARTED, OpeningRow
from dispute_svc.views import render
from platform_common.auth import Caller
from platform_common.errors import DomainError, NotFound, Unavailable
from workflows.dispute_model import CLOSED, DisputeInput
from workflows.dispute_policy import Policy

log = logging.getLogger(__name__)
# How long one OpenDispute call may hold an opening: longer than its slowest path (a hold, an
# evidence check and a 30 s update-with-start), so a live call never loses its opening.
LEASE = timedelta(seconds=60)
_ATTEMPTS = 4


def _now() -> datetime:
    return datetime.now(UTC)


def dispute_id_for(buyer_id: str, request_id: str) -> str:
    """The dispute a buyer's request opens: an injective encoding (JSON of the pair), so
    ("x:a", "b") and ("x", "a:b") are different disputes."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "dispute:" + json.dumps([buyer_id, request_id])))


class Opener:
    def __init__(self, repo: DisputeRepository, engine: DisputeEngine, peers: Peers, policy: Policy) -> None:
        self._repo = repo
        self._openings = repo.openings
        self._engine = engine
        self._peers = peers
        self._policy = policy

    async def open(self, request: pb.OpenDisputeRequest, caller: Caller) -> pb.Dispute:
        opening = rq.parse_opening(request, self._policy)
        for _ in range(_ATTEMPTS):
            existing = await self._openings.by_request(caller.id, opening.request_id)
            if existing is not None and existing.fingerprint != opening.fingerprint:
                raise rq.already_used(opening.request_id)
            try:
                if existing is not None and existing.state != ABANDONING:
                    return await self._retry(existing, request, opening, caller)
                return await self._first(request, opening, caller, existing)
            except OpeningRaced:
                continue  # another call recorded an opening first: look again
        raise Unavailable("the order's disputes changed while opening; retry with the same request_id")

    async def _first(
        self,
        request: pb.OpenDisputeRequest,
        opening: rq.Opening,
        caller: Caller,
        abandoned: OpeningRow | None,
    ) -> pb.Dispute:
        """A request seen for the first time (or whose earlier opening was abandoned)."""
        order, blocked, history = await asyncio.gather(
            self._peers.order(opening.order_id),
            self._peers.blocked(caller.id),
            self._live_history(opening.order_id),
        )
        check_parties(order, caller.id, blocked)
        solution = rq.opening_solution(request, order, opening)
        # A concurrent copy of this very request may have recorded its opening meanwhile: it is
        # this request's own, not another dispute on the order.
        mine = [p for p in history if (p.buyer_id, p.request_id) == (caller.id, opening.request_id)]
        if mine:
            raise OpeningRaced()
        now = _now()
        attempt = check_history(order.order_id, history, self._policy, now)
        check_window(order, self._policy, now)
        dispute_id = dispute_id_for(caller.id, opening.request_id)
        if opening.evidence_ids:
            await self._peers.check_evidence(dispute_id, order.order_id, opening.evidence_ids, True, "BUYER")
        token = secrets.token_hex(16)
        if abandoned is None:
            row = OpeningRow(
                dispute_id=dispute_id,
                order_id=order.order_id,
                buyer_id=caller.id,
                request_id=opening.request_id,
                fingerprint=opening.fingerprint,
                attempt=attempt,
                created_at=now,
                state=OPENING,
                token=token,
                inflight=1,
                lease_until=now + LEASE,
            )
            await self._openings.add(row)
        else:
            await self._openings.revive(dispute_id, attempt, token, now + LEASE)
            revived = await self._openings.by_request(caller.id, opening.request_id)
            if revived is None or revived.token != token:
                raise OpeningRaced()
            row = revived
        return await self._start(row, order, opening, request, solution)

    async def _retry(
        self, existing: OpeningRow, request: pb.OpenDisputeRequest, opening: rq.Opening, caller: Caller
    ) -> pb.Dispute:
        """The same request again (a client retry, or concurrent copies)."""
        if existing.state == STARTED:
            stored = await self._repo.get(existing.dispute_id)
            if (
                stored is not None
                and pb.DisputeStatus.Name(stored.status).removeprefix("DISPUTE_STATUS_") in CLOSED
            ):
                return stored  # a late retry of a dispute that has ended: never start it again
        order = await self._peers.order(existing.order_id)
        check_parties(order, caller.id, blocked=False)  # checked when the opening was recorded
        solution = rq.opening_solution(request, order, opening)
        if existing.state == STARTED:
            return render(
                await self._engine.open(
                    self._input(existing, order, opening, request, solution), opening.request_id
                )
            )
        joined = await self._openings.enter(existing.dispute_id, _now() + LEASE)
        if joined is None:
            raise OpeningRaced()  # it started or was abandoned meanwhile
        return await self._start(joined, order, opening, request, solution)

    def _input(
        self,
        row: OpeningRow,
        order: orders_pb2.Order,
        opening: rq.Opening,
        request: pb.OpenDisputeRequest,
        solution: object,
    ) -> DisputeInput:
        assert row.attempt is not None
        return DisputeInput(
            dispute_id=row.dispute_id,
            order_id=order.order_id,
            buyer_id=row.buyer_id,
            seller_id=order.seller_id,
            paid_minor=order.total.minor_units,
            currency=order.total.currency,
            policy_version=self._policy.version,
            reason=opening.reason,
            goods_received=request.goods_received,
            solution=solution,  # type: ignore[arg-type]
            description=request.description,
            evidence_ids=opening.evidence_ids,
            attempt=row.attempt,
            # When the opening was accepted, not when a worker first runs the workflow.
            opened_at=row.created_at.isoformat(),
        )

    async def _start(
        self,
        row: OpeningRow,
        order: orders_pb2.Order,
        opening: rq.Opening,
        request: pb.OpenDisputeRequest,
        solution: object,
    ) -> pb.Dispute:
        """Hold the order, then start the workflow; on failure leave the opening, abandoning it
        if this was the last call in it and the workflow certainly does not exist."""
        called = False
        try:
            await self._peers.hold(order.order_id, row.dispute_id, row.token)
            if not await self._openings.refresh(row.dispute_id, row.token, _now() + LEASE):
                raise Unavailable("the opening was interrupted; retry with the same request_id")
            called = True
            view = await self._engine.open(
                self._input(row, order, opening, request, solution), opening.request_id
            )
        except BaseException:
            await self._openings.leave(row.dispute_id)
            # Update-with-start may have started the workflow even if its answer was lost or the
            # update refused: ask. Before that call, nothing can have started it.
            started = await self._started(row.dispute_id) if called else False
            if started is True:
                await self._openings.mark_started(row.dispute_id)
            elif started is False:
                await self.abandon(row, _now())
            raise
        await self._openings.mark_started(row.dispute_id)
        return render(view)

    async def _started(self, dispute_id: str) -> bool | None:
        try:
            return await self._engine.started(dispute_id)
        except Unavailable:
            return None  # unknown: the next opening on the order, or the reconciler, settles it

    async def abandon(self, row: OpeningRow, now: datetime) -> bool:
        """Give up an opening whose workflow never started; True once it is gone for good."""
        if row.state != ABANDONING and not await self._openings.begin_abandon(row.dispute_id, row.token, now):
            return False  # a call is still in it, or it moved on
        try:
            await self._peers.release(row.order_id, row.dispute_id, row.token)
        except DomainError as exc:
            log.info("opening %s: order hold not released yet (%s); will retry", row.dispute_id, exc.message)
            return False
        await self._openings.finish_abandon(row.dispute_id, row.token)
        log.info("opening %s on order %s abandoned: its dispute never started", row.dispute_id, row.order_id)
        return True

    async def _live_history(self, order_id: str) -> list[PastDispute]:
        """The order's disputes as they stand now. The read model may lag a moment behind a
        dispute that just closed, so an open-looking one is asked directly; an opening nobody
        works on any more is settled here (started, or abandoned and left out)."""
        history = []
        now = _now()
        for recorded in await self._openings.order_history(order_id):
            past = recorded
            if past.state == OPENING and not past.being_opened(now):
                started = await self._engine.started(past.dispute_id)  # Unavailable: refuse to guess
                if not started:
                    row = await self._openings.by_request(past.buyer_id, past.request_id)
                    if row is not None and await self.abandon(row, now):
                        continue
                else:
                    await self._openings.mark_started(past.dispute_id)
                    past = replace(past, state=STARTED)
            if past.state == STARTED and past.status not in CLOSED:
                try:
                    view = await self._engine.view(past.dispute_id, timeout_s=1.0)
                    past = replace(past, status=view.state.status, resolution=view.state.resolution)
                except (NotFound, Unavailable):
                    # Gone from Temporal (closed long ago), or its worker cannot answer now: the
                    # read model has the word, and a dispute not known to be closed is open.
                    pass
            history.append(past)
        return history

    async def reconcile(self) -> int:
        """Settle openings nobody works on any more (a crash mid-opening, a hold release that
        failed): started ones are marked so, the others abandoned. Returns how many were settled."""
        settled = 0
        now = _now()
        for row in await self._openings.unresolved(now):
            try:
                if row.state == OPENING and await self._engine.started(row.dispute_id):
                    await self._openings.mark_started(row.dispute_id)
                    settled += 1
                elif await self.abandon(row, now):
                    settled += 1
            except Unavailable as exc:
                log.info("opening %s not settled yet: %s", row.dispute_id, exc.message)
        return settled
