"""The dispute read model's queries at scale: ListDisputes (each filter a caller uses), the
arbitration queue (pages, filters, counts), arbiters' workload and party histories, with
100,000 disputes in the store, on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.read_model_queries [--rows 100000] [--repeat 200] [--backends sqlite,postgresql]

Rows are seeded straight into the table (not timed): 50,000 buyers, 2,000 sellers (so one
seller has about 50 disputes), a status mix in which about one dispute in ten waits for
arbitration, SLA deadlines spread over a month. Every query runs `--repeat` times through the
repository the service uses; the baseline, measured in the same run on the same store, is a
primary-key read of one dispute. Goal: p99 < 50 ms for each query at 100,000 rows.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from disputes.v1 import disputes_pb2 as pb
from sqlalchemy import insert, text

from bench.common import pct
from dispute_svc.repository import DisputeRepository
from dispute_svc.store import DisputeRow
from platform_common.paging import encode_token

NOW = datetime.now(UTC).replace(microsecond=0)
STATUSES = [  # (status, share, waiting for an arbiter)
    ("AWAITING_SELLER_RESPONSE", 0.25, False),
    ("AWAITING_BUYER_RESPONSE", 0.15, False),
    ("UNDER_ARBITRATION", 0.07, True),
    ("AWAITING_INFORMATION", 0.02, True),
    ("APPEALED", 0.01, True),
    ("CLOSED_REFUNDED", 0.30, False),
    ("CLOSED_CANCELLED", 0.12, False),
    ("CLOSED_WITHOUT_REFUND", 0.08, False),
]
GOAL_MS = 50.0


def _rows(n: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    weights = [share for _, share, _ in STATUSES]
    for _ in range(n):
        status, _, waiting = rng.choices(STATUSES, weights)[0]
        dispute_id = str(uuid.uuid4())
        opened = NOW - timedelta(seconds=rng.uniform(0, 180 * 86400))
        d = pb.Dispute(dispute_id=dispute_id, status=pb.DisputeStatus.Value(f"DISPUTE_STATUS_{status}"))
        # A snapshot about the size of a real one (a description, a timeline of a few steps).
        d.description = "The parcel never arrived; tracking stopped at the depot. " * 4
        for step in ("DISPUTE_OPENED", "SELLER_REJECTED", "MESSAGE_POSTED", "ESCALATED")[: rng.randint(1, 4)]:
            d.timeline.add(action=step, detail="A note the timeline keeps with this step. " * 3)
        due = NOW + timedelta(seconds=rng.uniform(-5 * 86400, 30 * 86400)) if waiting else None
        yield {
            "dispute_id": dispute_id,
            "order_id": str(uuid.uuid4()),
            "buyer_id": f"b-{rng.randrange(50_000)}",
            "seller_id": f"s-{rng.randrange(2_000)}",
            "status": status,
            "escalated": waiting or rng.random() < 0.1,
            "resolution": "SELLER_ACCEPTED" if status == "CLOSED_REFUNDED" else "",
            "opened_at": opened,
            "updated_at": opened,
            "revision": 1,
            "snapshot": d.SerializeToString(),
            "timeline_recorded": 0,
            "event_seq": 0,
            "waiting": waiting,
            "arbiter_id": f"arb-{rng.randrange(40)}" if waiting and rng.random() < 0.6 else "",
            "sla_due": due,
            "sla_target": due,
            "sla_breached": bool(due is not None and due < NOW),
            "seller_answered_at": opened + timedelta(hours=rng.uniform(1, 300))
            if rng.random() < 0.6
            else None,
            "seller_silent": rng.random() < 0.1,
        }


def seed(repo: DisputeRepository, n: int) -> list[str]:
    rng = random.Random(20261202)
    ids: list[str] = []
    batch: list[dict[str, Any]] = []
    with repo._sql.sessions.begin() as s:
        for row in _rows(n, rng):
            ids.append(row["dispute_id"])
            batch.append(row)
            if len(batch) == 5_000:
                s.execute(insert(DisputeRow), batch)
                batch = []
        if batch:
            s.execute(insert(DisputeRow), batch)
    with repo._sql.sessions.begin() as s:
        s.execute(text("ANALYZE"))  # plan with statistics, as a store that has lived would
    return ids


async def timed(repeat: int, call: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in range(repeat):
        t0 = time.perf_counter()
        await call(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def measure(repo: DisputeRepository, ids: list[str], repeat: int) -> list[tuple[str, list[float]]]:
    rng = random.Random(7)
    page2 = encode_token(NOW - timedelta(days=30), ids[0])

    def listing(**filters: Any) -> Callable[[int], Awaitable[object]]:
        base = {"buyer_id": "", "seller_id": "", "status": "", "order_id": "", "size": 20, "token": ""}
        return lambda i: repo.search(**{**base, **filters})  # type: ignore[arg-type]

    def queue(**filters: Any) -> Callable[[int], Awaitable[object]]:
        base = {"unassigned": False, "arbiter_id": "", "breached": False, "size": 20, "token": ""}
        return lambda i: repo.queue.page(**{**base, **filters})

    since = NOW - timedelta(days=90)
    cases: list[tuple[str, Callable[[int], Awaitable[object]]]] = [
        ("baseline: get one dispute by id", lambda i: repo.get(ids[rng.randrange(len(ids))])),
        (
            "ListDisputes buyer's",
            lambda i: repo.search(
                buyer_id=f"b-{rng.randrange(50_000)}", seller_id="", status="", order_id="", size=20, token=""
            ),
        ),
        (
            "ListDisputes seller's",
            lambda i: repo.search(
                buyer_id="", seller_id=f"s-{rng.randrange(2_000)}", status="", order_id="", size=20, token=""
            ),
        ),
        ("ListDisputes by status", listing(status="AWAITING_SELLER_RESPONSE")),
        ("ListDisputes all, page 1", listing()),
        ("ListDisputes all, later page", listing(token=page2)),
        (
            "ListDisputes arbiters' view",
            lambda i: repo.search(
                buyer_id="", seller_id="", status="", order_id="", size=20, token="", escalated_only=True
            ),
        ),
        (
            "ListDisputes arbiter + status",
            lambda i: repo.search(
                buyer_id="",
                seller_id="",
                status="UNDER_ARBITRATION",
                order_id="",
                size=20,
                token="",
                escalated_only=True,
            ),
        ),
        ("queue, first page", queue()),
        ("queue unassigned", queue(unassigned=True)),
        (
            "queue mine",
            lambda i: repo.queue.page(
                unassigned=False, arbiter_id=f"arb-{rng.randrange(40)}", breached=False, size=20, token=""
            ),
        ),
        ("queue breached", queue(breached=True)),
        ("queue counts", lambda i: repo.queue.counts(NOW)),
        ("workload, every arbiter", lambda i: repo.queue.workload("", NOW)),
        (
            "party history, a seller",
            lambda i: repo.histories.of(seller_id=f"s-{rng.randrange(2_000)}", since=since),
        ),
    ]
    return [(name, await timed(repeat, call)) for name, call in cases]


@contextmanager
def store(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="dp-bench-rm-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'disputes.db'}"
        return
    from tests.harness.postgres import local_postgres

    with local_postgres() as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        with store(backend) as url:
            repo = DisputeRepository(url)
            t0 = time.perf_counter()
            ids = seed(repo, args.rows)
            seeded = time.perf_counter() - t0
            results = asyncio.run(measure(repo, ids, args.repeat))
            repo.close()
        base = pct(results[0][1], 0.99)
        print(f"\n{backend}: {args.rows:,} disputes (seeded in {seeded:.0f} s), {args.repeat} calls each")
        for name, ms in results:
            p50, p99 = pct(ms, 0.5), pct(ms, 0.99)
            verdict = "ok" if p99 < GOAL_MS else "OVER"
            print(
                f"  {name:<32} p50 {p50:>7.2f} ms  p99 {p99:>7.2f} ms  {p99 / base:>6.1f}x baseline  [{verdict}]"
            )


if __name__ == "__main__":
    main()
