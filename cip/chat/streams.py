"""Answers being written on this instance, and the visitors who follow them.

An answer is written by a task of its own (`ChatService`) from the moment its question is
stored until it is: first while it waits for the LLM's response headers, then while its text
streams in. The text gathers in a `LiveAnswer`, which any number of visitors follow: the one
who asked, and whoever reconnects on this instance (a reload, a network that came back) from
the last character they received. The answer does not depend on them: a visitor who leaves
ends nothing. A watcher (`check`, a few times a second) notices followers whose client has
gone, and aborts an answer nobody has followed for `[streams] grace` seconds (here or on
another instance: `followed_elsewhere`): a request still waiting for its headers is
cancelled, a streaming answer has its upstream closed, and what there is is stored
`interrupted`. Its owner may stop an answer (`stop`, reached from any instance through
`cip.chat.signals`): it is aborted the same way and stored `stopped`. At shutdown every answer
is aborted (`abort_all`), and so is every answer that starts after it; `drain` waits for them
to be stored.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol
from uuid import UUID

from cip import errors
from cip.chat import events
from cip.chat.events import ChatMetaOut, SourceOut
from cip.chat.llm import LlmStream

log = logging.getLogger(__name__)
CLIENT_GONE = "client_gone"  # nobody followed the answer for the grace
SHUTDOWN = "shutdown"
STOPPED = "stopped"  # by its owner
CLIENT_CHECK_INTERVAL = 0.25  # seconds between two looks at every answer's followers
# A follow announced by another instance keeps an answer going this long; the follower there
# announces itself again every FOLLOW_RENEW seconds.
FOLLOW_LEASE = 10.0
FOLLOW_RENEW = 3.0


def ping_after(heartbeat: float, woken_every: float = CLIENT_CHECK_INTERVAL) -> float:
    """Quiet seconds after which a follower pings: early enough that, woken at least every
    `woken_every` seconds (by the watcher, by default), it pings within `heartbeat` of its
    last write."""
    return max(heartbeat - woken_every, heartbeat / 2)


class Outlet(Protocol):
    """Where an answer's events go: a visitor's open response."""

    async def write(self, data: bytes) -> None: ...

    def takes_at_once(self, size: int) -> bool:
        """Whether writing `size` bytes now cannot wait for the client (so needs no deadline)."""

    def is_gone(self) -> bool: ...

    def abandon(self) -> None:
        """Drop the connection without a goodbye (its client stopped reading)."""


class TurnAborted(Exception):
    """The turn was aborted before the LLM answered, for `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LiveAnswer:
    """One answer being written here: its text so far (pieces, each with the character its
    text ends at), how it ended, and who follows it."""

    def __init__(
        self,
        *,
        tenant_id: UUID,
        user_id: str,
        meta: ChatMetaOut,
        deadline: float,
        sources: list[SourceOut] | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.meta = meta
        self.sources = sources or []  # the knowledge-base chunks it is given from
        self.deadline = deadline  # loop time: no write of this answer waits past it
        self.parts: list[str] = []
        self.ends: list[int] = []
        self.started = False  # the LLM's answer has begun (its headers came)
        self.ending: bytes | None = None  # the final events, once the answer is stored
        self.refusal: errors.ApiError | None = None  # why it never began, for an HTTP error
        self.abort_reason: str | None = None
        self.outlets: set[Outlet] = set()  # its followers here
        self.idle_since: float | None = asyncio.get_running_loop().time()
        self.followed_elsewhere_until = 0.0  # loop time
        self.flushed = 0  # characters appended to the database (`cip.chat.parts`)
        self.closing = False  # its closing write has begun: nothing more is appended
        self._opening: asyncio.Future[LlmStream] | None = None
        self._stream: LlmStream | None = None
        self._waiters: list[asyncio.Future[None]] = []  # one per follower waiting for news
        self.woken_at = asyncio.get_running_loop().time()

    @property
    def message_id(self) -> UUID:
        return self.meta.message_id

    @property
    def length(self) -> int:
        return self.ends[-1] if self.ends else 0

    def pieces_since(self, after: int) -> list[tuple[str, int]]:
        """The text from character `after` on as (text, end) pieces: the rest of the piece
        `after` falls in, then every later piece as the LLM sent it."""
        index = bisect.bisect_right(self.ends, after)
        if index == len(self.ends):
            return []
        start = self.ends[index] - len(self.parts[index])
        first = (self.parts[index][after - start :], self.ends[index])
        return [first, *zip(self.parts[index + 1 :], self.ends[index + 1 :], strict=True)]

    def text_since(self, after: int) -> str:
        return "".join(text for text, _ in self.pieces_since(after))

    def events_since(self, after: int) -> bytes:
        """The text events from character `after` on, one per piece."""
        return b"".join(events.text(text, end) for text, end in self.pieces_since(after))

    def append(self, texts: list[str]) -> None:
        for text in texts:
            self.parts.append(text)
            self.ends.append(self.length + len(text))
        self.wake()

    def begin(self) -> None:
        self.started = True
        self.wake()

    def finish(self, ending: bytes) -> None:
        self.ending = ending
        self.wake()

    def refuse(self, refusal: errors.ApiError, ending: bytes) -> None:
        """It never began: a follower told nothing yet gets `refusal`, the others `ending`."""
        self.refusal = refusal
        self.finish(ending)

    async def changed(self) -> None:
        """Return at the next change (text, start, end, a follower gone, a heartbeat due). Each
        waiter has a future of its own: cancelling one follower leaves the others waiting,
        and no timer is armed per wait (the watcher wakes quiet answers for heartbeats)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if not waiter.done():  # cancelled: forget it
                self._waiters.remove(waiter)

    def wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.woken_at = asyncio.get_running_loop().time()

    def join(self, outlet: Outlet) -> None:
        self.outlets.add(outlet)
        self.idle_since = None

    def leave(self, outlet: Outlet) -> None:
        self.outlets.discard(outlet)
        if not self.outlets:
            self.idle_since = asyncio.get_running_loop().time()

    def followed_elsewhere(self, now: float) -> bool:
        return now < self.followed_elsewhere_until

    def abandoned(self, now: float, grace: float) -> bool:
        """Nobody has followed it, here or elsewhere, for `grace` seconds."""
        return (
            self.idle_since is not None
            and now - self.idle_since >= grace
            and not self.followed_elsewhere(now)
        )

    def abort(self, reason: str) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
        if self._opening is not None:
            self._opening.cancel()
        if self._stream is not None:
            self._stream.abort(reason)

    async def open(self, start: Callable[[], Awaitable[LlmStream]]) -> LlmStream:
        """The stream `start()` opens; `TurnAborted` when the answer is aborted before the LLM
        answered (the request is then cancelled)."""
        opening = self._opening = asyncio.ensure_future(start())
        if self.abort_reason is not None:  # aborted before it began: the request never starts
            opening.cancel()
        try:
            stream = await opening
        except asyncio.CancelledError:
            this = asyncio.current_task()
            if self.abort_reason is not None and not (this and this.cancelling()):
                raise TurnAborted(self.abort_reason) from None
            raise
        finally:
            self._opening = None
        self._stream = stream
        if self.abort_reason is not None:  # aborted as the answer arrived
            stream.abort(self.abort_reason)
        return stream


class OpenStreams:
    """The answers this instance is writing, by message id."""

    def __init__(self, grace: float, heartbeat: float) -> None:
        self._grace = grace
        self._quiet = ping_after(heartbeat)
        self._open: dict[UUID, LiveAnswer] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def __len__(self) -> int:
        return len(self._open)

    @property
    def closing(self) -> bool:
        """The service is shutting down."""
        return self._closing

    def __iter__(self) -> Iterator[LiveAnswer]:
        return iter(list(self._open.values()))

    def get(self, message_id: UUID) -> LiveAnswer | None:
        return self._open.get(message_id)

    def start(self, answer: LiveAnswer, write: Callable[[], Awaitable[None]]) -> None:
        """Write `answer` (`write()`, in a task of its own) while it is registered here."""
        self._open[answer.message_id] = answer
        if self._closing:  # the service is shutting down: this answer must not start
            answer.abort(SHUTDOWN)
        task = asyncio.create_task(self._written(answer, write), name="answer")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _written(self, answer: LiveAnswer, write: Callable[[], Awaitable[None]]) -> None:
        try:
            await write()
        except Exception:
            log.exception("answer %s failed", answer.message_id)
        finally:
            del self._open[answer.message_id]
            if answer.ending is None:  # its followers must not wait for an end that never comes
                answer.finish(events.error(errors.INTERNAL_ERROR, "internal_error"))

    def stop(self, message_id: UUID) -> None:
        """Its owner stops answer `message_id`, if this instance is writing it."""
        answer = self._open.get(message_id)
        if answer is not None:
            answer.abort(STOPPED)

    def followed_elsewhere(self, message_id: UUID) -> None:
        """Another instance follows answer `message_id`, if this one is writing it."""
        answer = self._open.get(message_id)
        if answer is not None:
            answer.followed_elsewhere_until = asyncio.get_running_loop().time() + FOLLOW_LEASE

    def check(self) -> None:
        """Wake the followers whose client has gone (they leave) and those of answers quiet
        for a heartbeat (they ping), and abort the answers nobody has followed for the
        grace."""
        now = asyncio.get_running_loop().time()
        for answer in self:
            if now - answer.woken_at >= self._quiet or any(
                outlet.is_gone() for outlet in answer.outlets
            ):
                answer.wake()
            if answer.abandoned(now, self._grace):
                answer.abort(CLIENT_GONE)

    def abort_all(self) -> None:
        """Shutdown: abort every answer, and every answer started from now on."""
        self._closing = True
        for answer in self:
            answer.abort(SHUTDOWN)

    async def drain(self) -> None:
        """Wait until every answer is stored (after `abort_all`, that is at once)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
