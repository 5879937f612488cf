"""This instance's ear for what other processes announce through PostgreSQL (`NOTIFY`): one
connection of its own, beside its pool (so listening never takes a request's connection),
listening on a few channels, each with its handler.

A notification sent while the connection was lost is not heard; `listen` (run every
`CHECK_INTERVAL`) opens a new one within a second, and every channel's user has a fallback for
what it missed (a stop is reported not yet done, a tenant's cached copy expires).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import asyncpg

log = logging.getLogger(__name__)
CHECK_INTERVAL = 1.0  # seconds between two checks that the listening connection lives
Handler = Callable[[str], None]  # takes a notification's payload


class Listener:
    def __init__(self, url: str, connect_timeout: float, handlers: Mapping[str, Handler]) -> None:
        self._url = url
        self._connect_timeout = connect_timeout
        self._handlers = dict(handlers)
        self._connection: asyncpg.Connection | None = None

    async def start(self) -> None:
        """Listen from the start; a database unreachable now is listened to once it answers
        (the service starts without it, as it does for requests)."""
        try:
            await self.listen()
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            log.warning("not listening for notifications yet: %s: %s", type(exc).__name__, exc)

    async def listen(self) -> None:
        """Listen on every channel, on a fresh connection if the last one was lost."""
        if self._connection is not None and not self._connection.is_closed():
            return
        if self._connection is not None:
            log.warning("the connection listening for notifications was lost; listening again")
            self._connection = None
        connection = await asyncpg.connect(self._url, timeout=self._connect_timeout)
        for channel in self._handlers:
            await connection.add_listener(channel, self._heard)
        self._connection = connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            await connection.close()

    def _heard(self, _connection: object, _pid: int, channel: str, payload: object) -> None:
        self._handlers[channel](str(payload))
