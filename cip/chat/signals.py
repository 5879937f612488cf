"""What instances tell each other about answers, over PostgreSQL's LISTEN/NOTIFY (which every
instance already shares; this instance listens through `cip.db.listener`), each notification
carrying a message id:

- `cip_stop`: its owner stops the answer; the instance writing it aborts it (stored `stopped`).
- `cip_follow`: a visitor on another instance follows the answer; the instance writing it keeps
  it going (as it would for a follower of its own) and wakes that instance after each append.
- `cip_parts`: the answer gained text in the database, or ended; instances following it from
  there read on.

A notification sent while an instance had lost its listening connection is not heard by it:
the stop route then reports an answer not yet stopped as still `streaming` rather than
pretending, and followers read again at least every second anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from uuid import UUID

from cip.chat.streams import OpenStreams
from cip.db.listener import Handler

log = logging.getLogger(__name__)
STOP, FOLLOW, PARTS = "cip_stop", "cip_follow", "cip_parts"


class Signals:
    """This instance's side of the answers' channels."""

    def __init__(self, streams: OpenStreams) -> None:
        self._streams = streams
        self._waiting: dict[UUID, set[asyncio.Event]] = {}

    def handlers(self) -> dict[str, Handler]:
        """What to do with each channel's notifications (for the instance's listener)."""
        return {
            STOP: _by_message(STOP, self._streams.stop),
            FOLLOW: _by_message(FOLLOW, self._streams.followed_elsewhere),
            PARTS: _by_message(PARTS, self._news),
        }

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

    def _news(self, message_id: UUID) -> None:
        for news in self._waiting.get(message_id, ()):
            news.set()


def _by_message(channel: str, act: Callable[[UUID], None]) -> Handler:
    """A handler that passes on the message id a notification carries."""

    def heard(payload: str) -> None:
        try:
            message_id = UUID(payload)
        except ValueError:
            log.warning("ignored a malformed notification on %s", channel)
            return
        act(message_id)

    return heard
