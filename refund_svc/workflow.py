"""RefundWorkflow: one refund from the ledger to the buyer's original payment method.

PENDING -> PROCESSING (provider accepted) -> REFUNDED, or FAILED (declined). The provider call
is idempotent per attempt, settlement arrives by webhook (a signal) with polling as a backstop,
and a refund still unsettled at `overdue_after` is flagged (search attribute + history) while
tracking continues. A FAILED refund waits for an operator's retry: the same ledger refund goes
to the provider again under the next attempt number.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from platform_common import search_attributes as sa
    from platform_common import ui
    from platform_common.refusals import Refusal, refuse
    from refund_svc.contract import (
        POLL_REFUND,
        PROVIDER_REJECTED,
        RECORD_REFUND_STATUS,
        SUBMIT_REFUND,
        ProviderState,
        RecordRefundStatusInput,
        RefundStatus,
        SubmitRefundInput,
    )
    from refund_svc.model import RefundInput, RefundView, RetryInput

WORKFLOW_NAME = "RefundWorkflow"
# Settlement reports (webhooks, polls) count only if they agree with the refund.
VERIFY_SETTLEMENTS = "verify-settlements"
# Reports that cannot be checked trigger a poll of the provider, at most this often.
_VERIFY_SPACING = timedelta(hours=1)
SUCCEEDED, DECLINED = "succeeded", "declined"  # the provider's final outcomes

# Provider outages are waited out with capped exponential backoff; a 4xx is final.
PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(hours=1),
    non_retryable_error_types=[PROVIDER_REJECTED],
)
LEDGER_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))


def _us(value: int) -> timedelta:
    return timedelta(microseconds=value)


@workflow.defn(name=WORKFLOW_NAME)
class RefundWorkflow:
    @workflow.init
    def __init__(self, inp: RefundInput) -> None:
        self._inp = inp
        self._status = RefundStatus.PENDING
        self._attempt = inp.attempt
        self._revision = inp.revision
        self._overdue = inp.overdue
        self._provider_ref = ""
        self._failure = ""
        self._settlements: dict[str, ProviderState] = dict(inp.settlements)
        self._retry: RetryInput | None = None
        # Reports received and not yet checked against the refund (VERIFY_SETTLEMENTS).
        self._reports: list[ProviderState] = []
        self._mismatches = 0
        # Each disagreeing report is flagged once, however often it comes back.
        self._flagged: set[tuple[str, str, int, str, str]] = set()
        # A report that says nothing about the money (older senders) is verified by asking the
        # provider soon, at most once an hour.
        self._verify_at: datetime | None = None
        self._last_verified: datetime | None = None

    @workflow.run
    async def run(self, inp: RefundInput) -> RefundView:
        created = datetime.fromisoformat(inp.created_at)
        while True:
            try:
                accepted = await self._submit()
            except ActivityError as err:
                if not (isinstance(err.cause, ApplicationError) and err.cause.type == PROVIDER_REJECTED):
                    raise
                await self._set(
                    RefundStatus.FAILED,
                    f"provider rejected the refund: {err.cause.message}",
                    failure=err.cause.message,
                )
            else:
                self._provider_ref = accepted.reference
                await self._set(RefundStatus.PROCESSING, f"accepted by the provider as {accepted.reference}")
                outcome = await self._settlement(created)
                if outcome.status == SUCCEEDED:
                    await self._set(
                        RefundStatus.REFUNDED,
                        f"settled to the original payment method at {outcome.settled_at}",
                    )
                    return self.view()
                reason = outcome.decline_reason or "declined by the provider"
                await self._set(RefundStatus.FAILED, f"declined: {reason}", failure=reason)
            if not await self._wait_for_retry():
                if workflow.patched("release-reservation-on-final-failure"):
                    await self._set(
                        RefundStatus.FAILED,
                        "no retry within the retry window: final; amount released",
                        self._failure,
                        final=True,
                    )
                return self.view()  # nobody retried within the window: FAILED stays final
            assert self._retry is not None
            self._attempt += 1
            self._failure = ""
            detail = f"retry #{self._attempt - 1} by {self._retry.operator}: {self._retry.note}"
            self._retry = None
            await self._set(RefundStatus.PENDING, detail)
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carry_over())

    # --- messages -------------------------------------------------------------------------------

    @workflow.signal
    def settlement(self, state: ProviderState) -> None:
        """Provider webhook, relayed by RefundService. Only final outcomes count, and only once
        the main loop has checked them against the refund; duplicates and stale attempts are
        harmless."""
        if state.status not in (SUCCEEDED, DECLINED):
            return
        if workflow.patched(VERIFY_SETTLEMENTS):
            self._reports.append(state)
            return
        self._settlements.setdefault(state.reference, state)

    @workflow.update
    def retry(self, inp: RetryInput) -> RefundView:
        self._retry = inp
        return self.view()

    @retry.validator
    def _validate_retry(self, inp: RetryInput) -> None:
        if self._status != RefundStatus.FAILED or self._retry is not None:
            raise refuse(f"only a FAILED refund can be retried (it is {self._status})")
        if not inp.operator:
            raise refuse("operator is required", Refusal.INVALID_ARGUMENT)

    def _current_details(self, overdue_at: datetime) -> str:
        """The refund as the Temporal UI shows it now (no command: replays unchanged)."""
        now = workflow.now()
        expected = datetime.fromisoformat(self._inp.expected_by)
        return ui.details(
            [
                ("Status", str(self._status)),
                ("Amount", ui.amount(self._inp.amount_minor, self._inp.currency)),
                ("Expected by", f"{expected.isoformat(timespec='seconds')} ({ui.in_words(expected - now)})"),
                (
                    "Overdue",
                    "yes, still tracking"
                    if self._overdue
                    else f"at {overdue_at.isoformat(timespec='seconds')}",
                ),
                ("Provider reference", self._provider_ref),
                ("Attempt", str(self._attempt)),
            ]
        )

    @workflow.query
    def view(self) -> RefundView:
        return RefundView(
            refund_id=self._inp.refund_id,
            status=self._status,
            attempt=self._attempt,
            provider_reference=self._provider_ref,
            expected_by=self._inp.expected_by,
            overdue=self._overdue,
            failure_reason=self._failure,
        )

    # --- steps ----------------------------------------------------------------------------------

    async def _submit(self) -> ProviderState:
        inp = self._inp
        state: ProviderState = await workflow.execute_activity(
            SUBMIT_REFUND,
            SubmitRefundInput(
                refund_id=inp.refund_id,
                provider_key=self._provider_key(),
                payment_reference=inp.payment_reference,
                amount_minor=inp.amount_minor,
                currency=inp.currency,
            ),
            result_type=ProviderState,
            start_to_close_timeout=timedelta(seconds=15),
            retry_policy=PROVIDER_RETRY,
        )
        return state

    async def _settlement(self, created: datetime) -> ProviderState:
        """Wait for the webhook; poll as a backstop; flag the refund overdue, never give up."""
        policy = self._inp.policy
        overdue_at = created + _us(policy.overdue_after_us)
        while self._provider_ref not in self._settlements:
            now = workflow.now()
            wake = now + _us(policy.poll_every_us)
            if not self._overdue:
                wake = min(wake, overdue_at)
            if self._verify_at is not None:
                wake = min(wake, self._verify_at)
            workflow.set_current_details(self._current_details(overdue_at))
            try:
                await workflow.wait_condition(
                    lambda: self._provider_ref in self._settlements or bool(self._reports),
                    timeout=max(wake - now, timedelta(milliseconds=1)),
                    timeout_summary=(
                        "refund overdue check (the maximum refund time)"
                        if wake == overdue_at and not self._overdue
                        else "settlement poll (backstop for the provider's webhook)"
                    ),
                )
                if self._reports:
                    await self._check_reports()
            except TimeoutError:
                if not self._overdue and workflow.now() >= overdue_at:
                    self._overdue = True
                    workflow.upsert_search_attributes([sa.REFUND_OVERDUE.value_set(True)])
                    await self._set(
                        RefundStatus.PROCESSING,
                        "overdue: not settled within the maximum refund time; still tracking",
                    )
                    continue
                if self._verify_at is not None:
                    self._verify_at, self._last_verified = None, workflow.now()
                try:
                    polled: ProviderState = await workflow.execute_activity(
                        POLL_REFUND,
                        self._provider_ref,
                        result_type=ProviderState,
                        start_to_close_timeout=timedelta(seconds=15),
                        retry_policy=PROVIDER_RETRY,
                    )
                except ActivityError:
                    continue  # polling is only the backstop: keep waiting for the webhook
                if polled.status in (SUCCEEDED, DECLINED):
                    if workflow.patched(VERIFY_SETTLEMENTS):
                        self._reports.append(polled)
                        await self._check_reports()
                    else:
                        self._settlements.setdefault(polled.reference, polled)
        return self._settlements[self._provider_ref]

    def _provider_key(self) -> str:
        return f"{self._inp.idempotency_key}:{self._attempt}"

    def _disagreement(self, report: ProviderState) -> str:
        """Why a report must not count ("" if it agrees with this refund's current attempt, or
        is an older attempt's decline, which is old news). A success for anything but the
        current attempt, or with other money, is a problem: it would mean money moved that the
        ledger does not know of."""
        inp = self._inp
        problems = []
        other_key = bool(report.provider_key) and report.provider_key != self._provider_key()
        other_reference = report.reference != self._provider_ref
        if other_reference and report.status == DECLINED:
            return ""  # an earlier attempt's decline, delivered late: it is never waited for
        if other_key:
            problems.append(f"provider key {report.provider_key[:80]!r}")
        if other_reference:
            problems.append(f"provider reference {report.reference[:40]!r}, expected {self._provider_ref!r}")
        if report.amount_minor != inp.amount_minor:
            problems.append(f"amount {report.amount_minor}, expected {inp.amount_minor}")
        if report.currency != inp.currency:
            problems.append(f"currency {report.currency[:3]!r}, expected {inp.currency}")
        return "; ".join(problems)

    async def _check_reports(self) -> None:
        """Count the reports that agree with the refund; flag the others for operators (search
        attribute SettlementMismatch and an entry in the refund's status history)."""
        reports, self._reports = self._reports, []
        for report in reports:
            if not report.amount_minor and not report.currency and not report.provider_key:
                self._verify_soon()  # cannot be checked: the provider's own record decides
                continue
            problem = self._disagreement(report)
            if not problem:
                # Keyed by reference: only the current attempt's is ever waited for.
                self._settlements.setdefault(report.reference, report)
                continue
            seen = (
                report.status,
                report.reference,
                report.amount_minor,
                report.currency,
                report.provider_key,
            )
            if seen in self._flagged:
                continue
            self._flagged.add(seen)
            self._mismatches += 1
            workflow.upsert_search_attributes([sa.SETTLEMENT_MISMATCHES.value_set(self._mismatches)])
            await self._set(
                self._status,
                f"{report.status} report ignored, it disagrees with the refund: {problem}",
                self._failure,
                mismatch=True,
            )

    def _verify_soon(self) -> None:
        now = workflow.now()
        if self._verify_at is None and (
            self._last_verified is None or now - self._last_verified >= _VERIFY_SPACING
        ):
            self._verify_at = now

    async def _wait_for_retry(self) -> bool:
        workflow.set_current_details(
            ui.details([("Status", "FAILED, waiting for an operator's retry"), ("Reason", self._failure)])
        )
        try:
            await workflow.wait_condition(
                lambda: self._retry is not None,
                timeout=_us(self._inp.policy.retry_window_us),
                timeout_summary="retry window (after it the refund is final)",
            )
        except TimeoutError:
            return False
        return True

    async def _set(
        self,
        status: RefundStatus,
        detail: str,
        failure: str = "",
        final: bool = False,
        mismatch: bool = False,
    ) -> None:
        self._status = status
        self._failure = failure
        self._revision += 1
        workflow.upsert_search_attributes([sa.REFUND_STATUS.value_set(status)])
        await workflow.execute_activity(
            RECORD_REFUND_STATUS,
            RecordRefundStatusInput(
                refund_id=self._inp.refund_id,
                revision=self._revision,
                status=status,
                at=workflow.now().isoformat(),
                provider_reference=self._provider_ref,
                failure_reason=failure,
                overdue=self._overdue,
                attempts=self._attempt,
                detail=detail,
                final=final,
                settlement_mismatch=mismatch,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=LEDGER_RETRY,
        )

    def _carry_over(self) -> RefundInput:
        """The same refund for the next run, with what this run learned."""
        return replace(
            self._inp,
            attempt=self._attempt,
            revision=self._revision,
            overdue=self._overdue,
            settlements=dict(self._settlements),
        )
