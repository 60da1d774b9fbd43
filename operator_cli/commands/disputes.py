"""`dpctl disputes list|show`: the read model's lists (ListDisputes) and one dispute as the
workflow answers it (GetDispute), with what the caller may do on it now."""

from __future__ import annotations

from typing import Annotated

import typer
from disputes.v1 import disputes_pb2 as pb

from operator_cli import views
from operator_cli.commands import PageSize, PageToken, clock_of, page, session_of
from operator_cli.values import enum_names, enum_parser

app = typer.Typer(help="Disputes: list them, show one.", no_args_is_help=True)

_STATUSES = ", ".join(enum_names(pb.DisputeStatus))


@app.command("list")
def list_disputes(
    ctx: typer.Context,
    status: Annotated[
        int | None,
        typer.Option(parser=enum_parser(pb.DisputeStatus), metavar="STATUS", help=f"One of: {_STATUSES}."),
    ] = None,
    buyer: Annotated[str, typer.Option(help="Disputes of this buyer (buyers must name themselves).")] = "",
    seller: Annotated[str, typer.Option(help="Disputes of this seller (sellers must name themselves).")] = "",
    order: Annotated[str, typer.Option(help="Disputes of one order (every attempt).")] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> None:
    """Disputes, newest first (the read model: it may lag `show` by a moment)."""
    session = session_of(ctx)
    request = pb.ListDisputesRequest(
        buyer_id=buyer,
        seller_id=seller,
        status=pb.DisputeStatus.ValueType(status or 0),
        order_id=order,
        page=page(page_size, page_token),
    )
    resp: pb.ListDisputesResponse = session.unary("DISPUTE", "ListDisputes", request)
    if session.out.json:
        session.out.message(resp)
        return
    session.out.show(views.disputes_table(resp.disputes, clock_of(session)))
    if note := views.page_note(resp.next_page_token):
        session.out.show(note)


@app.command("show")
def show(ctx: typer.Context, dispute_id: Annotated[str, typer.Argument(help="The dispute's id.")]) -> None:
    """One dispute: state, deadlines, what you may do now, information requests, decisions, timeline."""
    session = session_of(ctx)
    resp: pb.GetDisputeResponse = session.unary(
        "DISPUTE", "GetDispute", pb.GetDisputeRequest(dispute_id=dispute_id)
    )
    session.out.answer(resp, lambda: views.dispute_view(resp, clock_of(session)))
