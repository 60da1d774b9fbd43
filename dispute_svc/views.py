"""DisputeWorkflow's view rendered as disputes.v1 messages (for RPC answers and the read model),
and API solutions parsed into the workflow's terms."""

from __future__ import annotations

from datetime import datetime

from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from platform_common.errors import InvalidArgument
from platform_common.money import validate_currency
from workflows.dispute_model import DisputeView, Solution, Version

_ROLES = {r: common_pb2.Role.Value(f"ROLE_{r}") for r in ("BUYER", "SELLER", "ARBITER", "SERVICE")}
_PARTY = {"BUYER": pb.PARTY_BUYER, "SELLER": pb.PARTY_SELLER}
_SELLER_KINDS = {"ACCEPT", "COUNTER_OFFER", "REJECT"}


def ts(value: str) -> Timestamp | None:
    if not value:
        return None
    out = Timestamp()
    out.FromDatetime(datetime.fromisoformat(value))
    return out


def _money(minor: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(minor_units=minor, currency=currency)


def _solution(s: Solution | None, currency: str) -> pb.Solution | None:
    if s is None:
        return None
    return pb.Solution(
        type=pb.SolutionType.Value(f"SOLUTION_TYPE_{s.type}"),
        amount=_money(s.amount_minor, currency),
        return_goods=s.return_goods,
    )


def _version(v: Version, currency: str) -> pb.ClaimVersion:
    return pb.ClaimVersion(
        version=v.number,
        author=pb.PARTY_BUYER,
        author_id=v.author_id,
        solution=_solution(v.solution, currency),
        message=v.message,
        evidence_ids=v.evidence_ids,
        created_at=ts(v.at),
    )


def _offer(v: Version, currency: str) -> pb.Offer:
    return pb.Offer(
        version=v.number,
        author=pb.PARTY_SELLER,
        author_id=v.author_id,
        response_type=pb.SellerResponseType.Value(f"SELLER_RESPONSE_TYPE_{v.kind}"),
        solution=_solution(v.solution, currency) if v.kind != "REJECT" else None,
        message=v.message,
        evidence_ids=v.evidence_ids,
        created_at=ts(v.at),
        status=pb.OfferStatus.Value(f"OFFER_STATUS_{v.status}") if v.status else pb.OFFER_STATUS_UNSPECIFIED,
        answered_at=ts(v.answered_at),
        buyer_message=v.buyer_message,
    )


def render(view: DisputeView) -> pb.Dispute:
    s, cur = view.state, view.currency
    d = pb.Dispute(
        dispute_id=view.dispute_id,
        order_id=view.order_id,
        buyer_id=view.buyer_id,
        seller_id=view.seller_id,
        status=pb.DisputeStatus.Value(f"DISPUTE_STATUS_{s.status}"),
        reason=pb.DisputeReason.Value(f"DISPUTE_REASON_{view.reason}"),
        goods_received=view.goods_received,
        description=s.description,
        solution=_solution(s.claim, cur),
        policy_version=view.policy_version,
        paid_amount=_money(view.paid_minor, cur),
        attempt=view.attempt,
        opened_at=ts(s.opened_at),
        updated_at=ts(s.updated_at),
        escalated_at=ts(s.escalated_at),
        closed_at=ts(s.closed_at),
        versions=[_version(v, cur) for v in s.versions if v.kind not in _SELLER_KINDS],
        offers=[_offer(v, cur) for v in s.versions if v.kind in _SELLER_KINDS],
        resolution=pb.DisputeResolution.Value(f"DISPUTE_RESOLUTION_{s.resolution}")
        if s.resolution
        else pb.DISPUTE_RESOLUTION_UNSPECIFIED,
        settlement=_solution(s.settlement, cur),
        arbiter_id=s.arbiter_id,
        refund_ids=[p.refund_id for p in s.payouts if p.refund_id],
        refunded_amount=_money(sum(p.amount_minor for p in s.payouts if p.refund_id), cur),
        deadlines=[
            common_pb2.Deadline(kind=dl.kind, due_at=ts(dl.due_at), remaining_seconds=0)
            for dl in view.deadlines
        ],
        timeline=[
            common_pb2.TimelineEntry(
                at=ts(e.at),
                actor=common_pb2.Actor(id=e.actor, role=_ROLES.get(e.role, common_pb2.ROLE_UNSPECIFIED)),
                action=e.action,
                detail=e.detail,
            )
            for e in s.timeline
        ],
        sla_breached=s.sla_breached,
        evidence_ids=s.evidence_ids,
    )
    for q in s.info_requests:
        d.information_requests.append(
            pb.InformationRequest(
                info_request_id=q.id,
                addressed_to=_PARTY[q.party],
                arbiter_id=q.arbiter_id,
                question=q.question,
                requested_at=ts(q.requested_at),
                due_at=ts(q.due_at),
                status=pb.InformationRequestStatus.Value(f"INFORMATION_REQUEST_STATUS_{q.status}"),
                answer=q.answer,
                answer_evidence_ids=q.evidence_ids,
                answered_at=ts(q.answered_at),
            )
        )
    for dec in s.decisions:
        d.decisions.append(
            pb.Decision(
                round=dec.round,
                refund_amount=_money(dec.amount_minor, cur),
                return_required=dec.return_required,
                rationale=dec.rationale,
                evidence_ids=dec.evidence_ids,
                arbiter_id=dec.arbiter_id,
                final=dec.final,
                decided_at=ts(dec.decided_at),
                appeal_deadline=ts(dec.appeal_deadline),
            )
        )
    if s.appeal is not None:
        d.appeal.CopyFrom(
            pb.Appeal(
                decision_round=s.appeal.decision_round,
                message=s.appeal.message,
                evidence_ids=s.appeal.evidence_ids,
                appealed_at=ts(s.appeal.at),
            )
        )
    if (rs := s.return_shipment) is not None:
        d.return_shipment.CopyFrom(
            pb.ReturnShipment(
                carrier=rs.carrier,
                tracking_number=rs.tracking_number,
                shipped_at=ts(rs.shipped_at),
                received_at=ts(rs.received_at),
                auto_confirmed=rs.auto_confirmed,
                contested=rs.contested,
                contest_message=rs.contest_message,
                contest_evidence_ids=rs.contest_evidence_ids,
                contested_at=ts(rs.contested_at),
            )
        )
    return d


def parse_solution(s: pb.Solution, paid_minor: int, currency: str, field: str) -> Solution:
    """An API solution in the workflow's terms. FULL_REFUND means the amount paid (a given amount
    must equal it); PARTIAL_REFUND needs an amount in the order's currency."""
    if s.type == pb.SOLUTION_TYPE_FULL_REFUND:
        if s.HasField("amount") and s.amount.minor_units not in (0, paid_minor):
            raise InvalidArgument(f"{field}: a full refund is the amount paid ({paid_minor})")
        if s.HasField("amount") and s.amount.currency and s.amount.currency != currency:
            raise InvalidArgument(f"{field}.amount.currency must be the order's currency {currency}")
        return Solution("FULL_REFUND", paid_minor, s.return_goods)
    if s.type == pb.SOLUTION_TYPE_PARTIAL_REFUND:
        if not s.HasField("amount"):
            raise InvalidArgument(f"{field}.amount is required for a partial refund")
        if validate_currency(s.amount.currency, f"{field}.amount.currency") != currency:
            raise InvalidArgument(f"{field}.amount.currency must be the order's currency {currency}")
        if not 0 < s.amount.minor_units <= paid_minor:
            raise InvalidArgument(f"{field}.amount must be between 1 and {paid_minor} minor units")
        return Solution("PARTIAL_REFUND", s.amount.minor_units, s.return_goods)
    raise InvalidArgument(f"{field}.type must be FULL_REFUND or PARTIAL_REFUND")
