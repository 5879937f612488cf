"""Chat streams in flight: which are open, and ending them when nobody listens any more.

aiohttp does not cancel a handler whose client went away, and a stream waiting on a silent
LLM writes nothing that could fail. So a watcher (`abort_gone`, run a few times a second)
looks at every open stream's outlet and aborts the stream of a gone client: its upstream
request is closed at once and the chat service stores the text so far as `interrupted`. At
shutdown every stream is aborted the same way (`abort_all`), so SIGTERM ends streams quickly
and stores them; a stream that only gets its upstream answer after that (its handler was
still waiting for the LLM's headers) is aborted as soon as it is registered.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

from cip.chat.llm import LlmStream

CLIENT_GONE = "client_gone"
SHUTDOWN = "shutdown"
CLIENT_CHECK_INTERVAL = 0.25  # seconds between two looks at every open stream's client


class Outlet(Protocol):
    """Where an answer's events go: the visitor's open response."""

    async def write(self, data: bytes) -> None: ...

    def is_gone(self) -> bool: ...


class OpenStreams:
    def __init__(self) -> None:
        self._open: dict[LlmStream, Outlet] = {}
        self._closing = False

    def __len__(self) -> int:
        return len(self._open)

    @contextlib.contextmanager
    def track(self, stream: LlmStream, outlet: Outlet) -> Iterator[None]:
        self._open[stream] = outlet
        if self._closing:  # the service is shutting down: this stream must not start
            stream.abort(SHUTDOWN)
        try:
            yield
        finally:
            self._open.pop(stream, None)

    def abort_gone(self) -> None:
        for stream, outlet in list(self._open.items()):
            if outlet.is_gone():
                stream.abort(CLIENT_GONE)

    def abort_all(self) -> None:
        """Shutdown: abort every open stream, and every stream registered from now on."""
        self._closing = True
        for stream in list(self._open):
            stream.abort(SHUTDOWN)
