"""Provider webhooks are reports, checked before they count: a signed settlement whose amount,
currency or reference disagrees with the refund changes nothing and is flagged for operators;
a webhook outside the timestamp tolerance (a replay) is refused."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

from orders.v1 import orders_pb2
from refunds.v1 import refunds_pb2, refunds_pb2_grpc
from temporalio.client import Client

from platform_common import access
from platform_common import search_attributes as sa
from platform_common.signing import sign
from refund_svc.model import workflow_id
from refund_svc.provider.adapter import SIGNATURE_HEADER
from tests.integration.conftest import Api
from tests.integration.test_refunds import issue, provider, provider_refunds, wait_status


def post(api: Api, payload: dict[str, Any], at: int | None = None, signature: str | None = None) -> int:
    body = json.dumps(payload).encode()
    stamp = int(time.time()) if at is None else at
    req = urllib.request.Request(
        f"http://127.0.0.1:{api.stack.ports.refund_webhook}/webhooks/provider",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature or sign(body, api.stack.secrets.provider_webhook_secret, stamp),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def _processing(api: Api) -> tuple[orders_pb2.Order, refunds_pb2.Refund, dict[str, Any]]:
    """A refund the provider accepted and will not settle (until told to)."""
    refunds = refunds_pb2_grpc.RefundServiceStub(api.channels["REFUND"])
    order = await api.create_order(minor_units=4_000)
    issued = (
        await refunds.IssueRefund(issue(order, 4_000), metadata=api.service(access.DISPUTES_WORKER))
    ).refund
    refund = await wait_status(api, refunds, issued.refund_id, refunds_pb2.REFUND_STATUS_PROCESSING)
    [at_provider] = provider_refunds(api.stack, issued.idempotency_key)
    return order, refund, at_provider


async def test_a_settlement_that_disagrees_with_the_refund_changes_nothing(
    api: Api, temporal_client: Client
) -> None:
    refunds = refunds_pb2_grpc.RefundServiceStub(api.channels["REFUND"])
    provider(api.stack, "POST", "/admin/config", {"never_settle": True})
    try:
        order, refund, real = await _processing(api)
        # The reported defect: a correctly signed "succeeded" for amount 1 settled a 4,000 refund.
        forged = {**real, "status": "succeeded", "amount_minor": 1, "settled_at": "2026-12-01T00:00:00+00:00"}
        assert post(api, {"type": "refund.succeeded", "refund": forged}) == 200  # a report, taken
        other_currency = {**real, "status": "succeeded", "currency": "USD"}
        assert post(api, {"type": "refund.succeeded", "refund": other_currency}) == 200
        handle = temporal_client.get_workflow_handle(workflow_id(refund.idempotency_key))
        for _ in range(100):
            described = await handle.describe()
            if described.typed_search_attributes.get(sa.SETTLEMENT_MISMATCHES) == 2:
                break
            await asyncio.sleep(0.1)
        assert described.typed_search_attributes.get(sa.SETTLEMENT_MISMATCHES) == 2
        current = (
            await refunds.GetRefund(
                refunds_pb2.GetRefundRequest(refund_id=refund.refund_id), metadata=api.service()
            )
        ).refund
        assert current.status == refunds_pb2.REFUND_STATUS_PROCESSING and current.settlement_mismatch
        notes = [h.detail for h in current.status_history if "ignored" in h.detail]
        assert len(notes) == 2 and "amount 1, expected 4000" in notes[0] and "currency" in notes[1]
        held = await api.get(order)
        assert held.escrow.refunded.minor_units == 0 and held.escrow.pending.minor_units == 4_000
        [still] = provider_refunds(api.stack, refund.idempotency_key)
        assert still["status"] == "processing"  # the provider's own record agrees: nothing settled
    finally:
        provider(api.stack, "POST", "/admin/config", {"never_settle": False})
    done = await wait_status(api, refunds, refund.refund_id, refunds_pb2.REFUND_STATUS_REFUNDED)
    assert done.settlement_mismatch  # the flag stays for operators
    for _ in range(50):
        settled = await api.get(order)
        if settled.escrow.refunded.minor_units:
            break
        await asyncio.sleep(0.2)
    assert settled.escrow.refunded.minor_units == 4_000


async def test_webhooks_outside_the_tolerance_or_badly_signed_are_refused(api: Api) -> None:
    refunds = refunds_pb2_grpc.RefundServiceStub(api.channels["REFUND"])
    provider(api.stack, "POST", "/admin/config", {"never_settle": True})
    try:
        _, refund, real = await _processing(api)
        genuine = {"type": "refund.succeeded", "refund": {**real, "status": "succeeded"}}
        stale = int(time.time()) - 600  # a captured webhook replayed ten minutes later
        assert post(api, genuine, at=stale) == 400
        assert post(api, genuine, at=int(time.time()) + 600) == 400
        assert post(api, genuine, signature="t=1,v1=" + "0" * 64) == 401
        assert (
            post(
                api,
                genuine,
                signature=sign(b"{}", api.stack.secrets.provider_webhook_secret, int(time.time())),
            )
            == 401
        )
        assert post(api, genuine, signature="deadbeef") == 400  # the old, timestamp-less form
        await asyncio.sleep(1)
        current = (
            await refunds.GetRefund(
                refunds_pb2.GetRefundRequest(refund_id=refund.refund_id), metadata=api.service()
            )
        ).refund
        assert current.status == refunds_pb2.REFUND_STATUS_PROCESSING and not current.settlement_mismatch
    finally:
        provider(api.stack, "POST", "/admin/config", {"never_settle": False})
    await wait_status(api, refunds, refund.refund_id, refunds_pb2.REFUND_STATUS_REFUNDED)
