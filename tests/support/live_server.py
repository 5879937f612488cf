"""Servers on real loopback ports in threads of their own, for clients that block (schemathesis
drives the API with synchronous HTTP)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aiohttp import web

from cip.app import create_app
from cip.config import Config

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def in_thread(
    start: Callable[[], Awaitable[T]], stop: Callable[[T], Awaitable[Any]]
) -> Iterator[T]:
    """Run `start()` on an event loop in a thread of its own and yield what it returned; at the
    end of the block, `stop(that)` on the same loop."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    finish: asyncio.Event | None = None
    outcome: list[Any] = []

    async def run() -> None:
        nonlocal finish
        finish = asyncio.Event()
        try:
            value = await start()
        except BaseException as exc:  # reported to the waiting test
            outcome.append(exc)
            started.set()
            raise
        outcome.append(value)
        started.set()
        try:
            await finish.wait()
        finally:
            await stop(value)

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    started.wait(timeout=30)
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    try:
        yield outcome[0]
    finally:
        assert finish is not None
        loop.call_soon_threadsafe(finish.set)
        thread.join(timeout=30)
        loop.close()


@contextmanager
def serve_in_thread(config: Config) -> Iterator[str]:
    """Serve `create_app(config)` until the block ends; yields the base URL."""
    port = free_port()

    async def start() -> web.AppRunner:
        runner = web.AppRunner(create_app(config), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    with in_thread(start, web.AppRunner.cleanup):
        yield f"http://127.0.0.1:{port}"
