"""OpenDispute: the opening rules checked against OrderService and the openings register, then
the workflow started by update-with-start. Idempotent on the buyer's request id."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from disputes.v1 import disputes_pb2 as pb

from dispute_svc import requests as rq
from dispute_svc.engine import DisputeEngine
from dispute_svc.opening import check_history, check_parties, check_window
from dispute_svc.peers import Peers
from dispute_svc.repository import DisputeRepository, PastDispute
from dispute_svc.store import OpeningRow
from dispute_svc.views import render
from platform_common.auth import Caller
from platform_common.errors import AlreadyExists, NotFound
from workflows.dispute_model import CLOSED, DisputeInput
from workflows.dispute_policy import Policy

# An opening whose workflow never appeared after this long is treated as abandoned.
_STALE_OPENING_S = 60


def _now() -> datetime:
    return datetime.now(UTC)


async def _no_history() -> list[PastDispute]:
    return []


class Opener:
    def __init__(self, repo: DisputeRepository, engine: DisputeEngine, peers: Peers, policy: Policy) -> None:
        self._repo = repo
        self._engine = engine
        self._peers = peers
        self._policy = policy

    async def open(self, request: pb.OpenDisputeRequest, caller: Caller) -> pb.Dispute:
        opening = rq.parse_opening(request, self._policy)
        existing = await self._repo.opening_by_request(caller.id, opening.request_id)
        if existing is not None and existing.fingerprint != opening.fingerprint:
            raise rq.already_used(opening.request_id)
        if existing is not None:
            stored = await self._repo.get(existing.dispute_id)
            closed = (
                stored is not None
                and pb.DisputeStatus.Name(stored.status).removeprefix("DISPUTE_STATUS_") in CLOSED
            )
            if stored is not None and closed:
                return stored  # a late retry of a dispute that has ended: never start it again
        # Independent reads, in parallel: the order, the buyer's account, the order's disputes.
        order, blocked, history = await asyncio.gather(
            self._peers.order(opening.order_id),
            self._peers.blocked(caller.id),
            self._live_history(opening.order_id) if existing is None else _no_history(),
        )
        check_parties(order, caller.id, blocked)
        solution = rq.opening_solution(request, order, opening)
        if existing is None:
            attempt = check_history(opening.order_id, history, self._policy)
            check_window(order, self._policy, _now())
            dispute_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"dispute:{caller.id}:{opening.request_id}"))
        else:
            attempt, dispute_id = existing.attempt, existing.dispute_id
        if opening.evidence_ids:
            await self._peers.check_evidence(
                dispute_id, order.order_id, opening.evidence_ids, at_opening=True
            )
        if existing is None:
            try:
                await self._repo.add_opening(
                    OpeningRow(
                        dispute_id=dispute_id,
                        order_id=order.order_id,
                        buyer_id=caller.id,
                        request_id=opening.request_id,
                        fingerprint=opening.fingerprint,
                        attempt=attempt,
                        created_at=_now(),
                    )
                )
            except AlreadyExists:
                # A concurrent retry of this very request recorded it first: carry on with it.
                raced = await self._repo.opening_by_request(caller.id, opening.request_id)
                if raced is None or raced.fingerprint != opening.fingerprint:
                    raise
                attempt = raced.attempt
        inp = DisputeInput(
            dispute_id=dispute_id,
            order_id=order.order_id,
            buyer_id=caller.id,
            seller_id=order.seller_id,
            paid_minor=order.total.minor_units,
            currency=order.total.currency,
            policy_version=self._policy.version,
            reason=opening.reason,
            goods_received=request.goods_received,
            solution=solution,
            description=request.description,
            evidence_ids=opening.evidence_ids,
            attempt=attempt,
        )
        # On UNAVAILABLE the opening stays recorded: a retry with the same request id completes it,
        # and one never started is dropped by the next opening's history check after a minute.
        return render(await self._engine.open(inp, opening.request_id))

    async def _live_history(self, order_id: str) -> list[PastDispute]:
        """The order's disputes as they stand now. The read model may lag a moment behind a
        dispute that just closed, so an open-looking one is asked directly; an opening whose
        workflow never started (Temporal was down and the caller gave up) is dropped, so it does
        not block the order for good."""
        history = []
        for recorded in await self._repo.order_history(order_id):
            past = recorded
            if past.status not in CLOSED:
                try:
                    view = await self._engine.view(past.dispute_id)
                    past = replace(past, status=view.state.status, resolution=view.state.resolution)
                except NotFound:
                    stale = (_now() - past.created_at).total_seconds() > _STALE_OPENING_S
                    if not past.status and stale and not await self._engine.started(past.dispute_id):
                        await self._repo.drop_opening(past.dispute_id)
                        continue
            history.append(past)
        return history
