"""Webhook subscriptions on the real stack: signed, ordered, at-least-once deliveries by a
Temporal workflow per subscription; a receiver that is down for a while gets everything once it
is back; one that keeps failing is disabled and visible, and a replay brings it back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from disputes.v1 import disputes_pb2 as pb

from deploy.processes import port_open, wait_until
from examples.webhook_receiver import WebhookReceiver
from platform_common import access
from platform_common.auth import Role
from tests.harness.fixtures import DAY_SECONDS
from tests.integration.conftest import Api
from tests.integration.disputes_api import (
    C,
    disputable,
    disputes,
    eventually,
    open_dispute,
    refused,
    status_becomes,
)
from tests.integration.test_dispute_events import events_of, message, notifier


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    r = WebhookReceiver(secret="")  # the secret is set once the subscription shows it
    r.start()
    yield r
    r.stop()


async def subscribe(api: Api, r: WebhookReceiver, **extra: object) -> pb.WebhookSubscription:
    resp = await disputes(api).CreateWebhookSubscription(
        pb.CreateWebhookSubscriptionRequest(url=r.url, **extra),  # type: ignore[arg-type]
        metadata=notifier(api),
    )
    assert resp.secret.startswith("whsec_") and len(resp.secret) > 40
    r.secret = resp.secret
    return resp.subscription


async def subscription(api: Api, subscription_id: str) -> pb.WebhookSubscription:
    page = await disputes(api).ListWebhookSubscriptions(
        pb.ListWebhookSubscriptionsRequest(), metadata=notifier(api)
    )
    return next(s for s in page.subscriptions if s.subscription_id == subscription_id)


async def settle(api: Api, count: int) -> list[str]:
    """Open disputes and have their sellers accept: each ends CLOSED_REFUNDED."""
    cases = await disputable(api, count)
    ids = []
    for case in cases:
        d = await open_dispute(api, case)
        await disputes(api).RespondAsSeller(
            pb.RespondAsSellerRequest(dispute_id=d.dispute_id, response_type=pb.SELLER_RESPONSE_TYPE_ACCEPT),
            metadata=api.auth(case.seller, Role.SELLER),
        )
        ids.append(d.dispute_id)
    for dispute_id in ids:
        await status_becomes(api, dispute_id, pb.DISPUTE_STATUS_CLOSED_REFUNDED, timeout=60)
    return ids


def delivered(r: WebhookReceiver, dispute_id: str) -> list[dict[str, object]]:
    return [d.event for d in r.events if d.event.get("dispute_id") == dispute_id]


async def all_delivered(api: Api, r: WebhookReceiver, ids: list[str], timeout: float = 30) -> None:
    async def done() -> bool:
        for dispute_id in ids:
            outbox = await events_of(api, notifier(api), dispute_id)
            if not outbox or outbox[-1].type != "dispute.closed":
                return False
            if [e["event_id"] for e in delivered(r, dispute_id)] != [e.event_id for e in outbox]:
                return False
        return True

    await eventually(done, timeout, "every event at the receiver")


async def test_subscriptions_belong_to_their_service_and_refuse_bad_input(
    api: Api, receiver: WebhookReceiver
) -> None:
    stub = disputes(api)
    sub = await subscribe(api, receiver, event_types=["dispute.closed", "dispute.opened"])
    assert list(sub.event_types) == ["dispute.closed", "dispute.opened"]
    assert sub.status == pb.WEBHOOK_STATUS_ACTIVE and sub.owner == access.NOTIFICATIONS
    listed = await subscription(api, sub.subscription_id)
    assert "whsec_" not in str(listed), "the secret is shown once, at creation"
    other = api.service(access.SUPPORT)
    theirs = await stub.ListWebhookSubscriptions(pb.ListWebhookSubscriptionsRequest(), metadata=other)
    assert sub.subscription_id not in [s.subscription_id for s in theirs.subscriptions]
    for call in (
        stub.DeleteWebhookSubscription(
            pb.DeleteWebhookSubscriptionRequest(subscription_id=sub.subscription_id), metadata=other
        ),
        stub.ReplayWebhookSubscription(
            pb.ReplayWebhookSubscriptionRequest(subscription_id=sub.subscription_id), metadata=other
        ),
    ):
        await refused(C.NOT_FOUND, call)
    for url in ("ftp://example.com/x", "http://user:pw@127.0.0.1/x", "not a url", "https://", "x" * 3000):
        await refused(
            C.INVALID_ARGUMENT,
            stub.CreateWebhookSubscription(
                pb.CreateWebhookSubscriptionRequest(url=url), metadata=notifier(api)
            ),
        )
    await refused(
        C.INVALID_ARGUMENT,
        stub.CreateWebhookSubscription(
            pb.CreateWebhookSubscriptionRequest(url=receiver.url, event_types=["dispute.nope"]),
            metadata=notifier(api),
        ),
    )
    await refused(
        C.INVALID_ARGUMENT,
        stub.CreateWebhookSubscription(
            pb.CreateWebhookSubscriptionRequest(url=receiver.url, after_cursor=10**15), metadata=notifier(api)
        ),
    )
    await stub.DeleteWebhookSubscription(
        pb.DeleteWebhookSubscriptionRequest(subscription_id=sub.subscription_id), metadata=notifier(api)
    )
    page = await stub.ListWebhookSubscriptions(pb.ListWebhookSubscriptionsRequest(), metadata=notifier(api))
    assert sub.subscription_id not in [s.subscription_id for s in page.subscriptions]


async def test_events_arrive_signed_in_order_once_each_and_filtered(
    api: Api, receiver: WebhookReceiver
) -> None:
    everything = await subscribe(api, receiver)
    closings = WebhookReceiver(secret="").start()
    try:
        only = await subscribe(api, closings, event_types=["dispute.closed"])
        ids = await settle(api, 3)
        await all_delivered(api, receiver, ids)
        for dispute_id in ids:
            got = delivered(receiver, dispute_id)
            assert [e["sequence"] for e in got] == [str(n) for n in range(1, len(got) + 1)], (
                "in order, no gap"
            )
        assert receiver.refused == [], "every delivery carried a valid signature"

        async def closed_only() -> bool:
            return sorted(
                str(d.event["dispute_id"]) for d in closings.events if d.event.get("dispute_id") in ids
            ) == sorted(ids)

        await eventually(closed_only, 20, "the closings at the filtered receiver")
        assert {d.event["type"] for d in closings.events} == {"dispute.closed"}
        state = await subscription(api, everything.subscription_id)
        assert state.delivered_count >= sum(len(delivered(receiver, i)) for i in ids)
        assert not state.HasField("failing_since") and state.status == pb.WEBHOOK_STATUS_ACTIVE
        assert (await subscription(api, only.subscription_id)).delivered_count >= 3
    finally:
        closings.stop()
    # A forged delivery (wrong secret) is refused by the receiver: the example verifies.
    forged = WebhookReceiver(secret="whsec_other")
    code, why = forged.handle(receiver.events[0].raw, "t=1,v1=00")
    assert code == 400 and why


async def test_a_receiver_down_for_two_days_gets_everything_when_back(
    api: Api, receiver: WebhookReceiver
) -> None:
    sub = await subscribe(api, receiver)
    receiver.failing = True
    ids_task = asyncio.create_task(settle(api, 2))

    async def failing() -> bool:
        return (await subscription(api, sub.subscription_id)).HasField("failing_since")

    await eventually(failing, 30, "the subscription to be failing")
    await asyncio.sleep(2 * DAY_SECONDS)
    receiver.failing = False
    ids = await ids_task
    await all_delivered(api, receiver, ids)
    state = await subscription(api, sub.subscription_id)
    assert state.status == pb.WEBHOOK_STATUS_ACTIVE and not state.HasField("failing_since")


async def test_a_receiver_that_always_fails_is_disabled_visibly_and_a_replay_brings_it_back(
    api: Api, receiver: WebhookReceiver
) -> None:
    receiver.failing = True
    sub = await subscribe(api, receiver)
    ids = await settle(api, 1)

    async def disabled() -> bool:
        return (await subscription(api, sub.subscription_id)).status == pb.WEBHOOK_STATUS_DISABLED

    await eventually(disabled, 30, "the subscription to be disabled")
    state = await subscription(api, sub.subscription_id)
    assert "HTTP 503" in state.disabled_reason and "HTTP 503" in state.last_error
    assert state.HasField("failing_since") and state.delivered_count == 0
    receiver.failing = False
    await disputes(api).ReplayWebhookSubscription(
        pb.ReplayWebhookSubscriptionRequest(
            subscription_id=sub.subscription_id, after_cursor=sub.delivered_cursor
        ),
        metadata=notifier(api),
    )
    await all_delivered(api, receiver, ids)
    assert (await subscription(api, sub.subscription_id)).status == pb.WEBHOOK_STATUS_ACTIVE


def order_events_at(r: WebhookReceiver, order_id: str) -> list[dict[str, Any]]:
    """The order events a receiver kept for one order (dispute events carry order_id too)."""
    return [
        d.event
        for d in r.events
        if str(d.event["type"]).startswith("order.") and d.event["order_id"] == order_id
    ]


async def test_order_events_are_delivered_by_their_own_filter_and_replayed_from_their_cursor(
    api: Api, receiver: WebhookReceiver
) -> None:
    stub = disputes(api)
    await refused(
        C.INVALID_ARGUMENT,
        stub.CreateWebhookSubscription(
            pb.CreateWebhookSubscriptionRequest(url=receiver.url, event_types=["order.nope"]),
            metadata=notifier(api),
        ),
    )
    await refused(
        C.INVALID_ARGUMENT,
        stub.CreateWebhookSubscription(
            pb.CreateWebhookSubscriptionRequest(url=receiver.url, order_after_cursor=10**15),
            metadata=notifier(api),
        ),
    )
    sub = await subscribe(api, receiver, event_types=["order.shipped", "order.created", "order.delivered"])
    assert list(sub.event_types) == ["order.created", "order.delivered", "order.shipped"]
    order = await api.create_order()
    await api.ship(order)
    expected = ["order.created", "order.shipped"]

    async def arrived() -> bool:
        return [e["type"] for e in order_events_at(receiver, order.order_id)] == expected

    await eventually(arrived, 20, "the order's events at the receiver")
    got = order_events_at(receiver, order.order_id)
    assert [e["sequence"] for e in got] == ["1", "2"] and got[1]["order"]["status"] == "ORDER_STATUS_SHIPPED"
    assert all(not str(d.event["type"]).startswith("dispute.") for d in receiver.events), "its filter only"
    assert receiver.refused == []
    state = await subscription(api, sub.subscription_id)
    assert state.order_delivered_cursor >= int(got[1]["cursor"])
    # A replay of the order feed from before the order: its events again (the receiver dedups).
    receiver.events.clear()
    receiver._seen.clear()
    before = int(got[0]["cursor"]) - 1
    await stub.ReplayWebhookSubscription(
        pb.ReplayWebhookSubscriptionRequest(
            subscription_id=sub.subscription_id,
            after_cursor=state.delivered_cursor,
            order_after_cursor=before,
        ),
        metadata=notifier(api),
    )
    await eventually(arrived, 20, "the order's events again, after the replay")


async def test_order_service_down_holds_up_only_the_order_feed(api: Api, receiver: WebhookReceiver) -> None:
    (case,) = await disputable(api)
    d = await open_dispute(api, case)
    await subscribe(api, receiver)  # no filter: both feeds, from now on
    orders = api.stack.apps["order_svc"]
    port = api.stack.ports.services["ORDER"]
    orders.kill()
    try:
        await disputes(api).SendMessage(
            message(d.dispute_id, "are you there?"), metadata=api.auth(case.buyer, Role.BUYER)
        )

        async def posted() -> bool:
            return any(e["type"] == "dispute.message_posted" for e in delivered(receiver, d.dispute_id))

        await eventually(posted, 20, "the dispute event while OrderService is down")
    finally:
        await asyncio.to_thread(orders.start)
        await asyncio.to_thread(wait_until, lambda: port_open("127.0.0.1", port), "OrderService", 60)
    order = await api.create_order()

    async def created() -> bool:
        return [e["type"] for e in order_events_at(receiver, order.order_id)] == ["order.created"]

    await eventually(created, 30, "the order feed once OrderService is back")
    assert receiver.refused == []
