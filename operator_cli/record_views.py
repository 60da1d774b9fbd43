"""Orders, refunds, evidence and dispute events as people read them."""

from __future__ import annotations

from datetime import timedelta

from disputes.v1 import disputes_pb2
from evidence.v1 import evidence_pb2
from orders.v1 import orders_pb2
from refunds.v1 import refunds_pb2
from rich.console import RenderableType
from rich.text import Text

from operator_cli.render import Clock, actor, enum, fields, money, stamp, table, yes
from platform_common.ui import span


def order_view(o: orders_pb2.Order, clock: Clock) -> list[RenderableType]:
    p, e = o.protection, o.escrow
    parts: list[RenderableType] = [
        fields(
            f"Order {o.order_id}",
            [
                ("status", enum(orders_pb2.OrderStatus, o.status)),
                ("escrow", enum(orders_pb2.EscrowStatus, o.escrow_status)),
                ("buyer", o.buyer_id),
                ("seller", o.seller_id),
                ("total", money(o.total)),
                ("payment", o.payment_method.reference),
                (
                    "shipped",
                    f"{stamp(o.shipment.shipped_at)} {o.shipment.carrier} {o.shipment.tracking_number}".strip(),
                ),
                ("delivered", stamp(o.shipment.delivered_at)),
                ("protection", f"{p.days + p.extended_days} days" if p.days else ""),
                ("protection ends", clock.due(p.expires_at) if not p.frozen else Text("")),
                ("frozen", f"yes, {span_of(p.remaining_seconds)} left" if p.frozen else ""),
                ("disputes holding it", ", ".join(h.dispute_id for h in o.holds)),
                ("created", stamp(o.created_at)),
                ("completed", stamp(o.completed_at)),
                ("cancelled", stamp(o.cancelled_at)),
            ],
        ),
        fields(
            "Escrow",
            [
                ("paid", money(e.paid)),
                ("held", money(e.held)),
                ("refunded", money(e.refunded)),
                ("pending", money(e.pending)),
                ("released", money(e.released)),
                ("recovered", money(e.recovered)),
            ],
        ),
    ]
    if o.deadlines:
        grid = table("Deadlines", "kind", "due", "when")
        for d in o.deadlines:
            grid.add_row(d.kind, stamp(d.due_at), clock.deadline(d))
        parts.append(grid)
    if o.timeline:
        grid = table("Timeline", "at", "actor", "action", "detail")
        for t in o.timeline:
            grid.add_row(stamp(t.at), actor(t.actor), t.action, t.detail)
        parts.append(grid)
    return parts


def span_of(seconds: int) -> str:
    return span(timedelta(seconds=seconds))


def refund_view(r: refunds_pb2.Refund, clock: Clock) -> list[RenderableType]:
    settled = r.status in (refunds_pb2.REFUND_STATUS_REFUNDED, refunds_pb2.REFUND_STATUS_FAILED)
    head = fields(
        f"Refund {r.refund_id}",
        [
            ("status", enum(refunds_pb2.RefundStatus, r.status)),
            ("kind", enum(refunds_pb2.RefundKind, r.kind)),
            ("amount", money(r.amount)),
            ("order", r.order_id),
            ("dispute", r.dispute_id),
            ("buyer", r.buyer_id),
            ("seller", r.seller_id),
            ("reason", r.reason),
            ("issuer", r.issuer),
            ("payment method", r.payment_method_reference),
            ("provider reference", r.provider_reference),
            ("expected by", Text(stamp(r.expected_by)) if settled else clock.due(r.expected_by)),
            ("overdue", Text("yes", style="bold red") if r.overdue else ""),
            ("failure", r.failure_reason),
            ("attempts", str(r.attempts)),
            ("settlement mismatch", Text("yes", style="bold red") if r.settlement_mismatch else ""),
            ("created", stamp(r.created_at)),
            ("refunded", stamp(r.refunded_at)),
        ],
    )
    history = table("Status history", "at", "status", "detail")
    for h in r.status_history:
        history.add_row(stamp(h.at), enum(refunds_pb2.RefundStatus, h.status), h.detail)
    return [head, history]


def evidence_view(e: evidence_pb2.Evidence) -> RenderableType:
    return fields(
        f"Evidence {e.evidence_id}",
        [
            ("file", e.filename),
            ("type", e.content_type),
            ("kind", enum(evidence_pb2.EvidenceKind, e.kind)),
            ("size", f"{e.size_bytes:,} bytes"),
            ("sha256", e.sha256),
            ("dispute", e.dispute_id),
            ("order", e.order_id),
            ("uploaded by", actor(e.uploader)),
            ("uploaded", stamp(e.uploaded_at)),
            ("legal hold", yes(e.legal_hold)),
        ],
    )


def event_line(e: disputes_pb2.DisputeEvent) -> Text:
    """One event on one line, as a feed scrolls: cursor, when, type, dispute and what happened."""
    return Text.assemble(
        (f"{e.cursor:>8} ", "dim"),
        f"{stamp(e.occurred_at)}  ",
        (f"{e.type:<32}", "bold"),
        f" {e.dispute_id} #{e.sequence} ",
        (enum(disputes_pb2.DisputeStatus, e.status), "cyan"),
        f"  {e.entry.action}" if e.entry.action else "",
        f": {e.entry.detail}" if e.entry.detail else "",
    )
