"""Opaque keyset page tokens on (a time, an id), shared by every List RPC: newest first by
(created_at, id) for lists, soonest first by (deadline, id) for the arbitration queue."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, tuple_

from platform_common.errors import InvalidArgument
from platform_common.validate import PLAUSIBLE_FROM, PLAUSIBLE_UNTIL

Q = TypeVar("Q", bound=Select[Any])
R = TypeVar("R")

DEFAULT_PAGE = 20
MAX_PAGE = 100


def page_size(requested: int) -> int:
    size = requested or DEFAULT_PAGE
    if not 1 <= size <= MAX_PAGE:
        raise InvalidArgument(f"page.page_size must be between 1 and {MAX_PAGE} (got {requested})")
    return size


def encode_token(created_at: datetime, row_id: str) -> str:
    raw = json.dumps({"c": created_at.isoformat(), "i": row_id}).encode()
    return base64.urlsafe_b64encode(raw).decode()


# A token longer than any this module encodes is not one of ours.
_MAX_TOKEN = 512


def decode_token(token: str, *, latest: datetime = PLAUSIBLE_UNTIL) -> tuple[datetime, str]:
    """The (time, id) a token names; anything else, including a hand-edited token with an
    offset, a year outside [2000, `latest`) or a huge id, is INVALID_ARGUMENT, never a database
    error."""
    try:
        if len(token) > _MAX_TOKEN:
            raise ValueError("too long")
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        created = datetime.fromisoformat(data["c"])
        if created.tzinfo is None:
            raise ValueError("naive time")
        created = created.astimezone(UTC)
        row_id = data["i"]
        if not isinstance(row_id, str) or not 1 <= len(row_id) <= 128 or "\x00" in row_id:
            raise ValueError("bad id")
        if not PLAUSIBLE_FROM <= created < latest:
            raise ValueError("implausible time")
        return created, row_id
    except (ValueError, KeyError, TypeError, OverflowError, UnicodeDecodeError):
        raise InvalidArgument(
            "page_token is malformed; pass the next_page_token of the previous page"
        ) from None


def keyset(
    query: Q,
    created: Any,
    row_id: Any,
    size: int,
    token: str,
    *,
    ascending: bool = False,
    latest: datetime = PLAUSIBLE_UNTIL,
) -> Q:
    """Newest first by (created, id), or oldest first when `ascending`, starting after the row
    the token names; one extra row is fetched to know whether another page follows (see
    `split_page`). `latest` bounds the times a token may name."""
    if token:
        after_created, after_id = decode_token(token, latest=latest)
        # A row-value comparison, not `a < x OR (a = x AND b < y)`: PostgreSQL reads it as one
        # range of the (created, id) index instead of filtering every earlier row.
        # The values bound with the columns' own types (UTCDateTime stores its own format).
        after = tuple_(
            bindparam(None, after_created, type_=created.type), bindparam(None, after_id, type_=row_id.type)
        )
        key = tuple_(created, row_id)
        query = query.where(key > after if ascending else key < after)
    order = (created, row_id) if ascending else (created.desc(), row_id.desc())
    return query.order_by(*order).limit(size + 1)


def split_page(rows: list[R], size: int, cursor: Callable[[R], tuple[datetime, str]]) -> tuple[list[R], str]:
    """The page and the token of the next one ("" on the last page)."""
    if len(rows) <= size:
        return rows, ""
    page = rows[:size]
    return page, encode_token(*cursor(page[-1]))
