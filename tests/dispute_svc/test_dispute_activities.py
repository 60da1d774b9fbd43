"""The disputes domain's activities against fake service stubs: a payout is issued once per key
and a refusal is told apart from an outage; refund statuses come back in the domain's words."""

from __future__ import annotations

import grpc
import pytest
from refunds.v1 import refunds_pb2
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from dispute_svc import contract as api
from dispute_svc.activities import DisputeActivities
from dispute_svc.model import PayoutStatus
from tests.fakes import FakeStub

ORDER = "7d1f0b3c-2a4e-4c1b-9a63-0f6a2b8c9d10"


def _activities(refunds: FakeStub) -> DisputeActivities:
    return DisputeActivities(FakeStub(), FakeStub(), refunds, FakeStub())  # type: ignore[arg-type]


def _refund(refund_id: str, status: int) -> refunds_pb2.Refund:
    return refunds_pb2.Refund(refund_id=refund_id, status=status)  # type: ignore[arg-type]


def _order(key: str = "dispute/d-1/round/1") -> api.RefundOrder:
    return api.RefundOrder(
        idempotency_key=key,
        order_id=ORDER,
        dispute_id="d-1",
        amount_minor=2_500,
        currency="EUR",
        reason="x" * 600,
    )


async def test_a_payout_is_a_dispute_refund_under_the_rounds_key() -> None:
    refunds = FakeStub().answer(
        "IssueRefund",
        refunds_pb2.IssueRefundResponse(refund=_refund("r-1", refunds_pb2.REFUND_STATUS_PENDING)),
    )
    result = await ActivityEnvironment().run(_activities(refunds).issue_refund, _order())
    [request] = refunds.requests("IssueRefund")
    assert (
        request.idempotency_key == "dispute/d-1/round/1" and request.kind == refunds_pb2.REFUND_KIND_DISPUTE
    )
    assert (request.amount.minor_units, request.amount.currency, len(request.reason)) == (2_500, "EUR", 500)
    assert (result.refund_id, result.status) == ("r-1", PayoutStatus.PENDING)


async def test_a_refused_payout_is_final_and_an_outage_is_retried() -> None:
    refused = _activities(FakeStub().answer("IssueRefund", grpc.StatusCode.FAILED_PRECONDITION))
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(refused.issue_refund, _order())
    assert err.value.type == api.REFUND_REFUSED and err.value.non_retryable
    down = _activities(FakeStub().answer("IssueRefund", grpc.StatusCode.UNAVAILABLE))
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(down.issue_refund, _order())
    assert err.value.type == "UNAVAILABLE" and not err.value.non_retryable


async def test_refund_statuses_are_read_in_the_domains_words() -> None:
    refunds = FakeStub().answer(
        "GetRefund",
        refunds_pb2.GetRefundResponse(refund=_refund("r-1", refunds_pb2.REFUND_STATUS_REFUNDED)),
        refunds_pb2.GetRefundResponse(refund=_refund("r-2", refunds_pb2.REFUND_STATUS_FAILED)),
    )
    statuses = await ActivityEnvironment().run(_activities(refunds).refund_statuses, ["r-1", "r-2"])
    assert statuses == [PayoutStatus.REFUNDED, PayoutStatus.FAILED]
    assert [r.refund_id for r in refunds.requests("GetRefund")] == ["r-1", "r-2"]
