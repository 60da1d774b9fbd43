"""Times into the API's `google.protobuf.Timestamp`: one helper for every service's views."""

from __future__ import annotations

from datetime import datetime
from typing import overload

from google.protobuf.timestamp_pb2 import Timestamp


@overload
def to_timestamp(value: datetime) -> Timestamp: ...
@overload
def to_timestamp(value: None) -> None: ...
def to_timestamp(value: datetime | None) -> Timestamp | None:
    """A timezone-aware time as a Timestamp; no time (an unset field) stays None."""
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(value)
    return out
