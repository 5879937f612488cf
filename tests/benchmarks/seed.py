"""Benchmark data, written with plain SQL: the chat tenant, accounts that can log in, and two
cabinet tenants whose visitor owns the same dialogs among 1,000 or 1,000,000 messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from cip.accounts.passwords import hash_sync

CABINET_VISITOR = "0b8f3c52-6a4e-4d7e-9d7c-3f0e9a1b2c4d"  # a guest id as pages make them
VISITOR_DIALOGS = 20
MESSAGES_PER_DIALOG = 10
LOGIN_PASSWORD = "bench-password-1"


@dataclass(frozen=True)
class CabinetTenant:
    tenant_id: UUID
    messages: int
    dialog_id: UUID  # one of the visitor's dialogs


async def tenant(connection: asyncpg.Connection, slug: str) -> UUID:
    tenant_id: UUID = await connection.fetchval(
        'INSERT INTO tenant (slug, name, settings) VALUES ($1, $1, \'{"locale": "en"}\') '
        "RETURNING id",
        slug,
    )
    return tenant_id


async def accounts(
    connection: asyncpg.Connection, tenant_id: UUID, count: int, cost: int
) -> list[str]:
    """`count` confirmed accounts sharing LOGIN_PASSWORD; their emails."""
    emails = [f"visitor{index}@bench.example" for index in range(count)]
    password_hash = hash_sync(LOGIN_PASSWORD, cost)
    await connection.executemany(
        "INSERT INTO account (tenant_id, email, password_hash, email_confirmed_at) "
        "VALUES ($1, $2, $3, now())",
        [(tenant_id, email, password_hash) for email in emails],
    )
    return emails


async def cabinet_tenant(
    connection: asyncpg.Connection, slug: str, total_messages: int
) -> CabinetTenant:
    """CABINET_VISITOR's dialogs, then other visitors' dialogs up to `total_messages`."""
    tenant_id = await tenant(connection, slug)
    other_dialogs = total_messages // MESSAGES_PER_DIALOG - VISITOR_DIALOGS
    await connection.execute(
        """
        INSERT INTO dialog (tenant_id, user_id, title, created_at, updated_at)
        SELECT $1, CASE WHEN n <= $2 THEN $3 ELSE 'visitor-' || (n % 30000) END,
               'Dialog number ' || n, now() - n * interval '1 minute',
               now() - n * interval '1 minute'
        FROM generate_series(1, $2::integer + $4::integer) AS n
        """,
        tenant_id,
        VISITOR_DIALOGS,
        CABINET_VISITOR,
        other_dialogs,
    )
    await connection.execute(
        """
        INSERT INTO message (tenant_id, dialog_id, role, content, created_at, updated_at)
        SELECT dialog.tenant_id, dialog.id, CASE WHEN k % 2 = 1 THEN 'user' ELSE 'assistant' END,
               'Message ' || k || ' of ' || dialog.title
                   || ': **some** markdown, a [link](https://example.com) and `code`.',
               dialog.created_at + k * interval '1 second',
               dialog.created_at + k * interval '1 second'
        FROM dialog CROSS JOIN generate_series(1, $2) AS k
        WHERE dialog.tenant_id = $1
        """,
        tenant_id,
        MESSAGES_PER_DIALOG,
    )
    dialog_id = await connection.fetchval(
        "SELECT id FROM dialog WHERE tenant_id = $1 AND user_id = $2 "
        "ORDER BY updated_at DESC LIMIT 1",
        tenant_id,
        CABINET_VISITOR,
    )
    return CabinetTenant(tenant_id=tenant_id, messages=total_messages, dialog_id=dialog_id)


async def analyze(connection: asyncpg.Connection) -> None:
    for table in ("tenant", "account", "dialog", "message"):
        await connection.execute(f"VACUUM ANALYZE {table}")
