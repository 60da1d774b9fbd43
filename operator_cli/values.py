"""What an operator types, read into what the API takes: proto enum names without their prefix
("under_arbitration"), identities ("arbiter:arb-ana"), amounts ("40.00"). Bad input is a
BadParameter, so typer reports it as a usage error (exit status 2) next to the option's name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer

from platform_common.auth import ACCOUNT_ID_MAX_CHARS, Role
from platform_common.currencies import parse_major
from platform_common.enums import prefix


def enum_names(proto_enum: Any) -> list[str]:
    """The values an operator may name, lower case and without the prefix (not UNSPECIFIED)."""
    start = prefix(proto_enum)
    names = [value.name for value in proto_enum.DESCRIPTOR.values if value.number != 0]
    return [name.removeprefix(start).lower() for name in names]


def enum_parser(proto_enum: Any) -> Callable[[str], int]:
    """A typer parser: "under_arbitration", "UNDER_ARBITRATION" or the full proto name."""
    start = prefix(proto_enum)

    def parse(text: str) -> int:
        name = text.strip().upper().removeprefix(start)
        if name.lower() not in enum_names(proto_enum):
            raise typer.BadParameter(f"{text!r} is not one of: {', '.join(enum_names(proto_enum))}")
        return int(proto_enum.Value(start + name))

    return parse


@dataclass(frozen=True)
class Identity:
    role: Role
    subject: str

    def __str__(self) -> str:
        return f"{self.role.value}:{self.subject}"


def parse_identity(text: str) -> Identity:
    """ "arbiter:arb-ana" -> who a minted token names (the role first: ids may hold colons)."""
    role, sep, subject = text.partition(":")
    if not sep:
        raise typer.BadParameter(f"{text!r} is not ROLE:SUBJECT, e.g. arbiter:arb-ana")
    try:
        parsed = Role(role.strip().lower())
    except ValueError:
        raise typer.BadParameter(
            f"unknown role {role!r}; one of: {', '.join(r.value for r in Role)}"
        ) from None
    if not subject.strip() or len(subject) > ACCOUNT_ID_MAX_CHARS:
        raise typer.BadParameter(f"the subject must be 1..{ACCOUNT_ID_MAX_CHARS} characters")
    return Identity(parsed, subject)


def minor_units(text: str, currency: str) -> int:
    try:
        return parse_major(text, currency)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
