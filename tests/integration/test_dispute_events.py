"""Dispute events and threads on the real stack: the outbox, who sees which events, the watch
stream (resume, live, a stalled consumer), and messages with internal notes."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from datetime import UTC, datetime

import grpc
from disputes.v1 import disputes_pb2 as pb
from evidence.v1 import evidence_pb2_grpc
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from dispute_svc.events import TYPES
from dispute_svc.model import Party
from dispute_svc.repository import DisputeRepository
from platform_common import access
from platform_common.auth import Role
from tests.harness.evidence import Generated, upload
from tests.integration.conftest import Api
from tests.integration.disputes_api import (
    C,
    Case,
    disputable,
    disputes,
    eventually,
    open_dispute,
    partial,
    refused,
    status_becomes,
)


def notifier(api: Api) -> list[tuple[str, str]]:
    return api.service(access.NOTIFICATIONS)


async def events_of(api: Api, metadata: list[tuple[str, str]], dispute_id: str = "") -> list[pb.DisputeEvent]:
    out: list[pb.DisputeEvent] = []
    after = 0
    while True:
        page = await disputes(api).ListDisputeEvents(
            pb.ListDisputeEventsRequest(after_cursor=after, dispute_id=dispute_id, page_size=500),
            metadata=metadata,
        )
        out += page.events
        if not page.events:
            return out
        after = page.next_cursor


async def escalated(api: Api, case: Case) -> pb.Dispute:
    stub = disputes(api)
    d = await open_dispute(api, case, solution=partial(9_000))
    await stub.RespondAsSeller(
        pb.RespondAsSellerRequest(
            dispute_id=d.dispute_id,
            response_type=pb.SELLER_RESPONSE_TYPE_REJECT,
            message="no",
        ),
        metadata=api.auth(case.seller, Role.SELLER),
    )
    resp = await stub.EscalateDispute(
        pb.EscalateDisputeRequest(dispute_id=d.dispute_id, message="please decide"),
        metadata=api.auth(case.buyer, Role.BUYER),
    )
    assert resp.dispute.status == pb.DISPUTE_STATUS_UNDER_ARBITRATION
    return resp.dispute


def message(dispute_id: str, text: str, **extra: object) -> pb.SendMessageRequest:
    fields: dict[str, object] = {"request_id": str(uuid.uuid4()), **extra}
    return pb.SendMessageRequest(dispute_id=dispute_id, text=text, **fields)  # type: ignore[arg-type]


async def test_every_timeline_entry_is_one_event_numbered_without_gaps(api: Api) -> None:
    (case,) = await disputable(api)
    d = await open_dispute(api, case)
    await disputes(api).RespondAsSeller(
        pb.RespondAsSellerRequest(dispute_id=d.dispute_id, response_type=pb.SELLER_RESPONSE_TYPE_ACCEPT),
        metadata=api.auth(case.seller, Role.SELLER),
    )
    done = await status_becomes(api, d.dispute_id, pb.DISPUTE_STATUS_CLOSED_REFUNDED)

    async def all_recorded() -> bool:
        got = await events_of(api, notifier(api), d.dispute_id)
        return bool(got) and got[-1].type == "dispute.closed"

    await eventually(all_recorded, 20, "the closing event")
    got = await events_of(api, notifier(api), d.dispute_id)
    assert [e.sequence for e in got] == list(range(1, len(got) + 1))
    assert [e.entry.action for e in got] == [t.action for t in done.timeline]
    assert [e.entry.detail for e in got] == [t.detail for t in done.timeline]
    assert all(e.type in TYPES and e.event_id == f"{d.dispute_id}:{e.sequence}" for e in got)
    cursors = [e.cursor for e in got]
    assert cursors == sorted(set(cursors))
    types = [e.type for e in got]
    for expected in (
        "dispute.opened",
        "dispute.seller_responded",
        "dispute.refund_ordered",
        "dispute.refund_settled",
    ):
        assert expected in types, types
    assert got[-1].status == pb.DISPUTE_STATUS_CLOSED_REFUNDED
    assert got[0].buyer_id == case.buyer and got[0].order_id == case.order.order_id
    # The same events, filtered by type.
    page = await disputes(api).ListDisputeEvents(
        pb.ListDisputeEventsRequest(dispute_id=d.dispute_id, types=["dispute.closed"]), metadata=notifier(api)
    )
    assert [e.sequence for e in page.events] == [got[-1].sequence]
    for bad in (
        pb.ListDisputeEventsRequest(types=["dispute.nope"]),
        pb.ListDisputeEventsRequest(types=["dispute.closed"] * 10_000),
        pb.ListDisputeEventsRequest(after_cursor=10**15),  # a cursor this platform never gave
        pb.ListDisputeEventsRequest(after_cursor=-1),
        pb.ListDisputeEventsRequest(page_size=501),
    ):
        await refused(C.INVALID_ARGUMENT, disputes(api).ListDisputeEvents(bad, metadata=notifier(api)))
    overflow = base64.urlsafe_b64encode(b"m" + b"9" * 30).decode()
    await refused(
        C.INVALID_ARGUMENT,
        disputes(api).ListMessages(
            pb.ListMessagesRequest(dispute_id=d.dispute_id, page={"page_token": overflow}),
            metadata=api.service(),
        ),
    )


async def test_parties_see_only_their_own_disputes_events_and_arbiters_only_escalated_ones(api: Api) -> None:
    first, second = await disputable(api, 2)
    quiet = await open_dispute(api, first)
    loud = await escalated(api, second)

    async def recorded() -> bool:
        return len(await events_of(api, notifier(api), loud.dispute_id)) >= 4

    await eventually(recorded, 20, "the escalation's events")
    for who, role, mine, theirs in (
        (first.buyer, Role.BUYER, quiet, loud),
        (second.seller, Role.SELLER, loud, quiet),
    ):
        seen = {e.dispute_id for e in await events_of(api, api.auth(who, role))}
        assert mine.dispute_id in seen and theirs.dispute_id not in seen, (role, seen)
        # Asking for another's dispute by id gives nothing, not an error that confirms it exists.
        assert await events_of(api, api.auth(who, role), theirs.dispute_id) == []
    arbiter = {e.dispute_id for e in await events_of(api, api.auth("arbiter-ev", Role.ARBITER))}
    assert loud.dispute_id in arbiter and quiet.dispute_id not in arbiter
    arbiter_seen = await events_of(api, api.auth("arbiter-ev", Role.ARBITER), loud.dispute_id)
    assert arbiter_seen[0].type == "dispute.escalated", "from the escalation on"
    everything = {e.dispute_id for e in await events_of(api, notifier(api))}
    assert {quiet.dispute_id, loud.dispute_id} <= everything


async def _collect(
    api: Api,
    metadata: list[tuple[str, str]],
    after: int,
    dispute_id: str,
    count: int,
    types: tuple[str, ...] = (),
) -> tuple[list[pb.DisputeEvent], int]:
    """Read a watch until `count` events arrived; returns them and the last cursor seen."""
    got: list[pb.DisputeEvent] = []
    last = after
    call = disputes(api).WatchDisputeEvents(
        pb.WatchDisputeEventsRequest(after_cursor=after, dispute_id=dispute_id, types=types),
        metadata=metadata,
    )
    async for item in call:
        if item.HasField("event"):
            got.append(item.event)
            last = item.event.cursor
            if len(got) == count:
                break
        else:
            last = max(last, item.heartbeat.cursor)
    call.cancel()
    return got, last


async def test_watch_resumes_without_gap_or_duplicate_and_goes_live(api: Api) -> None:
    (case,) = await disputable(api)
    d = await escalated(api, case)

    async def recorded() -> bool:
        return len(await events_of(api, notifier(api), d.dispute_id)) >= 4

    await eventually(recorded, 20, "the first events")
    expected = await events_of(api, notifier(api), d.dispute_id)
    buyer = api.auth(case.buyer, Role.BUYER)
    head, cursor = await asyncio.wait_for(_collect(api, buyer, 0, d.dispute_id, 2), 20)
    rest, cursor = await asyncio.wait_for(_collect(api, buyer, cursor, d.dispute_id, len(expected) - 2), 20)
    assert [e.event_id for e in head + rest] == [e.event_id for e in expected]
    # Watching everything it may see from the start, a buyer gets its own disputes only (other
    # buyers' disputes fill the outbox meanwhile, from the other tests of this session).
    seen: list[pb.DisputeEvent] = []
    watch = disputes(api).WatchDisputeEvents(pb.WatchDisputeEventsRequest(after_cursor=0), metadata=buyer)
    async for item in watch:
        if item.HasField("event"):
            seen.append(item.event)
        elif item.heartbeat.cursor >= expected[-1].cursor:
            break
    watch.cancel()
    assert {e.buyer_id for e in seen} == {case.buyer}
    assert [e.event_id for e in seen] == [e.event_id for e in expected]
    assert len(await events_of(api, notifier(api))) > len(seen), (
        "there were other buyers' events to leave out"
    )

    # Live: an action after the stream opened arrives on it.
    async def next_live() -> list[pb.DisputeEvent]:
        got, _ = await _collect(api, buyer, cursor, d.dispute_id, 1, ("dispute.message_posted",))
        return got

    waiting = asyncio.create_task(asyncio.wait_for(next_live(), 20))
    await asyncio.sleep(0.5)
    await disputes(api).SendMessage(message(d.dispute_id, "Any news?"), metadata=buyer)
    (live,) = await waiting
    assert live.type == "dispute.message_posted" and live.message.text == "Any news?"
    assert live.sequence > expected[-1].sequence and live.cursor > cursor


async def test_a_stalled_consumer_holds_up_no_one_else(api: Api) -> None:
    (case,) = await disputable(api)
    d = await escalated(api, case)
    # A backlog far larger than a stream's flow-control window (64 KiB): a consumer that does
    # not read stops its stream's writes for good.
    for i in range(58):  # 29 each: the buyer has one message left for the live check
        party = api.auth(case.buyer, Role.BUYER) if i % 2 else api.auth(case.seller, Role.SELLER)
        await disputes(api).SendMessage(message(d.dispute_id, f"padding {i} " + "x" * 1_900), metadata=party)
    # A consumer that opens a watch from the beginning of time and never reads.
    stalled = disputes(api).WatchDisputeEvents(
        pb.WatchDisputeEventsRequest(after_cursor=0), metadata=notifier(api)
    )
    try:
        await asyncio.sleep(1.0)
        start = (await events_of(api, notifier(api), d.dispute_id))[-1].cursor
        waiting = asyncio.create_task(
            asyncio.wait_for(_collect(api, notifier(api), start, d.dispute_id, 1), 10)
        )
        await asyncio.sleep(0.3)
        await disputes(api).SendMessage(
            message(d.dispute_id, "still here"), metadata=api.auth(case.buyer, Role.BUYER)
        )
        got, _ = await waiting
        assert got[0].message.text == "still here"
    finally:
        stalled.cancel()


async def test_messages_notes_and_their_rules(api: Api) -> None:
    first, second = await disputable(api, 2)
    stub = disputes(api)
    buyer, seller = api.auth(first.buyer, Role.BUYER), api.auth(first.seller, Role.SELLER)
    arbiter = api.auth("arbiter-msg", Role.ARBITER)
    d = await open_dispute(api, first)
    # Before escalation an arbiter has nothing to write on; a stranger never does.
    await refused(C.PERMISSION_DENIED, stub.SendMessage(message(d.dispute_id, "hello"), metadata=arbiter))
    await refused(
        C.PERMISSION_DENIED,
        stub.SendMessage(message(d.dispute_id, "hi"), metadata=api.auth(second.buyer, Role.BUYER)),
    )
    # A seller token carrying the buyer's id is not the buyer.
    await refused(
        C.PERMISSION_DENIED,
        stub.SendMessage(message(d.dispute_id, "hi"), metadata=api.auth(first.buyer, Role.SELLER)),
    )
    await refused(C.INVALID_ARGUMENT, stub.SendMessage(message(d.dispute_id, " \n "), metadata=buyer))
    await refused(C.INVALID_ARGUMENT, stub.SendMessage(message(d.dispute_id, "é" * 2_001), metadata=buyer))
    await refused(
        C.PERMISSION_DENIED, stub.SendMessage(message(d.dispute_id, "secret", internal=True), metadata=buyer)
    )
    request = message(d.dispute_id, "Bonjour, la couleur n'est pas la bonne — 颜色不对")
    sent = (await stub.SendMessage(request, metadata=buyer)).message
    again = (await stub.SendMessage(request, metadata=buyer)).message
    assert again.message_id == sent.message_id, "a retried key is the same message"
    await refused(
        C.ALREADY_EXISTS,
        stub.SendMessage(message(d.dispute_id, "other", request_id=request.request_id), metadata=buyer),
    )
    evidence = evidence_pb2_grpc.EvidenceServiceStub(api.channels["EVIDENCE"])
    photo = await upload(evidence, Generated("image/png", 30_000), seller, order_id=first.order.order_id)
    await stub.SendMessage(
        message(d.dispute_id, "Here is the packing photo", evidence_ids=[photo.evidence_id]), metadata=seller
    )
    got = await stub.GetDispute(pb.GetDisputeRequest(dispute_id=d.dispute_id), metadata=buyer)
    assert photo.evidence_id in got.dispute.evidence_ids, "a message's files join the dispute"

    # Escalate (reject, then escalate), then the arbiter writes a message and a note.
    await stub.RespondAsSeller(
        pb.RespondAsSellerRequest(
            dispute_id=d.dispute_id, response_type=pb.SELLER_RESPONSE_TYPE_REJECT, message="no"
        ),
        metadata=seller,
    )
    await stub.EscalateDispute(pb.EscalateDisputeRequest(dispute_id=d.dispute_id), metadata=buyer)

    async def escalated_recorded() -> bool:
        try:
            await stub.SendMessage(message(d.dispute_id, "I am looking into it"), metadata=arbiter)
            return True
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == C.PERMISSION_DENIED, exc
            return False

    await eventually(escalated_recorded, 10, "the escalation to reach the read model")
    note = "NOTE-" + uuid.uuid4().hex
    await stub.SendMessage(message(d.dispute_id, note, internal=True), metadata=arbiter)

    async def thread(metadata: list[tuple[str, str]]) -> list[pb.DisputeMessage]:
        out: list[pb.DisputeMessage] = []
        token = ""
        while True:
            page = await stub.ListMessages(
                pb.ListMessagesRequest(dispute_id=d.dispute_id, page={"page_size": 2, "page_token": token}),
                metadata=metadata,
            )
            out += page.messages
            token = page.next_page_token
            if not token:
                return out

    texts = [m.text for m in await thread(arbiter)]
    assert texts == [sent.text, "Here is the packing photo", "I am looking into it", note], "oldest first"
    for party in (buyer, seller, api.service()):
        assert note not in [m.text for m in await thread(party)]
    for party in (buyer, seller):
        view = await stub.GetDispute(pb.GetDisputeRequest(dispute_id=d.dispute_id), metadata=party)
        assert view.message_count == 3
        assert note not in [t.detail for t in view.dispute.timeline]
        assert "MESSAGE_POSTED" in [t.action for t in view.dispute.timeline]
    mine = await stub.GetDispute(pb.GetDisputeRequest(dispute_id=d.dispute_id), metadata=arbiter)
    assert mine.message_count == 4 and note in [t.detail for t in mine.dispute.timeline]
    for metadata in (notifier(api), arbiter, buyer):
        assert note not in str(await events_of(api, metadata, d.dispute_id)), "notes are never events"
    posted = [
        e for e in await events_of(api, notifier(api), d.dispute_id) if e.type == "dispute.message_posted"
    ]
    assert [e.message.text for e in posted] == texts[:3]

    # Closed: the thread is closed too.
    await stub.CancelDispute(
        pb.CancelDisputeRequest(dispute_id=d.dispute_id, reason="sorted"), metadata=buyer
    )

    async def closed() -> bool:
        try:
            await stub.SendMessage(message(d.dispute_id, "one more"), metadata=buyer)
            return False
        except grpc.aio.AioRpcError as exc:
            return exc.code() == C.FAILED_PRECONDITION

    await eventually(closed, 10, "messages to be refused once closed")


async def test_messages_are_rate_limited_per_sender(api: Api) -> None:
    (case,) = await disputable(api)
    stub = disputes(api)
    d = await open_dispute(api, case)
    buyer, seller = api.auth(case.buyer, Role.BUYER), api.auth(case.seller, Role.SELLER)
    from dispute_svc.policy import policy

    limit = policy(d.policy_version).message_limit
    await asyncio.gather(
        *(stub.SendMessage(message(d.dispute_id, f"m{i}"), metadata=buyer) for i in range(limit))
    )
    await refused(
        C.RESOURCE_EXHAUSTED,
        stub.SendMessage(message(d.dispute_id, "one too many"), metadata=buyer),
        "RATE_LIMITED",
    )
    # Another sender on the same dispute is not held back by the buyer's rate.
    await stub.SendMessage(message(d.dispute_id, "seller here"), metadata=seller)
    page = await stub.ListMessages(
        pb.ListMessagesRequest(dispute_id=d.dispute_id, page={"page_size": 100}), metadata=seller
    )
    assert len(page.messages) == limit + 1


async def test_five_thousand_messages_leave_get_dispute_fast_and_the_history_alone(
    api: Api, temporal_client: Client
) -> None:
    """A thread of 5,000 messages (written straight into DisputeService's store: the rate limit
    is not what is measured) changes nothing in the workflow's history, and GetDispute merges
    only the newest into the timeline."""
    (case,) = await disputable(api)
    d = await open_dispute(api, case)
    buyer = api.auth(case.buyer, Role.BUYER)
    stub = disputes(api)

    async def history_length() -> int:
        """The workflow's history events that come from callers (updates, signals): messages
        would show up here if they went through the workflow. Its own timers and records may
        add events meanwhile; those are not what is measured."""
        history = await temporal_client.get_workflow_handle(f"dispute/{d.dispute_id}").fetch_history()
        return sum(
            1
            for e in history.events
            if e.event_type
            in (
                EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
                EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
            )
        )

    async def get_p50(n: int = 15) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            await stub.GetDispute(pb.GetDisputeRequest(dispute_id=d.dispute_id), metadata=buyer)
            times.append(time.perf_counter() - t0)
        return sorted(times)[n // 2]

    before_events, before_get = await history_length(), await get_p50()
    repo = DisputeRepository(f"sqlite:///{api.stack.data_dir / 'disputes.db'}")
    try:
        await asyncio.to_thread(_bulk_messages, repo, d.dispute_id, case.buyer, case.seller, 5_000)
    finally:
        repo.close()
    after_get = await get_p50()
    got = await stub.GetDispute(pb.GetDisputeRequest(dispute_id=d.dispute_id), metadata=buyer)
    assert got.message_count == 5_000
    posted = [t for t in got.dispute.timeline if t.action == "MESSAGE_POSTED"]
    assert len(posted) == 20 and posted[-1].detail == "message 4999"
    assert await history_length() == before_events, "messages never enter the workflow's history"
    assert after_get < max(0.25, 4 * before_get), (before_get, after_get)
    page = await stub.ListMessages(
        pb.ListMessagesRequest(dispute_id=d.dispute_id, page={"page_size": 100}), metadata=buyer
    )
    assert [m.text for m in page.messages] == [f"message {i}" for i in range(100)]
    # The events of the thread are in the outbox, numbered after the dispute's own.
    tail = await stub.ListDisputeEvents(
        pb.ListDisputeEventsRequest(dispute_id=d.dispute_id, types=["dispute.message_posted"], page_size=500),
        metadata=notifier(api),
    )
    assert len(tail.events) == 500 and tail.events[0].message.text == "message 0"


def _bulk_messages(repo: DisputeRepository, dispute_id: str, buyer: str, seller: str, n: int) -> None:
    from dispute_svc import threads as th
    from dispute_svc.store import DisputeRow

    sql = repo._sql  # the store itself, as DisputeService writes it
    now = datetime.now(UTC)
    with sql.sessions.begin() as s:
        row = s.get(DisputeRow, dispute_id)
        assert row is not None
        for i in range(n):
            author, party = (buyer, Party.BUYER) if i % 2 == 0 else (seller, Party.SELLER)
            th.post(
                s,
                row,
                th.NewMessage(dispute_id, f"bulk-{i}", "fp", author, party, f"message {i}", [], False),
                now,
            )
