"""What one dispute action costs, made visible: Temporal requests, history events, workflow tasks
and CPU time per process, for OpenDispute, RespondAsSeller (accept) and the whole life "opened →
seller accepts → refund settled".

    .venv/bin/python -m bench.dispute_costs [--lives 3]

One action at a time on a quiet stack (the platform's day is DAY_SECONDS), so every figure is
that action's alone:
- **Temporal requests** come from the dev server's own Prometheus counters (the frontend's
  `service_requests` by operation), read before the call and once everything it set off has
  settled. (The server publishes them about a second late, so the requests made before the
  answer cannot be told apart from those after it here.)
- **history events and workflow tasks** are counted in the histories of every workflow that
  carries the order's OrderId search attribute (dispute, order protection, refund);
- **CPU** is utime + stime from /proc for each process of the stack.
The bench's own reads (waiting for the refund to settle) are Temporal requests too; they are
counted and shown apart.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
from disputes.v1 import disputes_pb2 as pb
from disputes.v1 import disputes_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.common import bearer, never_arrived, order_request
from deploy.processes import free_port
from deploy.stack import LocalTemporal, Ports, Stack
from platform_common.access import CHECKOUT, SUPPORT
from platform_common.auth import Role

DAY_SECONDS = 2.0
SETTLE_S = 3.0  # after an action: long enough for its records and activities, short of any timer
_TICKS = os.sysconf("SC_CLK_TCK")  # /proc's clock ticks per second


def requests(url: str) -> Counter[str]:
    """The dev server's requests so far, by operation."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    out: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            # Each service (frontend, history, matching) counts a request it handles: the
            # frontend's count is what clients sent.
            frontend = sample.labels.get("service_name", "frontend") == "frontend"
            if sample.name in ("service_requests", "service_requests_total") and frontend:
                out[sample.labels.get("operation", "?")] += int(sample.value)
    return out


def cpu_ms(stack: Stack) -> dict[str, float]:
    pids = {name: proc.pid for name, proc in stack.apps.items()}
    server = getattr(stack.temporal, "proc", None)  # a LocalTemporal: the dev server's process
    pids["temporal"] = server.pid if server is not None else None
    out = {}
    for name, pid in pids.items():
        if pid is None:
            continue
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out[name] = (int(fields[11]) + int(fields[12])) * 1000 / _TICKS
    return out


class Meter:
    def __init__(self, stack: Stack, metrics_url: str) -> None:
        self.stack, self.url = stack, metrics_url

    def snapshot(self) -> tuple[Counter[str], dict[str, float]]:
        return requests(self.url), cpu_ms(self.stack)


def delta(after: Counter[str], before: Counter[str]) -> Counter[str]:
    return Counter({k: after[k] - before[k] for k in after if after[k] - before[k] > 0})


async def histories(client: Client, order_id: str) -> dict[str, tuple[int, int]]:
    """(events, workflow tasks completed) per workflow type carrying this order's id."""
    out: dict[str, tuple[int, int]] = {}
    async for wf in client.list_workflows(f"OrderId = '{order_id}'"):
        history = await client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        events = list(history.events)
        tasks = sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in events)
        n, t = out.get(wf.workflow_type, (0, 0))
        out[wf.workflow_type] = (n + len(events), t + tasks)
    return out


async def one_life(stack: Stack, meter: Meter, client: Client) -> dict[str, Any]:
    buyer, seller = f"b-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:8]}"
    async with (
        grpc.aio.insecure_channel(stack.service_address("ORDER")) as och,
        grpc.aio.insecure_channel(stack.service_address("DISPUTE")) as dch,
    ):
        orders, disputes = orders_pb2_grpc.OrderServiceStub(och), disputes_pb2_grpc.DisputeServiceStub(dch)
        order = (
            await orders.CreateOrder(
                order_request(buyer, seller),
                metadata=bearer(stack, CHECKOUT, Role.SERVICE),
            )
        ).order
        # Shipped, so the order's protection clock runs (and is frozen and unfrozen by the
        # dispute); disputed as not received once min_days_after_shipment (5 days) have passed.
        await orders.MarkShipped(
            orders_pb2.MarkShippedRequest(
                order_id=order.order_id, carrier="DHL", tracking_number="JD0146000033"
            ),
            metadata=bearer(stack, seller, Role.SELLER),
        )
        await asyncio.sleep(DAY_SECONDS * 5 + 0.5 + SETTLE_S)
        life_start = meter.snapshot()
        figures: dict[str, Any] = {}

        async def action(name: str, call: object) -> None:
            before = meter.snapshot()
            t0 = time.perf_counter()
            await call  # type: ignore[misc]
            took = time.perf_counter() - t0
            await asyncio.sleep(SETTLE_S)
            settled = meter.snapshot()
            figures[name] = {
                "ms": took * 1000,
                "total": delta(settled[0], before[0]),
                "cpu": {k: settled[1][k] - before[1].get(k, 0.0) for k in settled[1]},
            }

        opened: list[pb.Dispute] = []

        async def open_it() -> None:
            resp = await disputes.OpenDispute(
                never_arrived(order.order_id),
                metadata=bearer(stack, buyer, Role.BUYER),
            )
            opened.append(resp.dispute)

        await action("OpenDispute", open_it())
        after_open = await histories(client, order.order_id)
        await action(
            "RespondAsSeller",
            disputes.RespondAsSeller(
                pb.RespondAsSellerRequest(
                    dispute_id=opened[0].dispute_id,
                    response_type=pb.SELLER_RESPONSE_TYPE_ACCEPT,
                    claim_version=1,
                ),
                metadata=bearer(stack, seller, Role.SELLER),
            ),
        )
        own = 0
        for _ in range(600):  # until the refund has settled and the dispute closed
            own += 1
            got = await disputes.GetDispute(
                pb.GetDisputeRequest(dispute_id=opened[0].dispute_id),
                metadata=bearer(stack, SUPPORT, Role.SERVICE),
            )
            if got.dispute.status == pb.DISPUTE_STATUS_CLOSED_REFUNDED:
                break
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError("the refund never settled")
        await asyncio.sleep(SETTLE_S)
        life_end = meter.snapshot()
        figures["life"] = {
            "total": delta(life_end[0], life_start[0]),
            "cpu": {k: life_end[1][k] - life_start[1].get(k, 0.0) for k in life_end[1]},
            "own_reads": own,
        }
        figures["histories_after_open"] = after_open
        figures["histories"] = await histories(client, order.order_id)
    return figures


