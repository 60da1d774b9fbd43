"""The one proto-enum mapping (platform_common/enums.py) on every enum of the API."""

from __future__ import annotations

import pytest
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2
from evidence.v1 import evidence_pb2
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from orders.v1 import orders_pb2
from refunds.v1 import refunds_pb2

from platform_common import enums
from platform_common.errors import InvalidArgument

ALL = [
    EnumTypeWrapper(e)
    for module in (common_pb2, orders_pb2, disputes_pb2, evidence_pb2, refunds_pb2)
    for e in module.DESCRIPTOR.enum_types_by_name.values()
]


def test_the_prefix_read_from_the_descriptor_fits_every_value_of_every_enum() -> None:
    assert len(ALL) >= 18  # every enum of the five APIs
    for proto_enum in ALL:
        p = enums.prefix(proto_enum)
        for value in proto_enum.DESCRIPTOR.values:
            assert value.name.startswith(p), (proto_enum.DESCRIPTOR.full_name, value.name, p)
            name = enums.name_of(proto_enum, value.number)
            assert enums.to_proto(proto_enum, name) == value.number  # round trip, 0 <-> ""


def test_callers_values_are_parsed_with_clear_refusals() -> None:
    assert enums.parse(disputes_pb2.DisputeStatus, disputes_pb2.DISPUTE_STATUS_DECIDED, "status") == "DECIDED"
    assert enums.parse(refunds_pb2.RefundKind, 0, "kind", allow_unset=True) == ""
    with pytest.raises(InvalidArgument, match="status is required"):
        enums.parse(disputes_pb2.DisputeStatus, 0, "status")
    with pytest.raises(InvalidArgument, match="status 999 is not a known value"):
        enums.parse(disputes_pb2.DisputeStatus, 999, "status")
