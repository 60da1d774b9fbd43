"""dpctl's commands, one module per area; app.py puts them together."""

from __future__ import annotations

from typing import Annotated

import typer
from common.v1 import common_pb2

from operator_cli.render import Clock
from operator_cli.session import Session

# Paging as every List RPC of the API takes it (common.v1.PageRequest).
PageSize = Annotated[int, typer.Option(min=0, max=100, help="Entries per page, 1..100 (0: the server's 20).")]
PageToken = Annotated[str, typer.Option(help="Where to go on: the token the previous page printed.")]


def session_of(ctx: typer.Context) -> Session:
    session = ctx.find_object(Session)
    assert session is not None, "the root callback sets the session"
    return session


def clock_of(session: Session) -> Clock:
    return Clock(session.settings.day())


def page(size: int, token: str) -> common_pb2.PageRequest:
    return common_pb2.PageRequest(page_size=size, page_token=token)
