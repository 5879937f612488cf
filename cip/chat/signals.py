"""What instances tell each other about answers, over PostgreSQL's LISTEN/NOTIFY (which every
instance already shares), each notification carrying a message id:

- `cip_stop`: its owner stops the answer; the instance writing it aborts it (stored `stopped`).
- `cip_follow`: a visitor on another instance follows the answer; the instance writing it keeps
  it going (as it would for a follower of its own) and wakes that instance after each append.
- `cip_parts`: the answer gained text in the database, or ended; instances following it from
  there read on.

Every instance listens on one connection of its own, beside its pool (so listening never takes
a request's connection). A notification sent while an instance had lost its listening
connection is not heard by it; the listener is back within a second (`listen` runs every
`LISTEN_CHECK_INTERVAL`), the stop route reports an answer not yet stopped as still
`streaming` rather than pretending, and followers read again at least every second anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from uuid import UUID

import asyncpg

from cip.chat.streams import OpenStreams

log = logging.getLogger(__name__)
STOP, FOLLOW, PARTS = "cip_stop", "cip_follow", "cip_parts"
LISTEN_CHECK_INTERVAL = 1.0  # seconds between two checks that the listening connection lives


class Signals:
    """This instance's ear for other instances."""

    def __init__(self, url: str, streams: OpenStreams, connect_timeout: float) -> None:
        self._url = url
        self._streams = streams
        self._connect_timeout = connect_timeout
        self._connection: asyncpg.Connection | None = None
        self._waiting: dict[UUID, set[asyncio.Event]] = {}

    async def start(self) -> None:
        """Listen from the start; a database unreachable now is listened to once it answers
        (the service starts without it, as it does for requests)."""
        try:
            await self.listen()
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            log.warning("not listening to other instances yet: %s: %s", type(exc).__name__, exc)

    async def listen(self) -> None:
        """Listen on every channel, on a fresh connection if the last one was lost."""
        if self._connection is not None and not self._connection.is_closed():
            return
        if self._connection is not None:
            log.warning("the connection listening to other instances was lost; listening again")
            self._connection = None
        connection = await asyncpg.connect(self._url, timeout=self._connect_timeout)
        for channel in (STOP, FOLLOW, PARTS):
            await connection.add_listener(channel, self._heard)
        self._connection = connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            await connection.close()

    @contextlib.contextmanager
    def news_of(self, message_id: UUID) -> Iterator[asyncio.Event]:
        """An event set whenever answer `message_id` gains text in the database, or ends."""
        news = asyncio.Event()
        self._waiting.setdefault(message_id, set()).add(news)
        try:
            yield news
        finally:
            waiting = self._waiting[message_id]
            waiting.discard(news)
            if not waiting:
                del self._waiting[message_id]

    def _heard(self, _connection: object, _pid: int, channel: str, payload: object) -> None:
        try:
            message_id = UUID(str(payload))
        except ValueError:
            log.warning("ignored a malformed notification on %s", channel)
            return
        if channel == STOP:
            self._streams.stop(message_id)
        elif channel == FOLLOW:
            self._streams.followed_elsewhere(message_id)
        else:
            for news in self._waiting.get(message_id, ()):
                news.set()
