"""Live event feeds: how a WatchDisputeEvents stream learns that new events were recorded.

One poller per DisputeService process reads the outbox's head cursor (one indexed row) a few
times a second and wakes the streams waiting past it; a write made by this process wakes them
at once. Each stream then reads the outbox itself, at its own pace, from its own cursor: there
is no shared buffer, so a consumer that stops reading holds up only its own stream (gRPC flow
control parks its coroutine), and a reconnect from a cursor reads exactly what follows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from disputes.v1 import disputes_pb2 as pb

from dispute_svc.outbox import MAX_PAGE, Audience, Page
from platform_common.timestamps import to_timestamp

log = logging.getLogger(__name__)

# Streams one caller identity may hold open at once (a client that leaks streams is refused),
# and one server in all.
MAX_WATCHES_PER_CALLER = 16
MAX_WATCHES = 1_024
POLL_SECONDS = 0.2
HEARTBEAT_SECONDS = 15.0
# A stream reads the outbox at most this often: many watchers of a busy platform batch their
# reads instead of each querying on every event.
MIN_READ_INTERVAL_S = 0.1

Reader = Callable[[Audience, int, str, list[str], int], Awaitable[Page]]


class HeadWatcher:
    """The newest cursor recorded, shared by every stream of the process."""

    def __init__(self, read_head: Callable[[], Awaitable[int]], poll: float = POLL_SECONDS) -> None:
        self._read_head = read_head
        self._poll = poll
        self._head = 0
        self._moved = asyncio.Condition()
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def nudge(self) -> None:
        """This process just recorded events: look now, not at the next poll."""
        self._kick.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self._poll)
            self._kick.clear()
            try:
                head = await self._read_head()
            except Exception:  # the store is down a moment: streams keep waiting, nothing is lost
                log.warning("event head poll failed; retrying", exc_info=True)
                continue
            if head > self._head:
                async with self._moved:
                    self._head = head
                    self._moved.notify_all()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_past(self, cursor: int, timeout: float) -> bool:
        """Wait until an event newer than `cursor` is recorded, or `timeout`: True if one is."""
        self.start()
        if self._head > cursor:
            return True
        async with self._moved:
            try:
                await asyncio.wait_for(self._moved.wait_for(lambda: self._head > cursor), timeout)
            except TimeoutError:
                return False
        return True


def heartbeat(cursor: int) -> pb.WatchDisputeEventsResponse:
    return pb.WatchDisputeEventsResponse(
        heartbeat=pb.Heartbeat(cursor=cursor, at=to_timestamp(datetime.now(UTC)))
    )


async def follow(
    read: Reader,
    head: HeadWatcher,
    audience: Audience,
    after: int,
    dispute_id: str,
    types: list[str],
    *,
    heartbeat_every: float = HEARTBEAT_SECONDS,
) -> AsyncIterator[pb.WatchDisputeEventsResponse]:
    """Every event the audience may see after `after`, then live; a heartbeat once caught up and
    whenever nothing was sent for `heartbeat_every`."""
    loop = asyncio.get_running_loop()
    cursor, announced, last_sent = after, False, loop.time()
    while True:
        read_at = loop.time()
        page = await read(audience, cursor, dispute_id, types, MAX_PAGE)
        for event in page.events:
            yield pb.WatchDisputeEventsResponse(event=event)
        cursor = page.scanned
        if len(page.events) == MAX_PAGE:
            continue  # more waiting: no heartbeat mid-backlog
        if page.events or not announced:
            # Caught up: say how far, so a reconnect from here skips what was scanned.
            yield heartbeat(cursor)
            announced, last_sent = True, loop.time()
        elif loop.time() - last_sent >= heartbeat_every:
            # Events of others keep the head moving, but this stream has sent nothing for a while.
            yield heartbeat(cursor)
            last_sent = loop.time()
        await asyncio.sleep(max(0.0, read_at + MIN_READ_INTERVAL_S - loop.time()))
        quiet_left = max(0.0, last_sent + heartbeat_every - loop.time())
        if not await head.wait_past(cursor, quiet_left):
            yield heartbeat(cursor)
            last_sent = loop.time()
