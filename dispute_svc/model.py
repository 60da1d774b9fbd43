"""DisputeWorkflow's data: its input, its whole state, the actions it accepts, and the view it shows.

Everything is a plain dataclass of strings, ints and lists so it round-trips through Temporal's
JSON converter unchanged (times are ISO-8601 strings: datetimes inside dataclasses do not decode
in the workflow sandbox). The state is one object so continue-as-new can carry all of it over.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

WORKFLOW_NAME = "DisputeWorkflow"


class DisputeStatus(enum.StrEnum):
    """Where a dispute is: disputes.v1 DisputeStatus without its prefix."""

    AWAITING_SELLER_RESPONSE = "AWAITING_SELLER_RESPONSE"
    AWAITING_BUYER_RESPONSE = "AWAITING_BUYER_RESPONSE"
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


NEGOTIATING = (DisputeStatus.AWAITING_SELLER_RESPONSE, DisputeStatus.AWAITING_BUYER_RESPONSE)
ARBITRATING = (DisputeStatus.UNDER_ARBITRATION, DisputeStatus.AWAITING_INFORMATION, DisputeStatus.APPEALED)
CLOSED = (DisputeStatus.CLOSED_REFUNDED, DisputeStatus.CLOSED_CANCELLED, DisputeStatus.CLOSED_WITHOUT_REFUND)


class Resolution(enum.StrEnum):
    """How a dispute ended: disputes.v1 DisputeResolution without its prefix."""

    NONE = ""  # still open
    SELLER_ACCEPTED = "SELLER_ACCEPTED"
    BUYER_ACCEPTED_OFFER = "BUYER_ACCEPTED_OFFER"
    SELLER_TIMEOUT_REFUND = "SELLER_TIMEOUT_REFUND"
    ARBITRATION_DECISION = "ARBITRATION_DECISION"
    CANCELLED_BY_BUYER = "CANCELLED_BY_BUYER"
    RETURN_NOT_SHIPPED = "RETURN_NOT_SHIPPED"


# A dispute that ended like this closes the order to further disputes.
SETTLING_RESOLUTIONS = (
    Resolution.SELLER_ACCEPTED,
    Resolution.BUYER_ACCEPTED_OFFER,
    Resolution.SELLER_TIMEOUT_REFUND,
    Resolution.ARBITRATION_DECISION,
    Resolution.RETURN_NOT_SHIPPED,
)


class SolutionType(enum.StrEnum):
    FULL_REFUND = "FULL_REFUND"
    PARTIAL_REFUND = "PARTIAL_REFUND"


class Party(enum.StrEnum):
    """Who acted: the parties, an arbiter, or the platform itself (timers, services)."""

    BUYER = "BUYER"
    SELLER = "SELLER"
    ARBITER = "ARBITER"
    # A lead arbiter: hands disputes to arbiters (ReassignDispute); deciding is arbiters' work.
    ARBITER_LEAD = "ARBITER_LEAD"
    SERVICE = "SERVICE"


class VersionKind(enum.StrEnum):
    """What one negotiation entry is: the buyer's claim or its modification, or a seller response."""

    CLAIM = "CLAIM"
    MODIFICATION = "MODIFICATION"
    ACCEPT = "ACCEPT"
    COUNTER_OFFER = "COUNTER_OFFER"
    REJECT = "REJECT"


SELLER_RESPONSES = (VersionKind.ACCEPT, VersionKind.COUNTER_OFFER, VersionKind.REJECT)


class OfferStatus(enum.StrEnum):
    """A seller response's fate (disputes.v1 OfferStatus without its prefix)."""

    NONE = ""  # buyer entries
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    SUPERSEDED = "SUPERSEDED"
    EXPIRED = "EXPIRED"


class InfoRequestStatus(enum.StrEnum):
    OPEN = "OPEN"
    ANSWERED = "ANSWERED"
    MISSED = "MISSED"


class PayoutStatus(enum.StrEnum):
    """A payout as RefundService reports it, or how the dispute gave up on it."""

    UNISSUED = ""
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    REFUNDED = "REFUNDED"
    FAILED = "FAILED"
    # Turned down by RefundService at issue (e.g. it would exceed what was paid).
    REFUSED = "REFUSED"
    # FAILED for the policy's refund_failed_final_days without a successful retry.
    ABANDONED = "ABANDONED"

    @classmethod
    def reported(cls, status: str) -> PayoutStatus:
        """RefundService's word for a refund: a status this code does not know yet (a newer
        RefundService) is still in progress, never a reason to stop the dispute."""
        return cls(status) if status in cls._value2member_map_ and status else cls.PENDING


# A payout in one of these states will not change any more.
FINAL_PAYOUTS = (PayoutStatus.REFUNDED, PayoutStatus.REFUSED, PayoutStatus.ABANDONED)
# Payouts that pay nothing, now or later.
UNPAID_PAYOUTS = (PayoutStatus.REFUSED, PayoutStatus.ABANDONED)


