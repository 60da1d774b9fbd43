"""Webhook deliveries without the stack: the delivery workflow's retry window on the
time-skipping server with scripted outcomes, the URL rules, and the POST's deadline."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from dispute_svc import contract as api
from dispute_svc import webhook_http
from dispute_svc.webhooks import Feeds, check_url
from dispute_svc.workflow_webhooks import (
    WEBHOOK_RETRY_DAYS,
    WebhookDeliveryWorkflow,
    WebhookInput,
    retry_delay,
)
from platform_common.errors import InvalidArgument

DAY = 100.0  # seconds: the time-skipping server jumps over them


class Script:
    """Delivery outcomes handed out in order (the last one repeats), and what was disabled."""

    def __init__(self, outcomes: list[api.WebhookOutcome | Exception], disable_answers: list[bool]) -> None:
        self._outcomes: Iterator[api.WebhookOutcome | Exception] = iter(outcomes)
        self._last: api.WebhookOutcome | Exception = outcomes[-1]
        self._disable_answers = iter(disable_answers)
        self.calls = 0
        self.disabled: list[api.WebhookDisable] = []

    @activity.defn(name=api.DELIVER_WEBHOOKS)
    async def deliver(self, p: api.WebhookPull) -> api.WebhookOutcome:
        self.calls += 1
        outcome = next(self._outcomes, self._last)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    @activity.defn(name=api.DISABLE_WEBHOOK)
    async def disable(self, d: api.WebhookDisable) -> bool:
        self.disabled.append(d)
        return next(self._disable_answers, True)


async def run(env: WorkflowEnvironment, script: Script) -> tuple[str, timedelta]:
    """The workflow's result, and how long it ran by the server's own start and close times.

    Why not the environment's clock before and after: once the workflow has closed, the
    time-skipping server may jump to another test's far timer before the client reads it."""
    queue = f"webhooks-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[WebhookDeliveryWorkflow],
        activities=[script.deliver, script.disable],
    ):
        handle = await env.client.start_workflow(
            WebhookDeliveryWorkflow.run, WebhookInput(str(uuid.uuid4()), DAY), id=queue, task_queue=queue
        )
        result = await handle.result()
    # The first run's start to the last run's close (continue-as-new keeps the id).
    first = await env.client.get_workflow_handle(queue, run_id=handle.run_id).describe()
    last = await env.client.get_workflow_handle(queue).describe()
    assert last.close_time is not None
    return result, last.close_time - first.start_time


FAILED = api.WebhookOutcome(api.FAILED, 0, "event x: HTTP 503", "2026-12-01T10:00:00+00:00")


async def test_a_receiver_failing_past_the_window_is_disabled_with_what_it_was_told(
    time_env: WorkflowEnvironment,
) -> None:
    script = Script([FAILED], [True])
    result, took = await run(time_env, script)
    assert result == "DISABLED"
    (d,) = script.disabled
    assert d.failing_since == FAILED.failing_since, "the disable is conditional on what was reported"
    assert "HTTP 503" in d.reason and "attempts" in d.reason
    window = timedelta(seconds=DAY * WEBHOOK_RETRY_DAYS)
    # Not before the window; and not long after it (the time-skipping server may add an
    # activity timeout or two of its own while it skips).
    assert window <= took < window * 1.5, took
    assert script.calls > 10, "retried with backoff, not given up at once"


async def test_a_success_in_between_restarts_the_window(time_env: WorkflowEnvironment) -> None:
    ok = api.WebhookOutcome(api.DELIVERED, 3)
    # Two days failing, one success, then failing: disabled 3 days after the second run began.
    fails = int(2 * DAY / retry_delay(20, DAY).total_seconds())
    script = Script([*[FAILED] * fails, ok, FAILED], [True])
    result, took = await run(time_env, script)
    assert result == "DISABLED"
    assert took >= timedelta(seconds=DAY * (WEBHOOK_RETRY_DAYS + 1.5)), took


