"""DisputeWorkflow's data: its input, its whole state, the actions it accepts, and the view it shows.

Everything is a plain dataclass of strings, ints and lists so it round-trips through Temporal's
JSON converter unchanged (times are ISO-8601 strings: datetimes inside dataclasses do not decode
in the workflow sandbox). The state is one object so continue-as-new can carry all of it over.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio.exceptions import ApplicationError

WORKFLOW_NAME = "DisputeWorkflow"

# Statuses: the DisputeStatus enum of disputes.v1 without its prefix.
AWAITING_SELLER = "AWAITING_SELLER_RESPONSE"
AWAITING_BUYER = "AWAITING_BUYER_RESPONSE"
UNDER_ARBITRATION = "UNDER_ARBITRATION"
AWAITING_INFORMATION = "AWAITING_INFORMATION"
DECIDED = "DECIDED"
APPEALED = "APPEALED"
AWAITING_RETURN_SHIPMENT = "AWAITING_RETURN_SHIPMENT"
AWAITING_RETURN_RECEIPT = "AWAITING_RETURN_RECEIPT"
REFUND_PENDING = "REFUND_PENDING"
CLOSED_REFUNDED = "CLOSED_REFUNDED"
CLOSED_CANCELLED = "CLOSED_CANCELLED"
CLOSED_WITHOUT_REFUND = "CLOSED_WITHOUT_REFUND"
NEGOTIATING = (AWAITING_SELLER, AWAITING_BUYER)
ARBITRATING = (UNDER_ARBITRATION, AWAITING_INFORMATION, APPEALED)
CLOSED = (CLOSED_REFUNDED, CLOSED_CANCELLED, CLOSED_WITHOUT_REFUND)

# Resolutions: the DisputeResolution enum without its prefix.
SELLER_ACCEPTED = "SELLER_ACCEPTED"
BUYER_ACCEPTED_OFFER = "BUYER_ACCEPTED_OFFER"
SELLER_TIMEOUT_REFUND = "SELLER_TIMEOUT_REFUND"
ARBITRATION_DECISION = "ARBITRATION_DECISION"
CANCELLED_BY_BUYER = "CANCELLED_BY_BUYER"
RETURN_NOT_SHIPPED = "RETURN_NOT_SHIPPED"
# A dispute that ended like this closes the order to further disputes (DESIGN §4).
SETTLING_RESOLUTIONS = (
    SELLER_ACCEPTED,
    BUYER_ACCEPTED_OFFER,
    SELLER_TIMEOUT_REFUND,
    ARBITRATION_DECISION,
    RETURN_NOT_SHIPPED,
)

FULL_REFUND, PARTIAL_REFUND = "FULL_REFUND", "PARTIAL_REFUND"
BUYER, SELLER, ARBITER, SYSTEM = "BUYER", "SELLER", "ARBITER", "SERVICE"

# ApplicationError types raised by validators; DisputeService maps them to gRPC codes.
PERMISSION_DENIED = "PermissionDenied"
FAILED_PRECONDITION = "FailedPrecondition"
INVALID_ARGUMENT = "InvalidArgument"
RESOURCE_EXHAUSTED = "ResourceExhausted"


def workflow_id(dispute_id: str) -> str:
    return f"dispute/{dispute_id}"


def refuse(message: str, kind: str = FAILED_PRECONDITION) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


@dataclass
class Solution:
    type: str  # FULL_REFUND or PARTIAL_REFUND
    amount_minor: int
    return_goods: bool


@dataclass
class Version:
    """One numbered entry of the negotiation: the claim, a modification, or a seller response."""

    number: int
    party: str  # BUYER or SELLER
    author_id: str
    kind: str  # CLAIM, MODIFICATION, ACCEPT, COUNTER_OFFER, REJECT
    solution: Solution | None
    message: str
    evidence_ids: list[str]
    at: str
    # Seller responses only: PENDING, ACCEPTED, REJECTED, SUPERSEDED, EXPIRED.
    status: str = ""
    answered_at: str = ""
    buyer_message: str = ""


@dataclass
class Event:
    at: str
    actor: str
    role: str  # BUYER, SELLER, ARBITER or SERVICE
    action: str
    detail: str


@dataclass
class InfoRequest:
    id: str
    party: str
    arbiter_id: str
    question: str
    requested_at: str
    due_at: str
    status: str = "OPEN"  # OPEN, ANSWERED, MISSED
    answer: str = ""
    evidence_ids: list[str] = field(default_factory=list)
    answered_at: str = ""


@dataclass
class Decision:
    round: int
    amount_minor: int
    return_required: bool
    rationale: str
    evidence_ids: list[str]
    arbiter_id: str
    final: bool
    decided_at: str
    appeal_deadline: str = ""


@dataclass
class Appeal:
    decision_round: int
    message: str
    evidence_ids: list[str]
    at: str


@dataclass
class ReturnShipment:
    carrier: str = ""
    tracking_number: str = ""
    ship_due: str = ""
    shipped_at: str = ""
    confirm_due: str = ""
    received_at: str = ""
    auto_confirmed: bool = False
    contested: bool = False
    contest_message: str = ""
    contest_evidence_ids: list[str] = field(default_factory=list)
    contested_at: str = ""


@dataclass
class Payout:
    """One refund through RefundService; the key makes a retried issue the same refund."""

    round: int
    key: str
    amount_minor: int
    refund_id: str = ""
    # As RefundService reports it (PENDING, PROCESSING, REFUNDED, FAILED), or REFUSED (turned down
    # at issue) or ABANDONED (FAILED for refund_failed_final_days without a successful retry).
    status: str = ""
    failed_since: str = ""


@dataclass
class DisputeInput:
    dispute_id: str
    order_id: str
    buyer_id: str
    seller_id: str
    paid_minor: int
    currency: str
    policy_version: str
    reason: str
    goods_received: bool
    solution: Solution
    description: str
    evidence_ids: list[str] = field(default_factory=list)
    attempt: int = 1
    # Continue-as-new after this many accepted updates in one run (Temporal refuses past 2,000).
    max_updates_per_run: int = 500
    # ISO-8601: when OpenDispute accepted the opening (deadlines run from then, even if no
    # worker ran the workflow for a while). Empty in disputes opened before it was passed.
    opened_at: str = ""
    # Set only by continue-as-new: the whole state of the previous run.
    carried: DisputeState | None = None


@dataclass
class DisputeState:
    status: str
    opened_at: str
    updated_at: str
    claim: Solution
    description: str
    seller_due: str = ""
    buyer_due: str = ""
    escalated_at: str = ""
    arbitration_started_at: str = ""
    arbitration_target: str = ""
    arbitration_max: str = ""
    target_missed: bool = False
    sla_breached: bool = False
    arbiter_id: str = ""
    excluded_arbiter: str = ""
    closed_at: str = ""
    resolution: str = ""
    settlement: Solution | None = None
    versions: list[Version] = field(default_factory=list)
    info_requests: list[InfoRequest] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    appeal: Appeal | None = None
    return_shipment: ReturnShipment | None = None
    payouts: list[Payout] = field(default_factory=list)
    evidence_ids: list[str] = field(default_factory=list)
    timeline: list[Event] = field(default_factory=list)
    # Side effects still owed by the main loop (handlers stay pure and fast).
    sealed: bool = False
    order_frozen: bool = False
    # Evidence bound to the dispute in EvidenceService so far (DisputeService checked each action's
    # files with a dry run before the update; the workflow binds them, retrying until done).
    evidence_bound: list[str] = field(default_factory=list)
    evidence_registered: bool = False
    # Some side effect has kept failing (search attribute SideEffectsDeferred, timeline events).
    effects_deferred: bool = False
    order_released: bool = False
    revision: int = 0
    runs: int = 1


@dataclass
class Deadline:
    kind: str
    due_at: str


@dataclass
class DisputeView:
    """What GetDispute, every update and the read model show: the input, the state, live deadlines."""

    dispute_id: str
    order_id: str
    buyer_id: str
    seller_id: str
    paid_minor: int
    currency: str
    policy_version: str
    reason: str
    goods_received: bool
    attempt: int
    state: DisputeState
    deadlines: list[Deadline]


# --- actions (one per update) ---------------------------------------------------------------


@dataclass
class SellerResponse:
    seller_id: str
    type: str  # ACCEPT, COUNTER_OFFER or REJECT
    message: str = ""
    solution: Solution | None = None
    evidence_ids: list[str] = field(default_factory=list)
    claim_version: int = 0


@dataclass
class BuyerAction:
    buyer_id: str
    # AcceptOffer / RejectOffer: the offer's version number, so a stale screen cannot answer a newer offer.
    offer_version: int = 0
    escalate: bool = False
    message: str = ""
    evidence_ids: list[str] = field(default_factory=list)


@dataclass
class Modification:
    buyer_id: str
    solution: Solution | None
    description: str
    evidence_ids: list[str] = field(default_factory=list)


@dataclass
class InfoRequestAction:
    arbiter_id: str
    party: str
    question: str


@dataclass
class InfoAnswer:
    caller_id: str
    info_request_id: str
    message: str
    evidence_ids: list[str] = field(default_factory=list)
    # BUYER or SELLER: the caller's role, checked with its id (a seller token carrying the
    # buyer's id is not the buyer).
    caller_role: str = ""


@dataclass
class DecisionAction:
    arbiter_id: str
    amount_minor: int
    return_required: bool
    rationale: str
    evidence_ids: list[str] = field(default_factory=list)


@dataclass
class AppealAction:
    buyer_id: str
    message: str
    evidence_ids: list[str]


@dataclass
class ReturnShipmentAction:
    buyer_id: str
    carrier: str
    tracking_number: str


@dataclass
class ReturnReceipt:
    seller_id: str
    contest: bool
    message: str = ""
    evidence_ids: list[str] = field(default_factory=list)


def check_solution(s: Solution, paid_minor: int, goods_received: bool) -> None:
    """DESIGN §4: 0 < amount <= paid; a full refund is the paid amount; not received => full, no return."""
    if s.type not in (FULL_REFUND, PARTIAL_REFUND):
        raise refuse(f"unknown solution type {s.type!r}", INVALID_ARGUMENT)
    if not 0 < s.amount_minor <= paid_minor:
        raise refuse(f"amount must be between 1 and {paid_minor} minor units", INVALID_ARGUMENT)
    if s.type == FULL_REFUND and s.amount_minor != paid_minor:
        raise refuse("a full refund is the amount paid", INVALID_ARGUMENT)
    if not goods_received and (s.type != FULL_REFUND or s.return_goods):
        raise refuse("goods not received: the solution is a full refund without return", INVALID_ARGUMENT)


def check_counter_offer(s: Solution, paid_minor: int) -> None:
    """A counter-offer offers less than a full refund, or a full refund only against a return
    (a full refund without return is the claim itself: the seller accepts it instead)."""
    if s.type == PARTIAL_REFUND and s.amount_minor >= paid_minor:
        raise refuse(
            f"a partial counter-offer is less than the amount paid (1..{paid_minor - 1} minor units)",
            INVALID_ARGUMENT,
        )
    if s.type == FULL_REFUND and not s.return_goods:
        raise refuse(
            "a full-refund counter-offer requires a return; to refund without one, accept", INVALID_ARGUMENT
        )


def check_text(text: str, name: str, lo: int, hi: int) -> None:
    if not lo <= len(text) <= hi:
        raise refuse(f"{name} must be {lo}..{hi} characters", INVALID_ARGUMENT)
