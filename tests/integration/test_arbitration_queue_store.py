"""The arbitration queue over the read model, on SQLite and PostgreSQL, on a seeded set of 30
disputes: waiting ones in every arbitration status (some assigned, some breached, some with an
information request due first) and others that must stay out (negotiating, decided, closed).

The expected order, filters, pages, counts and workload are computed here from the seed, not
read back from the store: first SLA deadline, then dispute id.
"""

from __future__ import annotations

import random
import statistics
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from dispute_svc.queue import NO_DEADLINE, WORKLOAD_DAYS
from dispute_svc.repository import DisputeRepository, Recorded
from platform_common.errors import InvalidArgument
from platform_common.paging import encode_token

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
WAITING = ("UNDER_ARBITRATION", "AWAITING_INFORMATION", "APPEALED")
ELSEWHERE = ("AWAITING_SELLER_RESPONSE", "DECIDED", "CLOSED_REFUNDED")
ARBITERS = ("", "arb-1", "arb-2")


def ts(at: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(at)
    return t


@dataclass
class Seeded:
    dispute: pb.Dispute
    status: str
    first_due: datetime | None
    target: datetime | None

    @property
    def waiting(self) -> bool:
        return self.status in WAITING


def seed(rng: random.Random, i: int) -> Seeded:
    status = WAITING[i % 3] if i < 24 else ELSEWHERE[i % 3]
    escalated = NOW - timedelta(hours=rng.randint(1, 24 * 20))
    target, maximum = escalated + timedelta(days=7), escalated + timedelta(days=60)
    d = pb.Dispute(
        dispute_id=str(uuid.UUID(int=rng.getrandbits(128))),
        order_id=str(uuid.uuid4()),
        buyer_id=f"buyer-{i}",
        seller_id="seller-1",
        status=pb.DisputeStatus.Value(f"DISPUTE_STATUS_{status}"),
        arbiter_id=ARBITERS[rng.randrange(3)],
        opened_at=ts(escalated - timedelta(days=5)),
        updated_at=ts(escalated),
        escalated_at=ts(escalated),
        sla_breached=i % 7 == 0,
    )
    d.timeline.append(common_pb2.TimelineEntry(at=ts(escalated), action="ESCALATED"))
    first: datetime | None = None
    if status in WAITING:
        kinds = [("ARBITRATION_TARGET", target), ("ARBITRATION_MAX", maximum)]
        if status == "AWAITING_INFORMATION":
            kinds.append(("INFO_RESPONSE_DUE", NOW + timedelta(hours=rng.randint(-48, 120))))
        first = min(at for _, at in kinds)
    else:
        kinds = [("SELLER_RESPONSE_DUE", NOW + timedelta(days=3))]
    # A deadline that is not an SLA one never decides the order.
    kinds.append(("APPEAL_WINDOW_ENDS", NOW - timedelta(days=400)))
    d.deadlines.extend(common_pb2.Deadline(kind=k, due_at=ts(at)) for k, at in kinds)
    return Seeded(d, status, first, target if status in WAITING else None)


def decisions(d: pb.Dispute, rng: random.Random) -> list[tuple[str, datetime, datetime]]:
    """Give the dispute 1 or 2 decided rounds; returns (arbiter, started, decided) of each."""
    out = []
    start = d.escalated_at.ToDatetime(tzinfo=UTC)
    for round_ in (1, 2)[: rng.randint(1, 2)]:
        decided = start + timedelta(hours=rng.randint(1, 200))
        arbiter = ("arb-1", "arb-2")[rng.randrange(2)]
        d.decisions.append(pb.Decision(round=round_, arbiter_id=arbiter, decided_at=ts(decided)))
        out.append((arbiter, start, decided))
        start = decided + timedelta(hours=3)
        d.timeline.append(common_pb2.TimelineEntry(at=ts(start), action="APPEALED"))
    return out


def recorded(s: Seeded, revision: int) -> Recorded:
    return Recorded(
        dispute=s.dispute,
        revision=revision,
        status=s.status,
        resolution="",
        opened_at=s.dispute.opened_at.ToDatetime(tzinfo=UTC),
        updated_at=s.dispute.updated_at.ToDatetime(tzinfo=UTC),
    )


async def whole_queue(dispute_repo: DisputeRepository, size: int, **filters: object) -> list[str]:
    ids: list[str] = []
    token = ""
    while True:
        entries, token = await dispute_repo.queue.page(
            unassigned=bool(filters.get("unassigned")),
            arbiter_id=str(filters.get("arbiter_id", "")),
            breached=bool(filters.get("breached")),
            size=size,
            token=token,
        )
        assert len(entries) <= size
        ids += [e.dispute.dispute_id for e in entries]
        if not token:
            return ids


async def test_queue_order_filters_pages_counts_and_workload(dispute_repo: DisputeRepository) -> None:
    rng = random.Random(20261201)
    seeded = [seed(rng, i) for i in range(30)]
    made: list[tuple[str, datetime, datetime]] = []
    for s in seeded[20:]:  # some waiting ones (appeals) and the decided and closed ones
        made += decisions(s.dispute, rng)
    for s in seeded:
        assert await dispute_repo.record(recorded(s, 1))

    def expect(keep: object = lambda s: True) -> list[str]:
        rows = [s for s in seeded if s.waiting and keep(s)]  # type: ignore[operator]
        return [s.dispute.dispute_id for s in sorted(rows, key=lambda s: (s.first_due, s.dispute.dispute_id))]

    assert len(expect()) == 24
    for size in (1, 7, 100):
        assert await whole_queue(dispute_repo, size) == expect()
    assert await whole_queue(dispute_repo, 5, unassigned=True) == expect(lambda s: not s.dispute.arbiter_id)
    assert await whole_queue(dispute_repo, 5, arbiter_id="arb-2") == expect(
        lambda s: s.dispute.arbiter_id == "arb-2"
    )
    assert await whole_queue(dispute_repo, 5, breached=True) == expect(lambda s: s.dispute.sla_breached)
    assert await whole_queue(dispute_repo, 5, arbiter_id="nobody") == []
    # A page may end on a dispute with no deadline at all (sorted last): its token still reads.
    for bad in ("%%%", encode_token(datetime(1990, 1, 1, tzinfo=UTC), "x"), "A" * 600):
        with pytest.raises(InvalidArgument):
            await dispute_repo.queue.page(unassigned=False, arbiter_id="", breached=False, size=5, token=bad)
    last, _ = await dispute_repo.queue.page(
        unassigned=False, arbiter_id="", breached=False, size=5, token=encode_token(NO_DEADLINE, "z")
    )
    assert last == []

    counts = await dispute_repo.queue.counts(NOW)
    waiting = [s for s in seeded if s.waiting]
    assert counts.waiting == 24
    assert counts.unassigned == sum(not s.dispute.arbiter_id for s in waiting)
    assert counts.breached == sum(s.dispute.sla_breached for s in waiting)
    assert counts.target_missed == sum(s.target is not None and s.target <= NOW for s in waiting)
    assert 0 < counts.target_missed < 24  # the seed has both kinds
    assert counts.by_status == {st: sum(s.status == st for s in waiting) for st in WAITING}
    # The platform gauges (dispute_svc/gauges.py) read the same store, on both databases.
    gauges = {(g.name, tuple(g.labels.values())): g.value for g in dispute_repo.gauges()}
    assert gauges[("arbitration_waiting", ("yes",))] == 24 - counts.unassigned
    assert gauges[("arbitration_waiting", ("no",))] == counts.unassigned
    assert gauges[("disputes_sla_breached", ())] == counts.breached > 0
    assert {k[1][0]: v for k, v in gauges.items() if k[0] == "disputes"} == {
        st: sum(s.status == st for s in seeded) for st in {s.status for s in seeded}
    }
    assert gauges[("webhook_backlog_events", ())] == 0

    # A newer record moves a dispute: claimed, then closed (out of the queue); an older one is ignored.
    moved = seeded[0]
    moved.dispute.arbiter_id = "arb-9"
    assert await dispute_repo.record(recorded(moved, 2))
    assert await whole_queue(dispute_repo, 50, arbiter_id="arb-9") == [moved.dispute.dispute_id]
    moved.status = "CLOSED_REFUNDED"
    moved.dispute.status = pb.DISPUTE_STATUS_CLOSED_REFUNDED
    assert await dispute_repo.record(recorded(moved, 3))
    moved.dispute.status = pb.DISPUTE_STATUS_UNDER_ARBITRATION
    assert not await dispute_repo.record(recorded(Seeded(moved.dispute, "UNDER_ARBITRATION", None, None), 2))
    assert moved.dispute.dispute_id not in await whole_queue(dispute_repo, 100)
    assert (await dispute_repo.queue.counts(NOW)).waiting == 23

    # Workload: waiting disputes held, decisions of the last 7 days and their median time.
    since = NOW - timedelta(days=WORKLOAD_DAYS)
    found = {w.arbiter_id: w for w in await dispute_repo.queue.workload("", NOW)}
    still = [s for s in seeded if s.waiting and s is not moved]
    for arbiter in ("arb-1", "arb-2"):
        recent = [(d - b).total_seconds() for a, b, d in made if a == arbiter and d > since]
        w = found[arbiter]
        assert w.open_assigned == sum(s.dispute.arbiter_id == arbiter for s in still)
        assert w.decided == len(recent)
        assert (w.median.total_seconds() if w.median else None) == (
            statistics.median(recent) if recent else None
        )
    assert [w.arbiter_id for w in await dispute_repo.queue.workload("arb-1", NOW)] == ["arb-1"]
    # Recording a snapshot again does not count its decisions twice.
    again = seeded[25]
    assert await dispute_repo.record(recorded(again, 5))
    assert {w.arbiter_id: w.decided for w in await dispute_repo.queue.workload("", NOW)} == {
        a: w.decided for a, w in found.items()
    }
