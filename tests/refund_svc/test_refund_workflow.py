"""RefundWorkflow on the time-skipping server, with an in-process fake provider and ledger."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from platform_common import search_attributes as sa
from refund_svc.contract import (
    POLL_REFUND,
    RECORD_REFUND_STATUS,
    SUBMIT_REFUND,
    ProviderState,
    RecordRefundStatusInput,
    SubmitRefundInput,
)
from refund_svc.model import RefundInput, RefundPolicy, RefundView, RetryInput, workflow_id
from refund_svc.workflow import RefundWorkflow

DAY = timedelta(days=1)
US = timedelta(microseconds=1)
AMOUNT, CURRENCY = 4_999, "EUR"


def report(
    reference: str, status: str, decline_reason: str = "", settled_at: str = "", **kw: object
) -> ProviderState:
    """A provider's report about the refund under test (amount and currency as issued)."""
    fields: dict[str, object] = {"amount_minor": AMOUNT, "currency": CURRENCY, **kw}
    return ProviderState(reference, status, decline_reason, settled_at, **fields)  # type: ignore[arg-type]


POLICY = RefundPolicy(
    overdue_after_us=20 * DAY // US, poll_every_us=DAY // US, retry_window_us=30 * DAY // US
)


@dataclass
class FakeProvider:
    """Dedupes by key like a real processor; counts what it would have paid out."""

    refunds: dict[str, ProviderState] = field(default_factory=dict)
    calls: int = 0
    down_until: datetime | None = None
    settle: Callable[[str], ProviderState | None] = lambda ref: None
    ledger: list[RecordRefundStatusInput] = field(default_factory=list)

    @activity.defn(name=SUBMIT_REFUND)
    async def submit(self, inp: SubmitRefundInput) -> ProviderState:
        self.calls += 1
        if self.down_until is not None and activity.info().started_time < self.down_until:
            raise ApplicationError("503 from provider", type="ProviderUnavailable")
        return self.refunds.setdefault(
            inp.provider_key,
            ProviderState(
                f"re_{inp.provider_key}",
                "processing",
                "",
                "",
                inp.amount_minor,
                inp.currency,
                inp.provider_key,
            ),
        )

    @activity.defn(name=POLL_REFUND)
    async def poll(self, reference: str) -> ProviderState:
        return self.settle(reference) or report(reference, "processing")

    @activity.defn(name=RECORD_REFUND_STATUS)
    async def record(self, inp: RecordRefundStatusInput) -> None:
        self.ledger.append(inp)

    def statuses(self) -> list[str]:
        return [r.status for r in self.ledger]


@dataclass
class Run:
    env: WorkflowEnvironment
    provider: FakeProvider
    handle: WorkflowHandle[RefundWorkflow, RefundView]
    started: datetime


@pytest.fixture
async def run(time_env: WorkflowEnvironment) -> AsyncIterator[Callable[[FakeProvider], object]]:
    queue = f"refunds-{uuid.uuid4()}"
    workers: list[Worker] = []
    handles: list[WorkflowHandle[RefundWorkflow, RefundView]] = []

    async def start(provider: FakeProvider) -> Run:
        worker = Worker(
            time_env.client,
            task_queue=queue,
            workflows=[RefundWorkflow],
            activities=[provider.submit, provider.poll, provider.record],
        )
        workers.append(worker)
        await worker.__aenter__()
        now = await time_env.get_current_time()
        key = f"dispute-1:round-1:{uuid.uuid4().hex[:6]}"
        handle = await time_env.client.start_workflow(
            RefundWorkflow.run,
            RefundInput(
                refund_id=str(uuid.uuid4()),
                idempotency_key=key,
                payment_reference="card_tok_1",
                amount_minor=AMOUNT,
                currency=CURRENCY,
                created_at=now.isoformat(),
                expected_by=(now + 9 * DAY).isoformat(),
                policy=POLICY,
            ),
            id=workflow_id(key),
            task_queue=queue,
        )
        handles.append(handle)
        return Run(time_env, provider, handle, now)

    yield start
    for h in handles:  # a workflow left waiting would hold the shared test server's clock
        with contextlib.suppress(RPCError):  # already closed
            await h.terminate("test finished")
    for worker in workers:
        await worker.__aexit__(None, None, None)


