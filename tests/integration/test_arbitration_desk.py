"""The arbitration desk on the real stack: arbiters racing to claim, releasing, a lead handing
disputes over, the appeal rule across hand-overs, the queue and the workload over gRPC, and who
is refused."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable

import grpc
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from evidence.v1 import evidence_pb2_grpc

from platform_common.auth import Role
from tests.harness.evidence import Generated, upload
from tests.integration.conftest import Api
from tests.integration.disputes_api import (
    C,
    disputable,
    disputes,
    escalated,
    eventually,
    get,
    open_dispute,
    refused,
)

RACES = 4
Q = pb.ArbitrationQueueFilter


async def queue(api: Api, who: list[tuple[str, str]], which: int = 0, arbiter_id: str = "") -> list[str]:
    resp = await disputes(api).ListArbitrationQueue(
        pb.ListArbitrationQueueRequest(
            filter=which, arbiter_id=arbiter_id, page=common_pb2.PageRequest(page_size=100)
        ),
        metadata=who,
    )
    return [e.dispute.dispute_id for e in resp.entries]


async def test_two_arbiters_claiming_at_once_one_wins_and_the_queue_shows_it(api: Api) -> None:
    cases = await disputable(api, RACES)
    stub = disputes(api)
    ana, bo = api.auth("arb-ana", Role.ARBITER), api.auth("arb-bo", Role.ARBITER)
    waiting = [await escalated(api, c) for c in cases]
    won: dict[str, str] = {}
    for d in waiting:
        claims = [
            stub.ClaimDispute(pb.ClaimDisputeRequest(dispute_id=d.dispute_id), metadata=m) for m in (ana, bo)
        ]
        answers = await asyncio.gather(*claims, return_exceptions=True)
        ok = [a for a in answers if isinstance(a, pb.ClaimDisputeResponse)]
        lost = [a for a in answers if isinstance(a, grpc.aio.AioRpcError)]
        assert len(ok) == 1 and len(lost) == 1, answers
        winner = ok[0].dispute.arbiter_id
        assert winner in ("arb-ana", "arb-bo")
        assert lost[0].code() == C.FAILED_PRECONDITION, lost[0].details()
        assert dict(lost[0].trailing_metadata() or ()).get("dp-error-reason") == "ALREADY_ASSIGNED"
        assert (await get(api, d.dispute_id)).arbiter_id == winner
        won[d.dispute_id] = winner
        # Claiming one's own dispute again is a no-op; the other arbiter still cannot.
        again = await stub.ClaimDispute(
            pb.ClaimDisputeRequest(dispute_id=d.dispute_id), metadata=api.auth(winner, Role.ARBITER)
        )
        assert sum(e.action == "CLAIMED" for e in again.dispute.timeline) == 1

    async def recorded() -> bool:
        mine = set(await queue(api, ana, Q.ARBITRATION_QUEUE_FILTER_MINE))
        return mine == {i for i, w in won.items() if w == "arb-ana"}

    await eventually(recorded, 15, "the claims in the read model")
    assert set(await queue(api, bo, Q.ARBITRATION_QUEUE_FILTER_MINE)) == {
        i for i, w in won.items() if w == "arb-bo"
    }
    assert not set(won) & set(await queue(api, ana, Q.ARBITRATION_QUEUE_FILTER_UNASSIGNED))
    assert set(won) <= set(await queue(api, bo))

    # Who may not: parties and services (the access table), an arbiter asking for another's.
    case = cases[0]
    for who in (api.auth(case.buyer, Role.BUYER), api.auth(case.seller, Role.SELLER), api.service()):
        await refused(C.PERMISSION_DENIED, queue(api, who))
    await refused(C.PERMISSION_DENIED, queue(api, ana, Q.ARBITRATION_QUEUE_FILTER_MINE, "arb-bo"))
    await refused(C.INVALID_ARGUMENT, queue(api, ana, Q.ARBITRATION_QUEUE_FILTER_UNASSIGNED, "arb-ana"))
    await refused(C.INVALID_ARGUMENT, queue(api, ana, 99))
    await refused(
        C.PERMISSION_DENIED,
        stub.GetArbiterWorkload(pb.GetArbiterWorkloadRequest(arbiter_id="arb-bo"), metadata=ana),
    )
    # The loser cannot release the winner's dispute; the winner can, and it is back in the queue.
    d_id, winner = next(iter(won.items()))
    loser = api.auth("arb-bo" if winner == "arb-ana" else "arb-ana", Role.ARBITER)
    await refused(
        C.PERMISSION_DENIED, stub.ReleaseDispute(pb.ReleaseDisputeRequest(dispute_id=d_id), metadata=loser)
    )
    released = await stub.ReleaseDispute(
        pb.ReleaseDisputeRequest(dispute_id=d_id, note="conflict of interest"),
        metadata=api.auth(winner, Role.ARBITER),
    )
    assert released.dispute.arbiter_id == "" and released.dispute.timeline[-1].action == "RELEASED"
    # The note is the arbitration team's: an internal note, never in what the parties read.
    party = api.auth(
        cases[[c.order.order_id for c in cases].index(released.dispute.order_id)].buyer, Role.BUYER
    )
    theirs = await stub.GetDispute(pb.GetDisputeRequest(dispute_id=d_id), metadata=party)
    assert not any("conflict of interest" in e.detail for e in theirs.dispute.timeline)
    thread = await stub.ListMessages(pb.ListMessagesRequest(dispute_id=d_id), metadata=loser)
    assert [m.internal for m in thread.messages if "conflict of interest" in m.text] == [True]
    for bad in (
        "x",
        "W1tbW1s=" * 100,
        base64.urlsafe_b64encode(b'{"d":"2026-01-01T00:00:00","i":"a"}').decode(),
    ):
        await refused(
            C.INVALID_ARGUMENT,
            stub.ListArbitrationQueue(
                pb.ListArbitrationQueueRequest(page=common_pb2.PageRequest(page_token=bad)), metadata=ana
            ),
        )
    nested = base64.urlsafe_b64encode(b"[" * 300).decode()
    await refused(
        C.INVALID_ARGUMENT,
        stub.ListArbitrationQueue(
            pb.ListArbitrationQueueRequest(page=common_pb2.PageRequest(page_token=nested)), metadata=ana
        ),
    )

    async def back() -> bool:
        return d_id in await queue(api, ana, Q.ARBITRATION_QUEUE_FILTER_UNASSIGNED)

    await eventually(back, 15, "the released dispute back in the unassigned queue")


async def test_a_lead_reassigns_and_the_appeal_still_goes_to_a_different_arbiter(api: Api) -> None:
    (case,) = await disputable(api)
    stub = disputes(api)
    evidence = evidence_pb2_grpc.EvidenceServiceStub(api.channels["EVIDENCE"])
    buyer = api.auth(case.buyer, Role.BUYER)
    ana, bo, cy = (api.auth(a, Role.ARBITER) for a in ("arb-ana", "arb-bo", "arb-cy"))
    lead = api.auth("lead-lu", Role.ARBITER_LEAD)
    label = await upload(evidence, Generated("image/png", 30_000), buyer, order_id=case.order.order_id)
    d = await escalated(api, case)

    shown = await stub.GetDispute(pb.GetDisputeRequest(dispute_id=d.dispute_id), metadata=lead)
    assert pb.DISPUTE_ACTION_REASSIGN_DISPUTE in [a.action for a in shown.allowed_actions]
    assert pb.DISPUTE_ACTION_DECIDE_DISPUTE not in [a.action for a in shown.allowed_actions]

    def reassign(to: str, reason: str = "rebalancing") -> Awaitable[pb.ReassignDisputeResponse]:
        return stub.ReassignDispute(
            pb.ReassignDisputeRequest(dispute_id=d.dispute_id, arbiter_id=to, reason=reason), metadata=lead
        )

    await refused(
        C.PERMISSION_DENIED,
        stub.ReassignDispute(
            pb.ReassignDisputeRequest(dispute_id=d.dispute_id, arbiter_id="arb-bo", reason="x"), metadata=ana
        ),
    )
    # Nobody arbitrates their own dispute: not the seller's id (or the buyer's) under the
    # arbiter role, whether claimed, handed over or acted on.
    party = "ARBITER_IS_A_PARTY"
    as_seller = api.auth(case.seller, Role.ARBITER)
    await refused(
        C.PERMISSION_DENIED,
        stub.ClaimDispute(pb.ClaimDisputeRequest(dispute_id=d.dispute_id), metadata=as_seller),
        party,
    )
    await refused(
        C.PERMISSION_DENIED,
        stub.RequestInformation(
            pb.RequestInformationRequest(
                dispute_id=d.dispute_id, addressed_to=pb.PARTY_BUYER, question="why?"
            ),
            metadata=as_seller,
        ),
        party,
    )
    await refused(C.PERMISSION_DENIED, reassign(case.buyer), party)
    # Nor read the team's side of it (party signals, internal notes), post as an arbiter, decide
    # it, or hand it over as a lead with a party's id.
    await refused(
        C.PERMISSION_DENIED,
        stub.GetDispute(pb.GetDisputeRequest(dispute_id=d.dispute_id), metadata=as_seller),
        party,
    )
    await refused(
        C.PERMISSION_DENIED,
        stub.ListMessages(pb.ListMessagesRequest(dispute_id=d.dispute_id), metadata=as_seller),
        party,
    )
    await refused(
        C.PERMISSION_DENIED,
        stub.SendMessage(
            pb.SendMessageRequest(dispute_id=d.dispute_id, request_id="m-1", text="as the arbiter"),
            metadata=as_seller,
        ),
        party,
    )
    await refused(
        C.PERMISSION_DENIED,
        stub.DecideDispute(
            pb.DecideDisputeRequest(
                dispute_id=d.dispute_id,
                refund_amount=common_pb2.Money(minor_units=0, currency="EUR"),
                rationale="mine",
            ),
            metadata=as_seller,
        ),
        party,
    )
    buyer_as_lead = api.auth(case.buyer, Role.ARBITER_LEAD)
    await refused(
        C.PERMISSION_DENIED,
        stub.ReassignDispute(
            pb.ReassignDisputeRequest(dispute_id=d.dispute_id, arbiter_id="arb-bo", reason="a friend"),
            metadata=buyer_as_lead,
        ),
        party,
    )
    await stub.ClaimDispute(pb.ClaimDisputeRequest(dispute_id=d.dispute_id), metadata=ana)
    await refused(C.INVALID_ARGUMENT, reassign("arb-bo", reason=""))
    await refused(C.INVALID_ARGUMENT, reassign("x" * 129))
    await refused(C.FAILED_PRECONDITION, reassign("arb-ana"))  # already hers
    moved = (await reassign("arb-bo", "arb-ana is out this week")).dispute
    assert moved.arbiter_id == "arb-bo"
    entry = moved.timeline[-1]
    assert entry.action == "REASSIGNED" and entry.actor.role == common_pb2.ROLE_ARBITER_LEAD
    assert "from arb-ana to arb-bo" in entry.detail and "out this week" not in entry.detail

    def decide(minor: int) -> pb.DecideDisputeRequest:
        return pb.DecideDisputeRequest(
            dispute_id=d.dispute_id,
            refund_amount=common_pb2.Money(minor_units=minor, currency="EUR"),
            rationale="The photos show it.",
        )

    await refused(C.PERMISSION_DENIED, stub.DecideDispute(decide(5_000), metadata=ana))  # no longer hers
    first = (await stub.DecideDispute(decide(5_000), metadata=bo)).dispute
    assert first.status == pb.DISPUTE_STATUS_DECIDED and first.decisions[0].arbiter_id == "arb-bo"
    appealed = (
        await stub.AppealDecision(
            pb.AppealDecisionRequest(
                dispute_id=d.dispute_id, message="see the label", evidence_ids=[label.evidence_id]
            ),
            metadata=buyer,
        )
    ).dispute
    assert appealed.status == pb.DISPUTE_STATUS_APPEALED and appealed.arbiter_id == ""

    # Whoever decided round 1 never gets the appeal: not by claim, not by reassignment.
    reason = "APPEAL_NEEDS_ANOTHER_ARBITER"
    await refused(
        C.PERMISSION_DENIED,
        stub.ClaimDispute(pb.ClaimDisputeRequest(dispute_id=d.dispute_id), metadata=bo),
        reason,
    )
    await refused(C.PERMISSION_DENIED, reassign("arb-bo"), reason)
    await reassign("arb-cy")
    await refused(C.PERMISSION_DENIED, reassign("arb-bo"), reason)
    await refused(C.PERMISSION_DENIED, stub.DecideDispute(decide(8_000), metadata=bo))
    await refused(C.PERMISSION_DENIED, stub.DecideDispute(decide(8_000), metadata=ana))  # cy holds it
    final = (await stub.DecideDispute(decide(8_000), metadata=cy)).dispute
    assert final.decisions[1].final and final.decisions[1].arbiter_id == "arb-cy"
    await refused(C.FAILED_PRECONDITION, reassign("arb-ana"))  # no longer under arbitration

    async def counted() -> bool:
        resp = await stub.GetArbiterWorkload(pb.GetArbiterWorkloadRequest(), metadata=lead)
        got = {w.arbiter_id: w for w in resp.arbiters}
        return {"arb-bo", "arb-cy"} <= set(got) and all(
            got[a].decided_last_7_days >= 1 and got[a].HasField("median_time_to_decision")
            for a in ("arb-bo", "arb-cy")
        )

    await eventually(counted, 15, "both decisions in the workload")
    mine = await stub.GetArbiterWorkload(pb.GetArbiterWorkloadRequest(), metadata=cy)
    assert [w.arbiter_id for w in mine.arbiters] == ["arb-cy"]
    # A lead sees disputes only once escalated, like arbiters.
    (other,) = await disputable(api)
    fresh = await open_dispute(api, other)
    await refused(
        C.PERMISSION_DENIED, stub.GetDispute(pb.GetDisputeRequest(dispute_id=fresh.dispute_id), metadata=lead)
    )
