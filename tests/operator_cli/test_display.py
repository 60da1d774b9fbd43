"""The pure parts of what dpctl shows: urgency thresholds in the platform's days, deadlines in
words, refusals in one line, and what an operator types read into API values."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import typer
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console

from operator_cli import urgency
from operator_cli.failures import Refusal, refusal
from operator_cli.render import Clock, table
from operator_cli.values import Identity, enum_parser, minor_units, parse_identity
from platform_common.auth import Role

DAY = timedelta(days=1)
NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("remaining", "colour"),
    [
        (-timedelta(seconds=1), urgency.RED),  # passed
        (timedelta(0), urgency.RED),
        (DAY - timedelta(seconds=1), urgency.RED),
        (DAY, urgency.YELLOW),
        (3 * DAY - timedelta(seconds=1), urgency.YELLOW),
        (3 * DAY, urgency.GREEN),
        (60 * DAY, urgency.GREEN),
    ],
)
def test_urgency_thresholds(remaining: timedelta, colour: str) -> None:
    assert urgency.colour(remaining, DAY) == colour


def test_urgency_is_judged_in_the_platforms_own_days() -> None:
    """On a stack whose day is 0.5 s, 1 s left is two days: soon, not overdue."""
    half_second_day = timedelta(seconds=0.5)
    assert urgency.colour(timedelta(seconds=1), half_second_day) == urgency.YELLOW
    assert urgency.colour(timedelta(seconds=0.4), half_second_day) == urgency.RED
    assert urgency.colour(timedelta(seconds=2), half_second_day) == urgency.GREEN


def _at(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


def test_deadlines_read_in_words_and_coloured() -> None:
    clock = Clock(DAY, NOW)
    soon = clock.due(_at(NOW + timedelta(days=2, hours=4)))
    assert (soon.plain, soon.style) == ("in 2 days 4 h", "yellow")
    late = clock.due(_at(NOW - timedelta(hours=2, minutes=5)))
    assert (late.plain, late.style) == ("2 h 5 min ago", "red")
    far = clock.deadline(
        common_pb2.Deadline(kind="SELLER_RESPONSE_DUE", due_at=_at(NOW + timedelta(days=15)))
    )
    assert (far.plain, far.style) == ("in 15 days", "green")
    paused = clock.deadline(
        common_pb2.Deadline(kind="PROTECTION_EXPIRES", paused=True, remaining_seconds=90_000)
    )
    assert (paused.plain, paused.style) == ("paused, 1 day 1 h left", urgency.PAUSED)
    assert clock.due(Timestamp()).plain == ""  # unset


def test_the_next_deadline_is_the_first_running_one() -> None:
    clock = Clock(DAY, NOW)
    shown = clock.next_deadline(
        [
            common_pb2.Deadline(kind="ARBITRATION_MAX", due_at=_at(NOW + timedelta(days=60))),
            common_pb2.Deadline(kind="PROTECTION_EXPIRES", paused=True, remaining_seconds=10),
            common_pb2.Deadline(kind="INFO_RESPONSE_DUE", due_at=_at(NOW + timedelta(hours=5))),
        ]
    )
    assert shown.plain == "INFO_RESPONSE_DUE in 5 h"


def test_a_refusal_is_one_line_with_code_message_and_reason() -> None:
    refused = refusal(
        "FAILED_PRECONDITION",
        "the dispute is assigned\nto arbiter arb-ana",
        [("content-type", "x"), ("dp-error-reason", b"ALREADY_ASSIGNED")],
        where="disputes.v1.DisputeService at 127.0.0.1:1",
    )
    line = refused.line()
    assert "\n" not in line
    assert (
        line
        == "dpctl: FAILED_PRECONDITION: the dispute is assigned to arbiter arb-ana (dp-error-reason: ALREADY_ASSIGNED)"
    )
    assert json.loads(refused.line(as_json=True)) == {
        "error": {
            "code": "FAILED_PRECONDITION",
            "message": "the dispute is assigned to arbiter arb-ana",
            "reason": "ALREADY_ASSIGNED",
        }
    }
    # Connection problems name the service and its address; a refusal without reason has none.
    down = refusal(
        "UNAVAILABLE", "failed to connect", None, where="disputes.v1.DisputeService at 127.0.0.1:1"
    )
    assert down.line() == "dpctl: UNAVAILABLE: failed to connect [disputes.v1.DisputeService at 127.0.0.1:1]"
    assert isinstance(down, Refusal) and down.exit_code == 1


def test_what_an_operator_types() -> None:
    assert parse_identity("arbiter:arb-ana") == Identity(Role.ARBITER, "arb-ana")
    assert parse_identity("service:support") == Identity(Role.SERVICE, "support")
    assert parse_identity("buyer:urn:acct:7").subject == "urn:acct:7"  # ids may hold colons
    for bad in ("arbiter", "wizard:x", "buyer:", "buyer:" + "x" * 129):
        with pytest.raises(typer.BadParameter):
            parse_identity(bad)
    status = enum_parser(pb.DisputeStatus)
    assert status("under_arbitration") == status("UNDER_ARBITRATION") == pb.DISPUTE_STATUS_UNDER_ARBITRATION
    assert status("DISPUTE_STATUS_DECIDED") == pb.DISPUTE_STATUS_DECIDED
    for bad in ("unspecified", "closed", ""):
        with pytest.raises(typer.BadParameter):
            status(bad)
    assert minor_units("40", "EUR") == 4_000
    assert minor_units("40.5", "EUR") == 4_050
    assert minor_units("1500", "JPY") == 1_500
    assert minor_units("1.234", "KWD") == 1_234
    for text, currency in (("40.123", "EUR"), ("-1", "EUR"), ("1e3", "EUR"), ("4,00", "EUR"), ("1", "XXX")):
        with pytest.raises(typer.BadParameter):
            minor_units(text, currency)


def test_a_narrow_terminal_folds_ids_and_never_cuts_them() -> None:
    """Every character of every id survives at 80 columns, so each can be copied."""
    ids = [str(uuid.uuid4()) for _ in range(3)] + ["seller-" + "x" * 60]
    grid = table("disputes", "dispute", "order", "buyer", "seller", "status")
    grid.add_row(*ids, "AWAITING_SELLER_RESPONSE")
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(grid)
    cells: dict[int, str] = {}
    for line in console.export_text().splitlines():
        parts = line.split("│")[1:-1]
        for i, part in enumerate(parts):
            cells[i] = cells.get(i, "") + part.strip()
    assert "…" not in console.export_text()
    assert [cells[i] for i in range(4)] == ids
