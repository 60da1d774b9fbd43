"""The refunds domain's activities against a scripted payment provider and a fake RefundService
stub: one provider key per attempt, a 4xx is final, an outage is retried, and the ledger hears
every status in the API's terms."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from refunds.v1 import refunds_pb2
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from refund_svc.activities import RefundActivities
from refund_svc.contract import PROVIDER_REJECTED, RecordRefundStatusInput, SubmitRefundInput
from refund_svc.provider.adapter import ProviderError, ProviderRefund, ProviderRejected, ProviderUnavailable
from tests.fakes import FakeStub


class ScriptedProvider:
    """Answers create_refund with what it is given: a refund, or an error to raise."""

    def __init__(self, answer: ProviderRefund | ProviderError) -> None:
        self.answer = answer
        self.keys: list[str] = []

    async def create_refund(
        self, *, idempotency_key: str, payment_reference: str, amount_minor: int, currency: str
    ) -> ProviderRefund:
        self.keys.append(idempotency_key)
        if isinstance(self.answer, ProviderError):
            raise self.answer
        return self.answer

    async def get_refund(self, reference: str) -> ProviderRefund:
        if isinstance(self.answer, ProviderError):
            raise self.answer
        return self.answer


def _submit() -> SubmitRefundInput:
    return SubmitRefundInput(
        refund_id="r-1",
        provider_key="dispute/d-1/round/1:2",
        payment_reference="card_tok",
        amount_minor=900,
        currency="EUR",
    )


async def test_a_submission_uses_the_attempts_provider_key() -> None:
    provider = ScriptedProvider(
        ProviderRefund("ref-9", "dispute/d-1/round/1:2", "pending", amount_minor=900, currency="EUR")
    )
    state = await ActivityEnvironment().run(RefundActivities(provider, FakeStub()).submit_refund, _submit())  # type: ignore[arg-type]
    assert provider.keys == ["dispute/d-1/round/1:2"]
    assert (state.reference, state.status, state.amount_minor) == ("ref-9", "pending", 900)


@pytest.mark.parametrize(
    ("error", "kind", "final"),
    [
        (ProviderRejected("400 bad card"), PROVIDER_REJECTED, True),
        (ProviderUnavailable("503"), "ProviderUnavailable", False),
    ],
)
async def test_a_rejection_is_final_and_an_outage_is_retried(
    error: ProviderError, kind: str, final: bool
) -> None:
    acts = RefundActivities(ScriptedProvider(error), FakeStub())  # type: ignore[arg-type]
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(acts.submit_refund, _submit())
    assert err.value.type == kind and err.value.non_retryable is final


def _status(**fields: object) -> RecordRefundStatusInput:
    base: dict[str, object] = {
        "refund_id": "r-1", "revision": 4, "status": "REFUNDED", "at": datetime(2026, 12, 1, tzinfo=UTC).isoformat(),
        "provider_reference": "ref-9", "failure_reason": "", "overdue": False, "attempts": 1, "detail": "d" * 700,
    }  # fmt: skip
    return RecordRefundStatusInput(**{**base, **fields})  # type: ignore[arg-type]


async def test_the_ledger_hears_each_status_and_only_a_malformed_record_is_final() -> None:
    ledger = FakeStub().answer("RecordRefundStatus", refunds_pb2.RecordRefundStatusResponse())
    await ActivityEnvironment().run(
        RefundActivities(ScriptedProvider(ProviderUnavailable()), ledger).record_refund_status, _status()
    )  # type: ignore[arg-type]
    [request] = ledger.requests("RecordRefundStatus")
    assert request.status == refunds_pb2.REFUND_STATUS_REFUNDED and len(request.detail) == 500
    bad = RefundActivities(
        ScriptedProvider(ProviderUnavailable()),
        FakeStub().answer("RecordRefundStatus", grpc.StatusCode.INVALID_ARGUMENT),
    )  # type: ignore[arg-type]
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(bad.record_refund_status, _status())
    assert err.value.non_retryable
    busy = RefundActivities(
        ScriptedProvider(ProviderUnavailable()),
        FakeStub().answer("RecordRefundStatus", grpc.StatusCode.FAILED_PRECONDITION),
    )  # type: ignore[arg-type]
    with pytest.raises(grpc.aio.AioRpcError):
        await ActivityEnvironment().run(busy.record_refund_status, _status())
