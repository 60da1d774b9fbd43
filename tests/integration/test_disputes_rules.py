"""Opening rules (each refusal its own code and reason), bad input, wrong parties and closed
disputes over gRPC: refused with the exact status, and nothing is created or changed."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime

import grpc
import pytest
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from evidence.v1 import evidence_pb2, evidence_pb2_grpc
from orders.v1 import orders_pb2

from platform_common.auth import Role
from tests.harness.evidence import Generated, upload
from tests.harness.fixtures import DAY_SECONDS
from tests.integration.conftest import Api
from tests.integration.disputes_api import (
    C,
    Case,
    disputable,
    disputes,
    eventually,
    get,
    open_dispute,
    open_request,
    partial,
    refused,
    status_becomes,
)


async def _dispute_count(api: Api, order_id: str) -> int:
    page = await disputes(api).ListDisputes(pb.ListDisputesRequest(order_id=order_id), metadata=api.service())
    return len(page.disputes)


async def _eligibility(api: Api, order_id: str, metadata: object) -> pb.CheckDisputeEligibilityResponse:
    return await disputes(api).CheckDisputeEligibility(
        pb.CheckDisputeEligibilityRequest(order_id=order_id), metadata=metadata
    )


async def _not_eligible(
    api: Api, order_id: str, metadata: object, reason: str
) -> pb.CheckDisputeEligibilityResponse:
    """CheckDisputeEligibility says what OpenDispute is about to refuse with, and a service asking
    for the order's buyer hears the same."""
    answer = await _eligibility(api, order_id, metadata)
    assert (answer.eligible, answer.reason) == (False, reason), answer
    assert answer.message
    on_behalf = await _eligibility(api, order_id, api.service())
    assert (on_behalf.eligible, on_behalf.reason) == (False, reason)
    return answer


