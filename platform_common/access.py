"""Who may call what: every RPC of the platform, the user roles and the service identities
allowed to call it. One table, read by the server bootstrap of every service, printed into
docs/access.md (`python -m platform_common.access`), and walked by a test that calls every RPC
as every identity.

A service identity is the subject of a token with role `service`. Each names one component and
what it is for; an RPC not listed for an identity is refused with PERMISSION_DENIED before the
request is even parsed. Internal RPCs (workflow side effects) list only the one component that
owns them. Ownership of a resource (this buyer's order, an escalated dispute for an arbiter) is
checked by the handler that loads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from platform_common.auth import DISPUTE_API, EVIDENCE_API, ORDER_API, REFUND_API, Caller, Role

# --- service identities ------------------------------------------------------------------------

CHECKOUT = "checkout"
CARRIER = "carrier"
SUPPORT = "support"
NOTIFICATIONS = "notifications"
ORDERS_WORKER = "worker-orders"
DISPUTES_WORKER = "worker-disputes"
REFUNDS_WORKER = "worker-refunds"
ORDER_SVC = "order-svc"
DISPUTE_SVC = "dispute-svc"
EVIDENCE_SVC = "evidence-svc"
REFUND_SVC = "refund-svc"

SERVICE_IDENTITIES: dict[str, str] = {
    CHECKOUT: "the marketplace's checkout and order back end: creates and cancels orders",
    CARRIER: "carrier and logistics integrations: shipment and delivery events",
    SUPPORT: "customer-support and trust & safety tools: reads, account blocks, refund retries, goodwill refunds",
    NOTIFICATIONS: "notification senders and integration back ends: dispute and order events (watch, webhooks)",
    ORDERS_WORKER: "the orders worker (OrderProtectionWorkflow): completes orders, records the clock",
    DISPUTES_WORKER: "the disputes worker (DisputeWorkflow): freezes clocks, binds and seals evidence, pays",
    REFUNDS_WORKER: "the refunds worker (RefundWorkflow): records refund statuses",
    ORDER_SVC: "OrderService calling its peers",
    DISPUTE_SVC: "DisputeService calling its peers (opening checks, evidence dry runs, order holds)",
    EVIDENCE_SVC: "EvidenceService calling its peers",
    REFUND_SVC: "RefundService calling its peers (orders, the order's escrow)",
}


@dataclass(frozen=True)
class Access:
    roles: frozenset[Role]
    services: frozenset[str]
    # Who owns it and why, for docs/access.md ("" for public RPCs).
    note: str = ""

    def allows(self, caller: Caller) -> bool:
        if caller.role is Role.SERVICE:
            return caller.id in self.services
        return caller.role in self.roles

    @property
    def internal(self) -> bool:
        return not self.roles


def allow(*roles: Role, services: tuple[str, ...] = (), note: str = "") -> Access:
    unknown = [s for s in services if s not in SERVICE_IDENTITIES]
    assert not unknown, f"unknown service identities {unknown}"
    assert Role.SERVICE not in roles, "services are listed by identity"
    return Access(frozenset(roles), frozenset(services), note)


def internal(owner: str, note: str) -> Access:
    return allow(services=(owner,), note=note)


B, S, A, L = Role.BUYER, Role.SELLER, Role.ARBITER, Role.ARBITER_LEAD
# Services that show orders, disputes, evidence and refunds to people (support agents).
_READERS = (SUPPORT,)
# Services that subscribe to dispute events by webhook (each manages only its own subscriptions).
_SUBSCRIBERS = (NOTIFICATIONS, SUPPORT)

ORDERS: dict[str, Access] = {
    "CreateOrder": allow(services=(CHECKOUT,)),
    "GetOrder": allow(B, S, A, services=(*_READERS, CHECKOUT, DISPUTE_SVC, EVIDENCE_SVC, REFUND_SVC)),
    "ListOrders": allow(B, S, services=(*_READERS, CHECKOUT)),
    # DisputeService's party signals for arbiters (orders per buyer and seller).
    "CountOrders": allow(services=(*_READERS, DISPUTE_SVC)),
    "MarkShipped": allow(S, services=(CARRIER,)),
    "MarkDelivered": allow(services=(CARRIER,)),
    "ConfirmReceipt": allow(B),
    "ExtendProtection": allow(S),
    "CancelOrder": allow(B, services=(CHECKOUT, SUPPORT)),
    "CompleteOrder": internal(ORDERS_WORKER, "the protection clock ended or the buyer confirmed"),
    "RecordProtection": internal(ORDERS_WORKER, "the protection clock's read model"),
    "FreezeProtection": internal(DISPUTES_WORKER, "a dispute's side effect: stop the clock"),
    "UnfreezeProtection": internal(DISPUTES_WORKER, "a dispute's side effect: the dispute ended"),
    "HoldForDispute": internal(DISPUTE_SVC, "OpenDispute holds the order before it answers"),
    "RecordRefund": internal(REFUND_SVC, "the refund ledger keeps the order's escrow in step"),
    "SetAccountBlocked": allow(services=(SUPPORT,)),
    "GetAccountStatus": allow(B, S, services=(*_READERS, DISPUTE_SVC)),
    # DisputeService reads them for the webhook subscriptions it delivers.
    "ListOrderEvents": allow(B, S, services=(*_READERS, NOTIFICATIONS, DISPUTE_SVC)),
    "WatchOrderEvents": allow(B, S, services=(*_READERS, NOTIFICATIONS)),
}

DISPUTES: dict[str, Access] = {
    "OpenDispute": allow(B),
    "CheckDisputeEligibility": allow(B, services=(*_READERS, CHECKOUT)),
    "GetDispute": allow(B, S, A, L, services=(*_READERS, ORDER_SVC, REFUND_SVC)),
    "ListDisputes": allow(B, S, A, L, services=(*_READERS, ORDER_SVC, REFUND_SVC)),
    "RespondAsSeller": allow(S),
    "AcceptOffer": allow(B),
    "RejectOffer": allow(B),
    "ModifyDispute": allow(B),
    "EscalateDispute": allow(B),
    "CancelDispute": allow(B),
    "RequestInformation": allow(A),
    "SubmitInformation": allow(B, S),
    "DecideDispute": allow(A),
    "AppealDecision": allow(B),
    "SubmitReturnShipment": allow(B),
    "ConfirmReturnReceived": allow(S),
    "ListArbitrationQueue": allow(A, L),
    "ClaimDispute": allow(A),
    "ReleaseDispute": allow(A),
    "ReassignDispute": allow(L),
    "GetArbiterWorkload": allow(A, L),
    "RecordDisputeState": internal(DISPUTES_WORKER, "the dispute's read model"),
    "SendMessage": allow(B, S, A),
    "ListMessages": allow(B, S, A, services=_READERS),
    "ListDisputeEvents": allow(B, S, A, services=(*_READERS, NOTIFICATIONS)),
    "WatchDisputeEvents": allow(B, S, A, services=(*_READERS, NOTIFICATIONS)),
    "CreateWebhookSubscription": allow(services=_SUBSCRIBERS),
    "ListWebhookSubscriptions": allow(services=_SUBSCRIBERS),
    "DeleteWebhookSubscription": allow(services=_SUBSCRIBERS),
    "ReplayWebhookSubscription": allow(services=_SUBSCRIBERS),
    "DeliverWebhookEvents": internal(DISPUTES_WORKER, "a subscription's delivery workflow sends its events"),
    "DisableWebhookSubscription": internal(DISPUTES_WORKER, "a subscription that kept failing"),
}

EVIDENCE: dict[str, Access] = {
    "UploadEvidence": allow(B, S, services=(SUPPORT,)),
    "GetEvidence": allow(B, S, A, services=_READERS),
    "ListEvidence": allow(B, S, A, services=_READERS),
    "DownloadEvidence": allow(B, S, A, services=_READERS),
    "AttachEvidence": allow(
        services=(DISPUTE_SVC, DISPUTES_WORKER),
        note="by mode: see the AttachEvidence table below",
    ),
    "SetLegalHold": internal(DISPUTES_WORKER, "seal on escalation, release at close"),
}

REFUNDS: dict[str, Access] = {
    "IssueRefund": allow(
        services=(DISPUTES_WORKER, SUPPORT, CHECKOUT),
        note="by kind: see the IssueRefund table below",
    ),
    "GetRefund": allow(B, S, A, services=(*_READERS, DISPUTES_WORKER)),
    "ListRefunds": allow(B, S, A, services=_READERS),
    "RetryRefund": allow(services=(SUPPORT,)),
    "RecordRefundStatus": internal(REFUNDS_WORKER, "the refund's status, from its workflow"),
}

# Finer than the table: RPCs whose callers depend on what the request asks for.
# IssueRefund: the issuers of each RefundKind (a refund outside a dispute needs a documented kind).
REFUND_ISSUERS: dict[str, tuple[str, ...]] = {
    "DISPUTE": (DISPUTES_WORKER,),
    "CANCELLATION": (CHECKOUT, SUPPORT),
    "GOODWILL": (SUPPORT,),
}
# AttachEvidence: DisputeService dry-runs an action's files; only the disputes worker binds them.
ATTACH_VALIDATE_ONLY = (DISPUTE_SVC,)
ATTACH_BIND = (DISPUTES_WORKER,)

TABLE: Mapping[str, Mapping[str, Access]] = {
    ORDER_API: ORDERS,
    DISPUTE_API: DISPUTES,
    EVIDENCE_API: EVIDENCE,
    REFUND_API: REFUNDS,
}


def markdown() -> str:
    """The table as docs/access.md shows it (a test keeps the two identical)."""
    lines = [
        "| API | RPC | user roles | service identities | note |",
        "| --- | --- | --- | --- | --- |",
    ]
    for api, methods in TABLE.items():
        for name, access in methods.items():
            user_roles = ", ".join(r.value for r in (B, S, A, L) if r in access.roles) or "-"
            services = ", ".join(sorted(access.services)) or "-"
            lines.append(f"| {api.split('.')[0]} | {name} | {user_roles} | {services} | {access.note} |")
    lines += ["", "| IssueRefund kind | issuers |", "| --- | --- |"]
    lines += [f"| {kind} | {', '.join(who)} |" for kind, who in REFUND_ISSUERS.items()]
    lines += [
        "",
        "| AttachEvidence mode | callers |",
        "| --- | --- |",
        f"| validate_only | {', '.join(ATTACH_VALIDATE_ONLY)} |",
        f"| binding | {', '.join(ATTACH_BIND)} |",
    ]
    lines += ["", "| service identity | what it is |", "| --- | --- |"]
    lines += [f"| `{name}` | {what} |" for name, what in SERVICE_IDENTITIES.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
