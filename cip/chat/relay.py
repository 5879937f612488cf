"""Sending an answer to one visitor: every write within its deadlines, and an answer being
written here followed from a given character to its end."""

from __future__ import annotations

import asyncio

from cip.chat import events, sse
from cip.chat.streams import LiveAnswer, Outlet, ping_after


class Sender:
    """Writes to a visitor's outlet, each within `write_timeout` seconds and never past
    `deadline` (loop time); past them the client is dropped (`ConnectionResetError`)."""

    def __init__(self, outlet: Outlet, write_timeout: float, deadline: float) -> None:
        self.outlet = outlet
        self._write_timeout = write_timeout
        self._deadline = deadline
        self.told = False  # the answer's `meta` went out (so did the response's headers)
        self.last_write = asyncio.get_running_loop().time()

    async def send(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        if self.outlet.takes_at_once(len(data)):  # the usual case: no timer to arm
            await self.outlet.write(data)
            self.last_write = loop.time()
            return
        try:
            async with asyncio.timeout_at(min(loop.time() + self._write_timeout, self._deadline)):
                await self.outlet.write(data)
        except TimeoutError:
            self.outlet.abandon()
            raise ConnectionResetError("the client stopped reading") from None
        self.last_write = loop.time()

    def check(self) -> None:
        """`ConnectionResetError` once the client has gone."""
        if self.outlet.is_gone():
            raise ConnectionResetError("the client went away")


async def follow(answer: LiveAnswer, sender: Sender, *, after: int, heartbeat: float) -> None:
    """Send `answer` from character `after` to its end: `meta` once it has begun (at once if
    the sender is told already), its text as it comes, a ping once `heartbeat` seconds passed
    without a write (the watcher wakes quiet answers),
    the final events. An answer that never began raises its refusal (an HTTP error) to a
    visitor told nothing yet. `ConnectionError` when the visitor goes; the answer goes on."""
    quiet = ping_after(heartbeat)
    answer.join(sender.outlet)
    try:
        while True:
            sender.check()
            data = answer.events_since(after)
            after = max(after, answer.length)
            ended = answer.ending is not None
            if not sender.told and (answer.started or ended):
                if answer.refusal is not None:
                    raise answer.refusal
                data = events.meta(answer.meta) + events.sources(answer.sources) + data
                sender.told = True
            if answer.ending is not None:
                await sender.send(data + answer.ending)
                return
            if data:
                await sender.send(data)
                continue
            if sender.told and asyncio.get_running_loop().time() - sender.last_write >= quiet:
                await sender.send(sse.PING)
                continue
            await answer.changed()
    finally:
        answer.leave(sender.outlet)
