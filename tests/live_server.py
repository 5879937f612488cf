"""Runs the application on a real loopback port in a thread of its own, for clients that block
(schemathesis drives the API with synchronous HTTP)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from cip.app import create_app
from cip.config import Config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_in_thread(config: Config) -> Iterator[str]:
    """Serve `create_app(config)` until the block ends; yields the base URL."""
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop: asyncio.Event | None = None
    failure: list[BaseException] = []

    async def run() -> None:
        nonlocal stop
        stop = asyncio.Event()
        runner = web.AppRunner(create_app(config), access_log=None)
        try:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
        except BaseException as exc:  # reported to the waiting test
            failure.append(exc)
            started.set()
            raise
        started.set()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    started.wait(timeout=30)
    if failure:
        raise failure[0]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
