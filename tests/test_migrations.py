"""Migrations on a real PostgreSQL: full schema, idempotence, tenant-safe keys."""

from __future__ import annotations

import uuid

import asyncpg
import psycopg
import pytest
from yoyo import get_backend, read_migrations

from cip.db.migrations import MIGRATIONS_DIR, apply_migrations, migration_ids
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


def test_0004_asks_addresses_sent_several_links_to_choose_their_password(
    database_server: DatabaseServer,
) -> None:
    """Before 0004 a second registration kept the first password and mailed another link:
    an unconfirmed account with more than one link gets no password, and its links stop."""
    url = database_server.create_database("cip_migrate")
    backend = get_backend("postgresql+psycopg://" + url.removeprefix("postgresql://"))
    try:
        with backend.lock():
            earlier = read_migrations(str(MIGRATIONS_DIR)).filter(lambda m: m.id < "0004")
            backend.apply_migrations(backend.to_apply(earlier))
    finally:
        backend.connection.close()
    accounts = {  # email -> (confirmed, links mailed)
        "twice@example.com": (False, 2),
        "once@example.com": (False, 1),
        "confirmed@example.com": (True, 2),
    }
    with psycopg.connect(url, autocommit=True) as db:
        [(tenant_id,)] = db.execute("SELECT id FROM tenant WHERE slug = 'demo'").fetchall()
        for email, (confirmed, links) in accounts.items():
            [(account_id,)] = db.execute(
                "INSERT INTO account (tenant_id, email, password_hash, email_confirmed_at)"
                " VALUES (%s, %s, 'hash', CASE WHEN %s THEN now() END) RETURNING id",
                (tenant_id, email, confirmed),
            ).fetchall()
            for n in range(links):
                db.execute(
                    "INSERT INTO account_token (tenant_id, token_hash, account_id, purpose,"
                    " expires_at) VALUES (%s, %s, %s, 'confirm_email', now() + interval '1 day')",
                    (tenant_id, f"{email}{n}".encode(), account_id),
                )
    assert apply_migrations(url)[0] == "0004_password_chosen_by_the_owner"
    with psycopg.connect(url) as db:
        rows = db.execute(
            "SELECT email, password_hash, count(*) FILTER (WHERE used_at IS NULL)"
            " FROM account JOIN account_token ON account_id = account.id"
            " GROUP BY email, password_hash ORDER BY email"
        ).fetchall()
    assert rows == [
        ("confirmed@example.com", "hash", 2),
        ("once@example.com", "hash", 1),
        ("twice@example.com", None, 0),
    ]