async def test_webhook_settlement_refunds_once(run: Callable[[FakeProvider], object]) -> None:
    r: Run = await run(FakeProvider())  # type: ignore[misc]
    await r.env.sleep(timedelta(hours=1))
    view = await r.handle.query(RefundWorkflow.view)
    assert view.status == "PROCESSING" and view.provider_reference
    assert view.expected_by == (r.started + 9 * DAY).isoformat()  # visible from the start
    await r.handle.signal(
        RefundWorkflow.settlement, report(view.provider_reference, "succeeded", settled_at="t")
    )
    done = await r.handle.result()
    assert done.status == "REFUNDED"
    assert r.provider.statuses() == ["PROCESSING", "REFUNDED"]
    assert len(r.provider.refunds) == 1


async def test_provider_down_for_two_days_then_refunded_exactly_once(
    run: Callable[[FakeProvider], object], time_env: WorkflowEnvironment
) -> None:
    provider = FakeProvider()
    provider.down_until = (await time_env.get_current_time()) + 2 * DAY
    provider.settle = lambda ref: report(ref, "succeeded", settled_at="later")
    r: Run = await run(provider)  # type: ignore[misc]
    done = await r.handle.result()
    assert done.status == "REFUNDED"
    assert provider.calls > 10  # it kept retrying through the outage...
    assert len(provider.refunds) == 1  # ...and the provider holds exactly one refund
    assert provider.statuses() == ["PROCESSING", "REFUNDED"]
    first_processing = provider.ledger[0].at
    assert datetime.fromisoformat(first_processing) >= r.started + 2 * DAY


async def test_settlement_never_arrives_overdue_at_day_20_tracking_continues(
    run: Callable[[FakeProvider], object],
) -> None:
    settled_after: list[datetime] = []
    provider = FakeProvider()
    r: Run = await run(provider)  # type: ignore[misc]
    provider.settle = lambda ref: report(ref, "succeeded", settled_at="d25") if settled_after else None
    await r.env.sleep(19 * DAY)
    assert not (await r.handle.query(RefundWorkflow.view)).overdue
    await r.env.sleep(2 * DAY)
    view = await r.handle.query(RefundWorkflow.view)
    assert view.overdue and view.status == "PROCESSING"
    flagged = [x for x in provider.ledger if x.overdue]
    assert flagged and "overdue" in flagged[0].detail
    assert abs(datetime.fromisoformat(flagged[0].at) - (r.started + 20 * DAY)) < timedelta(seconds=1)
    described = await r.handle.describe()
    assert described.typed_search_attributes.get(sa.REFUND_OVERDUE) is True
    settled_after.append(datetime.now())  # the provider finally settles; polling picks it up
    done = await r.handle.result()
    assert done.status == "REFUNDED" and done.overdue


