"""The opening protocol (dispute_svc/opener.py) on a real SQLite openings register, with
OrderService and Temporal replaced by fakes that fail on command. These are the paths the
integration tests cannot time: an answer lost after the workflow started, a crash between the
order's hold and the start, an outage while settling, a retry after abandonment."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from common.v1 import common_pb2
from disputes.v1 import disputes_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp
from orders.v1 import orders_pb2

from dispute_svc import opener as opener_module
from dispute_svc.client import StartNotSent
from dispute_svc.model import DisputeInput
from dispute_svc.opener import Opener, dispute_id_for
from dispute_svc.policy import STANDARD
from dispute_svc.repository import DisputeRepository
from dispute_svc.store import ABANDONED, ABANDONING, OPENING, STARTED, OpeningRow
from platform_common.auth import Caller, Role
from platform_common.errors import AlreadyExists, PermissionDenied, Unavailable

BUYER = Caller("buyer-1", Role.BUYER)


def _ts(at: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(at)
    return t


@dataclass
class FakeOrders:
    """OrderService as the opener sees it: the order and the holds on it, by token."""

    order: orders_pb2.Order
    holds: dict[str, str] = field(default_factory=dict)
    down: bool = False

    async def order_of(self, order_id: str) -> orders_pb2.Order:
        return self.order

    async def blocked(self, account_id: str) -> bool:
        return False

    async def hold(self, order_id: str, dispute_id: str, token: str) -> bool:
        self._check()
        self.holds[dispute_id] = token
        return True

    async def release(self, order_id: str, dispute_id: str, token: str) -> None:
        self._check()
        if self.holds.get(dispute_id) == token:
            del self.holds[dispute_id]

    async def check_evidence(self, *args: Any) -> None:
        return None

    def _check(self) -> None:
        if self.down:
            raise Unavailable("OrderService unavailable")


@dataclass
class FakeTemporal:
    """Update-with-start and describe. `plan` says what each next open does: "ok"; "unsent"
    (Temporal unreachable: nothing started); "timeout" (no answer, nothing started); "lost"
    (started, answer lost); "late" (no answer, and the start commits 0.1 s later). Optionally
    after `delay_s`."""

    plan: list[str] = field(default_factory=list)
    delay_s: list[float] = field(default_factory=list)
    workflows: dict[str, DisputeInput] = field(default_factory=dict)
    down: bool = False

    async def open(self, inp: DisputeInput, request_id: str, review: bool = False) -> SimpleNamespace:
        step = self.plan.pop(0) if self.plan else "ok"
        await asyncio.sleep(self.delay_s.pop(0) if self.delay_s else 0)
        if self.down or step == "unsent":
            raise StartNotSent("Temporal unavailable")
        if step == "timeout":
            raise Unavailable("the dispute did not answer in time")
        if step == "late":
            asyncio.get_running_loop().call_later(0.1, self.workflows.setdefault, inp.dispute_id, inp)
            raise Unavailable("the dispute did not answer in time")
        self.workflows.setdefault(inp.dispute_id, inp)
        if step == "lost":
            raise Unavailable("the dispute did not answer in time")
        return SimpleNamespace(dispute_id=inp.dispute_id)

    async def started(self, dispute_id: str) -> bool:
        if self.down:
            raise Unavailable("Temporal unavailable")
        return dispute_id in self.workflows

    async def view(self, dispute_id: str, timeout_s: float = 10.0) -> SimpleNamespace:
        if self.down:
            raise Unavailable("Temporal unavailable")
        return SimpleNamespace(state=SimpleNamespace(status="AWAITING_SELLER_RESPONSE", resolution=""))


@dataclass
class World:
    opener: Opener
    repo: DisputeRepository
    orders: FakeOrders
    temporal: FakeTemporal
    order_id: str

    def request(self, request_id: str) -> pb.OpenDisputeRequest:
        return pb.OpenDisputeRequest(
            request_id=request_id,
            order_id=self.order_id,
            reason=pb.DISPUTE_REASON_BRAND_NOT_AS_DESCRIBED,
            goods_received=True,
            description="the lamp does not light",
            solution=pb.Solution(type=pb.SOLUTION_TYPE_FULL_REFUND, return_goods=False),
        )

    async def open(self, request_id: str, caller: Caller = BUYER) -> pb.Dispute:
        return await self.opener.open(self.request(request_id), caller)

    async def row(self, request_id: str) -> OpeningRow | None:
        return await self.repo.openings.by_request(BUYER.id, request_id)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    now = datetime.now(UTC)
    order_id = str(uuid.uuid4())
    order = orders_pb2.Order(
        order_id=order_id,
        buyer_id=BUYER.id,
        seller_id="seller-1",
        status=orders_pb2.ORDER_STATUS_SHIPPED,
        total=common_pb2.Money(minor_units=5000, currency="EUR"),
        shipment=orders_pb2.Shipment(shipped_at=_ts(now - timedelta(days=10))),
        protection=orders_pb2.ProtectionWindow(expires_at=_ts(now + timedelta(days=20))),
    )
    orders = FakeOrders(order)
    temporal = FakeTemporal()
    repo = DisputeRepository(f"sqlite:///{tmp_path / 'disputes.db'}")
    peers = SimpleNamespace(
        order=orders.order_of,
        blocked=orders.blocked,
        hold=orders.hold,
        release=orders.release,
        check_evidence=orders.check_evidence,
    )
    # The fake engine answers with a bare view; the protocol, not rendering, is under test.
    monkeypatch.setattr(opener_module, "render", lambda view: pb.Dispute(dispute_id=view.dispute_id))
    opener = Opener(repo, temporal, peers, STANDARD)  # type: ignore[arg-type]
    return World(opener, repo, orders, temporal, order_id)


async def test_an_opening_that_never_started_gives_the_order_back(world: World) -> None:
    world.temporal.plan = ["unsent"]
    with pytest.raises(Unavailable):
        await world.open("r1")
    row = await world.row("r1")
    assert row is not None and row.state == ABANDONED and row.attempt is None
    assert world.orders.holds == {}, "the failed opening's hold must be dropped"
    # The order can be disputed again at once, and the failed opening did not use an attempt.
    opened = await world.open("r2")
    assert world.temporal.workflows[opened.dispute_id].attempt == 1


async def test_a_retry_after_abandonment_is_a_newer_incarnation(world: World) -> None:
    world.temporal.plan = ["unsent"]
    with pytest.raises(Unavailable):
        await world.open("r1")
    old = await world.row("r1")
    assert old is not None
    opened = await world.open("r1")
    row = await world.row("r1")
    assert row is not None and row.state == STARTED and row.attempt == 1
    assert old.token.startswith("g1.") and row.token.startswith("g2.")
    assert world.orders.holds == {opened.dispute_id: row.token}


def later(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> None:
    """Move the opener's clock forward."""
    at = datetime.now(UTC) + by
    monkeypatch.setattr(opener_module, "_now", lambda: at)


