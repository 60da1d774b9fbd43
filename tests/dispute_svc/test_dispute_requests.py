"""DisputeService's request parsing (dispute_svc/requests.py), every branch, without a server:
shape checks answer INVALID_ARGUMENT with the same words as the workflow's own rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from orders.v1 import orders_pb2

from dispute_svc import requests as rq
from dispute_svc.model import Party, SolutionType, VersionKind
from dispute_svc.policy import STANDARD
from platform_common.errors import InvalidArgument

ORDER = "7d1f0b3c-2a4e-4c1b-9a63-0f6a2b8c9d10"
EVIDENCE = "0b9a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
FACTS = rq.Facts(ORDER, "b-1", "s-1", 5_000, "EUR")


def invalid(call: Callable[[], Any]) -> str:
    with pytest.raises(InvalidArgument) as err:
        call()
    return err.value.message


def _eur(minor: int, currency: str = "EUR") -> common_pb2.Money:
    return common_pb2.Money(minor_units=minor, currency=currency)


def _opening(**fields: Any) -> pb.OpenDisputeRequest:
    base: dict[str, Any] = {
        "request_id": "app-1",
        "order_id": ORDER,
        "goods_received": True,
        "reason": pb.DISPUTE_REASON_COLOR_NOT_AS_DESCRIBED,
        "description": "grey, not black",
    }
    return pb.OpenDisputeRequest(**{**base, **fields})


def test_an_opening_is_parsed_with_its_fingerprint() -> None:
    o = rq.parse_opening(_opening(evidence_ids=[EVIDENCE]), STANDARD)
    assert (o.order_id, o.reason, o.evidence_ids) == (ORDER, "COLOR_NOT_AS_DESCRIBED", [EVIDENCE])
    assert o.fingerprint == rq.parse_opening(_opening(evidence_ids=[EVIDENCE]), STANDARD).fingerprint
    assert o.fingerprint != rq.parse_opening(_opening(description="other"), STANDARD).fingerprint


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"request_id": ""}, "request_id is required"),
        ({"request_id": "x" * 129}, "request_id is required"),
        ({"request_id": "a\x00b"}, "NUL"),
        ({"order_id": "not-a-uuid"}, "order_id"),
        ({"reason": pb.DISPUTE_REASON_UNSPECIFIED}, "reason is required"),
        ({"reason": 999}, "reason is required"),
        ({"reason": pb.DISPUTE_REASON_NOT_DELIVERED}, "choose a received reason"),
        ({"goods_received": False}, "choose a not-received reason"),
        ({"description": "  "}, "description is required"),
        ({"description": "x" * 2_001}, "at most 2000"),
        ({"evidence_ids": [EVIDENCE, EVIDENCE]}, "must not repeat"),
        ({"evidence_ids": ["nope"]}, "evidence_ids"),
    ],
)
def test_a_bad_opening_is_invalid(fields: dict[str, Any], words: str) -> None:
    assert words in invalid(lambda: rq.parse_opening(_opening(**fields), STANDARD))


def test_the_opening_solution_follows_the_claim_rules() -> None:
    order = orders_pb2.Order(total=_eur(5_000))
    full = pb.Solution(type=pb.SOLUTION_TYPE_FULL_REFUND)
    o = rq.parse_opening(_opening(), STANDARD)
    assert rq.opening_solution(_opening(solution=full), order, o).amount_minor == 5_000
    assert "solution is required" in invalid(lambda: rq.opening_solution(_opening(), order, o))
    partial = pb.Solution(type=pb.SOLUTION_TYPE_PARTIAL_REFUND, amount=_eur(100))
    not_received = _opening(goods_received=False, reason=pb.DISPUTE_REASON_NOT_DELIVERED, solution=partial)
    assert "not received" in invalid(lambda: rq.opening_solution(not_received, order, o))


def test_solutions_are_in_the_orders_money() -> None:
    full = rq.parse_solution(
        pb.Solution(type=pb.SOLUTION_TYPE_FULL_REFUND, return_goods=True), 5_000, "EUR", "s"
    )
    assert (full.type, full.amount_minor, full.return_goods) == (SolutionType.FULL_REFUND, 5_000, True)
    part = rq.parse_solution(
        pb.Solution(type=pb.SOLUTION_TYPE_PARTIAL_REFUND, amount=_eur(10)), 5_000, "EUR", "s"
    )
    assert (part.type, part.amount_minor) == (SolutionType.PARTIAL_REFUND, 10)
    cases = [
        (pb.Solution(type=pb.SOLUTION_TYPE_FULL_REFUND, amount=_eur(10)), "full refund is the amount paid"),
        (pb.Solution(type=pb.SOLUTION_TYPE_FULL_REFUND, amount=_eur(5_000, "USD")), "order's currency"),
        (pb.Solution(type=pb.SOLUTION_TYPE_PARTIAL_REFUND), "amount is required"),
        (pb.Solution(type=pb.SOLUTION_TYPE_PARTIAL_REFUND, amount=_eur(10, "USD")), "order's currency"),
        (pb.Solution(type=pb.SOLUTION_TYPE_PARTIAL_REFUND, amount=_eur(5_001)), "between 1 and 5000"),
        (pb.Solution(), "FULL_REFUND or PARTIAL_REFUND"),
    ]
    for solution, words in cases:
        assert words in invalid(lambda s=solution: rq.parse_solution(s, 5_000, "EUR", "s"))  # type: ignore[misc]


def test_seller_responses() -> None:
    accept = rq.seller_response(
        pb.RespondAsSellerRequest(response_type=pb.SELLER_RESPONSE_TYPE_ACCEPT), "s-1", None
    )
    assert accept.type == VersionKind.ACCEPT
    counter = pb.RespondAsSellerRequest(
        response_type=pb.SELLER_RESPONSE_TYPE_COUNTER_OFFER,
        message="half?",
        counter_offer=pb.Solution(type=pb.SOLUTION_TYPE_PARTIAL_REFUND, amount=_eur(2_500)),
    )
    assert rq.seller_response(counter, "s-1", FACTS).solution is not None
    assert "response_type" in invalid(lambda: rq.seller_response(pb.RespondAsSellerRequest(), "s-1", None))
    assert "response_type 77" in invalid(
        lambda: rq.seller_response(pb.RespondAsSellerRequest(response_type=77), "s-1", None)  # type: ignore[arg-type]
    )
    no_offer = pb.RespondAsSellerRequest(response_type=pb.SELLER_RESPONSE_TYPE_COUNTER_OFFER, message="x")
    assert "counter_offer is required" in invalid(lambda: rq.seller_response(no_offer, "s-1", None))
    whole = pb.RespondAsSellerRequest(
        response_type=pb.SELLER_RESPONSE_TYPE_COUNTER_OFFER,
        message="all",
        counter_offer=pb.Solution(type=pb.SOLUTION_TYPE_PARTIAL_REFUND, amount=_eur(5_000)),
    )
    assert "less than the amount paid" in invalid(lambda: rq.seller_response(whole, "s-1", FACTS))
    stray = pb.RespondAsSellerRequest(
        response_type=pb.SELLER_RESPONSE_TYPE_REJECT, message="no", counter_offer=pb.Solution()
    )
    assert "only for COUNTER_OFFER" in invalid(lambda: rq.seller_response(stray, "s-1", FACTS))
    silent = pb.RespondAsSellerRequest(response_type=pb.SELLER_RESPONSE_TYPE_REJECT)
    assert "message is required" in invalid(lambda: rq.seller_response(silent, "s-1", None))
    old = pb.RespondAsSellerRequest(response_type=pb.SELLER_RESPONSE_TYPE_ACCEPT, claim_version=-1)
    assert "claim_version" in invalid(lambda: rq.seller_response(old, "s-1", None))


def test_buyer_actions_modifications_and_information() -> None:
    assert "offer_version is required" in invalid(lambda: rq.buyer_action("b-1", offer_version=0))
    assert rq.buyer_action("b-1", offer_version=3, escalate=True).offer_version == 3
    assert "description is required" in invalid(
        lambda: rq.modification(pb.ModifyDisputeRequest(description=" "), "b-1", None)
    )
    assert rq.modification(pb.ModifyDisputeRequest(description="new"), "b-1", None).solution is None
    ask = pb.RequestInformationRequest(addressed_to=pb.PARTY_SELLER, question="tracking?")
    assert rq.info_request(ask, "a-1").party == Party.SELLER
    assert "addressed_to" in invalid(
        lambda: rq.info_request(pb.RequestInformationRequest(question="?"), "a-1")
    )
    assert "info_request_id is required" in invalid(
        lambda: rq.info_answer(pb.SubmitInformationRequest(message="x"), "b-1", "BUYER")
    )
    empty = pb.SubmitInformationRequest(info_request_id="q-1")
    assert "message or evidence" in invalid(lambda: rq.info_answer(empty, "b-1", "BUYER"))


def test_decisions_appeals_and_returns() -> None:
    decide = pb.DecideDisputeRequest(refund_amount=_eur(0), rationale="no proof")
    assert rq.decision(decide, "a-1", FACTS).amount_minor == 0
    assert "refund_amount is required" in invalid(
        lambda: rq.decision(pb.DecideDisputeRequest(rationale="x"), "a-1", FACTS)
    )
    usd = pb.DecideDisputeRequest(refund_amount=_eur(1, "USD"), rationale="x")
    assert "order's currency" in invalid(lambda: rq.decision(usd, "a-1", FACTS))
    much = pb.DecideDisputeRequest(refund_amount=_eur(5_001), rationale="x")
    assert "between 0 and 5000" in invalid(lambda: rq.decision(much, "a-1", FACTS))
    mute = pb.DecideDisputeRequest(refund_amount=_eur(1))
    assert "rationale is required" in invalid(lambda: rq.decision(mute, "a-1", FACTS))
    assert "at least one evidence id" in invalid(
        lambda: rq.appeal(pb.AppealDecisionRequest(message="unfair"), "b-1")
    )
    assert "carrier is required" in invalid(
        lambda: rq.return_shipment(pb.SubmitReturnShipmentRequest(), "b-1")
    )
    contest = pb.ConfirmReturnReceivedRequest(contest=True)
    assert "message is required" in invalid(lambda: rq.return_receipt(contest, "s-1"))
    assert rq.return_receipt(pb.ConfirmReturnReceivedRequest(), "s-1").contest is False
