"""The arbitration desk: the queue (ListArbitrationQueue), claiming a dispute (ClaimDispute),
asking a party for information (RequestInformation) and deciding (DecideDispute). The rules
(who may claim, when a decision is allowed) are the workflow's; dpctl only asks and shows."""

from __future__ import annotations

import enum
from typing import Annotated

import typer
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from rich.text import Text

from operator_cli import views
from operator_cli.commands import PageSize, PageToken, clock_of, page, session_of
from operator_cli.failures import UsageFailure
from operator_cli.render import money
from operator_cli.session import Session
from operator_cli.values import minor_units

Filter = pb.ArbitrationQueueFilter


class PartyName(enum.StrEnum):
    buyer = "buyer"
    seller = "seller"


_PARTIES = {PartyName.buyer: pb.PARTY_BUYER, PartyName.seller: pb.PARTY_SELLER}


def register(app: typer.Typer) -> None:
    app.command("queue")(queue)
    app.command("claim")(claim)
    app.command("request-info")(request_info)
    app.command("decide")(decide)


def queue(
    ctx: typer.Context,
    unassigned: Annotated[
        bool, typer.Option("--unassigned", help="Only disputes nobody has claimed.")
    ] = False,
    mine: Annotated[
        bool, typer.Option("--mine", help="Only disputes assigned to you (or to --arbiter).")
    ] = False,
    breached: Annotated[bool, typer.Option("--breached", help="Only disputes past arbitration_max.")] = False,
    arbiter: Annotated[str, typer.Option(help="Leads, with --mine: whose disputes.")] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> None:
    """The disputes waiting for arbitration, first SLA deadline on top, and the queue's counts."""
    chosen = [f for f, on in ((Filter.ARBITRATION_QUEUE_FILTER_UNASSIGNED, unassigned),
                              (Filter.ARBITRATION_QUEUE_FILTER_MINE, mine),
                              (Filter.ARBITRATION_QUEUE_FILTER_BREACHED, breached)) if on]  # fmt: skip
    if len(chosen) > 1:
        raise UsageFailure("choose at most one of --unassigned, --mine, --breached")
    session = session_of(ctx)
    request = pb.ListArbitrationQueueRequest(
        filter=chosen[0] if chosen else Filter.ARBITRATION_QUEUE_FILTER_UNSPECIFIED,
        arbiter_id=arbiter,
        page=page(page_size, page_token),
    )
    resp: pb.ListArbitrationQueueResponse = session.unary("DISPUTE", "ListArbitrationQueue", request)
    if session.out.json:
        session.out.message(resp)
        return
    session.out.show(*views.queue_view(resp, clock_of(session)))
    if note := views.page_note(resp.next_page_token):
        session.out.show(note)


def claim(
    ctx: typer.Context, dispute_id: Annotated[str, typer.Argument(help="The dispute to take.")]
) -> None:
    """Take a waiting dispute.

    Of two arbiters claiming at once, one gets it; the other is refused (FAILED_PRECONDITION,
    ALREADY_ASSIGNED). Claiming your own dispute again changes nothing.
    """
    session = session_of(ctx)
    resp: pb.ClaimDisputeResponse = session.unary(
        "DISPUTE", "ClaimDispute", pb.ClaimDisputeRequest(dispute_id=dispute_id)
    )
    _answer(session, resp, f"claimed: assigned to {resp.dispute.arbiter_id}")


def request_info(
    ctx: typer.Context,
    dispute_id: Annotated[str, typer.Argument(help="The dispute under arbitration.")],
    to: Annotated[PartyName, typer.Option("--to", help="Who is asked.")],
    question: Annotated[str, typer.Option(help="The question, 1..2000 characters.")],
) -> None:
    """Ask the buyer or the seller for information; they have the policy's info_request_window."""
    session = session_of(ctx)
    request = pb.RequestInformationRequest(
        dispute_id=dispute_id, addressed_to=_PARTIES[to], question=question
    )
    resp: pb.RequestInformationResponse = session.unary("DISPUTE", "RequestInformation", request)
    asked = resp.dispute.information_requests[-1] if resp.dispute.information_requests else None
    _answer(session, resp, f"asked the {to.value}: request {asked.info_request_id if asked else '?'}")


def decide(
    ctx: typer.Context,
    dispute_id: Annotated[str, typer.Argument(help="The dispute assigned to you.")],
    refund: Annotated[str, typer.Option(help="Refund to the buyer in major units, e.g. 40.00 (0: none).")],
    rationale: Annotated[str, typer.Option(help="Why, 1..5000 characters; both parties read it.")],
    currency: Annotated[str, typer.Option(help="ISO-4217 code; default: the order's currency.")] = "",
    return_required: Annotated[
        bool, typer.Option("--return-required", help="The buyer ships the goods back first.")
    ] = False,
    evidence: Annotated[
        list[str] | None, typer.Option("--evidence", help="Evidence relied on (repeat).")
    ] = None,
) -> None:
    """Decide an escalated dispute (after an appeal, a different arbiter decides, finally)."""
    session = session_of(ctx)
    if not currency:  # the dispute knows what was paid, and in which currency
        shown: pb.GetDisputeResponse = session.unary(
            "DISPUTE", "GetDispute", pb.GetDisputeRequest(dispute_id=dispute_id)
        )
        currency = shown.dispute.paid_amount.currency
    amount = common_pb2.Money(minor_units=minor_units(refund, currency.upper()), currency=currency.upper())
    request = pb.DecideDisputeRequest(
        dispute_id=dispute_id,
        refund_amount=amount,
        return_required=return_required,
        rationale=rationale,
        evidence_ids=evidence or [],
    )
    resp: pb.DecideDisputeResponse = session.unary("DISPUTE", "DecideDispute", request)
    last = resp.dispute.decisions[-1] if resp.dispute.decisions else None
    words = f"decided round {last.round}: refund {money(last.refund_amount)}" if last else "decided"
    _answer(session, resp, words)


Answer = pb.ClaimDisputeResponse | pb.RequestInformationResponse | pb.DecideDisputeResponse


def _answer(session: Session, resp: Answer, words: str) -> None:
    """The response as JSON, or what changed in words and the dispute as it is now."""
    if session.out.json:
        session.out.message(resp)
        return
    clock = clock_of(session)
    session.out.show(Text(words, style="bold green"), views.summary(resp.dispute, clock))
    for part in (views.information_requests(resp.dispute, clock), views.decisions(resp.dispute, clock)):
        if part is not None:
            session.out.show(part)
