"""Stopping an answer from whichever instance the request reaches.

The stop route publishes the message id on the PostgreSQL channel `cip_stop` (`NOTIFY`, which
every instance already shares). Every instance listens on one connection of its own, beside
its pool (so listening never takes a request's connection), and hands each id it hears to its
open streams, where the one running that answer aborts it: the upstream is closed and the text
so far stored as `stopped`. A notification sent while an instance had lost its listening
connection is not heard by it; the listener is back within a second (`listen` runs every
`LISTEN_CHECK_INTERVAL`), and the stop route reports an answer not yet stopped as still
`streaming` rather than pretending.
"""

from __future__ import annotations

import logging
from uuid import UUID

import asyncpg

from cip.chat.streams import OpenStreams

log = logging.getLogger(__name__)
CHANNEL = "cip_stop"
LISTEN_CHECK_INTERVAL = 1.0  # seconds between two checks that the listening connection lives


class StopSignals:
    """This instance's ear for stop requests."""

    def __init__(self, url: str, streams: OpenStreams, connect_timeout: float) -> None:
        self._url = url
        self._streams = streams
        self._connect_timeout = connect_timeout
        self._connection: asyncpg.Connection | None = None

    async def start(self) -> None:
        """Listen from the start; a database unreachable now is listened to once it answers
        (the service starts without it, as it does for requests)."""
        try:
            await self.listen()
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            log.warning("not listening for stops yet: %s: %s", type(exc).__name__, exc)

    async def listen(self) -> None:
        """Listen on `CHANNEL`, on a fresh connection if the last one was lost."""
        if self._connection is not None and not self._connection.is_closed():
            return
        if self._connection is not None:
            log.warning("the connection listening for stops was lost; listening again")
            self._connection = None
        connection = await asyncpg.connect(self._url, timeout=self._connect_timeout)
        await connection.add_listener(CHANNEL, self._heard)
        self._connection = connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            await connection.close()

    def _heard(self, _connection: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            message_id = UUID(str(payload))
        except ValueError:
            log.warning("ignored a malformed stop notification")
            return
        self._streams.stop(message_id)
