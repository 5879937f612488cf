"""A tenant's life after `cip tenant create`: switched off and on, its data exported and
deleted; and a visitor's own data requests (export, erasure). The command line calls these.

Exports are JSON Lines, one row a line with its `type` first (`tenant` or `visitor`, then
`account`, `staff_role`, `profile`, `dialog`, `message`, `saved_item`, `feedback`), read through
server-side cursors in one repeatable-read snapshot and written as they arrive: memory holds
one cursor batch, whatever the tenant's size. No password hash and no token leaves the database.

Deletes go table by table, children first, in batches of `DELETE_BATCH` rows, each its own
short transaction: a tenant of millions of rows never holds a lock another tenant's request
waits for. A tenant is switched off before its rows go (its visitors get the 410, not half a
tenant) and its row is deleted last.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any, BinaryIO
from uuid import UUID

import asyncpg
import orjson

from cip.accounts.identity import Identity, is_account_id
from cip.db.queries import Executor
from cip.db.store import tenant_data, tenants
from cip.db.store.tenants import TenantRow

DELETE_BATCH = 1000  # rows per delete: a transaction of about 15 ms (1,000 messages)


async def set_disabled(connection: asyncpg.Connection, *, slug: str, disabled: bool) -> TenantRow:
    """Switch the tenant off or on, and tell every instance at once (NotFound for an unknown
    slug). Its data is not touched."""
    async with connection.transaction():
        row = await tenants.set_disabled(connection, slug=slug, disabled=disabled)
        await tenants.announce(connection, tenant_id=row.id)
    return row


async def export_tenant(
    connection: asyncpg.Connection, tenant: TenantRow, *, out: BinaryIO
) -> Counter[str]:
    """Write the tenant and every row it owns to `out`; the number of lines of each type."""
    first = {"type": "tenant", **tenant.model_dump()}
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        rows = tenant_data.export_tenant_rows(connection, tenant_id=tenant.id)
        return await _write_lines(out, first, rows)


async def delete_tenant(
    connection: asyncpg.Connection, tenant: TenantRow, *, batch: int = DELETE_BATCH
) -> dict[str, int]:
    """Switch the tenant off, delete its rows in batches, then the tenant itself; how many
    rows of each kind went."""
    await set_disabled(connection, slug=tenant.slug, disabled=True)
    deleted = await tenant_data.delete_tenant_rows(connection, tenant_id=tenant.id, batch=batch)
    async with connection.transaction():
        await tenants.delete(connection, tenant_id=tenant.id)
        await tenants.announce(connection, tenant_id=tenant.id)
    return deleted


async def visitor(db: Executor, *, tenant_id: UUID, user_id: str) -> Identity:
    """Who `user_id` is in the tenant: its account when it is an account's id (in any UUID
    spelling, as the API reads it), else the guest of that id."""
    if await is_account_id(db, tenant_id, user_id):
        account_id = UUID(user_id)
        return Identity(user_id=str(account_id), account_id=account_id)
    return Identity(user_id=user_id)


async def export_visitor(
    connection: asyncpg.Connection, *, tenant_id: UUID, who: Identity, out: BinaryIO
) -> Counter[str]:
    """Write the visitor's own rows to `out`, after a `visitor` line naming them."""
    first = {
        "type": "visitor",
        "tenant_id": tenant_id,
        "user_id": who.user_id,
        "registered": who.account_id is not None,
    }
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        rows = tenant_data.export_visitor_rows(
            connection, tenant_id=tenant_id, user_id=who.user_id, account_id=who.account_id
        )
        return await _write_lines(out, first, rows)


async def delete_visitor(
    db: Executor, *, tenant_id: UUID, who: Identity, batch: int = DELETE_BATCH
) -> dict[str, int]:
    """Erase the visitor: saved items, messages, dialogs, profile, and their account."""
    return await tenant_data.delete_visitor_rows(
        db, tenant_id=tenant_id, user_id=who.user_id, account_id=who.account_id, batch=batch
    )


async def _write_lines(
    out: BinaryIO, first: Mapping[str, Any], rows: AsyncIterator[dict[str, Any]]
) -> Counter[str]:
    written = Counter(dict.fromkeys([first["type"], *tenant_data.EXPORT_TYPES], 0))

    def write(row: Mapping[str, Any]) -> None:
        out.write(orjson.dumps(row, default=_uuid_text, option=orjson.OPT_APPEND_NEWLINE))
        written[row["type"]] += 1

    write(first)
    async for row in rows:
        write(row)
    out.flush()
    return written


def _uuid_text(value: object) -> str:
    """asyncpg's UUIDs, which orjson does not take for `uuid.UUID`s."""
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
