"""Counts database round trips: a TCP proxy between the app and PostgreSQL that reads the
frontend protocol and counts the messages the client then waits on — `Query` (simple
protocol) and `Sync` (the end of an extended-protocol exchange: prepare, or bind and execute).

The connection must not use TLS (`sslmode=disable`), or the messages cannot be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

# Untyped startup-phase requests that a real startup message may follow.
_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104


class RoundTripCounter:
    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._server: asyncio.Server | None = None
        self.count = 0
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _connection(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        server_reader, server_writer = await asyncio.open_connection(
            "127.0.0.1", self._upstream_port
        )
        tasks = [
            asyncio.create_task(self._frontend(client_reader, server_writer)),
            asyncio.create_task(_pipe(server_reader, client_writer)),
        ]
        with contextlib.suppress(asyncio.CancelledError):  # the proxy is stopping
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for writer in (client_writer, server_writer):
            writer.close()

    async def _frontend(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            startup = True
            while True:
                if startup:
                    head = await reader.readexactly(8)
                    length, code = struct.unpack("!ii", head)
                    writer.write(head + await reader.readexactly(length - 8))
                    await writer.drain()
                    startup = code in (_SSL_REQUEST, _GSS_REQUEST)
                    continue
                head = await reader.readexactly(5)
                kind, length = head[:1], struct.unpack("!i", head[1:])[0]
                if kind in (b"Q", b"S"):
                    self.count += 1
                writer.write(head + await reader.readexactly(length - 4))
                await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
