"""Opaque keyset page tokens (newest first by (created_at, id)), shared by every List RPC."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from platform_common.errors import InvalidArgument

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


def decode_token(token: str) -> tuple[datetime, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        created = datetime.fromisoformat(data["c"])
        if created.tzinfo is None:
            raise ValueError("naive time")
        return created, str(data["i"])
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument(
            "page_token is malformed; pass the next_page_token of the previous page"
        ) from None
