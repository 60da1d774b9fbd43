"""DisputeWorkflow's view rendered as disputes.v1 messages (for RPC answers and the read model)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from dispute_svc.model import (
    SELLER_RESPONSES,
    AllowedAction,
    Appeal,
    Decision,
    DisputeView,
    Event,
    InfoRequest,
    ReturnShipment,
    Solution,
    Version,
    VersionKind,
)
from platform_common.enums import to_proto
from platform_common.timestamps import to_timestamp


def ts(value: str) -> Timestamp | None:
    """The workflow keeps times as ISO-8601 strings ("" for none)."""
    return to_timestamp(datetime.fromisoformat(value)) if value else None


def _money(minor: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(minor_units=minor, currency=currency)


def _solution(s: Solution | None, currency: str) -> pb.Solution | None:
    if s is None:
        return None
    return pb.Solution(
        type=to_proto(pb.SolutionType, s.type),
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
        response_type=to_proto(pb.SellerResponseType, v.kind),
        solution=_solution(v.solution, currency) if v.kind != VersionKind.REJECT else None,
        message=v.message,
        evidence_ids=v.evidence_ids,
        created_at=ts(v.at),
        status=to_proto(pb.OfferStatus, v.status),
        answered_at=ts(v.answered_at),
        buyer_message=v.buyer_message,
    )


def _timeline(e: Event) -> common_pb2.TimelineEntry:
    return common_pb2.TimelineEntry(
        at=ts(e.at),
        actor=common_pb2.Actor(id=e.actor, role=to_proto(common_pb2.Role, e.role)),
        action=e.action,
        detail=e.detail,
    )


def _info_request(q: InfoRequest) -> pb.InformationRequest:
    return pb.InformationRequest(
        info_request_id=q.id,
        addressed_to=to_proto(pb.Party, q.party),
        arbiter_id=q.arbiter_id,
        question=q.question,
        requested_at=ts(q.requested_at),
        due_at=ts(q.due_at),
        status=to_proto(pb.InformationRequestStatus, q.status),
        answer=q.answer,
        answer_evidence_ids=q.evidence_ids,
        answered_at=ts(q.answered_at),
    )


def _decision(dec: Decision, currency: str) -> pb.Decision:
    return pb.Decision(
        round=dec.round,
        refund_amount=_money(dec.amount_minor, currency),
        return_required=dec.return_required,
        rationale=dec.rationale,
        evidence_ids=dec.evidence_ids,
        arbiter_id=dec.arbiter_id,
        final=dec.final,
        decided_at=ts(dec.decided_at),
        appeal_deadline=ts(dec.appeal_deadline),
    )


def _appeal(a: Appeal) -> pb.Appeal:
    return pb.Appeal(
        decision_round=a.decision_round, message=a.message, evidence_ids=a.evidence_ids, appealed_at=ts(a.at)
    )


def _return_shipment(rs: ReturnShipment) -> pb.ReturnShipment:
    return pb.ReturnShipment(
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


def render(view: DisputeView) -> pb.Dispute:
    """The whole dispute as the API shows it; every part has its own small renderer above."""
    s, cur = view.state, view.currency
    d = pb.Dispute(
        dispute_id=view.dispute_id,
        order_id=view.order_id,
        buyer_id=view.buyer_id,
        seller_id=view.seller_id,
        status=to_proto(pb.DisputeStatus, s.status),
        reason=to_proto(pb.DisputeReason, view.reason),
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
        versions=[_version(v, cur) for v in s.versions if v.kind not in SELLER_RESPONSES],
        offers=[_offer(v, cur) for v in s.versions if v.kind in SELLER_RESPONSES],
        resolution=to_proto(pb.DisputeResolution, s.resolution),
        settlement=_solution(s.settlement, cur),
        arbiter_id=s.arbiter_id,
        refund_ids=[p.refund_id for p in s.payouts if p.refund_id],
        refunded_amount=_money(sum(p.amount_minor for p in s.payouts if p.refund_id), cur),
        deadlines=[
            common_pb2.Deadline(kind=dl.kind, due_at=ts(dl.due_at), remaining_seconds=0)
            for dl in view.deadlines
        ],
        timeline=[_timeline(e) for e in s.timeline],
        sla_breached=s.sla_breached,
        evidence_ids=s.evidence_ids,
        information_requests=[_info_request(q) for q in s.info_requests],
        decisions=[_decision(dec, cur) for dec in s.decisions],
    )
    if s.appeal is not None:
        d.appeal.CopyFrom(_appeal(s.appeal))
    if s.return_shipment is not None:
        d.return_shipment.CopyFrom(_return_shipment(s.return_shipment))
    return d


def as_of(actions: list[AllowedAction], now: datetime) -> list[AllowedAction]:
    """The workflow's allowed actions as they stand at `now`. A query sees the time of the
    workflow's last task, which may be a while ago (no task runs when the buyer's wait ends), so
    an action whose window has ended since is dropped, and a wait that has passed since no
    longer holds its action back. The workflow said when; this only reads its times."""
    out: list[AllowedAction] = []
    for a in actions:
        if a.allowed_until and datetime.fromisoformat(a.allowed_until) <= now:
            continue
        waiting = bool(a.allowed_from) and datetime.fromisoformat(a.allowed_from) > now
        out.append(replace(a, allowed_from=a.allowed_from if waiting else ""))
    return out


def render_actions(actions: list[AllowedAction]) -> list[pb.AllowedAction]:
    return [
        pb.AllowedAction(
            action=to_proto(pb.DisputeAction, a.action),
            allowed_until=ts(a.allowed_until),
            allowed_from=ts(a.allowed_from),
        )
        for a in actions
    ]
