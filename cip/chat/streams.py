"""Chat turns in flight: which are open, and ending them when nobody listens any more.

A turn is watched from the moment its question is stored until its answer is: first while it
waits for the LLM's response headers, then while the answer streams. aiohttp does not cancel
a handler whose client went away, and a turn waiting on a silent LLM writes nothing that could
fail. So a watcher (`abort_gone`, run a few times a second) looks at every open turn's outlet
and aborts the turn of a gone client: a request still waiting for its headers is cancelled,
a streaming answer has its upstream closed at once, and the chat service stores what there is.
At shutdown every turn is aborted the same way (`abort_all`), and so is every turn that starts
after it, so SIGTERM ends every chat at once, whatever its phase. Its owner may stop an answer
(`stop`, reached from any instance through `cip.chat.stops`): it is aborted the same way and
stored `stopped`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol
from uuid import UUID

from cip.chat.llm import LlmStream

CLIENT_GONE = "client_gone"
SHUTDOWN = "shutdown"
STOPPED = "stopped"  # by its owner
CLIENT_CHECK_INTERVAL = 0.25  # seconds between two looks at every open turn's client


class Outlet(Protocol):
    """Where an answer's events go: the visitor's open response."""

    async def write(self, data: bytes) -> None: ...

    def is_gone(self) -> bool: ...

    def abandon(self) -> None:
        """Drop the connection without a goodbye (its client stopped reading)."""


class TurnAborted(Exception):
    """The turn was aborted before the LLM answered, for `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Watch:
    """One turn in flight, as the watcher and shutdown see it."""

    __slots__ = ("_opening", "_stream", "abort_reason", "message_id", "outlet")

    def __init__(self, outlet: Outlet, message_id: UUID) -> None:
        self.outlet = outlet
        self.message_id = message_id
        self.abort_reason: str | None = None
        self._opening: asyncio.Future[LlmStream] | None = None
        self._stream: LlmStream | None = None

    def abort(self, reason: str) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
        if self._opening is not None:
            self._opening.cancel()
        if self._stream is not None:
            self._stream.abort(reason)

    async def open(self, start: Callable[[], Awaitable[LlmStream]]) -> LlmStream:
        """The stream `start()` opens; `TurnAborted` when the turn is aborted before the LLM
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
    def __init__(self) -> None:
        self._open: dict[UUID, Watch] = {}  # by the id of the answer being written
        self._closing = False

    def __len__(self) -> int:
        return len(self._open)

    @contextlib.contextmanager
    def track(self, outlet: Outlet, message_id: UUID) -> Iterator[Watch]:
        """Watch the turn writing answer `message_id` into `outlet` while the block lasts."""
        watch = self._open[message_id] = Watch(outlet, message_id)
        if self._closing:  # the service is shutting down: this turn must not start
            watch.abort(SHUTDOWN)
        try:
            yield watch
        finally:
            del self._open[message_id]

    def stop(self, message_id: UUID) -> None:
        """Its owner stops answer `message_id`, if this instance is writing it."""
        watch = self._open.get(message_id)
        if watch is not None:
            watch.abort(STOPPED)

    def abort_gone(self) -> None:
        for watch in list(self._open.values()):
            if watch.outlet.is_gone():
                watch.abort(CLIENT_GONE)

    def abort_all(self) -> None:
        """Shutdown: abort every open turn, and every turn started from now on."""
        self._closing = True
        for watch in list(self._open.values()):
            watch.abort(SHUTDOWN)
