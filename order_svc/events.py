"""The order event catalog: what each order event type means and which timeline actions it
covers. Printed into docs/order-events.md (`python -m order_svc.events`; a test compares)."""

from __future__ import annotations

from platform_common.events import Catalog, EventType

UPDATED = "order.updated"

CATALOG = Catalog(
    (
        EventType(
            "order.created", "checkout created the paid order; escrow holds the payment", ("ORDER_CREATED",)
        ),
        EventType(
            "order.shipped",
            "the seller or carrier shipped it: the buyer-protection window starts",
            ("ORDER_SHIPPED",),
        ),
        EventType("order.delivered", "the carrier reported delivery", ("ORDER_DELIVERED",)),
        EventType(
            "order.protection_extended",
            "the seller granted the buyer more protection days",
            ("PROTECTION_EXTENDED",),
        ),
        EventType(
            "order.protection_paused",
            "an open dispute paused the protection clock (the time left is kept)",
            ("PROTECTION_FROZEN",),
        ),
        EventType(
            "order.protection_resumed",
            "no open dispute holds the order any more: the clock runs again",
            ("PROTECTION_RESUMED",),
        ),
        EventType(
            "order.dispute_hold",
            "a dispute holds the order: it cannot complete, release escrow or be cancelled",
            ("DISPUTE_HOLD",),
        ),
        EventType(
            "order.dispute_hold_released", "a dispute no longer holds the order", ("DISPUTE_HOLD_RELEASED",)
        ),
        EventType(
            "order.refund_recorded",
            "the escrow ledger recorded a refund as pending, settled or failed for good (entry.action says which)",
            ("REFUND_PENDING", "REFUND_SETTLED", "REFUND_CANCELLED"),
        ),
        EventType("order.refunded", "the whole payment was refunded to the buyer", ("ORDER_REFUNDED",)),
        EventType(
            "order.completed",
            "the buyer confirmed receipt or protection expired: escrow released to the seller (what no refund claims)",
            ("ORDER_COMPLETED",),
        ),
        EventType(
            "order.escrow_released",
            "escrow kept during a dispute was released to the seller once the dispute ended",
            ("ESCROW_RELEASED",),
        ),
        EventType(
            "order.cancelled",
            "the order was cancelled before shipping; the payment returned",
            ("ORDER_CANCELLED",),
        ),
        EventType(
            UPDATED,
            "anything else the order's timeline records (a newer release's action this catalog does not name "
            "yet); consumers should accept unknown types",
        ),
    ),
    UPDATED,
    "docs/order-events.md",
)
TYPES = CATALOG.names
type_of = CATALOG.type_of
check_types = CATALOG.check_types
markdown = CATALOG.markdown


if __name__ == "__main__":
    print(markdown())
