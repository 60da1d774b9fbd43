"""Rendering stored orders as API messages, including every live deadline."""

from __future__ import annotations

from datetime import datetime, timedelta

from common.v1 import common_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from orders.v1 import orders_pb2

from order_svc.domain import COMPLETION_GRACE_DAYS, IN_TRANSIT, Escrow, Status
from order_svc.store import OrderEventRow, OrderRow
from platform_common.auth import Role

_ROLES = {r.value: common_pb2.Role.Value(f"ROLE_{r.name}") for r in Role}
_REASONS = {
    "BUYER_CONFIRMED": orders_pb2.COMPLETION_REASON_BUYER_CONFIRMED,
    "PROTECTION_EXPIRED": orders_pb2.COMPLETION_REASON_PROTECTION_EXPIRED,
}


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def deadlines(row: OrderRow, day: timedelta, now: datetime) -> list[common_pb2.Deadline]:
    status = Status(row.status)
    if status is Status.PAID:
        due = row.created_at + day * row.handling_days
        return [
            common_pb2.Deadline(
                kind="SHIP_BY",
                due_at=_ts(due),
                remaining_seconds=max(0, int((due - now).total_seconds())),
            )
        ]
    if status in IN_TRANSIT:
        if row.protection_frozen:
            return [
                common_pb2.Deadline(
                    kind="PROTECTION_EXPIRES",
                    paused=True,
                    remaining_seconds=row.protection_remaining_s,
                )
            ]
        if row.protection_expires_at is not None:
            due = row.protection_expires_at
            left = max(0, int((due - now).total_seconds()))
            return [common_pb2.Deadline(kind="PROTECTION_EXPIRES", due_at=_ts(due), remaining_seconds=left)]
    if status is Status.COMPLETED and row.completed_at is not None:
        # After completion the buyer may still open a dispute for the completion grace.
        due = row.completed_at + day * COMPLETION_GRACE_DAYS
        if due > now:
            left = int((due - now).total_seconds())
            return [common_pb2.Deadline(kind="DISPUTE_GRACE_ENDS", due_at=_ts(due), remaining_seconds=left)]
    return []


def order_to_proto(
    row: OrderRow, events: list[OrderEventRow], day: timedelta, now: datetime
) -> orders_pb2.Order:
    # Only a running clock can be frozen: a completion (e.g. the buyer confirming receipt during a
    # dispute) ends the clock as it stood, and a PAID order's freezes wait for its shipment.
    frozen = row.protection_frozen and Status(row.status) in IN_TRANSIT
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
            remaining_seconds=row.protection_remaining_s if frozen else 0,
        ),
        created_at=_ts(row.created_at),
        updated_at=_ts(row.updated_at),
        deadlines=deadlines(row, day, now),
        timeline=[
            common_pb2.TimelineEntry(
                at=_ts(e.at),
                actor=common_pb2.Actor(
                    id=e.actor_id, role=_ROLES.get(e.actor_role, common_pb2.ROLE_UNSPECIFIED)
                ),
                action=e.action,
                detail=e.detail,
            )
            for e in events
        ],
    )
    if row.protection_expires_at is not None and row.status != Status.PAID.value:
        order.protection.expires_at.CopyFrom(_ts(row.protection_expires_at))
    if row.carrier:
        order.shipment.carrier = row.carrier
        order.shipment.tracking_number = row.tracking_number or ""
    if row.shipped_at:
        order.shipment.shipped_at.CopyFrom(_ts(row.shipped_at))
    if row.delivered_at:
        order.shipment.delivered_at.CopyFrom(_ts(row.delivered_at))
    if row.completed_at:
        order.completed_at.CopyFrom(_ts(row.completed_at))
        order.completion_reason = _REASONS[row.completion_reason or ""]
    if row.escrow_released_at:
        order.escrow_released_at.CopyFrom(_ts(row.escrow_released_at))
    if row.cancelled_at:
        order.cancelled_at.CopyFrom(_ts(row.cancelled_at))
    return order
