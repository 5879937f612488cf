"""Migrations on a real PostgreSQL: full schema, idempotence, tenant-safe keys."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from cip.db.migrations import apply_migrations, migration_ids
from support.database import DatabaseServer
from support.fixtures import NewTenant


def test_migrations_apply_to_an_empty_database_and_rerun_is_a_noop(
    database_server: DatabaseServer,
) -> None:
    url = database_server.create_database("cip_migrate")
    assert apply_migrations(url) == sorted(migration_ids())
    assert apply_migrations(url) == []


async def test_schema_has_every_table_and_the_demo_tenant(pool: asyncpg.Pool) -> None:
    tables = {
        row["tablename"]
        for row in await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    assert {
        "tenant",
        "account",
        "account_token",
        "dialog",
        "message",
        "saved_item",
        "user_profile",
        "rate_counter",
    } <= tables
    assert await pool.fetchval("SELECT name FROM tenant WHERE slug = 'demo'") == "Demo"
    # counters are worth nothing after a crash; unlogged, their commits wait for no flush
    assert (
        await pool.fetchval(
            "SELECT relpersistence::text FROM pg_class WHERE relname = 'rate_counter'"
        )
        == "u"
    )


async def test_a_row_cannot_reference_another_tenants_dialog(
    pool: asyncpg.Pool, new_tenant: NewTenant
) -> None:
    tenant_a, tenant_b = await new_tenant(), await new_tenant()
    dialog_id = await pool.fetchval(
        "INSERT INTO dialog (tenant_id, user_id, title) VALUES ($1, 'guest-1', 'hi') RETURNING id",
        tenant_a.id,
    )
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await pool.execute(
            "INSERT INTO message (tenant_id, dialog_id, role, content)"
            " VALUES ($1, $2, 'user', 'x')",
            tenant_b.id,
            dialog_id,
        )
    message_id = await pool.fetchval(
        "INSERT INTO message (tenant_id, dialog_id, role, content) VALUES ($1, $2, 'user', 'x') "
        "RETURNING id",
        tenant_a.id,
        dialog_id,
    )
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await pool.execute(
            "INSERT INTO saved_item (tenant_id, user_id, type, reference_id, message_id) "
            "VALUES ($1, 'guest-1', 'message', $2, $3)",
            tenant_b.id,
            str(message_id),
            message_id,
        )


async def test_list_queries_are_served_by_indexes(pool: asyncpg.Pool) -> None:
    indexes = {
        row["indexname"]: row["indexdef"]
        for row in await pool.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        )
    }
    assert "(tenant_id, user_id, updated_at DESC, id DESC)" in indexes["dialog_by_user"]
    assert "(tenant_id, dialog_id, created_at, id)" in indexes["message_by_dialog"]


async def test_guest_ids_are_checked_by_the_database(
    pool: asyncpg.Pool, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant()
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "INSERT INTO dialog (tenant_id, user_id) VALUES ($1, $2)",
            tenant.id,
            "bad id with spaces",
        )
    assert uuid.UUID(str(tenant.id))
