"""The dispute event catalog: what each event type means and which timeline actions it covers.

An event is a dispute's timeline entry (or a message) made durable for the platform's other
services. One table, printed into docs/events.md (`python -m dispute_svc.events`; a test
compares), so the catalog that consumers read is the one the code uses.
"""

from __future__ import annotations

from platform_common.events import Catalog, EventType

# The timeline action of the team-only review flag (dispute_svc/outbox.py `append_team_event`).
BUYER_FLAGGED = "BUYER_FLAGGED_FOR_REVIEW"

TYPES_LISTED: tuple[EventType, ...] = (
    EventType("dispute.opened", "the buyer opened the dispute", ("DISPUTE_OPENED",)),
    EventType(
        "dispute.seller_responded",
        "the seller accepted the claim, made a counter-offer or rejected it (entry.action says which)",
        ("SELLER_ACCEPTED", "COUNTER_OFFER", "REJECT"),
    ),
    EventType("dispute.offer_accepted", "the buyer accepted the seller's offer", ("OFFER_ACCEPTED",)),
    EventType("dispute.offer_rejected", "the buyer rejected the seller's offer", ("OFFER_REJECTED",)),
    EventType(
        "dispute.modified", "the buyer changed the claim; the seller's window restarts", ("CLAIM_MODIFIED",)
    ),
    EventType(
        "dispute.seller_timed_out",
        "the seller did not answer in time and the policy refunds the buyer",
        ("SELLER_TIMEOUT_REFUND",),
    ),
    EventType(
        "dispute.escalated",
        "the dispute went to arbitration: by the buyer, by itself when a window ended, or by the "
        "seller contesting a returned item",
        ("ESCALATED", "AUTO_ESCALATED", "RETURN_CONTESTED"),
    ),
    EventType("dispute.cancelled", "the buyer withdrew the dispute", ("CANCELLED",)),
    EventType(
        "dispute.information_requested",
        "an arbiter asked a party for information",
        ("INFORMATION_REQUESTED",),
    ),
    EventType(
        "dispute.information_submitted",
        "the party answered an information request",
        ("INFORMATION_SUBMITTED",),
    ),
    EventType(
        "dispute.information_missed",
        "an information request went unanswered (recorded, not fatal)",
        ("INFORMATION_MISSED",),
    ),
    EventType(
        "dispute.decided", "an arbiter decided (DECIDED_FINAL: after an appeal)", ("DECIDED", "DECIDED_FINAL")
    ),
    EventType("dispute.decision_final", "the appeal window ended: the decision stands", ("DECISION_FINAL",)),
    EventType("dispute.appealed", "the buyer appealed the decision", ("APPEALED",)),
    EventType(
        "dispute.return_required", "the settlement requires the goods back first", ("RETURN_REQUIRED",)
    ),
    EventType("dispute.return_shipped", "the buyer shipped the goods back", ("RETURN_SHIPPED",)),
    EventType(
        "dispute.return_received",
        "the seller confirmed the return, or it was confirmed when the seller did not answer",
        ("RETURN_RECEIVED", "RETURN_AUTO_CONFIRMED"),
    ),
    EventType(
        "dispute.return_not_shipped", "the buyer did not ship the return in time", ("RETURN_NOT_SHIPPED",)
    ),
    EventType(
        "dispute.refund_ordered", "a refund is owed to the buyer (amount and round)", ("REFUND_ORDERED",)
    ),
    EventType("dispute.refund_issued", "RefundService accepted the refund", ("REFUND_ISSUED",)),
    EventType(
        "dispute.refund_updated",
        "the refund's status moved on (PENDING, PROCESSING) without settling",
        ("REFUND_PENDING", "REFUND_PROCESSING"),
    ),
    EventType("dispute.refund_settled", "the money reached the buyer's payment method", ("REFUND_REFUNDED",)),
    EventType(
        "dispute.refund_failed", "the payment provider failed the refund; it is retried", ("REFUND_FAILED",)
    ),
    EventType(
        "dispute.refund_refused",
        "RefundService turned the refund down (e.g. it would exceed what was paid)",
        ("REFUND_REFUSED",),
    ),
    EventType(
        "dispute.refund_abandoned",
        "the refund kept failing for the policy's window; the buyer must be paid another way",
        ("REFUND_ABANDONED",),
    ),
    EventType(
        "dispute.assignment_changed",
        "an arbiter claimed the dispute or gave it back to the queue, or a lead handed it to another "
        "arbiter (entry.action says which)",
        ("CLAIMED", "RELEASED", "REASSIGNED"),
    ),
    EventType(
        "dispute.sla_target_missed",
        "arbitration passed its target without a decision",
        ("ARBITRATION_TARGET_MISSED",),
    ),
    EventType(
        "dispute.sla_breached",
        "arbitration passed its maximum without a decision (a flag, never an automatic decision)",
        ("SLA_BREACHED",),
    ),
    EventType(
        "dispute.buyer_flagged_for_review",
        "the opening brought the buyer to the policy's review threshold (disputes opened in its "
        "window); for services that ask for this type only, never for a party or an arbiter, outside "
        "the dispute's sequence (sequence 0). A flag, never a block: blocking stays SetAccountBlocked",
        (BUYER_FLAGGED,),
    ),
    EventType(
        "dispute.evidence_sealed", "the dispute's evidence went under legal hold", ("EVIDENCE_SEALED",)
    ),
    EventType(
        "dispute.evidence_not_attached",
        "files named by an action could not be attached (the dispute's totals)",
        ("EVIDENCE_NOT_ATTACHED",),
    ),
    EventType(
        "dispute.effects_deferred",
        "a side effect keeps failing and is retried later (operators: see the worker log); resumed when done",
        ("SIDE_EFFECTS_DEFERRED", "SIDE_EFFECTS_RESUMED"),
    ),
    EventType("dispute.message_posted", "a party or an arbiter wrote on the thread (message set)"),
    EventType("dispute.closed", "the dispute closed (status says how)", ("DISPUTE_CLOSED",)),
    EventType(
        "dispute.updated",
        "anything else the dispute's timeline records (a newer workflow's action this catalog does not "
        "name yet); consumers should accept unknown types",
    ),
)

MESSAGE_POSTED = "dispute.message_posted"
UPDATED = "dispute.updated"
CATALOG = Catalog(TYPES_LISTED, UPDATED, "docs/events.md")
TYPES = CATALOG.names
type_of = CATALOG.type_of
check_types = CATALOG.check_types
markdown = CATALOG.markdown


if __name__ == "__main__":
    print(markdown())
