"""The orders domain's activities against a fake OrderService stub: what they send, what they
return, and which failures the workflow retries (outages) or sees at once (refusals)."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from orders.v1 import orders_pb2
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from order_svc.activities import OrderActivities
from order_svc.contract import CompleteOrderInput, HoldInfo, RecordProtectionInput
from tests.fakes import FakeStub

AT = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _held(dispute_id: str) -> orders_pb2.DisputeHold:
    at = Timestamp()
    at.FromDatetime(AT)
    return orders_pb2.DisputeHold(dispute_id=dispute_id, held_at=at)


async def test_complete_order_sends_the_reason_and_reports_the_holds_it_met() -> None:
    stub = FakeStub().answer("CompleteOrder", orders_pb2.CompleteOrderResponse(held_by=[_held("d-1")]))
    acts = OrderActivities(stub)  # type: ignore[arg-type]
    result = await ActivityEnvironment().run(
        acts.complete_order, CompleteOrderInput("o-1", "PROTECTION_EXPIRED", AT.isoformat())
    )
    [request] = stub.requests("CompleteOrder")
    assert request.reason == orders_pb2.COMPLETION_REASON_PROTECTION_EXPIRED
    assert request.completed_at.ToDatetime(tzinfo=UTC) == AT
    assert result.held_by == [HoldInfo("d-1", AT.isoformat())]


@pytest.mark.parametrize(
    "code",
    [grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED],
)
async def test_a_refusal_fails_the_activity_for_good(code: grpc.StatusCode) -> None:
    acts = OrderActivities(FakeStub().answer("CompleteOrder", code))  # type: ignore[arg-type]
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(
            acts.complete_order, CompleteOrderInput("o-1", "BUYER_CONFIRMED", AT.isoformat())
        )
    assert err.value.non_retryable and err.value.type == code.name


async def test_an_outage_is_left_to_the_retry_policy() -> None:
    acts = OrderActivities(FakeStub().answer("RecordProtection", grpc.StatusCode.UNAVAILABLE))  # type: ignore[arg-type]
    with pytest.raises(grpc.aio.AioRpcError):
        await ActivityEnvironment().run(
            acts.record_protection, RecordProtectionInput("o-1", 3, None, True, 5_500_000, 0)
        )


async def test_record_protection_sends_whole_seconds_and_no_expiry_while_frozen() -> None:
    stub = FakeStub().answer("RecordProtection", orders_pb2.RecordProtectionResponse())
    acts = OrderActivities(stub)  # type: ignore[arg-type]
    await ActivityEnvironment().run(
        acts.record_protection, RecordProtectionInput("o-1", 3, None, True, 5_500_000, 2)
    )
    await ActivityEnvironment().run(
        acts.record_protection, RecordProtectionInput("o-1", 4, AT.isoformat(), False, 0, 2)
    )
    frozen, running = stub.requests("RecordProtection")
    assert (frozen.revision, frozen.frozen, frozen.remaining_seconds) == (3, True, 5)
    assert not frozen.HasField("expires_at")
    assert running.expires_at.ToDatetime(tzinfo=UTC) == AT and running.extended_days == 2
