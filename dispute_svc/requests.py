"""API requests parsed into DisputeWorkflow actions: shape checks that need no state (lengths,
enums, money) answer INVALID_ARGUMENT here; everything that depends on the dispute's state or
parties is the workflow validator's job."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from disputes.v1 import disputes_pb2 as pb
from orders.v1 import orders_pb2
from temporalio.exceptions import ApplicationError

from dispute_svc.views import parse_solution
from platform_common.errors import AlreadyExists, InvalidArgument, translate_refusal
from platform_common.validate import require_uuid, storable
from workflows.dispute_model import (
    AppealAction,
    BuyerAction,
    DecisionAction,
    InfoAnswer,
    InfoRequestAction,
    Modification,
    ReturnReceipt,
    ReturnShipmentAction,
    SellerResponse,
    Solution,
    check_counter_offer,
)
from workflows.dispute_policy import Policy

_NOT_RECEIVED = range(1, 20)
_RECEIVED = range(20, 100)
_MAX_EVIDENCE = 20


def rule(check: Callable[..., None], *args: Any) -> None:
    """Run one of the workflow's own rules here, so a bad request is refused before it is sent,
    with the same words and code (the rule lives once, in workflows/dispute_model.py)."""
    try:
        check(*args)
    except ApplicationError as exc:
        raise translate_refusal(exc) from None


def text(value: str, field: str, lo: int, hi: int) -> str:
    """Lengths are Unicode code points, whatever the language."""
    if lo and not value.strip():
        raise InvalidArgument(f"{field} is required ({lo}..{hi} characters)")
    if len(value) > hi:
        raise InvalidArgument(f"{field} must be at most {hi} characters (got {len(value)})")
    return storable(value, field)


def evidence(ids: Iterable[str], field: str = "evidence_ids") -> list[str]:
    values = list(ids)
    if len(values) > _MAX_EVIDENCE:
        raise InvalidArgument(f"{field}: at most {_MAX_EVIDENCE} per request")
    out = [require_uuid(v, f"{field}[]") for v in values]
    if len(set(out)) != len(out):
        raise InvalidArgument(f"{field} must not repeat")
    return out


@dataclass(frozen=True)
class Facts:
    """What never changes about a dispute: enough to parse money and check parties."""

    order_id: str
    buyer_id: str
    seller_id: str
    paid_minor: int
    currency: str


@dataclass(frozen=True)
class Opening:
    request_id: str
    order_id: str
    reason: str
    evidence_ids: list[str]
    fingerprint: str


def parse_opening(r: pb.OpenDisputeRequest, policy: Policy) -> Opening:
    if not 1 <= len(r.request_id) <= 128:
        raise InvalidArgument("request_id is required (1..128 characters)")
    storable(r.request_id, "request_id")
    order_id = require_uuid(r.order_id, "order_id")
    if r.reason not in pb.DisputeReason.values() or r.reason == pb.DISPUTE_REASON_UNSPECIFIED:
        raise InvalidArgument("reason is required (a DisputeReason)")
    if r.goods_received and r.reason in _NOT_RECEIVED:
        raise InvalidArgument("goods_received is true: choose a received reason, not a not-received one")
    if not r.goods_received and r.reason in _RECEIVED:
        raise InvalidArgument("goods_received is false: choose a not-received reason")
    text(r.description, "description", 1, policy.description_max_chars)
    ids = evidence(r.evidence_ids)
    digest = hashlib.sha256(r.SerializeToString(deterministic=True)).hexdigest()
    reason = pb.DisputeReason.Name(r.reason).removeprefix("DISPUTE_REASON_")
    return Opening(r.request_id, order_id, reason, ids, digest)


def already_used(request_id: str) -> AlreadyExists:
    return AlreadyExists(f"request_id {request_id!r} was already used for a different dispute request")


def opening_solution(r: pb.OpenDisputeRequest, order: orders_pb2.Order, o: Opening) -> Solution:
    if not r.HasField("solution"):
        raise InvalidArgument("solution is required")
    s = parse_solution(r.solution, order.total.minor_units, order.total.currency, "solution")
    if not r.goods_received and (s.type != "FULL_REFUND" or s.return_goods):
        raise InvalidArgument("goods not received: the solution must be a full refund without return")
    return s


def seller_response(r: pb.RespondAsSellerRequest, caller_id: str, facts: Facts | None) -> SellerResponse:
    kinds = {
        pb.SELLER_RESPONSE_TYPE_ACCEPT: "ACCEPT",
        pb.SELLER_RESPONSE_TYPE_COUNTER_OFFER: "COUNTER_OFFER",
        pb.SELLER_RESPONSE_TYPE_REJECT: "REJECT",
    }
    kind = kinds.get(r.response_type)
    if kind is None:
        raise InvalidArgument("response_type must be ACCEPT, COUNTER_OFFER or REJECT")
    solution = None
    if kind == "COUNTER_OFFER":
        if facts is None:
            raise InvalidArgument("counter_offer is required for COUNTER_OFFER")
        solution = parse_solution(r.counter_offer, facts.paid_minor, facts.currency, "counter_offer")
        rule(check_counter_offer, solution, facts.paid_minor)
    elif r.HasField("counter_offer"):
        raise InvalidArgument("counter_offer is only for COUNTER_OFFER")
    text(r.message, "message", 1 if kind != "ACCEPT" else 0, 2000)
    if r.claim_version < 0:
        raise InvalidArgument("claim_version must not be negative")
    return SellerResponse(caller_id, kind, r.message, solution, evidence(r.evidence_ids), r.claim_version)


def buyer_action(
    caller_id: str,
    *,
    offer_version: int | None = None,
    message: str = "",
    escalate: bool = False,
    evidence_ids: list[str] | None = None,
) -> BuyerAction:
    """`offer_version`: AcceptOffer and RejectOffer name the offer they answer (the latest
    pending one), so a stale screen never answers a newer offer; None for other actions."""
    if offer_version is not None and offer_version <= 0:
        raise InvalidArgument("offer_version is required: the version of the pending offer you answer")
    text(message, "message", 0, 2000)
    return BuyerAction(caller_id, offer_version or 0, escalate, message, evidence(evidence_ids or []))


def modification(r: pb.ModifyDisputeRequest, caller_id: str, facts: Facts | None) -> Modification:
    solution = None
    if facts is not None:
        solution = parse_solution(r.solution, facts.paid_minor, facts.currency, "solution")
    if r.description:
        text(r.description, "description", 1, 2000)  # given: it must say something
    return Modification(caller_id, solution, r.description, evidence(r.evidence_ids))


def info_request(r: pb.RequestInformationRequest, caller_id: str) -> InfoRequestAction:
    party = {pb.PARTY_BUYER: "BUYER", pb.PARTY_SELLER: "SELLER"}.get(r.addressed_to)
    if party is None:
        raise InvalidArgument("addressed_to must be PARTY_BUYER or PARTY_SELLER")
    return InfoRequestAction(caller_id, party, text(r.question, "question", 1, 2000))


def info_answer(r: pb.SubmitInformationRequest, caller_id: str, role: str) -> InfoAnswer:
    if not r.info_request_id or len(r.info_request_id) > 64:
        raise InvalidArgument("info_request_id is required")
    text(r.message, "message", 0, 2000)
    ids = evidence(r.evidence_ids)
    if not r.message.strip() and not ids:
        raise InvalidArgument("an answer needs a message or evidence")
    return InfoAnswer(caller_id, r.info_request_id, r.message, ids, role)


def decision(r: pb.DecideDisputeRequest, caller_id: str, facts: Facts) -> DecisionAction:
    if not r.HasField("refund_amount"):
        raise InvalidArgument("refund_amount is required (0 for no refund)")
    if r.refund_amount.currency != facts.currency:
        raise InvalidArgument(f"refund_amount.currency must be the order's currency {facts.currency}")
    if not 0 <= r.refund_amount.minor_units <= facts.paid_minor:
        raise InvalidArgument(f"refund_amount must be 0..{facts.paid_minor} minor units")
    text(r.rationale, "rationale", 1, 5000)
    return DecisionAction(
        caller_id, r.refund_amount.minor_units, r.return_required, r.rationale, evidence(r.evidence_ids)
    )


def appeal(r: pb.AppealDecisionRequest, caller_id: str) -> AppealAction:
    text(r.message, "message", 1, 2000)
    ids = evidence(r.evidence_ids)
    if not ids:
        raise InvalidArgument("an appeal needs new evidence (1..20 ids)")
    return AppealAction(caller_id, r.message, ids)


def return_shipment(r: pb.SubmitReturnShipmentRequest, caller_id: str) -> ReturnShipmentAction:
    text(r.carrier, "carrier", 1, 64)
    return ReturnShipmentAction(caller_id, r.carrier.strip(), r.tracking_number)


def return_receipt(r: pb.ConfirmReturnReceivedRequest, caller_id: str) -> ReturnReceipt:
    text(r.message, "message", 1 if r.contest else 0, 2000)
    return ReturnReceipt(caller_id, r.contest, r.message, evidence(r.evidence_ids))
