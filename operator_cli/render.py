"""How dpctl shows things: rich tables for people, JSON for scripts, status lines on stderr.

--json prints what the RPC answered, as protobuf's JSON mapping (MessageToDict, field names as
in protos/), so a script sees exactly the API's data and no table formatting. Tables show times
in UTC and deadlines in words ("in 3 days 4 h", platform_common/ui.py: the same words as the
Temporal UI), coloured by urgency (operator_cli/urgency.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from common.v1 import common_pb2
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from operator_cli import urgency
from platform_common import ui
from platform_common.enums import name_of


def as_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


class Output:
    """stdout for results (tables or JSON), stderr for progress and notes, so `--json | jq`
    and redirections get only the data."""

    def __init__(self, as_json: bool = False) -> None:
        self.json = as_json
        # Text from the API (descriptions, questions, file names) is shown as written: with
        # markup on, a buyer's "[/x]" would break the table and "[link=...]" would hide text.
        self.console = Console(highlight=False, markup=False, emoji=False)
        self.errors = Console(stderr=True, highlight=False, markup=False, emoji=False)

    def message(self, message: Message, **extra: Any) -> None:
        self.data(as_dict(message) | extra)

    def data(self, value: Mapping[str, Any]) -> None:
        sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def record(self, value: Mapping[str, Any]) -> None:
        """One JSON object per line (JSON Lines): a feed a script reads as it comes."""
        sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def answer(self, message: Message, view: Callable[[], Iterable[RenderableType]]) -> None:
        """An RPC's answer: its JSON with --json, else the tables `view` draws from it."""
        if self.json:
            self.message(message)
        else:
            self.show(*view())

    def show(self, *renderables: RenderableType) -> None:
        for renderable in renderables:
            self.console.print(renderable)

    def line(self, text: Text) -> None:
        """One line of a feed, never wrapped: one event is one line, for grep and for the eye."""
        self.console.print(text, soft_wrap=True)

    def note(self, text: str) -> None:
        self.errors.print(Text(text, style="dim"))


def moment(ts: Timestamp) -> datetime | None:
    """A Timestamp field as a time; an unset one (all zero) is None."""
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=UTC)


def stamp(ts: Timestamp) -> str:
    at = moment(ts)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else ""


def money(m: common_pb2.Money) -> str:
    return ui.amount(m.minor_units, m.currency) if m.currency else ""


def enum(proto_enum: Any, number: int) -> str:
    """A proto enum value by its domain name ("UNDER_ARBITRATION"); a number this dpctl does not
    know (a newer server) is shown as the number rather than failing the command."""
    try:
        return name_of(proto_enum, number)
    except ValueError:
        return str(number)


def actor(a: common_pb2.Actor) -> str:
    role = enum(common_pb2.Role, a.role).lower()
    return f"{role}:{a.id}" if role else a.id


class Clock:
    """One `now` per command, and the platform's day, so every row of a table is judged alike."""

    def __init__(self, day: timedelta, now: datetime | None = None) -> None:
        self.day = day
        self.now = now or datetime.now(UTC)

    def due(self, ts: Timestamp) -> Text:
        """A point in time as words from now, coloured by urgency ("" when unset)."""
        at = moment(ts)
        if at is None:
            return Text("")
        remaining = at - self.now
        return Text(ui.in_words(remaining), style=urgency.colour(remaining, self.day))

    def deadline(self, d: common_pb2.Deadline) -> Text:
        if d.paused:
            return Text(
                f"paused, {ui.span(timedelta(seconds=d.remaining_seconds))} left", style=urgency.PAUSED
            )
        return self.due(d.due_at)

    def next_deadline(self, deadlines: Iterable[common_pb2.Deadline]) -> Text:
        """The running deadline that comes first, with its kind ("" when none runs)."""
        running = [d for d in deadlines if not d.paused and moment(d.due_at)]
        if not running:
            return Text("")
        first = min(running, key=lambda d: (d.due_at.seconds, d.due_at.nanos))
        return Text.assemble(f"{first.kind} ", self.due(first.due_at))


def table(title: str, *columns: str) -> Table:
    """A table whose first column (an id, to copy into the next command) never wraps, and whose
    other columns fold a long value onto more lines instead of cutting it short with an ellipsis:
    an id that is cut cannot be copied, whatever the terminal's width."""
    grid = Table(title=title, title_justify="left", title_style="bold")
    for index, name in enumerate(columns):
        grid.add_column(name, no_wrap=index == 0, overflow="fold")
    return grid


def fields(title: str, rows: Iterable[tuple[str, str | Text]]) -> Table:
    """A two-column table of one record's fields; empty values are left out."""
    grid = Table(title=title, title_justify="left", title_style="bold", show_header=False)
    grid.add_column("field", style="bold", no_wrap=True)
    grid.add_column("value", overflow="fold")
    for label, value in rows:
        if value:
            grid.add_row(label, value)
    return grid


def yes(flag: bool) -> str:
    return "yes" if flag else ""
