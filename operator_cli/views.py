"""Disputes and the arbitration queue as tables: what an operator reads first (status, who,
money, the next deadline and how urgent it is), then the detail of one dispute."""

from __future__ import annotations

from collections.abc import Iterable

from disputes.v1 import disputes_pb2 as pb
from rich.console import RenderableType
from rich.text import Text

from operator_cli.render import Clock, actor, enum, fields, money, stamp, table, yes


def status(d: pb.Dispute) -> str:
    return enum(pb.DisputeStatus, d.status)


def solution(s: pb.Solution) -> str:
    kind = enum(pb.SolutionType, s.type).lower().replace("_", " ")
    if not kind:
        return ""
    return f"{kind} {money(s.amount)}{', goods returned' if s.return_goods else ''}".strip()


def disputes_table(disputes: Iterable[pb.Dispute], clock: Clock, title: str = "Disputes") -> RenderableType:
    grid = table(title, "dispute", "buyer", "seller", "status", "paid", "arbiter", "next deadline")
    for d in disputes:
        grid.add_row(
            d.dispute_id,
            d.buyer_id,
            d.seller_id,
            status(d),
            money(d.paid_amount),
            d.arbiter_id,
            clock.next_deadline(d.deadlines),
        )
    return grid


def summary(d: pb.Dispute, clock: Clock) -> RenderableType:
    return fields(
        f"Dispute {d.dispute_id}",
        [
            ("status", status(d)),
            ("resolution", enum(pb.DisputeResolution, d.resolution)),
            ("order", d.order_id),
            ("buyer", d.buyer_id),
            ("seller", d.seller_id),
            ("arbiter", d.arbiter_id),
            ("reason", enum(pb.DisputeReason, d.reason)),
            ("goods received", "yes" if d.goods_received else "no"),
            ("claim", solution(d.solution)),
            ("settlement", solution(d.settlement)),
            ("paid", money(d.paid_amount)),
            ("refunded", money(d.refunded_amount)),
            ("next deadline", clock.next_deadline(d.deadlines)),
            ("SLA breached", Text("yes", style="bold red") if d.sla_breached else ""),
            ("attempt", str(d.attempt)),
            ("policy", d.policy_version),
            ("opened", stamp(d.opened_at)),
            ("escalated", stamp(d.escalated_at)),
            ("closed", stamp(d.closed_at)),
            ("description", d.description),
            ("evidence", ", ".join(d.evidence_ids)),
            ("refunds", ", ".join(d.refund_ids)),
        ],
    )


def deadlines(d: pb.Dispute, clock: Clock) -> RenderableType | None:
    if not d.deadlines:
        return None
    grid = table("Deadlines", "kind", "due", "when")
    for deadline in d.deadlines:
        grid.add_row(deadline.kind, stamp(deadline.due_at), clock.deadline(deadline))
    return grid


def allowed(resp: pb.GetDisputeResponse, clock: Clock) -> RenderableType | None:
    if not resp.allowed_actions_known:
        return Text("allowed actions unknown (read from the read model)", style="dim")
    if not resp.allowed_actions:
        return None
    grid = table("You may", "action", "until", "from")
    for a in resp.allowed_actions:
        grid.add_row(enum(pb.DisputeAction, a.action), clock.due(a.allowed_until), clock.due(a.allowed_from))
    return grid


def information_requests(d: pb.Dispute, clock: Clock) -> RenderableType | None:
    if not d.information_requests:
        return None
    grid = table("Information requests", "id", "to", "question", "status", "due", "answer")
    for q in d.information_requests:
        open_ = q.status == pb.INFORMATION_REQUEST_STATUS_OPEN
        grid.add_row(
            q.info_request_id,
            enum(pb.Party, q.addressed_to),
            q.question,
            enum(pb.InformationRequestStatus, q.status),
            clock.due(q.due_at) if open_ else Text(stamp(q.due_at)),
            q.answer,
        )
    return grid


def decisions(d: pb.Dispute, clock: Clock) -> RenderableType | None:
    if not d.decisions:
        return None
    grid = table("Decisions", "round", "refund", "return", "arbiter", "final", "decided", "appeal until")
    for x in d.decisions:
        grid.add_row(
            str(x.round),
            money(x.refund_amount),
            yes(x.return_required),
            x.arbiter_id,
            yes(x.final),
            stamp(x.decided_at),
            Text("") if x.final else clock.due(x.appeal_deadline),
        )
    return grid


def timeline(d: pb.Dispute) -> RenderableType | None:
    if not d.timeline:
        return None
    grid = table("Timeline", "at", "actor", "action", "detail")
    for e in d.timeline:
        grid.add_row(stamp(e.at), actor(e.actor), e.action, e.detail)
    return grid


def dispute_view(resp: pb.GetDisputeResponse, clock: Clock) -> list[RenderableType]:
    d = resp.dispute
    parts = [
        summary(d, clock),
        deadlines(d, clock),
        allowed(resp, clock),
        information_requests(d, clock),
        decisions(d, clock),
        timeline(d),
    ]
    return [p for p in parts if p is not None]


def queue_view(resp: pb.ListArbitrationQueueResponse, clock: Clock) -> list[RenderableType]:
    c = resp.counts
    by_status = ", ".join(f"{enum(pb.DisputeStatus, s.status)} {s.count}" for s in c.by_status)
    counts = fields(
        "Arbitration queue",
        [
            ("waiting", str(c.waiting)),
            ("unassigned", str(c.unassigned)),
            ("target missed", Text(str(c.target_missed), style="yellow" if c.target_missed else "")),
            ("breached", Text(str(c.breached), style="bold red" if c.breached else "")),
            ("by status", by_status),
        ],
    )
    grid = table("", "dispute", "status", "arbiter", "first deadline", "target missed", "breached", "paid")
    for e in resp.entries:
        first = Text.assemble(f"{e.first_deadline.kind} ", clock.deadline(e.first_deadline))
        grid.add_row(
            e.dispute.dispute_id,
            status(e.dispute),
            e.dispute.arbiter_id,
            first if e.first_deadline.kind else Text(""),
            yes(e.target_missed),
            Text("yes", style="bold red") if e.sla_breached else "",
            money(e.dispute.paid_amount),
        )
    return [counts, grid] if resp.entries else [counts, Text("no disputes match", style="dim")]


def page_note(token: str) -> Text | None:
    """Where the next page starts (paging is left to the caller, as the API leaves it)."""
    return Text(f"more: --page-token {token}", style="dim") if token else None
