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
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from dispute_svc import contract as api
    from platform_common import search_attributes as sa

T = TypeVar("T")

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
    # Carried over by continue-as-new: when the receiver's failures in a row began (ISO-8601),
    # so a long outage does not get a fresh window with each run; and refusals in a row.
    failing_since: str = ""
    refusals: int = 0


def retry_delay(failures: int, day_seconds: float) -> timedelta:
    day = timedelta(seconds=day_seconds)
    delay = min(day * (_FIRST_RETRY_DAYS * float(2 ** min(failures - 1, 20))), day * _MAX_RETRY_DAYS)
    return max(delay, _RETRY_FLOOR)


# DisputeService refused a call itself (not the receiver): ask again after this, doubling up to
# the cap, and show it (search attribute SideEffectsDeferred) until a call goes through.
_REFUSED_RETRY = timedelta(seconds=30)
_REFUSED_RETRY_MAX = timedelta(hours=1)


@workflow.defn(name=WORKFLOW_NAME)
class WebhookDeliveryWorkflow:
    def __init__(self) -> None:
        self._woken = False
        self._replayed = False
        self._failures = self._refusals = 0
        self._failing_since: datetime | None = None

    @workflow.signal
    def wake(self) -> None:
        """Replay moved the cursor or re-enabled the subscription: try now, with a fresh window."""
        self._woken = self._replayed = True

    @workflow.run
    async def run(self, inp: WebhookInput) -> str:
        self._failures, self._refusals = inp.failures, inp.refusals
        window = timedelta(seconds=inp.day_seconds) * WEBHOOK_RETRY_DAYS
        # When the receiver's failures in a row began, as this workflow saw them: the retry
        # window runs from there. A replay starts it afresh.
        self._failing_since = datetime.fromisoformat(inp.failing_since) if inp.failing_since else None
        for _ in range(CALLS_PER_RUN):
            r = await self._call(
                api.DELIVER_WEBHOOKS,
                api.WebhookPull(inp.subscription_id, IDLE_WAIT_S),
                api.WebhookOutcome,
                timedelta(seconds=IDLE_WAIT_S + 70),
            )
            if r is None:
                continue  # refused: paused already; the receiver's window is left as it was
            if self._replayed:
                self._failures, self._failing_since, self._replayed = 0, None, False
            if r.outcome == api.GONE:
                return "GONE"
            if r.outcome == api.FAILED:
                self._failures += 1
                self._failing_since = self._failing_since or workflow.now()
                if workflow.now() - self._failing_since >= window:
                    reason = f"failing since {self._failing_since.isoformat()} ({self._failures} attempts): {r.error}"
                    disabled = await self._call(
                        api.DISABLE_WEBHOOK,
                        api.WebhookDisable(inp.subscription_id, reason, r.failing_since),
                        bool,
                        timedelta(seconds=30),
                    )
                    if disabled:
                        return "DISABLED"
                    if disabled is False:  # replayed meanwhile: a fresh start
                        self._failures, self._failing_since = 0, None
                    continue
                await self._pause(retry_delay(self._failures, inp.day_seconds))
            elif r.outcome == api.BUSY:
                await self._pause(timedelta(seconds=1))
            else:
                self._failures, self._failing_since = 0, None
            if workflow.info().is_continue_as_new_suggested():
                break
        since = self._failing_since.isoformat() if self._failing_since else ""
        workflow.continue_as_new(
            replace(inp, failures=self._failures, failing_since=since, refusals=self._refusals)
        )

    async def _call(self, name: str, arg: object, result_type: type[T], timeout: timedelta) -> T | None:
        """One call to DisputeService, retried by Temporal while it cannot be reached; None if
        it refused the call for good (e.g. a worker deployed with the wrong identity), after a
        pause that doubles with each refusal in a row, flagged in the Temporal UI meanwhile."""
        try:
            result: T = await workflow.execute_activity(
                name,
                arg,
                result_type=result_type,
                start_to_close_timeout=timeout,
                heartbeat_timeout=timedelta(seconds=3 * api.WEBHOOK_HEARTBEAT_S),
                # DisputeService down is not the receiver failing: ask again until it answers.
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
                ),
            )
        except ActivityError as exc:
            workflow.logger.error("webhook delivery call %s refused: %s", name, exc)
            if self._refusals == 0:
                workflow.upsert_search_attributes([sa.SIDE_EFFECTS_DEFERRED.value_set(True)])
            self._refusals += 1
            pause = min(_REFUSED_RETRY * 2 ** min(self._refusals - 1, 10), _REFUSED_RETRY_MAX)
            if self._failing_since is not None:
                # Time the receiver could not be tried does not count against it.
                self._failing_since += pause
            await self._pause(pause)
            return None
        if self._refusals:
            self._refusals = 0
            workflow.upsert_search_attributes([sa.SIDE_EFFECTS_DEFERRED.value_set(False)])
        return result

    async def _pause(self, delay: timedelta) -> None:
        """Wait `delay`, or less if woken; a wake that came during the last call counts."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._woken, timeout=delay)
        self._woken = False
