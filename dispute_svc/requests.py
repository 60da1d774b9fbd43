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

from dispute_svc.model import (
    SELLER_RESPONSES,
    AppealAction,
    BuyerAction,
    DecisionAction,
    InfoAnswer,
    InfoRequestAction,
    Modification,
    Party,
    ReturnReceipt,
    ReturnShipmentAction,
    SellerResponse,
    Solution,
    SolutionType,
    VersionKind,
)
from dispute_svc.policy import Policy
from dispute_svc.rules import (
    CARRIER_MAX_CHARS,
    MESSAGE_MAX_CHARS,
    RATIONALE_MAX_CHARS,
    check_amount,
    check_counter_offer,
    check_evidence,
    check_not_a_party,
    check_solution,
    check_text,
)
from platform_common.auth import Caller, Role
from platform_common.enums import name_of, parse
from platform_common.errors import AlreadyExists, InvalidArgument
from platform_common.money import validate_currency
from platform_common.temporal_errors import refusal_error
from platform_common.validate import require_uuid, storable

_NOT_RECEIVED = range(1, 20)
_RECEIVED = range(20, 100)


def rule(check: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Run one of the workflow's own rules (dispute_svc/rules.py) here, so a bad request is
    refused before it is sent, with the same words and code as the validator would use."""
    try:
        check(*args, **kwargs)
    except ApplicationError as exc:
        raise refusal_error(exc) from None


# The arbitration team: they see disputes once escalated, and only those.
ARBITRATION_TEAM = (Role.ARBITER, Role.ARBITER_LEAD)


def not_their_own(caller: Caller, buyer_id: str, seller_id: str) -> None:
    """The team's side of a dispute (party signals, internal notes, holding and deciding it)
    is never for one of its parties under a team role (PERMISSION_DENIED, ARBITER_IS_A_PARTY)."""
    if caller.role in ARBITRATION_TEAM:
        rule(check_not_a_party, caller.id, buyer_id, seller_id, "you")


def text(value: str, field: str, *, required: bool = False, max_chars: int = MESSAGE_MAX_CHARS) -> str:
    """The rule's length limits, and nothing a database cannot store (NUL)."""
    rule(check_text, value, field, required=required, max_chars=max_chars)
    return storable(value, field)


def evidence(ids: Iterable[str], field: str = "evidence_ids", *, required: bool = False) -> list[str]:
    values = list(ids)
    rule(check_evidence, values, required=required, field=field)
    return [require_uuid(v, f"{field}[]") for v in values]


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
    text(r.description, "description", required=True, max_chars=policy.description_max_chars)
    ids = evidence(r.evidence_ids)
    digest = hashlib.sha256(r.SerializeToString(deterministic=True)).hexdigest()
    reason = name_of(pb.DisputeReason, r.reason)
    return Opening(r.request_id, order_id, reason, ids, digest)


def already_used(request_id: str) -> AlreadyExists:
    return AlreadyExists(f"request_id {request_id!r} was already used for a different dispute request")


def opening_solution(r: pb.OpenDisputeRequest, order: orders_pb2.Order, o: Opening) -> Solution:
    if not r.HasField("solution"):
        raise InvalidArgument("solution is required")
    s = parse_solution(r.solution, order.total.minor_units, order.total.currency, "solution")
    rule(check_solution, s, order.total.minor_units, r.goods_received)
    return s


def seller_response(r: pb.RespondAsSellerRequest, caller_id: str, facts: Facts | None) -> SellerResponse:
    name = parse(pb.SellerResponseType, r.response_type, "response_type", allow_unset=True)
    if name not in SELLER_RESPONSES:
        raise InvalidArgument("response_type must be ACCEPT, COUNTER_OFFER or REJECT")
    kind = VersionKind(name)
    solution = None
    if kind == VersionKind.COUNTER_OFFER:
        if facts is None:
            raise InvalidArgument("counter_offer is required for COUNTER_OFFER")
        solution = parse_solution(r.counter_offer, facts.paid_minor, facts.currency, "counter_offer")
        rule(check_counter_offer, solution, facts.paid_minor)
    elif r.HasField("counter_offer"):
        raise InvalidArgument("counter_offer is only for COUNTER_OFFER")
    text(r.message, "message", required=kind != VersionKind.ACCEPT)
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
    text(message, "message")
    return BuyerAction(caller_id, offer_version or 0, escalate, message, evidence(evidence_ids or []))


def modification(r: pb.ModifyDisputeRequest, caller_id: str, facts: Facts | None) -> Modification:
    solution = None
    if facts is not None:
        solution = parse_solution(r.solution, facts.paid_minor, facts.currency, "solution")
    if r.description:
        text(r.description, "description", required=True)  # given: it must say something
    return Modification(caller_id, solution, r.description, evidence(r.evidence_ids))


def info_request(r: pb.RequestInformationRequest, caller_id: str) -> InfoRequestAction:
    name = parse(pb.Party, r.addressed_to, "addressed_to", allow_unset=True)
    if not name:
        raise InvalidArgument("addressed_to must be PARTY_BUYER or PARTY_SELLER")
    return InfoRequestAction(caller_id, Party(name), text(r.question, "question", required=True))


def info_answer(r: pb.SubmitInformationRequest, caller_id: str, role: str) -> InfoAnswer:
    if not r.info_request_id or len(r.info_request_id) > 64:
        raise InvalidArgument("info_request_id is required")
    text(r.message, "message")
    ids = evidence(r.evidence_ids)
    if not r.message.strip() and not ids:
        raise InvalidArgument("an answer needs a message or evidence")
    return InfoAnswer(caller_id, r.info_request_id, r.message, ids, role)


def decision(r: pb.DecideDisputeRequest, caller_id: str, facts: Facts) -> DecisionAction:
    if not r.HasField("refund_amount"):
        raise InvalidArgument("refund_amount is required (0 for no refund)")
    if r.refund_amount.currency != facts.currency:
        raise InvalidArgument(f"refund_amount.currency must be the order's currency {facts.currency}")
    rule(check_amount, r.refund_amount.minor_units, facts.paid_minor, "refund_amount", allow_zero=True)
    text(r.rationale, "rationale", required=True, max_chars=RATIONALE_MAX_CHARS)
    return DecisionAction(
        caller_id, r.refund_amount.minor_units, r.return_required, r.rationale, evidence(r.evidence_ids)
    )


def appeal(r: pb.AppealDecisionRequest, caller_id: str) -> AppealAction:
    text(r.message, "message", required=True)
    return AppealAction(caller_id, r.message, evidence(r.evidence_ids, required=True))


def return_shipment(r: pb.SubmitReturnShipmentRequest, caller_id: str) -> ReturnShipmentAction:
    text(r.carrier, "carrier", required=True, max_chars=CARRIER_MAX_CHARS)
    return ReturnShipmentAction(caller_id, r.carrier.strip(), r.tracking_number)


def return_receipt(r: pb.ConfirmReturnReceivedRequest, caller_id: str) -> ReturnReceipt:
    text(r.message, "message", required=r.contest)
    return ReturnReceipt(caller_id, r.contest, r.message, evidence(r.evidence_ids))


def parse_solution(s: pb.Solution, paid_minor: int, currency: str, field: str) -> Solution:
    """An API solution in the workflow's terms. FULL_REFUND means the amount paid (a given amount
    must equal it); PARTIAL_REFUND needs an amount in the order's currency."""
    if s.type == pb.SOLUTION_TYPE_FULL_REFUND:
        if s.HasField("amount") and s.amount.minor_units not in (0, paid_minor):
            raise InvalidArgument(f"{field}: a full refund is the amount paid ({paid_minor})")
        if s.HasField("amount") and s.amount.currency and s.amount.currency != currency:
            raise InvalidArgument(f"{field}.amount.currency must be the order's currency {currency}")
        return Solution(SolutionType.FULL_REFUND, paid_minor, s.return_goods)
    if s.type == pb.SOLUTION_TYPE_PARTIAL_REFUND:
        if not s.HasField("amount"):
            raise InvalidArgument(f"{field}.amount is required for a partial refund")
        if validate_currency(s.amount.currency, f"{field}.amount.currency") != currency:
            raise InvalidArgument(f"{field}.amount.currency must be the order's currency {currency}")
        rule(check_amount, s.amount.minor_units, paid_minor, f"{field}.amount")
        return Solution(SolutionType.PARTIAL_REFUND, s.amount.minor_units, s.return_goods)
    raise InvalidArgument(f"{field}.type must be FULL_REFUND or PARTIAL_REFUND")
