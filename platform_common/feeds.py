"""Live event feeds (Watch* streams): how a stream learns that new events were recorded.

One poller per service process reads its outbox's head cursor (one indexed row) a few times a
second and wakes the streams waiting past it; a write made by this process wakes them at once.
Each stream then reads the outbox itself, at its own pace, from its own cursor: there is no
shared buffer, so a consumer that stops reading holds up only its own stream (gRPC flow control
parks its coroutine), and a reconnect from a cursor reads exactly what follows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

from platform_common.auth import Caller
from platform_common.errors import InvalidArgument, ResourceExhausted
from platform_common.outbox import MAX_PAGE, Page

log = logging.getLogger(__name__)
E = TypeVar("E")
R = TypeVar("R")

# Streams one caller identity may hold open at once (a client that leaks streams is refused),
# and one server in all.
MAX_WATCHES_PER_CALLER = 16
MAX_WATCHES = 1_024
POLL_SECONDS = 0.2
HEARTBEAT_SECONDS = 15.0
# A stream reads the outbox at most this often: many watchers of a busy platform batch their
# reads instead of each querying on every event.
MIN_READ_INTERVAL_S = 0.1


DEFAULT_PAGE = 100


def check_cursor(after: int, head: int) -> int:
    """A cursor this feed gave: not negative, and not past its newest event (one from another
    environment, or from before a restore: skipping every event up to it would lose them
    silently)."""
    if after < 0:
        raise InvalidArgument("after_cursor must be 0 or a cursor received before")
    if after > head:
        raise InvalidArgument("after_cursor is past the newest event; pass a cursor you received")
    return after


def page_limit(size: int) -> int:
    """A List*Events page size: 1..MAX_PAGE, 0 for the default."""
    size = size or DEFAULT_PAGE
    if not 1 <= size <= MAX_PAGE:
        raise InvalidArgument(f"page_size must be between 1 and {MAX_PAGE}")
    return size


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
            # A fresh context: the first watcher's request (its log ids, caller, span) is not
            # the process-wide poll's.
            self._task = asyncio.get_running_loop().create_task(self._run(), context=contextvars.Context())

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


class WatchSlots:
    """Open streams per caller identity and in all: past either limit a new one is refused."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    @contextlib.contextmanager
    def hold(self, caller: Caller) -> Iterator[None]:
        key = f"{caller.role.value}:{caller.id}"
        if self._open.get(key, 0) >= MAX_WATCHES_PER_CALLER:
            raise ResourceExhausted(f"at most {MAX_WATCHES_PER_CALLER} open watches per caller; close one")
        if sum(self._open.values()) >= MAX_WATCHES:
            raise ResourceExhausted("this server holds as many watches as it takes; retry on another")
        self._open[key] = self._open.get(key, 0) + 1
        try:
            yield
        finally:
            self._open[key] -= 1
            if not self._open[key]:
                del self._open[key]


async def follow(
    read: Callable[[int, int], Awaitable[Page[E]]],
    head: HeadWatcher,
    after: int,
    *,
    event: Callable[[E], R],
    beat: Callable[[int], R],
    heartbeat_every: float = HEARTBEAT_SECONDS,
) -> AsyncIterator[R]:
    """Every event `read(cursor, limit)` gives after `after`, then live, each wrapped by `event`;
    a heartbeat (`beat(cursor)`) once caught up and whenever nothing was sent for
    `heartbeat_every`."""
    loop = asyncio.get_running_loop()
    cursor, announced, last_sent = after, False, loop.time()
    while True:
        read_at = loop.time()
        page = await read(cursor, MAX_PAGE)
        for e in page.events:
            yield event(e)
        cursor = page.scanned
        if len(page.events) == MAX_PAGE:
            continue  # more waiting: no heartbeat mid-backlog
        if page.events or not announced:
            # Caught up: say how far, so a reconnect from here skips what was scanned.
            yield beat(cursor)
            announced, last_sent = True, loop.time()
        elif loop.time() - last_sent >= heartbeat_every:
            # Events of others keep the head moving, but this stream has sent nothing for a while.
            yield beat(cursor)
            last_sent = loop.time()
        await asyncio.sleep(max(0.0, read_at + MIN_READ_INTERVAL_S - loop.time()))
        quiet_left = max(0.0, last_sent + heartbeat_every - loop.time())
        if not await head.wait_past(cursor, quiet_left):
            yield beat(cursor)
            last_sent = loop.time()