async def test_every_opening_rule_refuses_with_its_own_code(api: Api) -> None:
    stub = disputes(api)
    settled, capped, blocked_case, cancelled_case = await disputable(api, 4)
    buyer = api.auth(settled.buyer, Role.BUYER)
    # Before anything: eligible, within the order's window, with all three attempts left.
    ok = await _eligibility(api, settled.order.order_id, buyer)
    assert (ok.eligible, ok.reason, ok.remaining_attempts) == (True, "", 3)
    now = datetime.now(UTC)
    assert ok.window_opens_at.ToDatetime(tzinfo=UTC) <= now < ok.window_closes_at.ToDatetime(tzinfo=UTC)
    assert ok.window_closes_at == settled.order.protection.expires_at

    # Unknown order; not the order's buyer; a blocked buyer account.
    ghost = open_request(settled, order_id=str(uuid.uuid4()))
    await refused(C.NOT_FOUND, stub.OpenDispute(ghost, metadata=buyer))
    await refused(C.NOT_FOUND, _eligibility(api, ghost.order_id, buyer))
    other = api.auth("buyer-someone-else", Role.BUYER)
    await refused(C.PERMISSION_DENIED, _eligibility(api, settled.order.order_id, other), "NOT_ORDER_BUYER")
    await refused(
        C.PERMISSION_DENIED, stub.OpenDispute(open_request(settled), metadata=other), "NOT_ORDER_BUYER"
    )
    await api.orders.SetAccountBlocked(
        orders_pb2.SetAccountBlockedRequest(
            account_id=blocked_case.buyer, blocked=True, reason="chargeback abuse"
        ),
        metadata=api.service(),
    )
    await _not_eligible(
        api, blocked_case.order.order_id, api.auth(blocked_case.buyer, Role.BUYER), "BUYER_BLOCKED"
    )
    await refused(
        C.PERMISSION_DENIED,
        stub.OpenDispute(open_request(blocked_case), metadata=api.auth(blocked_case.buyer, Role.BUYER)),
        "BUYER_BLOCKED",
    )

    # Another dispute open on the order; after a settlement the order cannot be disputed again.
    first = await open_dispute(api, settled)
    await _not_eligible(api, settled.order.order_id, buyer, "DISPUTE_ALREADY_OPEN")
    await refused(
        C.ALREADY_EXISTS, stub.OpenDispute(open_request(settled), metadata=buyer), "DISPUTE_ALREADY_OPEN"
    )
    await stub.RespondAsSeller(
        pb.RespondAsSellerRequest(dispute_id=first.dispute_id, response_type=pb.SELLER_RESPONSE_TYPE_ACCEPT),
        metadata=api.auth(settled.seller, Role.SELLER),
    )
    await status_becomes(api, first.dispute_id, pb.DISPUTE_STATUS_CLOSED_REFUNDED)
    await _not_eligible(api, settled.order.order_id, buyer, "ORDER_ALREADY_SETTLED")
    await refused(
        C.FAILED_PRECONDITION,
        stub.OpenDispute(open_request(settled), metadata=buyer),
        "ORDER_ALREADY_SETTLED",
    )

    # Cancel then reopen (each counts), until max_disputes_per_order = 3 is reached.
    capped_buyer = api.auth(capped.buyer, Role.BUYER)
    for attempt in (1, 2, 3):
        d = await open_dispute(api, capped)
        assert d.attempt == attempt
        await stub.CancelDispute(pb.CancelDisputeRequest(dispute_id=d.dispute_id), metadata=capped_buyer)
        await status_becomes(api, d.dispute_id, pb.DISPUTE_STATUS_CLOSED_CANCELLED)
    capped_left = await _not_eligible(api, capped.order.order_id, capped_buyer, "MAX_DISPUTES_REACHED")
    assert capped_left.remaining_attempts == 0
    await refused(
        C.RESOURCE_EXHAUSTED,
        stub.OpenDispute(open_request(capped), metadata=capped_buyer),
        "MAX_DISPUTES_REACHED",
    )

    async def three_listed() -> bool:  # the read model follows a moment behind the workflow
        return await _dispute_count(api, capped.order.order_id) == 3

    await eventually(three_listed, 10, "three disputes in the read model")

    # A cancelled order; an order shipped too recently; a window that has ended.
    fresh = await api.create_order()
    fresh_buyer = api.auth(fresh.buyer_id, Role.BUYER)
    await api.orders.CancelOrder(orders_pb2.CancelOrderRequest(order_id=fresh.order_id), metadata=fresh_buyer)
    await _not_eligible(api, fresh.order_id, fresh_buyer, "ORDER_CANCELLED")
    await refused(
        C.FAILED_PRECONDITION,
        stub.OpenDispute(open_request(type(settled)(fresh)), metadata=fresh_buyer),
        "ORDER_CANCELLED",
    )
    unshipped = await api.create_order()
    early = await _not_eligible(
        api, unshipped.order_id, api.auth(unshipped.buyer_id, Role.BUYER), "TOO_EARLY"
    )
    assert early.window_opens_at == unshipped.deadlines[0].due_at  # its ship-by date
    await refused(
        C.FAILED_PRECONDITION,
        stub.OpenDispute(
            open_request(type(settled)(unshipped)), metadata=api.auth(unshipped.buyer_id, Role.BUYER)
        ),
        "TOO_EARLY",
    )
    just_shipped = await api.ship(await api.create_order())
    await _not_eligible(api, just_shipped.order_id, api.auth(just_shipped.buyer_id, Role.BUYER), "TOO_EARLY")
    await refused(
        C.FAILED_PRECONDITION,
        stub.OpenDispute(
            open_request(type(settled)(just_shipped)), metadata=api.auth(just_shipped.buyer_id, Role.BUYER)
        ),
        "TOO_EARLY",
    )
    # Completed by the buyer: disputes stay possible for the completion grace (15 days), then not.
    await api.orders.ConfirmReceipt(
        orders_pb2.ConfirmReceiptRequest(order_id=cancelled_case.order.order_id),
        metadata=api.auth(cancelled_case.buyer, Role.BUYER),
    )
    await asyncio.sleep(15 * DAY_SECONDS + 0.5)
    await _not_eligible(
        api, cancelled_case.order.order_id, api.auth(cancelled_case.buyer, Role.BUYER), "WINDOW_CLOSED"
    )
    await refused(
        C.FAILED_PRECONDITION,
        stub.OpenDispute(open_request(cancelled_case), metadata=api.auth(cancelled_case.buyer, Role.BUYER)),
        "WINDOW_CLOSED",
    )
    for case in (blocked_case, cancelled_case):
        assert await _dispute_count(api, case.order.order_id) == 0  # nothing was created