def med(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def cpu_line(runs: list[dict[str, Any]]) -> str:
    """Median CPU ms per process over the runs, busiest first."""
    cpu = {k: med([r["cpu"].get(k, 0.0) for r in runs]) for k in runs[0]["cpu"]}
    busiest = sorted(cpu.items(), key=lambda kv: -kv[1])
    return "  CPU ms: " + ", ".join(f"{k} {v:.0f}" for k, v in busiest if v >= 1)


def show(lives: list[dict[str, Any]]) -> None:
    for name in ("OpenDispute", "RespondAsSeller"):
        runs = [life[name] for life in lives]
        print(f"\n{name}: {med([r['ms'] for r in runs]):.0f} ms at c=1 (median of {len(runs)})")
        ops = Counter[str]()
        for r in runs:
            ops.update(r["total"])
        shown = ", ".join(
            f"{k} {v / len(runs):.1f}" for k, v in ops.most_common() if not k.startswith("Poll")
        )
        polls = sum(v for k, v in ops.items() if k.startswith("Poll")) / len(runs)
        print(f"  Temporal requests: {sum(ops.values()) / len(runs):.1f} ({shown}; polls {polls:.1f})")
        print(cpu_line(runs))
    runs = [life["life"] for life in lives]
    total = Counter[str]()
    for r in runs:
        total.update(r["total"])
    print(f"\nwhole life (opened → seller accepts → refund settled), per life, of {len(runs)}:")
    own = med([r["own_reads"] for r in runs])
    print(
        f"  Temporal requests: {sum(total.values()) / len(runs):.1f} (the bench's own GetDispute polls: {own:.0f})"
    )
    print(cpu_line(runs))
    for label in ("histories_after_open", "histories"):
        per_type: dict[str, list[tuple[int, int]]] = {}
        for life in lives:
            for kind, figures in life[label].items():
                per_type.setdefault(kind, []).append(figures)
        events = sum(med([e for e, _ in v]) for v in per_type.values())
        tasks = sum(med([t for _, t in v]) for v in per_type.values())
        detail = ", ".join(
            f"{k} {med([e for e, _ in v]):.0f} events / {med([t for _, t in v]):.0f} tasks"
            for k, v in sorted(per_type.items())
        )
        when = "after OpenDispute" if label == "histories_after_open" else "whole life"
        print(f"  history {when}: {events:.0f} events, {tasks:.0f} workflow tasks ({detail})")


async def bench(stack: Stack, lives: int, metrics_url: str) -> None:
    client = await Client.connect(stack.temporal.address())
    meter = Meter(stack, metrics_url)
    results = [await one_life(stack, meter, client) for _ in range(lives)]
    print(
        f"\n{lives} lives, one action at a time; Temporal dev server on SQLite, SQLite stores; day {DAY_SECONDS} s"
    )
    show(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lives", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dp-bench-") as tmp:
        ports = Ports.random()
        metrics_port = free_port()
        temporal = LocalTemporal(Path(tmp), "127.0.0.1", ports.temporal, ports.temporal_ui, metrics_port)
        stack = Stack(Path(tmp), ports, day_seconds=DAY_SECONDS, temporal=temporal)
        stack.start()
        try:
            asyncio.run(bench(stack, args.lives, f"http://127.0.0.1:{metrics_port}/metrics"))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