class DeadlineKind(enum.StrEnum):
    """disputes.v1 DeadlineType without its prefix."""

    SELLER_RESPONSE_DUE = "SELLER_RESPONSE_DUE"
    BUYER_RESPONSE_DUE = "BUYER_RESPONSE_DUE"
    ESCALATION_ALLOWED_FROM = "ESCALATION_ALLOWED_FROM"
    INFO_RESPONSE_DUE = "INFO_RESPONSE_DUE"
    ARBITRATION_TARGET = "ARBITRATION_TARGET"
    ARBITRATION_MAX = "ARBITRATION_MAX"
    APPEAL_WINDOW_ENDS = "APPEAL_WINDOW_ENDS"
    RETURN_SHIP_DUE = "RETURN_SHIP_DUE"
    RETURN_CONFIRM_DUE = "RETURN_CONFIRM_DUE"


class ActionKind(enum.StrEnum):
    """A user action on a dispute, named after its DisputeService RPC: disputes.v1 DisputeAction
    without its prefix."""

    RESPOND_AS_SELLER = "RESPOND_AS_SELLER"
    ACCEPT_OFFER = "ACCEPT_OFFER"
    REJECT_OFFER = "REJECT_OFFER"
    MODIFY_DISPUTE = "MODIFY_DISPUTE"
    ESCALATE_DISPUTE = "ESCALATE_DISPUTE"
    CANCEL_DISPUTE = "CANCEL_DISPUTE"
    REQUEST_INFORMATION = "REQUEST_INFORMATION"
    SUBMIT_INFORMATION = "SUBMIT_INFORMATION"
    DECIDE_DISPUTE = "DECIDE_DISPUTE"
    APPEAL_DECISION = "APPEAL_DECISION"
    SUBMIT_RETURN_SHIPMENT = "SUBMIT_RETURN_SHIPMENT"
    CONFIRM_RETURN_RECEIVED = "CONFIRM_RETURN_RECEIVED"
    SEND_MESSAGE = "SEND_MESSAGE"
    CLAIM_DISPUTE = "CLAIM_DISPUTE"
    RELEASE_DISPUTE = "RELEASE_DISPUTE"
    REASSIGN_DISPUTE = "REASSIGN_DISPUTE"


def workflow_id(dispute_id: str) -> str:
    return f"dispute/{dispute_id}"


@dataclass
class Solution:
    type: SolutionType
    amount_minor: int
    return_goods: bool


@dataclass
class Version:
    """One numbered entry of the negotiation: the claim, a modification, or a seller response."""

    number: int
    party: Party  # BUYER or SELLER
    author_id: str
    kind: VersionKind
    solution: Solution | None
    message: str
    evidence_ids: list[str]
    at: str
    # Seller responses only.
    status: OfferStatus = OfferStatus.NONE
    answered_at: str = ""
    buyer_message: str = ""


@dataclass
class Event:
    at: str
    actor: str
    role: Party
    action: str
    detail: str


@dataclass
class InfoRequest:
    id: str
    party: Party
    arbiter_id: str
    question: str
    requested_at: str
    due_at: str
    status: InfoRequestStatus = InfoRequestStatus.OPEN
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
    status: PayoutStatus = PayoutStatus.UNISSUED
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
    # Set only by continue-as-new: the whole state of the previous run, and whether its last
    # change was still to be recorded in the read model.
    carried: DisputeState | None = None
    carried_unrecorded: bool = False


@dataclass
class DisputeState:
    status: DisputeStatus
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
    resolution: Resolution = Resolution.NONE
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
    kind: DeadlineKind
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


@dataclass
class ActionCaller:
    """Who asks which actions they may take: the caller's role as a Party (BUYER, SELLER,
    ARBITER, SERVICE) and its id, both as the caller's token says (role and id together)."""

    party: Party
    id: str


@dataclass
class AllowedAction:
    """An action the caller may take now (ISO-8601 times, "" for none): until `allowed_until`,
    and, while `allowed_from` is set, not before then (an escalation waiting out the buyer's
    minimum wait is listed with it rather than left out)."""

    action: ActionKind
    allowed_until: str = ""
    allowed_from: str = ""


@dataclass
class CallerView:
    """GetDispute's one query: the dispute, and what the caller may do on it."""

    view: DisputeView
    actions: list[AllowedAction]


# --- actions (one per update) ---------------------------------------------------------------


@dataclass
class SellerResponse:
    seller_id: str
    type: VersionKind  # ACCEPT, COUNTER_OFFER or REJECT
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
    party: Party
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
class Assignment:
    """ClaimDispute and ReleaseDispute (caller: the arbiter; arbiter_id unused) and
    ReassignDispute (caller: the lead; arbiter_id: who takes it, "" for the queue)."""

    caller_id: str
    arbiter_id: str = ""
    note: str = ""


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


@dataclass
class EvidenceAddition:
    """Files a message names: added to the dispute (the workflow binds them), the text is not."""

    caller_id: str
    # BUYER or SELLER, checked with the id like every party action.
    caller_role: str
    evidence_ids: list[str]
