"""How dpctl fails: one line on stderr and an exit status, never a traceback. A refused call
says what the server said (its status code, its message, and the machine-readable reason it
attached as `dp-error-reason`), because that line is what an operator pastes into a ticket and
what a script branches on.

Exit statuses: 1 for a refused or failed call (and a broken transfer), 2 for a usage or
configuration problem (as for a bad option), 130 after Ctrl-C, 141 when the reader of its output
went away (`dpctl ... | head`, as for a shell tool killed by SIGPIPE).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from platform_common.errors import REASON_METADATA_KEY

REFUSED = 1
USAGE = 2
BROKEN_PIPE = 141


class Failure(Exception):
    """Something dpctl cannot do, said in one line."""

    exit_code = REFUSED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def line(self, as_json: bool = False) -> str:
        text = one_line(self.message)
        return json.dumps({"error": text}) if as_json else f"dpctl: {text}"


class UsageFailure(Failure):
    exit_code = USAGE


def one_line(text: str) -> str:
    """Whitespace (newlines included) collapsed: a message never spills onto a second line."""
    return " ".join(text.split())


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class Refusal(Failure):
    """A call the server (or the connection) refused."""

    def __init__(self, code: str, details: str, reason: str = "", where: str = "") -> None:
        super().__init__(details)
        self.code, self.details, self.reason = code, details, reason
        # Which service, at which address: connection failures need it to be actionable.
        self.where = where

    def line(self, as_json: bool = False) -> str:
        if as_json:
            record = {"code": self.code, "message": one_line(self.details), "reason": self.reason}
            return json.dumps({"error": record | ({"service": self.where} if self.where else {})})
        reason = f" ({REASON_METADATA_KEY}: {self.reason})" if self.reason else ""
        where = f" [{self.where}]" if self.where else ""
        return f"dpctl: {self.code}: {one_line(self.details) or '(no message)'}{reason}{where}"


def refusal(
    code: str, details: str | None, trailing: Iterable[tuple[str, Any]] | None, where: str = ""
) -> Refusal:
    reason = next((_text(v) for k, v in trailing or () if k == REASON_METADATA_KEY), "")
    # Connection problems name the address; refusals by the service itself need no address.
    return Refusal(code, details or "", one_line(reason), where if code in _NAMES_WHERE else "")


# Codes that are about reaching the service rather than about the request.
_NAMES_WHERE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "UNIMPLEMENTED"})


def from_rpc_error(exc: Any, where: str = "") -> Refusal:
    """A grpc.RpcError (typed Any: grpc ships no type information) as a Refusal."""
    code = exc.code()
    return refusal(getattr(code, "name", str(code)), exc.details(), exc.trailing_metadata(), where)