async def test_a_lost_answer_is_settled_as_started_not_abandoned(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.temporal.plan = ["lost"]
    with pytest.raises(Unavailable):
        await world.open("r1")
    row = await world.row("r1")
    dispute_id = dispute_id_for(BUYER.id, "r1")
    assert row is not None and row.state == OPENING and row.settle_after is not None
    assert dispute_id in world.orders.holds, "a dispute that started keeps its order held"
    with pytest.raises(AlreadyExists):
        await world.open("r2")
    later(monkeypatch, opener_module.START_GRACE + timedelta(seconds=1))
    assert await world.opener.reconcile() == 1
    row = await world.row("r1")
    assert row is not None and row.state == STARTED and dispute_id in world.orders.holds
    with pytest.raises(AlreadyExists):
        await world.open("r2")
    assert (await world.open("r1")).dispute_id == dispute_id


async def test_a_start_that_commits_after_its_call_gave_up_is_never_abandoned(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call timed out while Temporal was still committing the start: asking at once would
    find nothing. Nobody settles it within START_GRACE, by which time the workflow exists."""
    world.temporal.plan = ["late"]
    with pytest.raises(Unavailable):
        await world.open("r1")
    assert await world.opener.reconcile() == 0
    with pytest.raises(AlreadyExists):
        await world.open("r2")  # settling now would abandon a dispute about to exist
    await asyncio.sleep(0.2)
    later(monkeypatch, opener_module.START_GRACE + timedelta(seconds=1))
    assert await world.opener.reconcile() == 1
    row = await world.row("r1")
    assert row is not None and row.state == STARTED and row.attempt == 1
    assert dispute_id_for(BUYER.id, "r1") in world.orders.holds
    with pytest.raises(AlreadyExists):
        await world.open("r2")


async def test_a_start_without_an_answer_is_abandoned_after_the_grace(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.temporal.plan = ["timeout"]
    with pytest.raises(Unavailable):
        await world.open("r1")
    with pytest.raises(AlreadyExists):
        await world.open("r2")
    later(monkeypatch, opener_module.START_GRACE + timedelta(seconds=1))
    opened = await world.open("r2")  # settles the first (never started), then opens
    assert world.temporal.workflows[opened.dispute_id].attempt == 1
    row = await world.row("r1")
    assert row is not None and row.state == ABANDONED
    assert set(world.orders.holds) == {opened.dispute_id}


async def test_an_opening_that_cannot_be_settled_keeps_the_order_held(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.temporal.down = True
    with pytest.raises(Unavailable):
        await world.open("r1")
    row = await world.row("r1")
    assert row is not None and row.state == ABANDONING and row.attempt == 1
    assert dispute_id_for(BUYER.id, "r1") in world.orders.holds
    # Nobody can tell whether it started: a second dispute on the order must wait.
    with pytest.raises(Unavailable):
        await world.open("r2")
    world.temporal.down = False
    assert await world.opener.reconcile() == 0, "deferred: the reconciler waits before trying again"
    later(monkeypatch, opener_module.SETTLE_RETRY + timedelta(seconds=1))
    assert await world.opener.reconcile() == 1
    row = await world.row("r1")
    assert row is not None and row.state == ABANDONED
    assert world.orders.holds == {}


async def crashed(world: World, inflight: int, lease_until: datetime | None) -> str:
    """An opening left by a call that died after holding the order; its dispute id."""
    dispute_id = dispute_id_for(BUYER.id, "crashed")
    row = OpeningRow(
        dispute_id=dispute_id,
        order_id=world.order_id,
        buyer_id=BUYER.id,
        request_id="crashed",
        fingerprint="x",
        attempt=1,
        created_at=datetime.now(UTC) - timedelta(minutes=5),
        state=OPENING,
        token="g1.crashed",
        inflight=inflight,
        lease_until=lease_until,
    )
    await world.repo.openings.add(row)
    world.orders.holds[dispute_id] = "g1.crashed"
    return dispute_id


async def test_a_crashed_call_is_settled_by_the_next_opening_once_its_lease_ran_out(world: World) -> None:
    now = datetime.now(UTC)
    dispute_id = await crashed(world, 1, now + timedelta(seconds=30))
    with pytest.raises(AlreadyExists):
        await world.open("r2")  # its call may still be alive
    await world.repo.openings.refresh(dispute_id, "g1.crashed", now - timedelta(seconds=1))
    opened = await world.open("r2")
    assert world.temporal.workflows[opened.dispute_id].attempt == 1
    row = await world.row("crashed")
    assert row is not None and row.state == ABANDONED
    assert world.orders.holds == {opened.dispute_id: (await world.row("r2")).token}  # type: ignore[union-attr]


async def test_a_caller_who_may_not_dispute_the_order_settles_nothing(world: World) -> None:
    dispute_id = await crashed(world, 0, None)
    with pytest.raises(PermissionDenied):
        await world.open("r9", Caller("someone-else", Role.BUYER))
    row = await world.row("crashed")
    assert row is not None and row.state == OPENING
    assert world.orders.holds == {dispute_id: "g1.crashed"}


async def test_a_copy_that_fails_while_another_is_in_does_not_abandon_it(world: World) -> None:
    world.temporal.plan = ["ok", "unsent"]
    world.temporal.delay_s = [0.2, 0.0]

    async def second() -> pb.Dispute:
        await asyncio.sleep(0.05)
        return await world.open("r1")

    first_result, second_result = await asyncio.gather(world.open("r1"), second(), return_exceptions=True)
    assert isinstance(second_result, Unavailable)
    assert isinstance(first_result, pb.Dispute)
    row = await world.row("r1")
    assert row is not None and row.state == STARTED and row.inflight == 0
    assert first_result.dispute_id in world.orders.holds


async def test_concurrent_copies_open_one_dispute(world: World) -> None:
    world.temporal.delay_s = [0.05] * 8
    results = await asyncio.gather(*(world.open("r1") for _ in range(8)), return_exceptions=True)
    opened = [r for r in results if isinstance(r, pb.Dispute)]
    assert opened, results
    assert {r.dispute_id for r in opened} == {dispute_id_for(BUYER.id, "r1")}
    assert all(isinstance(r, pb.Dispute | Unavailable) for r in results), results
    assert len(world.temporal.workflows) == 1
    row = await world.row("r1")
    assert row is not None and row.state == STARTED and row.inflight == 0
