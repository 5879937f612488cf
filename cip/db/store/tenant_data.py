"""A tenant's data as a whole, or one visitor's (`sql/tenant_data.sql`): the rows of an export,
read through server-side cursors, and deletes in batches, each batch its own short transaction.

A visitor is a `user_id` of the tenant: a guest id, or an account's id as text (then
`account_id` is that account).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg

from cip.db.queries import Executor, Statement, queries

Q = queries("tenant_data")
PREFETCH = 500  # rows an export cursor fetches per round trip: what memory holds of a table
# An export's lines, by `type`, in the order they are written: what a row refers to comes first.
EXPORTS: tuple[tuple[str, Statement], ...] = (
    ("account", Q.export_accounts),
    ("staff_role", Q.export_staff_roles),
    ("profile", Q.export_profiles),
    ("dialog", Q.export_dialogs),
    ("message", Q.export_messages),
    ("saved_item", Q.export_saved_items),
    ("feedback", Q.export_feedback),
)
EXPORT_TYPES = tuple(kind for kind, _ in EXPORTS)
# A whole tenant's rows, children before what they reference, as (what, its batch delete).
TENANT_DELETES: tuple[tuple[str, Statement], ...] = (
    ("saved_item", Q.delete_tenant_saved_items),
    ("message", Q.delete_tenant_messages),
    ("dialog", Q.delete_tenant_dialogs),
    ("profile", Q.delete_tenant_profiles),
    ("account", Q.delete_tenant_accounts),
)
VISITOR_DELETES: tuple[tuple[str, Statement], ...] = (
    ("saved_item", Q.delete_visitor_saved_items),
    ("message", Q.delete_visitor_messages),
    ("dialog", Q.delete_visitor_dialogs),
)


def export_tenant_rows(
    connection: asyncpg.Connection, *, tenant_id: UUID
) -> AsyncIterator[dict[str, Any]]:
    """Every row the tenant owns, each as a dict with its `type` first. Iterate inside a
    transaction (repeatable read, for one snapshot of every table)."""
    return _export(connection, tenant_id=tenant_id, everyone=True, user_id=None, account_id=None)


def export_visitor_rows(
    connection: asyncpg.Connection, *, tenant_id: UUID, user_id: str, account_id: UUID | None
) -> AsyncIterator[dict[str, Any]]:
    """The visitor's rows, as `export_tenant_rows` gives the tenant's."""
    return _export(
        connection, tenant_id=tenant_id, everyone=False, user_id=user_id, account_id=account_id
    )


async def _export(connection: asyncpg.Connection, **scope: Any) -> AsyncIterator[dict[str, Any]]:
    for kind, statement in EXPORTS:
        params = {name: scope[name] for name in statement.params}
        async for record in statement.cursor(connection, prefetch=PREFETCH, **params):
            yield {"type": kind, **dict(record)}  # no column is named `type` (see the SQL)


async def delete_batches(db: Executor, statement: Statement, **values: Any) -> int:
    """Run a batch delete until it deletes nothing; how many rows it deleted in all."""
    total = 0
    while deleted := _count(await statement.execute(db, **values)):
        total += deleted
    return total


async def delete_tenant_rows(db: Executor, *, tenant_id: UUID, batch: int) -> dict[str, int]:
    """Every row the tenant owns, in batches; how many of each kind. The tenant row stays."""
    return {
        kind: await delete_batches(db, statement, tenant_id=tenant_id, batch=batch)
        for kind, statement in TENANT_DELETES
    }


async def delete_visitor_rows(
    db: Executor, *, tenant_id: UUID, user_id: str, account_id: UUID | None, batch: int
) -> dict[str, int]:
    """The visitor's saved items, messages and dialogs in batches, then their profile and
    their account (with its tokens); how many of each kind."""
    ids = {"tenant_id": tenant_id, "user_id": user_id}
    deleted = {
        kind: await delete_batches(db, statement, batch=batch, **ids)
        for kind, statement in VISITOR_DELETES
    }
    deleted["profile"] = _count(await Q.delete_visitor_profile.execute(db, **ids))
    deleted["account"] = 0
    if account_id is not None:
        deleted["account"] = _count(
            await Q.delete_visitor_account.execute(db, tenant_id=tenant_id, account_id=account_id)
        )
    return deleted


async def purge_expired(
    db: Executor, *, tenant_id: UUID, retention_days: int, batch: int
) -> dict[str, int]:
    """The tenant's dialogs idle for more than `retention_days`, their messages first, in
    batches; how many of each."""
    expiry = {"tenant_id": tenant_id, "retention_days": retention_days, "batch": batch}
    return {
        "message": await delete_batches(db, Q.delete_expired_messages, **expiry),
        "dialog": await delete_batches(db, Q.delete_expired_dialogs, **expiry),
    }


def _count(status: str) -> int:
    """The row count of a command's status (`DELETE 1000`)."""
    return int(status.rsplit(" ", 1)[1])


async def purge_discarded(
    db: Executor, *, tenant_id: UUID, undo_seconds: float, batch: int
) -> dict[str, int]:
    """The tenant's dialogs their visitors deleted more than `undo_seconds` ago, their
    messages first, in batches; how many of each."""
    discarded = {"tenant_id": tenant_id, "undo_seconds": undo_seconds, "batch": batch}
    return {
        "message": await delete_batches(db, Q.delete_discarded_messages, **discarded),
        "dialog": await delete_batches(db, Q.delete_discarded_dialogs, **discarded),
    }