async def test_a_replay_that_won_the_race_keeps_the_subscription(time_env: WorkflowEnvironment) -> None:
    gone = api.WebhookOutcome(api.GONE)
    # Each disable finds the subscription replayed meanwhile: the workflow carries on each time.
    script = Script([*[FAILED] * 400, gone], [False] * 100)
    assert (await run(time_env, script))[0] == "GONE"
    assert len(script.disabled) >= 2, "after a lost disable, a fresh window, then another attempt"


async def test_the_service_refusing_the_call_is_not_the_receiver_failing(
    time_env: WorkflowEnvironment,
) -> None:
    refused = ApplicationError("PERMISSION_DENIED", non_retryable=True)
    gone = api.WebhookOutcome(api.GONE)
    script = Script([FAILED, *[refused] * 12, FAILED, gone], [True])
    assert (await run(time_env, script))[0] == "GONE", (
        "a refused call neither kills the workflow nor disables"
    )
    assert script.disabled == []


def test_retry_delays_double_then_cap_and_never_drop_below_the_floor() -> None:
    day = 86_400.0
    delays = [retry_delay(n, day) for n in range(1, 12)]
    assert delays[0] == timedelta(seconds=30) and delays[1] == timedelta(seconds=60)
    assert max(delays) == timedelta(hours=1) and delays == sorted(delays)
    assert retry_delay(1, 0.5) == timedelta(milliseconds=50)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",  # plain http
        "https://127.0.0.1/hook",  # loopback
        "https://10.1.2.3/hook",  # private
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://user:pw@example.com/hook",
        "https://exämple.com/hook",  # not ASCII: the xn-- form is required
        "https://example.com/ho ok",
        "https://example.com:0/hook",
        "ftp://example.com/hook",
        "https:///hook",
    ],
)
async def test_urls_that_are_refused(url: str) -> None:
    with pytest.raises(InvalidArgument):
        await check_url(url, local=False)


async def test_local_receivers_only_where_allowed() -> None:
    assert await check_url("http://127.0.0.1:8080/hook", local=True)
    with pytest.raises(InvalidArgument):
        await check_url("http://127.0.0.1:8080/hook", local=False)


async def _server(handler: object) -> tuple[asyncio.base_events.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/hook"


async def test_a_trickling_receiver_cannot_hold_a_post_past_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webhook_http, "POST_TIMEOUT_S", 1.0)

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        for _ in range(20):  # a byte every 0.3 s: no single read ever times out
            writer.write(b"H")
            await writer.drain()
            await asyncio.sleep(0.3)
        writer.close()

    server, url = await _server(trickle)
    try:
        t0 = datetime.now(UTC)
        outcome = await webhook_http.post(url, b"{}", {}, allow_local=True)
        assert "no answer within" in outcome
        assert datetime.now(UTC) - t0 < timedelta(seconds=2)
    finally:
        server.close()


async def test_a_redirect_is_a_failure_and_a_2xx_a_success() -> None:
    answers = iter(
        [b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1/\r\n\r\n", b"HTTP/1.1 204 No Content\r\n\r\n"]
    )

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(next(answers))
        await writer.drain()
        writer.close()

    server, url = await _server(answer)
    try:
        assert await webhook_http.post(url, b"{}", {}, allow_local=True) == "HTTP 302"
        assert await webhook_http.post(url, b"{}", {}, allow_local=True) == ""
    finally:
        server.close()


def test_a_filter_draws_on_the_feeds_of_its_types() -> None:
    every = Feeds.of([])
    assert every.disputes and every.orders and every.dispute_types == every.order_types == []
    only = Feeds.of(["dispute.closed"])
    assert only.disputes and not only.orders and only.dispute_types == ["dispute.closed"]
    orders = Feeds.of(["order.shipped"])
    assert orders.orders and not orders.disputes and orders.order_types == ["order.shipped"]
    both = Feeds.of(["order.shipped", "dispute.closed"])
    assert (both.dispute_types, both.order_types) == (["dispute.closed"], ["order.shipped"])
    assert both.disputes and both.orders
