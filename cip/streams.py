"""Chat streams in flight, and the replies of streams that died.

aiohttp does not cancel a handler whose client went away, and a stream waiting on a silent
LLM writes nothing that could fail. So one watcher looks at every open stream's client
connection a few times a second and aborts the stream of a gone client: its upstream request
is closed at once and the handler saves the text so far as `interrupted`. At shutdown every
stream is aborted the same way, so SIGTERM ends streams quickly and saves them; a stream that only
gets its upstream answer after that (its handler was still waiting for the LLM's headers) is
aborted as soon as it is registered.

A process that dies leaves its replies `streaming`. No live stream writes a row for longer
than `[llm] total_timeout`, so a sweep (at start, then every `[llm] sweep_interval` seconds,
on every instance; the statement is idempotent) marks `streaming` rows older than
`total_timeout + sweep_grace` `interrupted`. Several instances may
sweep at once: each only touches rows that no live process can still own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator

import asyncpg
from aiohttp import web

from cip.config import Config
from cip.llm import LlmStream
from cip.store import messages

log = logging.getLogger(__name__)

CLIENT_GONE = "client_gone"
SHUTDOWN = "shutdown"
CLIENT_CHECK_INTERVAL = 0.25


def client_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class OpenStreams:
    def __init__(self) -> None:
        self._open: dict[LlmStream, web.BaseRequest] = {}
        self._closing = False

    def __len__(self) -> int:
        return len(self._open)

    @contextlib.contextmanager
    def track(self, request: web.BaseRequest, stream: LlmStream) -> Iterator[None]:
        self._open[stream] = request
        if self._closing:  # the service is shutting down: this stream must not start
            stream.abort(SHUTDOWN)
        try:
            yield
        finally:
            self._open.pop(stream, None)

    def abort_gone(self) -> None:
        for stream, request in list(self._open.items()):
            if client_gone(request):
                stream.abort(CLIENT_GONE)

    def abort_all(self) -> None:
        """Shutdown: abort every open stream, and every stream registered from now on."""
        self._closing = True
        for stream in list(self._open):
            stream.abort(SHUTDOWN)


async def _watch_clients(streams: OpenStreams) -> None:
    while True:
        await asyncio.sleep(CLIENT_CHECK_INTERVAL)
        streams.abort_gone()


async def sweep_once(pool: asyncpg.Pool, older_than: float) -> None:
    try:
        swept = await messages.interrupt_stale(pool, older_than=older_than)
    except Exception as exc:  # the database may be down; the next sweep retries
        log.warning("sweep of stale streaming replies failed: %s: %s", type(exc).__name__, exc)
        return
    if swept:
        log.info("marked %d stale streaming replies as interrupted", swept)


async def _sweep_forever(pool: asyncpg.Pool, older_than: float, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        await sweep_once(pool, older_than)


def streams_context(config: Config) -> Callable[[web.Application], AsyncIterator[None]]:
    """Cleanup context (after the pool): the stream registry, its watcher and the sweep."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        from cip import keys  # keys names this module's types

        streams = OpenStreams()
        app[keys.STREAMS] = streams
        older_than = config.llm.total_timeout + config.llm.sweep_grace
        await sweep_once(app[keys.POOL], older_than)
        tasks = [asyncio.create_task(_watch_clients(streams)),
                 asyncio.create_task(_sweep_forever(app[keys.POOL], older_than,
                                                   config.llm.sweep_interval))]
        yield
        streams.abort_all()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    return context


async def abort_on_shutdown(app: web.Application) -> None:
    """on_shutdown: end every stream now (saved as interrupted) instead of waiting."""
    from cip import keys

    app[keys.STREAMS].abort_all()
