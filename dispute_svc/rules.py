"""The dispute domain's rules about what an action may say: each limit and each check, once.

DisputeWorkflow's validators are the authority (nothing reaches a dispute's history without
passing them), and DisputeService's request parsing calls the very same functions, through
`requests.rule`, to refuse bad input before a round trip to Temporal with the same words and
code. The windows (how long each party has) are numbers of the versioned `Policy`; the opening
rules, which need the order and the openings register, are in `opening.py`; what evidence may be
attached is EvidenceService's rule (`evidence_svc/rules.py`).

Imported by the workflow, inside Temporal's sandbox: pure code, no I/O.
"""

from __future__ import annotations

from dispute_svc.model import CLOSED, Party, Solution, SolutionType
from platform_common.refusals import Refusal, refuse

# Free text, counted in Unicode code points whatever the language.
MESSAGE_MAX_CHARS = 2_000  # messages, questions, answers, the claim's description
RATIONALE_MAX_CHARS = 5_000  # an arbiter's decision
CANCEL_REASON_MAX_CHARS = 500
CARRIER_MAX_CHARS = 64
# Evidence ids one action may name (EvidenceService bounds the dispute's whole file count).
EVIDENCE_PER_ACTION = 20


# dp-error-reason when someone on the arbitration team would work their own dispute.
ARBITER_IS_A_PARTY = "ARBITER_IS_A_PARTY"


def check_not_a_party(team_id: str, buyer_id: str, seller_id: str, who: str) -> None:
    """Nobody on the arbitration team works a dispute they are a party to: an arbiter or lead
    account with the buyer's or the seller's id (one person under two roles) can neither hold,
    hand over, decide nor read the team's side of it (party signals, internal notes)."""
    if team_id and team_id in (buyer_id, seller_id):
        raise refuse(
            f"{who} is a party to this dispute; nobody arbitrates their own dispute",
            Refusal.PERMISSION_DENIED,
            ARBITER_IS_A_PARTY,
        )


def check_text(value: str, field: str, *, required: bool = False, max_chars: int = MESSAGE_MAX_CHARS) -> None:
    """A required text must say something (whitespace is not a message); no text is longer than
    its limit."""
    if required and not value.strip():
        raise refuse(f"{field} is required (1..{max_chars} characters)", Refusal.INVALID_ARGUMENT)
    if len(value) > max_chars:
        raise refuse(
            f"{field} must be at most {max_chars} characters (got {len(value)})", Refusal.INVALID_ARGUMENT
        )


def check_evidence(ids: list[str], *, required: bool = False, field: str = "evidence_ids") -> None:
    if required and not ids:
        raise refuse(f"{field}: at least one evidence id is required", Refusal.INVALID_ARGUMENT)
    if len(ids) > EVIDENCE_PER_ACTION:
        raise refuse(f"{field}: at most {EVIDENCE_PER_ACTION} per action", Refusal.INVALID_ARGUMENT)
    if len(set(ids)) != len(ids):
        raise refuse(f"{field}: evidence ids must not repeat", Refusal.INVALID_ARGUMENT)


def check_amount(
    amount_minor: int, paid_minor: int, field: str = "amount", *, allow_zero: bool = False
) -> None:
    """A dispute never asks for, offers or decides more than the order's buyer paid. (That all
    refunds of an order together stay within it is RefundService's rule, kept in its ledger.)"""
    low = 0 if allow_zero else 1
    if not low <= amount_minor <= paid_minor:
        raise refuse(f"{field} must be between {low} and {paid_minor} minor units", Refusal.INVALID_ARGUMENT)


def check_solution(s: Solution, paid_minor: int, goods_received: bool) -> None:
    """What a buyer may claim: a full refund is the amount paid; goods not received means a full
    refund without return."""
    if s.type not in (SolutionType.FULL_REFUND, SolutionType.PARTIAL_REFUND):
        raise refuse(f"unknown solution type {s.type!r}", Refusal.INVALID_ARGUMENT)
    check_amount(s.amount_minor, paid_minor)
    if s.type == SolutionType.FULL_REFUND and s.amount_minor != paid_minor:
        raise refuse("a full refund is the amount paid", Refusal.INVALID_ARGUMENT)
    if not goods_received and (s.type != SolutionType.FULL_REFUND or s.return_goods):
        raise refuse(
            "goods not received: the solution is a full refund without return", Refusal.INVALID_ARGUMENT
        )


def check_counter_offer(s: Solution, paid_minor: int) -> None:
    """A counter-offer offers less than a full refund, or a full refund only against a return
    (a full refund without return is the claim itself: the seller accepts it instead)."""
    if s.type == SolutionType.PARTIAL_REFUND and s.amount_minor >= paid_minor:
        raise refuse(
            f"a partial counter-offer is less than the amount paid (1..{paid_minor - 1} minor units)",
            Refusal.INVALID_ARGUMENT,
        )
    if s.type == SolutionType.FULL_REFUND and not s.return_goods:
        raise refuse(
            "a full-refund counter-offer requires a return; to refund without one, accept",
            Refusal.INVALID_ARGUMENT,
        )


def check_may_message(status: str, party: str, escalated: bool, *, internal: bool = False) -> None:
    """Who may write on a dispute's thread, and when: the parties until it closes; arbiters once
    it was escalated (before that it is not theirs to read); internal notes, which parties never
    see, only arbiters. SendMessage and the allowed actions in GetDispute both ask this."""
    if party not in (Party.BUYER, Party.SELLER, Party.ARBITER):
        raise refuse("only the dispute's parties and arbiters write messages", Refusal.PERMISSION_DENIED)
    if internal and party != Party.ARBITER:
        raise refuse("only arbiters write internal notes", Refusal.PERMISSION_DENIED)
    if party == Party.ARBITER and not escalated:
        raise refuse("arbiters write on a dispute once it is escalated", Refusal.PERMISSION_DENIED)
    if status in CLOSED:
        raise refuse(f"the dispute is {status}; its thread is closed", Refusal.FAILED_PRECONDITION)
