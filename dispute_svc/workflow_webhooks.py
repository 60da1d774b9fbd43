"""WebhookDeliveryWorkflow: one per subscription, delivering its events for as long as it lives.

Why a workflow: a receiver may be down for days, and the retry schedule (backoff up to an hour,
for up to WEBHOOK_RETRY_DAYS) must survive restarts of every process. Each turn asks
DisputeService to deliver the next events (the HTTP and the cursor are the service's, see
dispute_svc/webhooks.py); when the receiver fails, the workflow waits with a durable timer and
asks again, and once it has failed for longer than the retry window it disables the
subscription, visibly, and ends. A deleted or disabled subscription ends it too; replaying one
starts it again.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from dispute_svc import contract as api

WORKFLOW_NAME = "WebhookDeliveryWorkflow"
# A receiver that fails for this many policy days is disabled.
WEBHOOK_RETRY_DAYS = 3
# Backoff between failed attempts, in fractions of a policy day (30 s doubling to 1 h on a real
# day), never below the floor, so a scaled day does not turn retries into a busy loop.
_FIRST_RETRY_DAYS = 30 / 86_400
_MAX_RETRY_DAYS = 3_600 / 86_400
_RETRY_FLOOR = timedelta(milliseconds=50)
# An idle call waits this long for events before it returns (one activity per wait).
IDLE_WAIT_S = 20
# Continue-as-new after this many calls, keeping each run's history short.
CALLS_PER_RUN = 500


def workflow_id(subscription_id: str) -> str:
    return f"webhook/{subscription_id}"


@dataclass
class WebhookInput:
    subscription_id: str
    # The platform's day (DP_DAY_SECONDS) when the subscription was made: the retry window.
    day_seconds: float = 86_400
    failures: int = 0


def retry_delay(failures: int, day_seconds: float) -> timedelta:
    day = timedelta(seconds=day_seconds)
    delay = min(day * (_FIRST_RETRY_DAYS * float(2 ** min(failures - 1, 20))), day * _MAX_RETRY_DAYS)
    return max(delay, _RETRY_FLOOR)


# DisputeService refused the delivery call itself (not the receiver): ask again after this.
_SERVICE_RETRY = timedelta(seconds=30)


@workflow.defn(name=WORKFLOW_NAME)
class WebhookDeliveryWorkflow:
    def __init__(self) -> None:
        self._woken = False
        self._replayed = False

    @workflow.signal
    def wake(self) -> None:
        """Replay moved the cursor or re-enabled the subscription: try now, with a fresh window."""
        self._woken = self._replayed = True

    @workflow.run
    async def run(self, inp: WebhookInput) -> str:
        failures = inp.failures
        window = timedelta(seconds=inp.day_seconds) * WEBHOOK_RETRY_DAYS
        # When this workflow first saw the receiver fail, of the failures in a row it has seen:
        # the retry window runs from there. An outage of DisputeService's own in between (the
        # call never answered) restarts it: only the receiver's failures count.
        failing_since: datetime | None = None
        for _ in range(CALLS_PER_RUN):
            try:
                r: api.WebhookOutcome = await workflow.execute_activity(
                    api.DELIVER_WEBHOOKS,
                    api.WebhookPull(inp.subscription_id, IDLE_WAIT_S),
                    result_type=api.WebhookOutcome,
                    start_to_close_timeout=timedelta(seconds=IDLE_WAIT_S + 70),
                    heartbeat_timeout=timedelta(seconds=3 * api.WEBHOOK_HEARTBEAT_S),
                    # DisputeService down is not the receiver failing: ask again until it answers.
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
                    ),
                )
            except ActivityError as exc:  # refused for good (e.g. a worker with the wrong identity)
                workflow.logger.warning("webhook %s: delivery call refused: %s", inp.subscription_id, exc)
                failing_since = None
                await self._pause(_SERVICE_RETRY)
                continue
            if self._replayed:
                failures, failing_since, self._replayed = 0, None, False
            if r.outcome == api.GONE:
                return "GONE"
            if r.outcome == api.FAILED:
                failures += 1
                failing_since = failing_since or workflow.now()
                if workflow.now() - failing_since >= window:
                    reason = f"failing since {failing_since.isoformat()} ({failures} attempts): {r.error}"
                    disabled = await workflow.execute_activity(
                        api.DISABLE_WEBHOOK,
                        api.WebhookDisable(inp.subscription_id, reason, r.failing_since),
                        result_type=bool,
                        start_to_close_timeout=timedelta(seconds=30),
                    )
                    if disabled:
                        return "DISABLED"
                    failures, failing_since = 0, None  # replayed meanwhile: a fresh start
                    continue
                await self._pause(retry_delay(failures, inp.day_seconds))
            elif r.outcome == api.BUSY:
                await self._pause(timedelta(seconds=1))
            else:
                failures, failing_since = 0, None
            if workflow.info().is_continue_as_new_suggested():
                break
        workflow.continue_as_new(replace(inp, failures=failures))

    async def _pause(self, delay: timedelta) -> None:
        self._woken = False
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._woken, timeout=delay)
