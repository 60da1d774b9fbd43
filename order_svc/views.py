"""Rendering stored orders as API messages, including every live deadline."""

from __future__ import annotations

from datetime import datetime, timedelta

from common.v1 import common_pb2
from orders.v1 import orders_pb2

from order_svc.escrow import EntryKind, EntryState
from order_svc.ledger import ledger_of
from order_svc.rules import COMPLETION_GRACE_DAYS, IN_TRANSIT, Escrow, Status
from order_svc.store import OrderData, OrderEscrowEntryRow, OrderEventRow, OrderHoldRow, OrderRow
from platform_common.auth import Role
from platform_common.enums import to_proto
from platform_common.timestamps import to_timestamp

_ROLES = {r.value: to_proto(common_pb2.Role, r.name) for r in Role}
_REASONS = {
    "BUYER_CONFIRMED": orders_pb2.COMPLETION_REASON_BUYER_CONFIRMED,
    "PROTECTION_EXPIRED": orders_pb2.COMPLETION_REASON_PROTECTION_EXPIRED,
}


def hold_to_proto(hold: OrderHoldRow) -> orders_pb2.DisputeHold:
    return orders_pb2.DisputeHold(dispute_id=hold.dispute_id, held_at=to_timestamp(hold.held_at))


def paused_for(row: OrderRow, holds: list[OrderHoldRow]) -> int | None:
    """Seconds left on a paused clock, or None while it runs. A dispute's hold pauses the clock
    from the moment it began, even before the clock itself has been told (its worker may be
    down): the time left is what remained then."""
    if row.protection_frozen:
        return row.protection_remaining_s
    if holds and row.protection_expires_at is not None:
        first = min(h.held_at for h in holds)
        return max(0, int((row.protection_expires_at - first).total_seconds()))
    return None


def deadlines(
    row: OrderRow, day: timedelta, now: datetime, holds: list[OrderHoldRow]
) -> list[common_pb2.Deadline]:
    status = Status(row.status)
    if status is Status.PAID:
        due = row.created_at + day * row.handling_days
        return [
            common_pb2.Deadline(
                kind="SHIP_BY",
                due_at=to_timestamp(due),
                remaining_seconds=max(0, int((due - now).total_seconds())),
            )
        ]
    if status in IN_TRANSIT:
        paused = paused_for(row, holds)
        if paused is not None:
            return [common_pb2.Deadline(kind="PROTECTION_EXPIRES", paused=True, remaining_seconds=paused)]
        if row.protection_expires_at is not None:
            due = row.protection_expires_at
            left = max(0, int((due - now).total_seconds()))
            return [
                common_pb2.Deadline(
                    kind="PROTECTION_EXPIRES", due_at=to_timestamp(due), remaining_seconds=left
                )
            ]
    if status is Status.COMPLETED and row.completed_at is not None:
        # After completion the buyer may still open a dispute for the completion grace.
        due = row.completed_at + day * COMPLETION_GRACE_DAYS
        if due > now:
            left = int((due - now).total_seconds())
            return [
                common_pb2.Deadline(
                    kind="DISPUTE_GRACE_ENDS", due_at=to_timestamp(due), remaining_seconds=left
                )
            ]
    return []


def _escrow(row: OrderRow, entries: list[OrderEscrowEntryRow]) -> orders_pb2.Escrow:
    ledger = ledger_of(row, entries)

    def money(minor: int) -> common_pb2.Money:
        return common_pb2.Money(minor_units=minor, currency=row.currency)

    return orders_pb2.Escrow(
        paid=money(ledger.paid),
        held=money(ledger.held),
        refunded=money(ledger.refunded),
        pending=money(ledger.pending),
        released=money(ledger.released),
        recovered=money(ledger.recovered),
        entries=[
            orders_pb2.EscrowEntry(
                refund_id=e.key if e.kind == EntryKind.REFUND.value else "",
                kind=to_proto(orders_pb2.EscrowEntryKind, EntryKind(e.kind)),
                amount=money(e.amount_minor),
                state=to_proto(orders_pb2.EscrowEntryState, EntryState(e.state)),
                recovered_from_seller=not e.covered,
                reason=e.reason,
                issuer=e.issuer,
                recorded_at=to_timestamp(e.created_at),
                updated_at=to_timestamp(e.updated_at),
            )
            for e in entries
        ],
    )


def timeline_entry(e: OrderEventRow) -> common_pb2.TimelineEntry:
    return common_pb2.TimelineEntry(
        at=to_timestamp(e.at),
        actor=common_pb2.Actor(id=e.actor_id, role=_ROLES.get(e.actor_role, common_pb2.ROLE_UNSPECIFIED)),
        action=e.action,
        detail=e.detail,
    )


def order_to_proto(data: OrderData, day: timedelta, now: datetime) -> orders_pb2.Order:
    row, events, holds = data.row, data.events, data.holds
    # Only a running clock can be frozen: a completion ends the clock as it stood, and a PAID
    # order's holds wait for its shipment (its clock then starts frozen).
    in_transit = Status(row.status) in IN_TRANSIT
    paused = paused_for(row, holds) if in_transit else None
    frozen = paused is not None
    order = orders_pb2.Order(
        order_id=row.id,
        buyer_id=row.buyer_id,
        seller_id=row.seller_id,
        total=common_pb2.Money(minor_units=row.total_minor, currency=row.currency),
        items=[
            orders_pb2.OrderItem(
                sku=i["sku"],
                title=i["title"],
                quantity=i["quantity"],
                unit_price=common_pb2.Money(minor_units=i["unit_price_minor"], currency=row.currency),
            )
            for i in row.items
        ],
        payment_method=orders_pb2.PaymentMethod(
            type=orders_pb2.PaymentMethodType.ValueType(row.payment_method_type),
            reference=row.payment_reference,
        ),
        status=Status(row.status).to_proto(),
        escrow_status=Escrow(row.escrow_status).to_proto(),
        handling_days=row.handling_days,
        protection=orders_pb2.ProtectionWindow(
            days=row.protection_days,
            extended_days=row.extended_days,
            frozen=frozen,
            remaining_seconds=paused or 0,
        ),
        created_at=to_timestamp(row.created_at),
        updated_at=to_timestamp(row.updated_at),
        deadlines=deadlines(row, day, now, holds),
        escrow=_escrow(row, data.entries),
        holds=[hold_to_proto(h) for h in holds],
        timeline=[timeline_entry(e) for e in events],
    )
    if row.protection_expires_at is not None and row.status != Status.PAID.value and not frozen:
        order.protection.expires_at.CopyFrom(to_timestamp(row.protection_expires_at))
    if row.carrier:
        order.shipment.carrier = row.carrier
        order.shipment.tracking_number = row.tracking_number or ""
    if row.shipped_at:
        order.shipment.shipped_at.CopyFrom(to_timestamp(row.shipped_at))
    if row.delivered_at:
        order.shipment.delivered_at.CopyFrom(to_timestamp(row.delivered_at))
    if row.completed_at:
        order.completed_at.CopyFrom(to_timestamp(row.completed_at))
        order.completion_reason = _REASONS[row.completion_reason or ""]
    if row.escrow_released_at:
        order.escrow_released_at.CopyFrom(to_timestamp(row.escrow_released_at))
    if row.cancelled_at:
        order.cancelled_at.CopyFrom(to_timestamp(row.cancelled_at))
    return order
