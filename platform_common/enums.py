"""Between the API's proto enums and the domains' StrEnums: one mapping for every service.

Every proto enum value is its type's name in UPPER_SNAKE_CASE, then the domain's name for it
(disputes.v1 `DISPUTE_STATUS_DECIDED` is the dispute domain's `DisputeStatus.DECIDED`), the
prefix rule `buf lint` enforces on protos/. The prefix is read from the enum's own descriptor,
so no module spells "DISPUTE_STATUS_" again, and 0 (`*_UNSPECIFIED`) is the empty string.
"""

from __future__ import annotations

import re
from typing import Any

from platform_common.errors import InvalidArgument


def prefix(proto_enum: Any) -> str:
    """ "DisputeStatus" -> "DISPUTE_STATUS_"."""
    name: str = proto_enum.DESCRIPTOR.name
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper() + "_"


def to_proto(proto_enum: Any, value: str) -> Any:
    """A domain value as the proto enum's number ("" is 0, unspecified). Typed Any: each generated
    enum has its own ValueType, which no annotation here can name."""
    if not value:
        return 0
    return proto_enum.Value(prefix(proto_enum) + value)


def name_of(proto_enum: Any, number: int) -> str:
    """A proto enum number as the domain's name ("" for 0); unknown numbers raise ValueError."""
    if number == 0:
        return ""
    return str(proto_enum.Name(number)).removeprefix(prefix(proto_enum))


def parse(proto_enum: Any, number: int, field: str, *, allow_unset: bool = False) -> str:
    """A caller's enum value as the domain's name: unknown numbers (a newer or hostile client)
    and a missing required value are INVALID_ARGUMENT, never a crash."""
    try:
        name = name_of(proto_enum, number)
    except ValueError:
        raise InvalidArgument(f"{field} {number} is not a known value") from None
    if not name and not allow_unset:
        raise InvalidArgument(f"{field} is required")
    return name
