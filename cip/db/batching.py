"""Small statements of concurrent requests, sent to the database together.

A burst of requests each needing the same small statement (count a rate-limit hit, look up
whether an id is an account's) would otherwise queue for pooled connections and, when they
touch one row (every chat from one address counts in one bucket), wait on each other's row
locks in turn. A `Batch` keeps one statement in flight: what arrives meanwhile waits for it
and then goes in the next one, together. A request alone goes at once; under a burst the
number of statements follows the database's speed, not the number of requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batch(Generic[Item, Result]):
    """`await batch(item)`: `run(items)` answers the items of one statement, in order."""

    def __init__(self, run: Callable[[list[Item]], Awaitable[Sequence[Result]]]) -> None:
        self._run = run
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def __call__(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send())
        return await future

    async def _send(self) -> None:
        try:
            while self._waiting:
                taken, self._waiting = self._waiting, []
                try:
                    results = await self._run([item for item, _ in taken])
                except Exception as failure:  # every request of the statement fails with it
                    for _, future in taken:
                        if not future.done():
                            future.set_exception(failure)
                    continue
                except BaseException:  # cancelled (the service stops): so are its requests
                    for _, future in taken + self._waiting:
                        future.cancel()
                    raise
                for (_, future), result in zip(taken, results, strict=True):
                    if not future.done():  # its request may have been cancelled
                        future.set_result(result)
        finally:
            self._sender = None