async def test_decline_fails_with_reason_and_operator_retry_succeeds_once(
    run: Callable[[FakeProvider], object],
) -> None:
    provider = FakeProvider()
    r: Run = await run(provider)  # type: ignore[misc]
    await r.env.sleep(timedelta(hours=1))
    first = await r.handle.query(RefundWorkflow.view)
    await r.handle.signal(
        RefundWorkflow.settlement, report(first.provider_reference, "declined", "card closed")
    )
    await r.env.sleep(timedelta(hours=1))
    failed = await r.handle.query(RefundWorkflow.view)
    assert failed.status == "FAILED" and failed.failure_reason == "card closed"

    retried = await r.handle.execute_update(
        RefundWorkflow.retry, RetryInput("ops-anna", "customer updated card")
    )
    assert retried.attempt == 1
    with pytest.raises(WorkflowUpdateFailedError):  # a second retry before the first ran is refused
        await r.handle.execute_update(RefundWorkflow.retry, RetryInput("ops-bob", "again"))
    await r.env.sleep(timedelta(hours=1))
    second = await r.handle.query(RefundWorkflow.view)
    assert second.attempt == 2 and second.provider_reference != first.provider_reference
    # A stale webhook for the declined attempt changes nothing.
    await r.handle.signal(
        RefundWorkflow.settlement, report(first.provider_reference, "declined", "card closed")
    )
    await r.handle.signal(
        RefundWorkflow.settlement, report(second.provider_reference, "succeeded", settled_at="t")
    )
    done = await r.handle.result()
    assert done.status == "REFUNDED"
    assert provider.statuses() == ["PROCESSING", "FAILED", "PENDING", "PROCESSING", "REFUNDED"]
    keys = sorted(provider.refunds)  # one provider refund per attempt, one ledger key
    assert [k.rsplit(":", 1)[1] for k in keys] == ["1", "2"]
    assert len({k.rsplit(":", 1)[0] for k in keys}) == 1


async def test_retry_of_a_non_failed_refund_is_refused(run: Callable[[FakeProvider], object]) -> None:
    r: Run = await run(FakeProvider())  # type: ignore[misc]
    await r.env.sleep(timedelta(hours=1))
    with pytest.raises(WorkflowUpdateFailedError):
        await r.handle.execute_update(RefundWorkflow.retry, RetryInput("ops", "why not"))


async def test_polling_backstop_without_any_webhook(run: Callable[[FakeProvider], object]) -> None:
    provider = FakeProvider()
    calls: list[str] = []

    def settle(ref: str) -> ProviderState | None:
        calls.append(ref)
        return report(ref, "succeeded", settled_at="x") if len(calls) >= 8 else None

    provider.settle = settle
    r: Run = await run(provider)  # type: ignore[misc]
    done = await r.handle.result()
    assert done.status == "REFUNDED" and len(calls) == 8 and not done.overdue


async def test_unretried_failure_becomes_final_and_releases_the_amount(
    run: Callable[[FakeProvider], object],
) -> None:
    provider = FakeProvider()
    r: Run = await run(provider)  # type: ignore[misc]
    await r.env.sleep(timedelta(hours=1))
    ref = (await r.handle.query(RefundWorkflow.view)).provider_reference
    await r.handle.signal(RefundWorkflow.settlement, report(ref, "processing"))  # not an outcome
    await r.env.sleep(timedelta(hours=1))
    assert (await r.handle.query(RefundWorkflow.view)).status == "PROCESSING"
    await r.handle.signal(RefundWorkflow.settlement, report(ref, "declined", "card closed"))
    done = await r.handle.result()  # nobody retries within the 30-day window
    assert done.status == "FAILED"
    assert [(x.status, x.final) for x in provider.ledger] == [
        ("PROCESSING", False),
        ("FAILED", False),
        ("FAILED", True),
    ]


# --- settlement reports are checked against the refund ---------------------------------------


