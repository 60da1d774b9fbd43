"""Metrics and traces as an on-call engineer reads them, on a stack of its own (so every counter
is this test's doing): after a scripted flow, each service's /metrics counts exactly the calls
made, by method and code; the platform gauges match the disputes and refunds the flow left; the
disputes worker serves the Temporal SDK's metrics; and one OpenDispute's trace runs from the
service's span through the workflow to its activities (spans collected in memory by an OTLP
receiver in this process, as a collector would get them).
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from disputes.v1 import disputes_pb2 as pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as otlp
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as otlp_grpc
from prometheus_client.parser import text_string_to_metric_families

from deploy.stack import ROOT, Stack
from platform_common.auth import Role
from tests.harness.fixtures import make_stack
from tests.integration.conftest import open_api
from tests.integration.disputes_api import disputable, disputes, open_dispute, refused

C = grpc.StatusCode
DAY = 0.25  # the seller's 15 days last 3.75 s; the arbitration maximum (60 days) 15 s
DISPUTES = "disputes.v1.DisputeService"


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, str]


class SpanSink(otlp_grpc.TraceServiceServicer):  # type: ignore[misc]
    """An OTLP/gRPC trace receiver that keeps every span in memory."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        otlp_grpc.add_TraceServiceServicer_to_server(self, self._server)  # type: ignore[no-untyped-call]
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()

    def Export(
        self, request: otlp.ExportTraceServiceRequest, context: Any
    ) -> otlp.ExportTraceServiceResponse:
        for rs in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    self.spans.append(
                        Span(
                            attrs.get("service.name", ""),
                            s.name,
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            {a.key: a.value.string_value for a in s.attributes},
                        )
                    )
        return otlp.ExportTraceServiceResponse()

    def stop(self) -> None:
        self._server.stop(0)


@pytest.fixture(scope="module")
def sink() -> Iterator[SpanSink]:
    s = SpanSink()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def observed(sink: SpanSink, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = make_stack(Path(tmp_path_factory.mktemp("observed")), DAY)
    stack.extra_env.update(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.port}",
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within a fraction of a second
        }
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
async def flow(observed: Stack) -> AsyncIterator[dict[str, Any]]:
    """The scripted flow, once, for both tests: two disputes (one the seller accepts, one left
    to escalate), two refused calls, and the dispute reads it polls with (counted)."""
    async with open_api(observed) as api:
        accepted, silent = await disputable(api, 2)
        stub = disputes(api)
        reads = 0

        async def status(dispute_id: str) -> int:
            nonlocal reads
            reads += 1
            got = await stub.GetDispute(pb.GetDisputeRequest(dispute_id=dispute_id), metadata=api.service())
            return int(got.dispute.status)

        async def until(dispute_id: str, wanted: int, timeout: float = 60) -> None:
            deadline = asyncio.get_running_loop().time() + timeout
            while await status(dispute_id) != wanted:
                assert asyncio.get_running_loop().time() < deadline, f"{dispute_id} never became {wanted}"
                await asyncio.sleep(0.3)

        d1 = await open_dispute(api, accepted)
        d2 = await open_dispute(api, silent)
        buyer = api.auth(accepted.buyer, Role.BUYER)
        await refused(
            C.PERMISSION_DENIED, stub.ListArbitrationQueue(pb.ListArbitrationQueueRequest(), metadata=buyer)
        )
        missing = pb.GetDisputeRequest(dispute_id=str(uuid.uuid4()))
        await refused(C.NOT_FOUND, stub.GetDispute(missing, metadata=api.service()))
        missing_id = missing.dispute_id
        # A watch the caller closes, and one its deadline ends: neither is the platform's failure.
        watch = pb.WatchDisputeEventsRequest(dispute_id=str(uuid.uuid4()))  # nothing to send: it waits
        closed = stub.WatchDisputeEvents(watch, metadata=api.service())
        first = await closed.read()  # the server is serving it (a watch opens with a heartbeat)
        assert first.HasField("heartbeat")
        closed.cancel()
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            async for _ in stub.WatchDisputeEvents(watch, metadata=api.service(), timeout=1.0):
                pass
        assert ended.value.code() == C.DEADLINE_EXCEEDED
        await stub.RespondAsSeller(
            pb.RespondAsSellerRequest(
                dispute_id=d1.dispute_id, response_type=pb.SELLER_RESPONSE_TYPE_ACCEPT, claim_version=1
            ),
            metadata=api.auth(accepted.seller, Role.SELLER),
        )
        await until(d1.dispute_id, pb.DISPUTE_STATUS_CLOSED_REFUNDED)
        await until(d2.dispute_id, pb.DISPUTE_STATUS_UNDER_ARBITRATION)
        yield {
            "api": api,
            "accepted": accepted,
            "d1": d1,
            "d2": d2,
            "reads": lambda: reads,
            "missing": missing_id,
        }


