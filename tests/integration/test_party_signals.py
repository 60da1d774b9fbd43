"""Party signals on the real stack: a buyer's dispute history and a seller's defect rate, exact
on a seeded history, shown to the arbitration team only, and the buyer's review flag on the
dispute that reaches the policy's threshold (never a block).

The seed: one seller, a buyer with 6 orders (5 disputed: the review threshold) and another buyer
with 2 orders (1 disputed). Outcomes: the seller accepts one, counter-offers on one that the buyer
accepts, rejects two (one escalated), and one is cancelled by its buyer.
"""

from __future__ import annotations

import asyncio
import statistics
import uuid
from datetime import UTC

from disputes.v1 import disputes_pb2 as pb
from google.protobuf import descriptor
from temporalio.client import Client

from dispute_svc.policy import STANDARD
from platform_common import search_attributes as sa
from platform_common.auth import Role
from tests.integration.conftest import Api
from tests.integration.disputes_api import Case, disputes, eventually, open_dispute, partial

ANSWERS = ("SELLER_ACCEPTED", "COUNTER_OFFER", "REJECT")


async def respond(api: Api, case: Case, d: pb.Dispute, kind: int, **fields: object) -> pb.Dispute:
    resp = await disputes(api).RespondAsSeller(
        pb.RespondAsSellerRequest(dispute_id=d.dispute_id, response_type=kind, **fields),  # type: ignore[arg-type]
        metadata=api.auth(case.seller, Role.SELLER),
    )
    return resp.dispute


