"""DisputeWorkflow: one dispute from opening to the refund settling (docs/rules.md), on durable timers.

Why it is shaped like this:
- Update handlers are synchronous and pure: validators refuse bad requests before anything
  reaches history, and handlers only change state. Every side effect (freeze the order, seal
  evidence, pay, publish the read model) is done by the main loop through idempotent activities,
  so an action answers in one workflow task and a crash between effects simply repeats them.
- Every wait is an absolute deadline kept in state, so GetDispute shows it and a change (a
  modification, an appeal) just moves it.
- The whole state is one dataclass; continue-as-new carries it over before the update or history
  limits are near.
- Arbitration never decides by itself: a missed SLA raises a flag and a timeline event.

The class is assembled from small modules: workflow_core (state, deadlines, checks),
workflow_outcomes (timeouts, settling, paying, closing), workflow_negotiation,
workflow_arbitration and workflow_returns (the validated updates), workflow_actions (what a
caller may do now, by the updates' own preconditions); this module holds the main loop and side
effects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from dispute_svc import contract as api
    from dispute_svc.model import (
        CLOSED,
        FINAL_PAYOUTS,
        WORKFLOW_NAME,
        DisputeInput,
        DisputeState,
        DisputeStatus,
        DisputeView,
        Party,
        Payout,
        PayoutStatus,
        VersionKind,
    )
    from dispute_svc.policy import Policy, policy
    from platform_common import search_attributes as sa

# Workflow code: imported inside the sandbox, like this module (not passed through).
from dispute_svc.workflow_actions import ActionQueries
from dispute_svc.workflow_core import parse_time as _t
from dispute_svc.workflow_thread import ThreadHandlers
from dispute_svc.workflow_ui import DisputeUi

# A side effect that keeps failing this long is set aside and retried later by the main loop, so
# a service outage never stops the dispute's clocks.
_EFFECT_PATIENCE = timedelta(minutes=2)
_EFFECT_RETRY = timedelta(minutes=1)
_EFFECT_RETRY_MAX = timedelta(hours=1)
# Deferred this many times in a row (about 2 h 10 min of failures with the backoff above, each
# attempt itself retrying for 2 minutes): flagged for operators.
_FLAG_AFTER_FAILURES = 3
# Disputes opened before the events outbox record their state from a local activity (inside
# the workflow task); from this patch on, from a regular activity (after the task commits).
_RECORD_AFTER_COMMIT = "record-state-after-commit"
# With recording spanning workflow tasks: the loop ends only once the close's effects are done,
# and a run rolls over with a change still unrecorded rather than wait for a quiet moment.
_CLOSE_AFTER_RELEASE = "close-after-release"
_ROLL_OVER_UNRECORDED = "roll-over-unrecorded"
_EFFECTS_SEE_CHANGES = "effects-see-changes"
_TIME_FIRST = "deadlines-before-effects"
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


# What each side effect is, as the Temporal UI shows its local activity.
_EFFECT_SUMMARIES = {
    api.FREEZE_ORDER: "freeze the order's protection clock",
    api.UNFREEZE_ORDER: "resume the order's protection clock",
    api.SET_LEGAL_HOLD: "set or lift the legal hold on the dispute's evidence",
    api.ISSUE_REFUND: "order the refund from RefundService",
    api.REFUND_STATUSES: "read the refunds' statuses",
    api.RECORD_DISPUTE_STATE: "record the dispute in DisputeService's read model",
    api.ATTACH_EVIDENCE: "bind the action's files to the dispute",
}


async def _call(name: str, arg: object, result_type: type | None = None) -> Any:
    """Run an activity; they are all idempotent, so they are retried until they succeed.

    Local activities: every side effect here is one short, idempotent RPC, and running it inside
    the workflow task (one marker event, no activity task round trips) halves the history and
    the server's work per action. Longer outages back off with durable timers automatically.
    """
    return await workflow.execute_local_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=60),
        schedule_to_close_timeout=_EFFECT_PATIENCE,
        retry_policy=_RETRY,
        summary=_EFFECT_SUMMARIES.get(name),
    )


@workflow.defn(name=WORKFLOW_NAME)
class DisputeWorkflow(ActionQueries, ThreadHandlers, DisputeUi):
    @workflow.init
    def __init__(self, inp: DisputeInput) -> None:
        self._inp = inp
        self._policy: Policy = policy(inp.policy_version)
        self._updates = 0
        self._changed = 0
        self._poll_due: datetime | None = None
        self._effects_retry_at: datetime | None = None
        self._effect_failures = 0
        self._sa_last: tuple[object, ...] = ()
        if inp.carried is not None:
            self.s = inp.carried
            self.s.runs += 1
            # The previous run handed over a change it could not record: record it first.
            self._published = -1 if inp.carried_unrecorded else self.s.revision
            if self.s.status == DisputeStatus.REFUND_PENDING:
                self._poll_due = workflow.now()
            return
        now = workflow.now()
        # Deadlines run from when OpenDispute accepted the opening, not from when a worker first
        # ran this (it may have been down); never from the future.
        opened = min(_t(inp.opened_at), now) if inp.opened_at else now
        self._published = 0
        self.s = DisputeState(
            status=DisputeStatus.AWAITING_SELLER_RESPONSE,
            opened_at=opened.isoformat(),
            updated_at=opened.isoformat(),
            claim=inp.solution,
            description=inp.description,
            seller_due=(opened + self._policy.days(self._policy.seller_response_days)).isoformat(),
            evidence_ids=list(inp.evidence_ids),
        )
        at = opened.isoformat()
        self._add_version(
            Party.BUYER, inp.buyer_id, VersionKind.CLAIM, inp.solution, inp.description, inp.evidence_ids, at
        )
        sol = inp.solution
        self._log(
            inp.buyer_id, Party.BUYER, "DISPUTE_OPENED", f"{inp.reason}: {sol.type} {sol.amount_minor}", at
        )

    @workflow.run
    async def run(self, inp: DisputeInput) -> DisputeView:
        while True:
            workflow.set_current_details(self._current_details())  # before effects, which take a while
            if workflow.patched(_TIME_FIRST):
                # A deadline that passed while effects ran (a record spans tasks) moves the
                # dispute on now, before effects: actions then meet the dispute as it stands.
                due = self._live_deadline()
                if due is not None and workflow.now() >= due:
                    self._on_time()
            before = self._changed
            await self._effects()
            done = self._effects_retry_at is None
            if self.s.status in CLOSED and done:
                if self._closed_out():
                    break
                continue  # the close landed during this pass: its effects are the next pass
            rollover = (
                self._updates >= inp.max_updates_per_run or workflow.info().is_continue_as_new_suggested()
            )
            if rollover and done and self.s.status not in CLOSED:
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._effects()
                # Recording is a regular activity now, and steady updates would keep a change
                # unrecorded at every attempt: the next run records what this one could not.
                published = self._published == self.s.revision
                settled = self._effects_retry_at is None and (
                    published or workflow.patched(_ROLL_OVER_UNRECORDED)
                )
                if self.s.status not in CLOSED and settled:
                    workflow.continue_as_new(self._carry_over(recorded=published))
                continue
            if before != self._changed and done and workflow.patched(_EFFECTS_SEE_CHANGES):
                # An action landed while effects ran (a record spans tasks): its effects run now
                # (after the rollover check above, so steady actions cannot postpone that).
                continue
            wake = self._next_wake()
            seen = self._changed
            workflow.set_current_details(self._current_details())
            if wake is None:
                await workflow.wait_condition(lambda seen=seen: self._changed != seen)  # type: ignore[misc]
                continue
            left = (wake - workflow.now()).total_seconds()
            if left > 0:
                try:
                    await workflow.wait_condition(
                        lambda seen=seen: self._changed != seen,  # type: ignore[misc]
                        timeout=left,
                        timeout_summary=self._wake_summary(wake),
                    )
                    continue
                except TimeoutError:
                    pass
            self._on_time()
            if (
                self.s.status == DisputeStatus.REFUND_PENDING
                and self._poll_due
                and workflow.now() >= self._poll_due
            ):
                try:
                    await self._poll_refunds()
                except (ActivityError, ApplicationError) as exc:  # RefundService down: ask again later
                    self._poll_due = workflow.now() + _EFFECT_RETRY_MAX
                    workflow.logger.warning("dispute %s: refund poll deferred: %s", self._inp.dispute_id, exc)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view()

    async def _effects(self) -> None:
        """Run every owed side effect. Each is tried on its own, so one service being down does
        not hold up the others; whatever failed is retried later with backoff (1 min doubling to
        an hour), and the dispute's clocks keep running meanwhile."""
        # Independent calls run side by side (the workflow task, and the answer to the update that
        # caused them, waits for the slowest one, not for their sum); the read model is written
        # last so it shows their outcome.
        ok = await asyncio.gather(
            self._try(self._freeze),
            self._try(self._bind_evidence),
            self._try(self._seal),
            self._try(self._pay_owed),
            self._try(self._release),
        )
        failed = not all(ok) or not await self._try(self._publish)
        if not failed:
            self._effects_retry_at, self._effect_failures = None, 0
            if self.s.effects_deferred:
                self._flag_deferred(False, "SIDE_EFFECTS_RESUMED", "every deferred side effect is done")
                await self._try(self._publish)
            return
        delay = min(_EFFECT_RETRY * 2**self._effect_failures, _EFFECT_RETRY_MAX)
        self._effect_failures += 1
        self._effects_retry_at = workflow.now() + delay
        if self._effect_failures >= _FLAG_AFTER_FAILURES and not self.s.effects_deferred:
            self._flag_deferred(True, "SIDE_EFFECTS_DEFERRED", "a service keeps failing; see the worker log")

    def _flag_deferred(self, on: bool, action: str, detail: str) -> None:
        """Make a stuck side effect visible to operators (Temporal UI search + timeline)."""
        self.s.effects_deferred = on
        workflow.upsert_search_attributes([sa.SIDE_EFFECTS_DEFERRED.value_set(on)])
        self._log("system", Party.SERVICE, action, detail)

    async def _try(self, step: Callable[[], Awaitable[None]]) -> bool:
        try:
            await step()
            return True
        except (ActivityError, ApplicationError) as exc:
            workflow.logger.warning("dispute %s: %s deferred: %s", self._inp.dispute_id, step.__name__, exc)
            return False

    async def _freeze(self) -> None:
        s, i = self.s, self._inp
        if not s.order_frozen and s.status not in CLOSED:
            await _call(api.FREEZE_ORDER, api.OrderHold(i.order_id, i.dispute_id))
            s.order_frozen = True

    async def _bind_evidence(self) -> None:
        s, i = self.s, self._inp
        if not s.evidence_registered:  # the opening's files, with the opening limits
            opening = [e for e in i.evidence_ids if e in s.evidence_ids]
            await self._bind(opening, at_opening=True)
            s.evidence_registered = True
        new = [e for e in s.evidence_ids if e not in s.evidence_bound]
        if new and not await self._bind(new, at_opening=False) and len(new) > 1:
            for e in new:  # refused together: keep each file that still fits
                await self._bind([e], at_opening=False)

    async def _bind(self, ids: list[str], *, at_opening: bool) -> bool:
        """Bind files; a final refusal drops them from the dispute with a timeline entry."""
        s, i = self.s, self._inp
        try:
            await _call(api.ATTACH_EVIDENCE, api.EvidenceBinding(i.dispute_id, i.order_id, ids, at_opening))
        except (ActivityError, ApplicationError) as exc:
            cause = exc.cause if isinstance(exc, ActivityError) else exc
            if not isinstance(cause, ApplicationError) or cause.type != api.EVIDENCE_REFUSED:
                raise
            if len(ids) == 1 or at_opening:
                s.evidence_ids = [e for e in s.evidence_ids if e not in ids]
                self._log(
                    "system", Party.SERVICE, "EVIDENCE_NOT_ATTACHED", f"{', '.join(ids)}: {cause.message}"
                )
            return False
        s.evidence_bound += [e for e in ids if e not in s.evidence_bound]
        return True

    async def _seal(self) -> None:
        s = self.s
        if s.escalated_at and not s.sealed and s.status not in CLOSED:
            await _call(api.SET_LEGAL_HOLD, api.LegalHold(self._inp.dispute_id, True))
            s.sealed = True
            self._log(
                "system",
                Party.SERVICE,
                "EVIDENCE_SEALED",
                "evidence is under legal hold until the case closes",
            )

    async def _pay_owed(self) -> None:
        for p in self.s.payouts:
            if not p.refund_id and p.status != PayoutStatus.REFUSED:
                await self._issue(p)

    async def _release(self) -> None:
        """At close: release evidence and the order's clock. Both calls are idempotent no-ops when
        nothing was held, so they are made even if the hold's own answer was lost."""
        s, i = self.s, self._inp
        if s.status in CLOSED and not s.order_released:
            if s.escalated_at:
                await _call(api.SET_LEGAL_HOLD, api.LegalHold(i.dispute_id, False))
            await _call(api.UNFREEZE_ORDER, api.OrderHold(i.order_id, i.dispute_id))
            s.order_released = True

    async def _publish(self) -> None:
        s = self.s
        if s.revision != self._published:
            revision, view = s.revision, self.view()  # changes made while writing publish next time
            self._publish_search_attributes()
            if workflow.patched(_RECORD_AFTER_COMMIT):
                # A regular activity runs only once the workflow task that made the change is
                # committed, so the events DisputeService writes with the record (its outbox)
                # describe what the history keeps, never a task that was lost and redone.
                await workflow.execute_activity(
                    api.RECORD_DISPUTE_STATE,
                    view,
                    start_to_close_timeout=timedelta(seconds=30),
                    # Time in the task queue counts here, unlike for a local activity.
                    schedule_to_close_timeout=_EFFECT_PATIENCE + timedelta(minutes=3),
                    retry_policy=_RETRY,
                )
            else:
                await _call(api.RECORD_DISPUTE_STATE, view)
            self._published = revision

    async def _issue(self, p: Payout) -> None:
        i = self._inp
        try:
            result = await _call(
                api.ISSUE_REFUND,
                api.RefundOrder(
                    p.key,
                    i.order_id,
                    i.dispute_id,
                    p.amount_minor,
                    i.currency,
                    f"dispute {i.dispute_id} round {p.round}",
                ),
                api.RefundResult,
            )
        except (ActivityError, ApplicationError) as exc:
            # A local activity's failure may arrive as the ApplicationError itself.
            cause = exc.cause if isinstance(exc, ActivityError) else exc
            if not isinstance(cause, ApplicationError) or cause.type != api.REFUND_REFUSED:
                raise
            p.status = PayoutStatus.REFUSED
            self._log("system", Party.SERVICE, "REFUND_REFUSED", f"round {p.round}: {cause.message}")
            return
        p.refund_id, p.status = result.refund_id, PayoutStatus.reported(result.status)
        self._log("system", Party.SERVICE, "REFUND_ISSUED", f"round {p.round}: refund {p.refund_id}")

    async def _poll_refunds(self) -> None:
        payouts = [p for p in self.s.payouts if p.refund_id and p.status not in FINAL_PAYOUTS]
        if payouts:
            reported = await _call(api.REFUND_STATUSES, [p.refund_id for p in payouts], result_type=list[str])
            statuses = [PayoutStatus.reported(x) for x in reported]
            for p, status in zip(payouts, statuses, strict=True):
                if status != p.status:
                    p.status = status
                    p.failed_since = self._now() if status == PayoutStatus.FAILED else ""
                    self._log(
                        "system", Party.SERVICE, f"REFUND_{status}", f"round {p.round}: refund {p.refund_id}"
                    )
                give_up = self._policy.days(self._policy.refund_failed_final_days)
                if p.status == PayoutStatus.FAILED and workflow.now() - _t(p.failed_since) >= give_up:
                    # RefundService gave it up too (no operator retry) and released the amount.
                    p.status = PayoutStatus.ABANDONED
                    self._log(
                        "system",
                        Party.SERVICE,
                        "REFUND_ABANDONED",
                        f"round {p.round}: refund {p.refund_id} failed for good; the buyer must be paid another way",
                    )
        if all(p.status in FINAL_PAYOUTS for p in self.s.payouts):
            refunded = any(p.status == PayoutStatus.REFUNDED for p in self.s.payouts)
            self._close(DisputeStatus.CLOSED_REFUNDED if refunded else DisputeStatus.CLOSED_WITHOUT_REFUND)
            self._poll_due = None
        else:
            self._poll_due = workflow.now() + max(self._policy.days(1) / 4, timedelta(seconds=1))

    def _publish_search_attributes(self) -> None:
        s = self.s
        due = self._live_deadline()
        values: tuple[object, ...] = (s.status, due, s.sla_breached)
        if values == self._sa_last:
            return
        self._sa_last = values
        deadline = sa.NEXT_DEADLINE.value_set(due) if due else sa.NEXT_DEADLINE.value_unset()
        workflow.upsert_search_attributes(
            [sa.DISPUTE_STATUS.value_set(s.status), deadline, sa.SLA_BREACHED.value_set(s.sla_breached)]
        )

    def _carry_over(self, recorded: bool = True) -> DisputeInput:
        return replace(self._inp, carried=self.s, carried_unrecorded=not recorded)

    def _closed_out(self) -> bool:
        """Closed, and everything owed at the close is done: the order and evidence released and
        the final state recorded. An action can land while a record is under way (a regular
        activity spans workflow tasks), so the loop must not end on a pass that began before it."""
        if self.s.order_released and self._published == self.s.revision:
            return True
        return not workflow.patched(_CLOSE_AFTER_RELEASE)
