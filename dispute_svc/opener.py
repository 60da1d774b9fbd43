"""OpenDispute: the opening rules checked against OrderService and the openings register, the
order held, then the workflow started by update-with-start. Idempotent on the buyer's request id.

Why it is shaped like this:
- The hold on the order is recorded before the workflow starts and before OpenDispute answers,
  in OrderService's own store: from the moment an opening is acknowledged the order cannot
  complete or release escrow, whatever process is down afterwards.
- An opening is a row with a life cycle (OPENING, then STARTED, or ABANDONING and ABANDONED;
  dispute_svc/openings.py).
  Concurrent copies of one request join the same opening and all return the same dispute; a
  different request on the order is refused while one is opening (DISPUTE_ALREADY_OPEN).
- An opening no call is in any more (the last one failed, or crashed and its lease ran out) is
  settled by whoever finds it first: that call, the next opening on the order, or the
  reconciler. Settling claims it (ABANDONING: nobody can join it or open another dispute on the
  order meanwhile), asks Temporal whether its workflow exists, and either marks it STARTED or
  drops the order's hold and gives its attempt number back (ABANDONED). A failed opening never
  blocks the order for long, and a dispute that did start is never opened twice.
- The parties are checked before anything is settled or written: a caller who may not dispute
  the order learns nothing about its openings and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from disputes.v1 import disputes_pb2 as pb
from orders.v1 import orders_pb2

from dispute_svc import requests as rq
from dispute_svc.client import DisputeClient, StartNotSent
from dispute_svc.model import CLOSED, DisputeInput
from dispute_svc.opening import (
    ORDER_REFUNDED,
    Eligibility,
    check_history,
    check_parties,
    check_window,
    eligibility,
)
from dispute_svc.openings import OpeningRaced, PastDispute, new_token
from dispute_svc.peers import Peers
from dispute_svc.policy import Policy
from dispute_svc.repository import DisputeRepository
from dispute_svc.store import ABANDONING, OPENING, STARTED, OpeningRow
from dispute_svc.views import render
from platform_common.auth import Caller, Role
from platform_common.enums import name_of
from platform_common.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound, Unavailable

log = logging.getLogger(__name__)
# How long one OpenDispute call may hold an opening: the lease is renewed right before the hold
# (10 s) and before the update-with-start (30 s), so a live call never loses its opening.
LEASE = timedelta(seconds=120)
# How long the reconciler waits before trying again to settle an opening it could not settle.
SETTLE_RETRY = timedelta(seconds=60)
# After a start whose answer was lost (a timeout, a cancelled call), how long nobody settles the
# opening: Temporal may still be committing the start, and a describe that finds nothing yet
# must not abandon a dispute that is about to exist. Beyond the start's own 30 s RPC timeout.
START_GRACE = timedelta(seconds=60)
# What settling an opening found.
SETTLED_STARTED, SETTLED_GONE, UNCLEAR, BUSY = "started", "gone", "unclear", "busy"
_ATTEMPTS = 4


def _now() -> datetime:
    return datetime.now(UTC)


def _refusal(exc: BaseException) -> bool:
    """Temporal (or the workflow's validator) answered and refused: nothing is still in flight."""
    return isinstance(exc, DomainError) and not isinstance(exc, Unavailable)


def dispute_id_for(buyer_id: str, request_id: str) -> str:
    """The dispute a buyer's request opens: an injective encoding (JSON of the pair), so
    ("x:a", "b") and ("x", "a:b") are different disputes."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "dispute:" + json.dumps([buyer_id, request_id])))


class Opener:
    def __init__(
        self, repo: DisputeRepository, workflows: DisputeClient, peers: Peers, policy: Policy
    ) -> None:
        self._repo = repo
        self._openings = repo.openings
        self._workflows = workflows
        self._peers = peers
        self._policy = policy

    async def open(self, request: pb.OpenDisputeRequest, caller: Caller) -> pb.Dispute:
        opening = rq.parse_opening(request, self._policy)
        for _ in range(_ATTEMPTS):
            existing = await self._openings.by_request(caller.id, opening.request_id)
            if existing is not None and existing.fingerprint != opening.fingerprint:
                raise rq.already_used(opening.request_id)
            try:
                if existing is not None and existing.state in (OPENING, STARTED):
                    return await self._retry(existing, request, opening, caller)
                return await self._first(request, opening, caller, existing)
            except OpeningRaced:
                continue  # another call recorded or settled an opening first: look again
        raise Unavailable("the order's disputes changed while opening; retry with the same request_id")

    async def eligibility(self, order_id: str, caller: Caller) -> Eligibility:
        """CheckDisputeEligibility: the opening rules on the order as it stands, for its buyer (a
        service asks on the buyer's behalf). Nothing is recorded or held."""
        order = await self._peers.order(order_id)
        buyer = order.buyer_id if caller.role is Role.SERVICE else caller.id
        # Another buyer's order is refused as OpenDispute refuses it, before anything about the
        # order (its dates, its disputes) is told.
        check_parties(order, buyer, blocked=False)
        blocked = await self._peers.blocked(buyer)
        history = await self._live_history(order.order_id)
        return eligibility(order, buyer, blocked, history, self._policy, _now())

    async def _first(
        self,
        request: pb.OpenDisputeRequest,
        opening: rq.Opening,
        caller: Caller,
        previous: OpeningRow | None,
    ) -> pb.Dispute:
        """A request seen for the first time, or whose earlier opening was abandoned (`previous`,
        ABANDONING or ABANDONED)."""
        order, blocked = await asyncio.gather(
            self._peers.order(opening.order_id), self._peers.blocked(caller.id)
        )
        check_parties(order, caller.id, blocked)
        solution = rq.opening_solution(request, order, opening)
        history = await self._live_history(order.order_id)
        # A copy of this very request may have recorded (or settled) its opening meanwhile: it is
        # this request's own, not another dispute on the order.
        if any((p.buyer_id, p.request_id) == (caller.id, opening.request_id) for p in history):
            raise OpeningRaced()
        now = _now()
        attempt = check_history(order.order_id, history, self._policy)
        check_window(order, self._policy, now)
        dispute_id = dispute_id_for(caller.id, opening.request_id)
        if opening.evidence_ids:
            await self._peers.check_evidence(dispute_id, order.order_id, opening.evidence_ids, True, "BUYER")
        if previous is None:
            row = OpeningRow(
                dispute_id=dispute_id,
                order_id=order.order_id,
                buyer_id=caller.id,
                request_id=opening.request_id,
                fingerprint=opening.fingerprint,
                attempt=attempt,
                created_at=now,
                state=OPENING,
                token=new_token(),
                inflight=1,
                lease_until=now + LEASE,
            )
            await self._openings.add(row)
        else:
            # ABANDONED by now (settled above); a newer incarnation, so OrderService lets it hold
            # the order again while a late call of the old one cannot.
            row = await self._openings.revive(
                dispute_id, previous.token, attempt, new_token(previous.token), now + LEASE, now
            )
        return await self._start(row, order, opening, request, solution)

    async def _retry(
        self, existing: OpeningRow, request: pb.OpenDisputeRequest, opening: rq.Opening, caller: Caller
    ) -> pb.Dispute:
        """The same request again (a client retry, or concurrent copies)."""
        if existing.state == STARTED:
            stored = await self._repo.get(existing.dispute_id)
            if stored is not None and name_of(pb.DisputeStatus, stored.status) in CLOSED:
                return stored  # a late retry of a dispute that has ended: never start it again
        order = await self._peers.order(existing.order_id)
        check_parties(order, caller.id, blocked=False)  # checked when the opening was recorded
        solution = rq.opening_solution(request, order, opening)
        if existing.state == STARTED:
            return render(
                await self._workflows.open(
                    self._input(existing, order, opening, request, solution), opening.request_id
                )
            )
        now = _now()
        if not existing.token:
            # Recorded before openings had tokens (and so before leases): settle it, then look
            # again (it started, or it is abandoned and this request opens it anew).
            if await self._settle(existing.dispute_id, existing.order_id, "", OPENING, now) == UNCLEAR:
                raise Unavailable("an earlier opening of this request cannot be settled right now; retry")
            raise OpeningRaced()
        joined = await self._openings.enter(existing.dispute_id, now + LEASE, now)
        if joined is None:
            raise OpeningRaced()  # it started or is being settled meanwhile
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

    async def _opened_in_window(self, row: OpeningRow) -> int:
        """The buyer's disputes in the signal window with this one: at the policy's review
        threshold, the opening flags the buyer."""
        since = _now() - self._policy.days(self._policy.signal_window_days)
        return await self._repo.openings.opened_by(row.buyer_id, since, besides=row.dispute_id) + 1

    async def _flag_for_review(self, d: pb.Dispute, opened: int) -> None:
        """The team-only event that says so (the search attribute is on the workflow already).
        Best effort: the opening has succeeded, and GetDispute's party signals show it anyway."""
        p = self._policy
        detail = (
            f"{opened} disputes opened in {p.signal_window_days} days (review threshold "
            f"{p.buyer_review_disputes}); a flag for review, not a block"
        )
        try:
            await self._repo.flag_for_review(d, detail)
        except Exception as exc:
            log.warning("dispute %s: review flag event not written: %s", d.dispute_id, exc)

    async def _start(
        self,
        row: OpeningRow,
        order: orders_pb2.Order,
        opening: rq.Opening,
        request: pb.OpenDisputeRequest,
        solution: object,
    ) -> pb.Dispute:
        """Hold the order, then start the workflow, renewing the lease before the start (a call
        that lost its opening never starts it; a late hold of a lost opening holds nothing, see
        order_svc/ledger.py `_hold`). On failure leave the opening and, if this was the last
        call in it, settle it."""
        sent = False
        try:
            # The lease was just taken (add, revive or enter): the hold comes straight after it.
            if not await self._peers.hold(order.order_id, row.dispute_id, row.token):
                await self._renew(row)  # UNAVAILABLE if this call lost the opening meanwhile
                raise FailedPrecondition(
                    f"order {order.order_id} was refunded in full meanwhile; there is nothing left to dispute",
                    ORDER_REFUNDED,
                )
            opened = await self._opened_in_window(row)
            review = opened >= self._policy.buyer_review_disputes
            await self._renew(row)
            sent = True
            view = await self._workflows.open(
                self._input(row, order, opening, request, solution), opening.request_id, review
            )
        except BaseException as exc:
            # A refusal, or a start that never reached Temporal, is an answer; otherwise the
            # start may still commit, and settling waits START_GRACE for it.
            answered = not sent or isinstance(exc, StartNotSent) or _refusal(exc)
            await self._openings.leave(row.dispute_id, row.token, None if answered else _now() + START_GRACE)
            if answered:
                try:
                    # An update-with-start refused by its update still started the workflow:
                    # settling asks Temporal before it gives anything back.
                    await self._settle(row.dispute_id, row.order_id, row.token, OPENING, _now())
                except Exception as settle_exc:  # the reconciler settles it; the caller gets the first error
                    log.info("opening %s not settled yet: %s", row.dispute_id, settle_exc)
            raise
        await self._openings.mark_started(row.dispute_id, row.token)
        d = render(view)
        if review:
            await self._flag_for_review(d, opened)
        return d

    async def _renew(self, row: OpeningRow) -> None:
        """Extend this call's lease right before acting; UNAVAILABLE if it lost the opening."""
        if not await self._openings.refresh(row.dispute_id, row.token, _now() + LEASE):
            raise Unavailable("the opening was interrupted; retry with the same request_id")

    async def _settle(self, dispute_id: str, order_id: str, token: str, state: str, now: datetime) -> str:
        """Settle an opening no call is in: claim it (unless already ABANDONING), then ask
        Temporal whether its workflow exists; mark it STARTED, or drop the order's hold and
        abandon it. BUSY if a call is (back) in it, UNCLEAR if Temporal or OrderService could not
        answer (deferred to the reconciler)."""
        if state == OPENING and not await self._openings.claim(dispute_id, token, now):
            return BUSY
        try:
            if await self._workflows.started(dispute_id):
                await self._openings.mark_started(dispute_id, token)
                return SETTLED_STARTED
            # No such order any more, or a hold it could never have recorded: nothing is held.
            with contextlib.suppress(NotFound, InvalidArgument):
                await self._peers.release(order_id, dispute_id, token)
        except DomainError as exc:
            # UNAVAILABLE is an outage; anything else (a refused identity) is a misconfiguration
            # an operator must see: the order stays held until it is fixed.
            level = logging.INFO if isinstance(exc, Unavailable) else logging.ERROR
            log.log(
                level,
                "opening %s on order %s not settled yet (%s); will retry",
                dispute_id,
                order_id,
                exc.message,
            )
            await self._openings.defer(dispute_id, token, now + SETTLE_RETRY)
            return UNCLEAR
        await self._openings.finish_abandon(dispute_id, token)
        log.info("opening %s on order %s abandoned: its dispute never started", dispute_id, order_id)
        return SETTLED_GONE

    async def _live_history(self, order_id: str) -> list[PastDispute]:
        """The order's disputes as they stand now. An opening nobody is in any more is settled
        here (started, or abandoned and left out). The read model may lag a moment behind a
        dispute that just closed, so an open-looking one is asked directly."""
        history = []
        now = _now()
        for recorded in await self._openings.order_history(order_id):
            past = recorded
            if past.state == ABANDONING or (past.state == OPENING and not past.in_flight(now)):
                outcome = await self._settle(past.dispute_id, order_id, past.token, past.state, now)
                if outcome == SETTLED_GONE:
                    continue
                if outcome == UNCLEAR:
                    raise Unavailable(
                        f"an earlier opening on order {order_id} cannot be settled right now; "
                        "retry with the same request_id"
                    )
                if outcome == SETTLED_STARTED:
                    past = replace(past, state=STARTED)
            if past.state == STARTED and past.status not in CLOSED:
                try:
                    view = await self._workflows.view(past.dispute_id, timeout_s=1.0)
                    past = replace(past, status=view.state.status, resolution=view.state.resolution)
                except (NotFound, Unavailable):
                    # Gone from Temporal (closed long ago), or its worker cannot answer now: the
                    # read model has the word, and a dispute not known to be closed is open.
                    pass
            history.append(past)
        return history

    async def reconcile(self) -> int:
        """Settle openings nobody is in any more (a crash mid-opening, an outage while
        settling). Returns how many were settled."""
        settled = 0
        for row in await self._openings.unresolved(_now()):
            try:
                outcome = await self._settle(row.dispute_id, row.order_id, row.token, row.state, _now())
            except Exception as exc:  # one opening must not stall the others
                log.exception("opening %s could not be settled", row.dispute_id, exc_info=exc)
                continue
            if outcome in (SETTLED_STARTED, SETTLED_GONE):
                settled += 1
        return settled
