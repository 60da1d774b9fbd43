"""`dpctl refunds show` and `dpctl orders show`: one refund (GetRefund) and one order with its
escrow and protection clock (GetOrder)."""

from __future__ import annotations

from typing import Annotated

import typer
from orders.v1 import orders_pb2
from refunds.v1 import refunds_pb2

from operator_cli.commands import clock_of, session_of
from operator_cli.record_views import order_view, refund_view

refunds = typer.Typer(help="Refunds: show one.", no_args_is_help=True)
orders = typer.Typer(help="Orders: show one.", no_args_is_help=True)


@refunds.command("show")
def show_refund(
    ctx: typer.Context, refund_id: Annotated[str, typer.Argument(help="The refund's id.")]
) -> None:
    """One refund: amount, status and its history with the payment provider."""
    session = session_of(ctx)
    resp: refunds_pb2.GetRefundResponse = session.unary(
        "REFUND", "GetRefund", refunds_pb2.GetRefundRequest(refund_id=refund_id)
    )
    session.out.answer(resp, lambda: refund_view(resp.refund, clock_of(session)))


@orders.command("show")
def show_order(ctx: typer.Context, order_id: Annotated[str, typer.Argument(help="The order's id.")]) -> None:
    """One order: status, escrow, protection window, deadlines and timeline."""
    session = session_of(ctx)
    resp: orders_pb2.GetOrderResponse = session.unary(
        "ORDER", "GetOrder", orders_pb2.GetOrderRequest(order_id=order_id)
    )
    session.out.answer(resp, lambda: order_view(resp.order, clock_of(session)))
