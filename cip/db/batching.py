"""Small statements of concurrent requests, sent to the database together.

A burst of requests each needing the same small statement (count a rate-limit hit, look up
whether an id is an account's, open a new dialog) would otherwise queue one by one for pooled
connections and, when they touch one row (every chat from one address counts in one bucket),
wait on each other's row locks in turn. A `Batch` keeps a few statements in flight
(`IN_FLIGHT`, so that one slow statement does not hold up everyone queued behind it):
requests queue, in the order they came, until a sender has a connection; then everything
queued goes in one statement. A request alone goes at once; under a burst the number of
statements follows the database's speed, not the number of requests.

A request may give up while it is still queued (`within` seconds): it leaves the queue and
nothing of it is written. Once its statement is sent it waits for its outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, TypeVar

from cip.db.queries import Executor

IN_FLIGHT = 4  # statements of one batch sent at once, at most
Item = TypeVar("Item")
Result = TypeVar("Result")


class Batch(Generic[Item, Result]):
    """`await batch(item)`: `run(connection, items)` answers the items of one statement, in
    order, on a connection from `acquire()`."""

    def __init__(
        self,
        acquire: Callable[[], AbstractAsyncContextManager[Any]],
        run: Callable[[Executor, list[Item]], Awaitable[Sequence[Result]]],
    ) -> None:
        self._acquire = acquire
        self._run = run
        self._queued: list[tuple[Item, asyncio.Future[Result]]] = []
        self._senders: set[asyncio.Task[None]] = set()

    async def __call__(self, item: Item, *, within: float | None = None) -> Result:
        """`item`'s result; `StillQueued` (and nothing sent) when it is still queued after
        `within` seconds."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        entry = (item, future)
        self._queued.append(entry)
        if len(self._senders) < IN_FLIGHT:
            sender = asyncio.create_task(self._send())
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        if within is None:
            return await future
        try:
            async with asyncio.timeout(within):
                return await asyncio.shield(future)
        except TimeoutError:
            if any(queued is entry for queued in self._queued):
                self._queued = [queued for queued in self._queued if queued is not entry]
                future.cancel()
                raise StillQueued() from None
        return await future  # its statement went out just as its time was up

    async def _send(self) -> None:
        """Send what is queued, one statement at a time, until nothing is (beside the other
        senders)."""
        while self._queued:
            taken: list[tuple[Item, asyncio.Future[Result]]] = []
            try:
                async with self._acquire() as connection:
                    taken, self._queued = self._queued, []
                    if not taken:  # another sender took them meanwhile
                        return
                    results = await self._run(connection, [item for item, _ in taken])
            except Exception as failure:  # the statement's requests (or, with no connection,
                # every queued one) fail with it
                if not taken:
                    taken, self._queued = self._queued, []
                _fail(taken, failure)
                continue
            except BaseException:  # cancelled (the service stops): so are the requests
                for _, future in taken + self._queued:
                    future.cancel()
                raise
            for (_, future), result in zip(taken, results, strict=True):
                if not future.done():  # its request may have been cancelled
                    future.set_result(result)


class StillQueued(Exception):
    """A request gave up before its statement was sent: nothing of it was written."""


def _fail(taken: list[tuple[Any, asyncio.Future[Any]]], failure: Exception) -> None:
    for _, future in taken:
        if not future.done():
            future.set_exception(failure)