def scrape(stack: Stack, key: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one process's /metrics: (name, sorted labels) -> value."""
    text = urllib.request.urlopen(stack.metrics_url(key), timeout=10).read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_count_the_calls_and_gauges_match_the_flow(
    observed: Stack, flow: dict[str, Any]
) -> None:
    m = scrape(observed, "DISPUTE")
    handled = "dp_grpc_server_handled_total"

    def rpc(method: str, code: str = "OK") -> float:
        return sample(m, handled, service=DISPUTES, method=method, code=code)

    assert rpc("OpenDispute") == 2
    assert sample(m, "dp_grpc_server_started_total", service=DISPUTES, method="OpenDispute") == 2
    assert sample(m, "dp_grpc_server_handling_seconds_count", service=DISPUTES, method="OpenDispute") == 2
    assert rpc("RespondAsSeller") == 1
    assert rpc("ListArbitrationQueue", "PERMISSION_DENIED") == 1
    assert rpc("ListArbitrationQueue") == 0
    assert rpc("GetDispute", "NOT_FOUND") == 1
    assert rpc("GetDispute") == flow["reads"]()

    watched: dict[str, float] = {}

    async def watches_counted() -> bool:
        w = scrape(observed, "DISPUTE")
        watched.clear()
        watched.update(
            {
                dict(labels)["code"]: v
                for (n, labels), v in w.items()
                if n == handled and dict(labels).get("method") == "WatchDisputeEvents"
            }
        )
        # Closed by the client, and cut by its deadline: the server sees both as cancelled.
        return watched == {"CANCELLED": 2}

    await _eventually(watches_counted, 30, lambda: f"the closed and the timed-out watch counted: {watched}")
    # The platform gauges, read from the store at each scrape: the read model records a
    # dispute's new status a moment after the workflow took it.
    gauges: dict[tuple[str, str], float] = {}

    async def gauges_match() -> bool:
        g = scrape(observed, "DISPUTE")
        gauges.clear()
        gauges.update(
            {
                (n, ",".join(f"{k}={v}" for k, v in lab)): v
                for (n, lab), v in g.items()
                if n.startswith("dp_") and not n.startswith("dp_grpc")
            }
        )
        return (
            sample(g, "dp_gauges_up", service=DISPUTES) == 1
            and sample(g, "dp_disputes", status="CLOSED_REFUNDED") == 1
            and sample(g, "dp_disputes", status="UNDER_ARBITRATION") == 1
            and sum(v for (name, _), v in g.items() if name == "dp_disputes") == 2
            and sample(g, "dp_arbitration_waiting", assigned="no") == 1
            and sample(g, "dp_arbitration_waiting", assigned="yes") == 0
            and sample(g, "dp_webhook_backlog_events") == 0
        )

    await _eventually(gauges_match, 40, lambda: f"the dispute gauges to match the flow: {gauges}")
    # The refund the accepted dispute ordered, counted where RefundService served it.
    refunds = scrape(observed, "REFUND")
    assert sample(refunds, handled, service="refunds.v1.RefundService", method="IssueRefund", code="OK") == 1

    async def settled() -> bool:
        r = scrape(observed, "REFUND")
        return sample(r, "dp_refunds", status="REFUNDED") == 1

    await _eventually(settled, 30, "the refund to settle")
    assert sample(scrape(observed, "REFUND"), "dp_refunds_overdue") == 0
    # The silent seller's dispute passes the arbitration maximum unanswered: a breach.
    assert gauges[("dp_disputes_sla_breached", "")] == 0

    async def breached() -> bool:
        return sample(scrape(observed, "DISPUTE"), "dp_disputes_sla_breached") == 1

    await _eventually(breached, 60, "the SLA breach gauge")
    # The disputes worker's own runtime metrics, from the Temporal SDK.
    w = scrape(observed, "WORKER_DISPUTES")
    assert any(
        name.startswith("temporal_workflow_task") and dict(labels).get("workflow_type") == "DisputeWorkflow"
        for (name, labels), v in w.items()
        if v > 0
    ), sorted({name for name, _ in w})


async def test_the_dashboard_reads_only_metrics_the_platform_serves(
    observed: Stack, flow: dict[str, Any]
) -> None:
    dashboard = json.loads((ROOT / "deploy" / "observability" / "grafana-sla-backlog.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    wanted = {name for e in exprs for name in re.findall(r"\b(?:dp|temporal)_[a-z_]+", e)}
    served = {name for key in ("DISPUTE", "REFUND", "WORKER_DISPUTES") for name, _ in scrape(observed, key)}
    assert wanted and wanted <= served, sorted(wanted - served)


async def test_logs_are_json_lines_tagged_with_the_request_ids(observed: Stack, flow: dict[str, Any]) -> None:
    text = (observed.data_dir / "logs" / "dispute_svc.log").read_text()
    # gRPC's C core may write its own plain lines to stderr too; the platform's are JSON.
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines and all(line["service"] == "dispute-svc" for line in lines)
    refusals = {(line.get("method"), line.get("code")): line for line in lines if "code" in line}
    not_found = refusals[("GetDispute", "NOT_FOUND")]
    assert not_found["dispute_id"] == flow["missing"] and not_found["level"] == "info"
    denied = refusals[("ListArbitrationQueue", "PERMISSION_DENIED")]
    assert "dispute_id" not in denied and isinstance(denied["duration_ms"], float)


async def test_one_open_dispute_is_one_trace_through_workflow_and_activities(
    sink: SpanSink, flow: dict[str, Any]
) -> None:
    order_id = flow["accepted"].order.order_id

    def spans_of_trace() -> list[Span]:
        opened = [
            s
            for s in sink.spans
            if s.name == f"{DISPUTES}/OpenDispute" and s.attributes.get("dp.order_id") == order_id
        ]
        return [s for s in sink.spans if opened and s.trace_id == opened[0].trace_id]

    async def complete() -> bool:
        names = {s.name.split(":")[0] for s in spans_of_trace()}
        return {"RunWorkflow", "RunActivity"} <= names

    await _eventually(complete, 30, "the trace's workflow and activity spans")
    spans = spans_of_trace()
    by_id = {s.span_id: s for s in spans}
    root = next(s for s in spans if s.name == f"{DISPUTES}/OpenDispute")
    assert root.service == "dispute-svc" and root.attributes["rpc.grpc.status_code"] == "OK"

    def descends(s: Span) -> bool:
        while s.parent_id and s.parent_id in by_id:
            s = by_id[s.parent_id]
            if s is root:
                return True
        return False

    workflow = [s for s in spans if s.name.startswith("RunWorkflow:DisputeWorkflow")]
    activities = [s for s in spans if s.name.startswith("RunActivity:")]
    assert workflow and all(s.service == "worker-disputes" and descends(s) for s in workflow), spans
    assert activities and all(descends(s) for s in activities), spans


async def _eventually(check: Any, timeout: float, what: str | Callable[[], str]) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        told = what if isinstance(what, str) else what()
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {told}"
        await asyncio.sleep(0.5)
