"""What the Temporal UI shows, read from the real dev server the way the UI reads it: each
workflow's static summary and details (describe), its current details (the SDK's metadata
query), its named timers and its local activities' summaries (the history's user metadata)."""

from __future__ import annotations

import inspect

from disputes.v1 import disputes_pb2 as pb
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle
from temporalio.converter import DataConverter

from platform_common.auth import Role
from tests.integration.conftest import Api
from tests.integration.disputes_api import disputable, disputes, eventually, open_dispute, partial


async def _static(handle: WorkflowHandle[object, object]) -> tuple[str, str]:
    d = await handle.describe()
    summary: object = d.static_summary()
    details: object = d.static_details()
    if inspect.isawaitable(summary) and inspect.isawaitable(details):
        summary, details = await summary, await details
    return str(summary or ""), str(details or "")


async def _current(handle: WorkflowHandle[object, object]) -> str:
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return str(meta.current_details)


async def _user_metadata(handle: WorkflowHandle[object, object], kind: int) -> list[str]:
    """The summaries of the history's events of one type, decoded as the UI decodes them."""
    converter = DataConverter.default
    out = []
    async for e in handle.fetch_history_events():
        if e.event_type == kind and e.HasField("user_metadata") and e.user_metadata.HasField("summary"):
            (text,) = await converter.decode([e.user_metadata.summary])
            out.append(str(text))
    return out


async def test_a_dispute_and_its_order_read_as_words(api: Api, temporal_client: Client) -> None:
    (case,) = await disputable(api, protection_days=60)
    d = await open_dispute(api, case, solution=partial(4_000))
    handle = temporal_client.get_workflow_handle(f"dispute/{d.dispute_id}")

    summary, details = await _static(handle)
    assert summary == f"Dispute on order {case.order.order_id} (COLOR_NOT_AS_DESCRIBED)"
    for expected in (
        f"**Order:** {case.order.order_id}",
        "**Paid:** 129.99 EUR",
        f"**Buyer:** {case.buyer}",
        f"**Seller:** {case.seller}",
        "**Claim:** PARTIAL_REFUND 40.00 EUR",
    ):
        assert expected in details, details

    # The first timer starts once the opening's effects (freeze, record) are done.
    async def waiting() -> bool:
        return "seller response window (15 days)" in await _user_metadata(
            handle, EventType.EVENT_TYPE_TIMER_STARTED
        )

    await eventually(waiting, 10, "the seller's window as a named timer")
    current = await _current(handle)
    assert "**Status:** AWAITING_SELLER_RESPONSE" in current, current
    assert "**Next deadline:** seller response window (15 days) ends in " in current, current
    assert "**Claimed:** 40.00 EUR" in current

    # The seller counter-offers: the details follow, and the buyer's window is the new timer.
    await disputes(api).RespondAsSeller(
        pb.RespondAsSellerRequest(
            dispute_id=d.dispute_id,
            response_type=pb.SELLER_RESPONSE_TYPE_COUNTER_OFFER,
            counter_offer=partial(2_000),
            message="20 EUR",
        ),
        metadata=api.auth(case.seller, Role.SELLER),
    )
    current = await _current(handle)
    assert "**Status:** AWAITING_BUYER_RESPONSE" in current and "**Offered:** 20.00 EUR" in current, current

    async def answered() -> bool:
        timers = await _user_metadata(handle, EventType.EVENT_TYPE_TIMER_STARTED)
        return "buyer response window (7 days)" in timers

    await eventually(answered, 10, "the buyer's window as a named timer")
    markers = await _user_metadata(handle, EventType.EVENT_TYPE_MARKER_RECORDED)
    assert "freeze the order's protection clock" in markers, markers

    order = temporal_client.get_workflow_handle(f"order-protection/{case.order.order_id}")
    summary, details = await _static(order)
    assert summary == f"Buyer protection of order {case.order.order_id}"
    assert f"**Seller:** {case.seller}" in details
    assert "**Protection:** frozen by 1 dispute(s)" in await _current(order)
