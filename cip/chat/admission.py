"""Letting a crowd of chats in: in the order they came, many at once, none for too long.

A chat is let in by its rate limits and its opening write. For a crowd (a campaign link lands,
a thousand new visitors ask at once) both go to the database in batches (`cip.db.batching`):
the hits of every chat queued meanwhile in one statement, the new dialogs of every chat queued
meanwhile in one statement per tenant. A chat that waited `wait` seconds in those queues without
its statement being sent is refused 503 `busy` with a Retry-After, nothing of it written, and
the page sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from uuid import UUID

import asyncpg

from cip import errors
from cip.db.batching import Batch, StillQueued
from cip.db.queries import Executor
from cip.db.store import messages
from cip.db.store.messages import NewDialogTurn, TurnRow

NewDialog = tuple[UUID, NewDialogTurn]  # a tenant's id, and a turn that starts a dialog there


class Admission:
    def __init__(self, pool: asyncpg.Pool, wait: float) -> None:
        self._wait = wait
        self._dialogs: Batch[NewDialog, TurnRow] = Batch(pool.acquire, _open_dialogs)

    @contextlib.asynccontextmanager
    async def entered(self) -> AsyncIterator[Callable[[], float]]:
        """The block lets one chat in, given the seconds it may still queue; a chat that
        queued them all is refused 503 `busy`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        try:
            yield lambda: max(0.0, deadline - loop.time())
        except StillQueued:
            raise errors.Busy(retry_after=math.ceil(self._wait / 2)) from None

    async def open_dialog(self, tenant_id: UUID, turn: NewDialogTurn, *, within: float) -> TurnRow:
        """The opening write of a turn that starts a dialog, with those queued beside it."""
        return await self._dialogs((tenant_id, turn), within=within)


async def _open_dialogs(db: Executor, asked: list[NewDialog]) -> list[TurnRow]:
    """One statement per tenant among `asked`; the turns' rows in `asked`'s order."""
    by_tenant: dict[UUID, list[int]] = {}
    for index, (tenant_id, _) in enumerate(asked):
        by_tenant.setdefault(tenant_id, []).append(index)
    opened: dict[int, TurnRow] = {}
    for tenant_id, indexes in by_tenant.items():
        rows = await messages.start_dialogs(
            db, tenant_id=tenant_id, turns=[asked[index][1] for index in indexes]
        )
        opened.update(zip(indexes, rows, strict=True))
    return [opened[index] for index in range(len(asked))]
