"""Answers in flight, shared with every instance: the text each answer being written here
gained is appended to the database every `[streams] flush_interval` seconds, one statement for
all of them (`answer_part` rows, dropped by the answer's closing write). Any instance replays
an answer from there to a visitor who reconnects, and follows it: an instance following an
answer it does not write announces it (`cip.chat.signals`), and this one then wakes it after
each append that touched the answer. The cost is one statement per interval whatever the
number of answers, and a visitor on another instance sees the text in steps of the interval.
"""

from __future__ import annotations

import asyncio

from cip.chat.streams import OpenStreams
from cip.db.queries import Executor
from cip.db.store import messages


class PartsWriter:
    def __init__(self, db: Executor, streams: OpenStreams) -> None:
        self._db = db
        self._streams = streams
        self._appending = asyncio.Lock()

    async def append(self) -> None:
        """Append what every answer in flight gained since its last append."""
        async with self._appending:
            batch = [
                (
                    answer,
                    answer.length,
                    "".join(text for text, _ in answer.pieces_since(answer.flushed)),
                )
                for answer in self._streams
                if answer.length > answer.flushed and not answer.closing
            ]
            if not batch:
                return
            now = asyncio.get_running_loop().time()
            await messages.append_parts(
                self._db,
                parts=[
                    messages.AnswerPart(
                        tenant_id=answer.tenant_id,
                        message_id=answer.message_id,
                        start=answer.flushed,
                        body=body,
                    )
                    for answer, _, body in batch
                ],
                followed=[
                    answer.message_id for answer, *_ in batch if answer.followed_elsewhere(now)
                ],
            )
            for answer, length, _ in batch:
                answer.flushed = length

    async def settled(self) -> None:
        """Return once no append is under way: an answer marked `closing` before this call is
        in no later one, so its closing write can drop its parts for good."""
        async with self._appending:
            return