async def test_bad_opening_input_is_invalid_argument(api: Api) -> None:
    (case,) = await disputable(api)
    stub, buyer = disputes(api), api.auth(case.buyer, Role.BUYER)
    paid = case.order.total.minor_units
    bad = [
        open_request(case, request_id=""),
        open_request(case, order_id="not-a-uuid"),
        open_request(case, reason=pb.DISPUTE_REASON_UNSPECIFIED),
        open_request(case, reason=pb.DISPUTE_REASON_NOT_DELIVERED),  # goods_received is true
        open_request(case, goods_received=False),  # a received reason
        open_request(case, description=""),
        open_request(case, description="ü" * 2001),
        open_request(case, solution=partial(0)),
        open_request(case, solution=partial(paid + 1)),
        open_request(case, solution=partial(100, currency="USD")),
        open_request(case, solution=pb.Solution()),
        open_request(
            case,
            goods_received=False,
            reason=pb.DISPUTE_REASON_NOT_DELIVERED,
            solution=pb.Solution(type=pb.SOLUTION_TYPE_FULL_REFUND, return_goods=True),
        ),
        open_request(case, evidence_ids=["x"]),
    ]
    for request in bad:
        await refused(C.INVALID_ARGUMENT, stub.OpenDispute(request, metadata=buyer))
    assert await _dispute_count(api, case.order.order_id) == 0
    # 2,000 code points of any script are fine.
    d = await open_dispute(api, case, description="争" * 2000)
    assert len(d.description) == 2000