@pytest.mark.parametrize(
    "forged",
    [
        {"amount_minor": 1},  # the reported defect: a signed success for 1 settled 4,999
        {"currency": "USD"},
        {"reference": "re_someone_else"},
        {"provider_key": "another-refund:1"},
        {"amount_minor": 0, "currency": ""},  # a report that says nothing about the money
    ],
)
async def test_a_report_that_disagrees_changes_nothing_and_is_flagged(
    run: Callable[[FakeProvider], object], forged: dict[str, object]
) -> None:
    r: Run = await run(FakeProvider())  # type: ignore[misc]
    await r.env.sleep(timedelta(hours=1))
    ref = (await r.handle.query(RefundWorkflow.view)).provider_reference
    fields: dict[str, object] = {
        "reference": ref,
        "amount_minor": AMOUNT,
        "currency": CURRENCY,
        "provider_key": f"{r.handle.id.removeprefix('refund/')}:1",
        **forged,
    }
    forgery = ProviderState(
        reference=str(fields["reference"]),
        status="succeeded",
        settled_at="t",
        amount_minor=int(str(fields["amount_minor"])),
        currency=str(fields["currency"]),
        provider_key=str(fields["provider_key"]),
    )
    await r.handle.signal(RefundWorkflow.settlement, forgery)
    await r.env.sleep(timedelta(hours=1))
    view = await r.handle.query(RefundWorkflow.view)
    assert view.status == "PROCESSING"  # not REFUNDED
    flagged = [x for x in r.provider.ledger if x.settlement_mismatch]
    assert len(flagged) == 1 and flagged[0].status == "PROCESSING" and "disagrees" in flagged[0].detail
    assert (await r.handle.describe()).typed_search_attributes.get(sa.SETTLEMENT_MISMATCHES) == 1
    # The genuine report still settles it.
    await r.handle.signal(RefundWorkflow.settlement, report(ref, "succeeded", settled_at="t"))
    assert (await r.handle.result()).status == "REFUNDED"


async def test_a_poll_that_disagrees_is_flagged_too(run: Callable[[FakeProvider], object]) -> None:
    provider = FakeProvider()
    polls: list[str] = []

    def settle(ref: str) -> ProviderState | None:
        polls.append(ref)
        amount = 1 if len(polls) == 1 else AMOUNT
        return report(ref, "succeeded", settled_at="x", amount_minor=amount)

    provider.settle = settle
    r: Run = await run(provider)  # type: ignore[misc]
    done = await r.handle.result()
    assert done.status == "REFUNDED" and len(polls) == 2
    assert [x.settlement_mismatch for x in provider.ledger] == [False, True, False]


async def test_the_same_disagreeing_report_is_flagged_once(run: Callable[[FakeProvider], object]) -> None:
    r: Run = await run(FakeProvider())  # type: ignore[misc]
    await r.env.sleep(timedelta(hours=1))
    ref = (await r.handle.query(RefundWorkflow.view)).provider_reference
    key = f"{r.handle.id.removeprefix('refund/')}:1"
    for _ in range(5):  # a provider retrying one bad webhook
        await r.handle.signal(
            RefundWorkflow.settlement, report(ref, "succeeded", amount_minor=1, provider_key=key)
        )
    await r.env.sleep(timedelta(hours=1))
    assert [x.settlement_mismatch for x in r.provider.ledger] == [False, True]
    assert (await r.handle.describe()).typed_search_attributes.get(sa.SETTLEMENT_MISMATCHES) == 1


async def test_a_report_that_says_nothing_about_the_money_is_verified_with_the_provider(
    run: Callable[[FakeProvider], object],
) -> None:
    """Webhooks relayed by an older version carry no amount: not counted, not flagged; the
    provider's own record, asked at once (not two days later), decides."""
    provider = FakeProvider()
    polls: list[str] = []

    def settle(ref: str) -> ProviderState | None:
        polls.append(ref)
        return report(ref, "succeeded", settled_at="x")

    r: Run = await run(provider)  # type: ignore[misc]
    await r.env.sleep(timedelta(hours=1))
    ref = (await r.handle.query(RefundWorkflow.view)).provider_reference
    provider.settle = settle
    await r.handle.signal(RefundWorkflow.settlement, ProviderState(ref, "succeeded", settled_at="x"))
    done = await r.handle.result()
    assert (
        done.status == "REFUNDED"
        and len(polls) == 1
        and not any(x.settlement_mismatch for x in provider.ledger)
    )
    refunded = next(x for x in provider.ledger if x.status == "REFUNDED")
    assert datetime.fromisoformat(refunded.at) - r.started < timedelta(hours=2)  # not after the 1-day poll