async def test_signals_are_exact_for_arbiters_and_never_reach_a_party(
    api: Api, temporal_client: Client
) -> None:
    seller = f"seller-{uuid.uuid4().hex[:8]}"
    buyer, other = f"buyer-{uuid.uuid4().hex[:8]}", f"buyer-{uuid.uuid4().hex[:8]}"
    orders = [await api.create_order(buyer=buyer, seller=seller) for _ in range(6)]
    orders += [await api.create_order(buyer=other, seller=seller) for _ in range(2)]
    for o in orders:
        await api.ship(o)
    await asyncio.sleep(5 * 0.5 + 0.3)  # min_days_after_shipment (5 policy days of 0.5 s)
    cases = [Case(await api.get(o)) for o in orders]
    stub = disputes(api)
    opened = [await open_dispute(api, c, solution=partial(4_000)) for c in cases[:4]]

    # The review threshold counts the openings register, written before OpenDispute answers:
    # the fifth opening straight after the four sees them (the read model may not yet).
    opened.append(await open_dispute(api, cases[4], solution=partial(4_000)))
    theirs = await open_dispute(api, cases[6], solution=partial(4_000))

    await respond(api, cases[0], opened[0], pb.SELLER_RESPONSE_TYPE_ACCEPT)
    for d in opened[1:3]:
        case = cases[opened.index(d)]
        await respond(
            api, case, d, pb.SELLER_RESPONSE_TYPE_COUNTER_OFFER, counter_offer=partial(2_000), message="20"
        )
    await stub.AcceptOffer(
        pb.AcceptOfferRequest(dispute_id=opened[1].dispute_id, offer_version=2),
        metadata=api.auth(buyer, Role.BUYER),
    )
    # Escalated disputes are the arbitration team's: the buyer rejects the offer and escalates.
    reject = await stub.RejectOffer(
        pb.RejectOfferRequest(dispute_id=opened[2].dispute_id, offer_version=2, message="no", escalate=True),
        metadata=api.auth(buyer, Role.BUYER),
    )
    assert reject.dispute.status == pb.DISPUTE_STATUS_UNDER_ARBITRATION
    await stub.CancelDispute(
        pb.CancelDisputeRequest(dispute_id=opened[3].dispute_id, reason="sorted it out"),
        metadata=api.auth(buyer, Role.BUYER),
    )
    await respond(api, cases[6], theirs, pb.SELLER_RESPONSE_TYPE_REJECT, message="no")
    # Answered too, so no seller window can run out while the test reads (a day is 0.5 s here;
    # silences are counted in test_party_signals_store.py).
    await respond(api, cases[4], opened[4], pb.SELLER_RESPONSE_TYPE_REJECT, message="no")
    arbiter = api.auth("arb-signals", Role.ARBITER)
    lead = api.auth("lead-signals", Role.ARBITER_LEAD)

    async def settled() -> list[pb.Dispute]:
        got = [
            (
                await stub.GetDispute(pb.GetDisputeRequest(dispute_id=d.dispute_id), metadata=api.service())
            ).dispute
            for d in [*opened, theirs]
        ]
        return got

    # Everything recorded (the read model lags a moment): closed ones closed, answers in.
    for _ in range(100):
        now = await settled()
        closed = [pb.DisputeStatus.Name(d.status) for d in now]
        if (
            closed[0] == closed[1] == "DISPUTE_STATUS_CLOSED_REFUNDED"
            and closed[3] == "DISPUTE_STATUS_CLOSED_CANCELLED"
        ):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # the read model's last records
    now = await settled()

    got = await stub.GetDispute(pb.GetDisputeRequest(dispute_id=opened[2].dispute_id), metadata=arbiter)
    assert got.HasField("party_signals")
    sig = got.party_signals
    assert sig.window_days == STANDARD.signal_window_days
    b = sig.buyer
    assert b.buyer_id == buyer and b.disputes_opened == 5 and b.orders_known and b.orders == 6
    assert abs(b.disputed_order_share - 5 / 6) < 1e-9
    outcomes = {pb.DisputeResolution.Name(o.resolution): o.count for o in b.outcomes}
    expected = {pb.DisputeResolution.Name(d.resolution): 0 for d in now[:5] if d.HasField("closed_at")}
    for d in now[:5]:
        if d.HasField("closed_at"):
            expected[pb.DisputeResolution.Name(d.resolution)] += 1
    assert outcomes == expected and sum(outcomes.values()) == 3 and b.still_open == 2
    assert b.flagged_for_review  # 5 disputes reach STANDARD.buyer_review_disputes
    s = sig.seller
    assert s.seller_id == seller and s.disputes == 6 and s.orders == 8 and s.orders_known
    assert s.disputed_orders == 6 and abs(s.defect_rate - 6 / 8) < 1e-9
    assert s.disputes_lost == 2 and s.silent_timeout_share == 0.0
    waits = []
    for d in now:
        answer = next((e for e in d.timeline if e.action in ANSWERS), None)
        if answer is not None:
            waits.append(answer.at.ToDatetime(tzinfo=UTC) - d.opened_at.ToDatetime(tzinfo=UTC))
    assert len(waits) == 5
    median = statistics.median(w.total_seconds() for w in waits)
    assert abs(s.median_response_time.ToTimedelta().total_seconds() - median) < 1e-3
    lead_view = await stub.GetDispute(pb.GetDisputeRequest(dispute_id=opened[2].dispute_id), metadata=lead)
    assert lead_view.party_signals == got.party_signals

    # The parties never get them: not from GetDispute, and no other answer can carry them.
    for who in (api.auth(buyer, Role.BUYER), api.auth(seller, Role.SELLER)):
        mine = await stub.GetDispute(pb.GetDisputeRequest(dispute_id=opened[2].dispute_id), metadata=who)
        assert not mine.HasField("party_signals")
    support = await stub.GetDispute(
        pb.GetDisputeRequest(dispute_id=opened[2].dispute_id), metadata=api.service()
    )
    assert not support.HasField("party_signals")
    assert holders(pb.PartySignals.DESCRIPTOR) == {"disputes.v1.GetDisputeResponse"}

    # The fifth dispute reached the review threshold: flagged on its workflow, the others not.
    flags = []
    for d in opened:
        described = await temporal_client.get_workflow_handle(f"dispute/{d.dispute_id}").describe()
        flags.append(described.typed_search_attributes.get(sa.BUYER_REVIEW))
    assert flags == [None, None, None, None, sa.FLAGGED]

    # And one team-only event says so: for arbiters and services, never for a party, and
    # outside the dispute's sequence, so the parties' sequences have no gap.
    flagged = "dispute.buyer_flagged_for_review"

    async def events_of(dispute_id: str, who: list[tuple[str, str]]) -> list[pb.DisputeEvent]:
        req = pb.ListDisputeEventsRequest(dispute_id=dispute_id, page_size=500)
        return list((await stub.ListDisputeEvents(req, metadata=who)).events)

    async def typed(dispute_id: str, who: list[tuple[str, str]]) -> list[pb.DisputeEvent]:
        req = pb.ListDisputeEventsRequest(dispute_id=dispute_id, types=[flagged], page_size=500)
        return list((await stub.ListDisputeEvents(req, metadata=who)).events)

    team = [e for d in opened for e in await typed(d.dispute_id, api.service())]
    assert [(e.dispute_id, e.sequence, e.event_id) for e in team] == [
        (opened[4].dispute_id, 0, f"{opened[4].dispute_id}:team")
    ]
    assert team[0].buyer_id == buyer and team[0].entry.action == "BUYER_FLAGGED_FOR_REVIEW"
    assert team[0].entry.detail.startswith(f"5 disputes opened in {STANDARD.signal_window_days} days")
    # Only asked for by its type: a service that forwards whatever it reads never gets it.
    assert flagged not in {e.type for e in await events_of(opened[4].dispute_id, api.service())}
    # Arbiters read the flag in GetDispute's party signals (escalated disputes), not as an event.
    assert await typed(opened[4].dispute_id, api.auth("arbiter-7", Role.ARBITER)) == []
    for who in (api.auth(buyer, Role.BUYER), api.auth(seller, Role.SELLER)):
        assert await typed(opened[4].dispute_id, who) == []

        async def recorded_for(who: list[tuple[str, str]] = who) -> bool:
            return bool(await events_of(opened[4].dispute_id, who))

        await eventually(recorded_for, 15, "the dispute's first events")
        seen = await events_of(opened[4].dispute_id, who)
        assert flagged not in {e.type for e in seen}
        assert [e.sequence for e in seen] == list(range(1, len(seen) + 1))
        listed = await stub.ListDisputeEvents(pb.ListDisputeEventsRequest(types=[flagged]), metadata=who)
        assert list(listed.events) == []


def holders(target: descriptor.Descriptor) -> set[str]:
    """Every response message of every platform RPC that holds `target`, at any depth."""
    from evidence.v1 import evidence_pb2
    from orders.v1 import orders_pb2
    from refunds.v1 import refunds_pb2

    found: set[str] = set()

    def holds(m: descriptor.Descriptor, seen: set[str]) -> bool:
        if m.full_name == target.full_name:
            return True
        if m.full_name in seen:
            return False
        seen.add(m.full_name)
        return any(f.message_type is not None and holds(f.message_type, seen) for f in m.fields)

    for module in (pb, orders_pb2, evidence_pb2, refunds_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if holds(method.output_type, set()):
                    found.add(method.output_type.full_name)
    return found