async def test_wrong_party_wrong_state_and_closed_disputes(api: Api) -> None:
    (case,) = await disputable(api)
    stub = disputes(api)
    d = await open_dispute(api, case)
    buyer, seller = api.auth(case.buyer, Role.BUYER), api.auth(case.seller, Role.SELLER)
    before = await get(api, d.dispute_id)
    respond = pb.RespondAsSellerRequest(dispute_id=d.dispute_id, response_type=pb.SELLER_RESPONSE_TYPE_ACCEPT)
    # The wrong role, the wrong seller, the wrong buyer, an arbiter before escalation.
    await refused(C.PERMISSION_DENIED, stub.RespondAsSeller(respond, metadata=buyer))
    await refused(
        C.PERMISSION_DENIED, stub.RespondAsSeller(respond, metadata=api.auth("seller-x", Role.SELLER))
    )
    cancel = pb.CancelDisputeRequest(dispute_id=d.dispute_id)
    await refused(C.PERMISSION_DENIED, stub.CancelDispute(cancel, metadata=api.auth("buyer-x", Role.BUYER)))
    arbiter = api.auth("arbiter-1", Role.ARBITER)
    read = pb.GetDisputeRequest(dispute_id=d.dispute_id)
    await refused(C.PERMISSION_DENIED, stub.GetDispute(read, metadata=arbiter))
    await refused(C.PERMISSION_DENIED, stub.GetDispute(read, metadata=api.auth("buyer-x", Role.BUYER)))
    decide = pb.DecideDisputeRequest(
        dispute_id=d.dispute_id, refund_amount=common_pb2.Money(minor_units=1, currency="EUR"), rationale="r"
    )
    # Wrong state: nothing to accept, not under arbitration, nothing to ship back.
    accept = pb.AcceptOfferRequest(dispute_id=d.dispute_id, offer_version=2)
    await refused(C.FAILED_PRECONDITION, stub.AcceptOffer(accept, metadata=buyer))
    # Not escalated: not the arbiter's, and nothing about it (currency, amount paid) leaks.
    details = await refused(C.PERMISSION_DENIED, stub.DecideDispute(decide, metadata=arbiter))
    assert "EUR" not in details and str(case.order.total.minor_units) not in details
    wrong_currency = pb.DecideDisputeRequest(
        dispute_id=d.dispute_id, refund_amount=common_pb2.Money(minor_units=1, currency="JPY"), rationale="r"
    )
    details = await refused(C.PERMISSION_DENIED, stub.DecideDispute(wrong_currency, metadata=arbiter))
    assert "EUR" not in details
    ship = pb.SubmitReturnShipmentRequest(dispute_id=d.dispute_id, carrier="DHL", tracking_number="RET-1")
    await refused(C.FAILED_PRECONDITION, stub.SubmitReturnShipment(ship, metadata=buyer))
    await refused(
        C.FAILED_PRECONDITION,
        stub.EscalateDispute(pb.EscalateDisputeRequest(dispute_id=d.dispute_id), metadata=buyer),
    )
    # A refused action binds none of its files to the dispute.
    evidence = evidence_pb2_grpc.EvidenceServiceStub(api.channels["EVIDENCE"])
    photo = await upload(evidence, Generated("image/jpeg", 20_000), buyer, order_id=case.order.order_id)
    appeal = pb.AppealDecisionRequest(
        dispute_id=d.dispute_id, message="no decision yet", evidence_ids=[photo.evidence_id]
    )
    await refused(C.FAILED_PRECONDITION, stub.AppealDecision(appeal, metadata=buyer))
    got = await evidence.GetEvidence(
        evidence_pb2.GetEvidenceRequest(evidence_id=photo.evidence_id), metadata=buyer
    )
    assert got.evidence.dispute_id == ""
    # Internal write path: only the disputes worker.
    record = pb.RecordDisputeStateRequest(dispute=before, revision=10_000)
    await refused(C.PERMISSION_DENIED, stub.RecordDisputeState(record, metadata=api.service()))
    await refused(C.PERMISSION_DENIED, stub.RecordDisputeState(record, metadata=api.checkout()))
    after = await get(api, d.dispute_id)
    assert after == before  # nothing changed

    # Unknown dispute; a closed dispute takes no more actions.
    ghost = pb.CancelDisputeRequest(dispute_id=str(uuid.uuid4()))
    await refused(C.NOT_FOUND, stub.CancelDispute(ghost, metadata=buyer))
    await stub.CancelDispute(cancel, metadata=buyer)
    await status_becomes(api, d.dispute_id, pb.DISPUTE_STATUS_CLOSED_CANCELLED)
    await asyncio.sleep(1.0)  # the workflow completes right after recording its final state
    await refused(C.FAILED_PRECONDITION, stub.RespondAsSeller(respond, metadata=seller))


async def test_list_disputes_filters_and_pages(api: Api) -> None:
    cases = await disputable(api, 3)
    ids = [(await open_dispute(api, c)).dispute_id for c in cases]
    stub = disputes(api)
    arbiter = api.auth("arbiter-1", Role.ARBITER)
    # Buyers see only their own; asking for someone else's is refused.
    mine = await stub.ListDisputes(pb.ListDisputesRequest(), metadata=api.auth(cases[0].buyer, Role.BUYER))
    assert [d.dispute_id for d in mine.disputes] == [ids[0]]
    await refused(
        C.PERMISSION_DENIED,
        stub.ListDisputes(
            pb.ListDisputesRequest(buyer_id=cases[1].buyer), metadata=api.auth(cases[0].buyer, Role.BUYER)
        ),
    )
    theirs = await stub.ListDisputes(
        pb.ListDisputesRequest(), metadata=api.auth(cases[1].seller, Role.SELLER)
    )
    assert [d.dispute_id for d in theirs.disputes] == [ids[1]]
    # Escalate one; arbiters see it in the arbitration queue, and only escalated ones.
    await stub.CancelDispute(
        pb.CancelDisputeRequest(dispute_id=ids[2]), metadata=api.auth(cases[2].buyer, Role.BUYER)
    )
    await asyncio.sleep(3 * DAY_SECONDS + 0.2)
    await stub.EscalateDispute(
        pb.EscalateDisputeRequest(dispute_id=ids[1]), metadata=api.auth(cases[1].buyer, Role.BUYER)
    )
    await status_becomes(api, ids[1], pb.DISPUTE_STATUS_UNDER_ARBITRATION)
    queue = await stub.ListDisputes(
        pb.ListDisputesRequest(
            status=pb.DISPUTE_STATUS_UNDER_ARBITRATION, page=common_pb2.PageRequest(page_size=100)
        ),
        metadata=arbiter,
    )
    assert ids[1] in [d.dispute_id for d in queue.disputes]
    assert all(d.status == pb.DISPUTE_STATUS_UNDER_ARBITRATION for d in queue.disputes)
    # Paging over everything, newest first, with no duplicates.
    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListDisputes(
            pb.ListDisputesRequest(page=common_pb2.PageRequest(page_size=2, page_token=token)),
            metadata=api.service(),
        )
        seen += [d.dispute_id for d in page.disputes]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) and set(ids) <= set(seen)
    await refused(
        C.INVALID_ARGUMENT,
        stub.ListDisputes(
            pb.ListDisputesRequest(page=common_pb2.PageRequest(page_token="garbage")), metadata=api.service()
        ),
    )


