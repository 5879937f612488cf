"""Server-Sent Events responses: an open `StreamResponse` as the outlet an answer streams to."""

from __future__ import annotations

import socket
import struct

from aiohttp import web

EVENT_STREAM = "text/event-stream"
# No caching, and no buffering by a reverse proxy (nginx honours X-Accel-Buffering).
EVENT_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ResponseOutlet:
    """An SSE response to `request`, sent (its headers) at the first write."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self.response = web.StreamResponse(headers=EVENT_STREAM_HEADERS)
        self.response.content_type = EVENT_STREAM
        self.response.charset = "utf-8"

    async def write(self, data: bytes) -> None:
        if not self.response.prepared:
            await self.response.prepare(self._request)
        await self.response.write(data)

    def takes_at_once(self, size: int) -> bool:
        """Headers sent, and `size` more bytes keep the socket's buffer under its high-water
        mark: the write returns without waiting on the client."""
        transport = self._request.transport
        if not self.response.prepared or transport is None or transport.is_closing():
            return False
        _, high = transport.get_write_buffer_limits()
        return transport.get_write_buffer_size() + size <= high

    def abandon(self) -> None:
        """Drop the connection at once, unsent data and all (a client that stopped reading
        would hold a graceful close forever): a zero linger makes the close a reset, so the
        kernel does not keep the unsent data either."""
        transport = self._request.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def is_gone(self) -> bool:
        """The client closed its connection (aiohttp does not tell the handler)."""
        transport = self._request.transport
        return transport is None or transport.is_closing()
