"""`dpctl events tail`: the dispute events feed (docs/events.md). By default it follows the live
stream (WatchDisputeEvents) until Ctrl-C, resuming after the last cursor it received (an event's
or a heartbeat's) when the stream drops, so nothing is missed or shown twice. --once reads what
is there now, page by page (ListDisputeEvents), and stops; --limit stops after N events.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from disputes.v1 import disputes_pb2 as pb

from operator_cli.commands import session_of
from operator_cli.failures import Refusal
from operator_cli.record_views import event_line
from operator_cli.render import as_dict
from operator_cli.session import Session

app = typer.Typer(help="The dispute events feed.", no_args_is_help=True)

# A dropped stream is resumed this many times in a row before dpctl gives up.
RECONNECTS = 5


class _Shown:
    def __init__(self, session: Session, limit: int) -> None:
        self.session, self.limit, self.count = session, limit, 0

    def __call__(self, event: pb.DisputeEvent) -> bool:
        """Prints one event; False once the limit is reached."""
        out = self.session.out
        if out.json:
            out.record(as_dict(event))
        else:
            out.line(event_line(event))
        self.count += 1
        return not (self.limit and self.count >= self.limit)


@app.command("tail")
def tail(
    ctx: typer.Context,
    after: Annotated[int, typer.Option(min=0, help="Events after this cursor (0: from the first).")] = 0,
    dispute: Annotated[str, typer.Option(help="Only this dispute's events.")] = "",
    types: Annotated[
        list[str] | None, typer.Option("--type", help="Only this type (repeat), e.g. dispute.opened.")
    ] = None,
    limit: Annotated[int, typer.Option(min=0, help="Stop after this many events (0: no limit).")] = 0,
    once: Annotated[bool, typer.Option("--once", help="Print what is there now and stop.")] = False,
) -> None:
    """Print dispute events as they are recorded (JSON Lines with --json)."""
    session = session_of(ctx)
    shown = _Shown(session, limit)
    if once:
        _page_through(session, shown, after, dispute, types or [])
    else:
        _follow(session, shown, after, dispute, types or [])


def _page_through(session: Session, shown: _Shown, cursor: int, dispute: str, types: list[str]) -> None:
    while True:
        request = pb.ListDisputeEventsRequest(
            after_cursor=cursor, dispute_id=dispute, types=types, page_size=500
        )
        resp: pb.ListDisputeEventsResponse = session.unary("DISPUTE", "ListDisputeEvents", request)
        for event in resp.events:
            if not shown(event):
                return
        if resp.next_cursor <= cursor:  # nothing more was scanned: caught up
            return
        cursor = resp.next_cursor


def _follow(session: Session, shown: _Shown, cursor: int, dispute: str, types: list[str]) -> None:
    connected, failures = False, 0
    while True:
        request = pb.WatchDisputeEventsRequest(after_cursor=cursor, dispute_id=dispute, types=types)
        try:
            for item in session.stream("DISPUTE", "WatchDisputeEvents", request):
                failures = 0
                if item.HasField("event"):
                    cursor = item.event.cursor
                    if not shown(item.event):
                        return
                    continue
                cursor = max(cursor, item.heartbeat.cursor)
                if not connected:
                    session.out.note(f"following dispute events after cursor {cursor} (Ctrl-C stops)")
                    connected = True
            lost = "the server ended the stream"
        except Refusal as refused:
            # Only a stream that once worked is resumed: a first failure is reported at once.
            if refused.code != "UNAVAILABLE" or not connected:
                raise
            lost = refused.details
        failures += 1
        if failures > RECONNECTS:
            raise Refusal(
                "UNAVAILABLE",
                f"stream lost {RECONNECTS} times in a row: {lost}",
                where=session.where("DISPUTE"),
            )
        session.out.note(f"stream lost ({lost}); resuming after cursor {cursor}")
        time.sleep(min(2.0**failures, 10.0))