@pytest.mark.parametrize("repeat", range(int(os.environ.get("DP_REPEAT_CONCURRENCY", "1"))))
async def test_concurrent_openings_on_one_order(api: Api, repeat: int) -> None:
    """Identical copies of one OpenDispute at once (and retried 5 ms later) all get the same
    dispute; different requests on one order at once: exactly one opens, the others are refused
    with DISPUTE_ALREADY_OPEN. Ten rounds, so a race that loses one time in ten shows
    (DP_REPEAT_CONCURRENCY=50 runs the whole test 50 times on one stack)."""
    stub = disputes(api)
    cases = await disputable(api, 20)
    for retried, contested in zip(cases[::2], cases[1::2], strict=True):
        request = open_request(retried)
        buyer = api.auth(retried.buyer, Role.BUYER)

        async def late_copy() -> pb.OpenDisputeResponse:
            await asyncio.sleep(0.005)
            return await stub.OpenDispute(request, metadata=buyer)  # noqa: B023 - awaited in this round

        answers = await asyncio.gather(
            *(stub.OpenDispute(request, metadata=buyer) for _ in range(8)), late_copy()
        )
        assert len({a.dispute.dispute_id for a in answers}) == 1
        assert {a.dispute.attempt for a in answers} == {1}

        buyer = api.auth(contested.buyer, Role.BUYER)
        results = await asyncio.gather(
            *(stub.OpenDispute(open_request(contested), metadata=buyer) for _ in range(6)),
            return_exceptions=True,
        )
        opened = [r for r in results if isinstance(r, pb.OpenDisputeResponse)]
        refusals = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert len(opened) == 1 and len(refusals) == 5, results
        assert {r.code() for r in refusals} == {C.ALREADY_EXISTS}, refusals
        assert {dict(r.trailing_metadata() or ()).get("dp-error-reason") for r in refusals} == {
            "DISPUTE_ALREADY_OPEN"
        }
        order = await api.get(contested.order)
        assert [h.dispute_id for h in order.holds] == [opened[0].dispute.dispute_id]


async def test_dispute_ids_never_collide_across_buyers(api: Api) -> None:
    """The id is derived from (buyer, request_id) by an injective encoding: buyer "x:a" with
    request "b" and buyer "x" with request "a:b" open two different disputes."""
    tag = uuid.uuid4().hex[:6]
    pairs = [(f"{tag}:a", "b"), (tag, "a:b")]
    orders = [await api.ship(await api.create_order(buyer=buyer)) for buyer, _ in pairs]
    await asyncio.sleep(5 * DAY_SECONDS + 0.2)
    opened = [
        await open_dispute(api, Case(await api.get(order)), request_id=request_id)
        for order, (_, request_id) in zip(orders, pairs, strict=True)
    ]
    assert opened[0].dispute_id != opened[1].dispute_id
    assert [d.buyer_id for d in opened] == [b for b, _ in pairs]
