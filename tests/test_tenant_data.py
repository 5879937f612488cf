"""A tenant's data as a whole and a visitor's own, through the command line: `cip tenant export`
and `delete` of a tenant of 100,000 messages in constant memory (the peak RSS of the process,
against the same command on a tenant of 10,000), and `cip visitor export` / `delete`, which
touch that one visitor alone. And the retention purge of housekeeping."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from cip.config import Config
from cip.db import housekeeping
from cip.db.store import tenant_data
from cip.db.store.tenants import TenantRow
from cip.tenancy import settings_of
from support.cabinet_data import CabinetData
from support.cli import Measured, cip, measured
from support.fixtures import MakeConfig, NewTenant

TURNS = 50  # messages per seeded dialog
# The peak RSS of a command on 100,000 messages over the same on 10,000: flat, whatever the
# machine's baseline (the interpreter and the service's modules, some 80 MiB). Holding the rows
# instead comes to twice that and more (each message is about 500 characters).
MAX_PEAK_RATIO = 1.1
PASSWORD_HASH = "$2b$12$never.to.leave.the.database.................."
TENANT_OWNED = (
    "saved_item", "message_feedback", "message", "dialog", "user_profile", "account",
    "account_token", "staff_role",
)  # fmt: skip


async def seed(pool: asyncpg.Pool, tenant_id: UUID, dialogs: int) -> None:
    """`dialogs` dialogs of `TURNS` messages each (spread over 100 guests) in one statement,
    with a profile, a saved answer, and an account with a token and a staff role."""
    await pool.execute(
        """
        WITH dialogs AS (
            INSERT INTO dialog (tenant_id, user_id, title)
            SELECT $1, 'guest-' || (n % 100), 'Dialog ' || n
            FROM generate_series(1, $2::integer) AS n
            RETURNING id, user_id
        ), messages AS (
            INSERT INTO message (tenant_id, dialog_id, role, content, created_at)
            SELECT $1, dialogs.id, CASE WHEN turn % 2 = 1 THEN 'user' ELSE 'assistant' END,
                   'Message ' || turn || ': ' || repeat('lorem ipsum dolor ', 27),
                   now() + turn * interval '1 millisecond'
            FROM dialogs CROSS JOIN generate_series(1, $3::integer) AS turn
            RETURNING id, dialog_id
        ), saved AS (
            INSERT INTO saved_item (tenant_id, user_id, type, reference_id, message_id)
            SELECT $1, dialogs.user_id, 'message', first.id::text, first.id
            FROM (SELECT id, dialog_id FROM messages LIMIT 1) AS first
            JOIN dialogs ON dialogs.id = first.dialog_id
        ), profile AS (
            INSERT INTO user_profile (tenant_id, user_id, display_name)
            VALUES ($1, 'guest-1', 'Ann')
        ), account AS (
            INSERT INTO account (tenant_id, email, password_hash, email_confirmed_at)
            VALUES ($1, 'owner-' || $1::text || '@example.com', $4, now())
            RETURNING id
        ), token AS (
            INSERT INTO account_token (tenant_id, token_hash, account_id, purpose, expires_at)
            SELECT $1, '\\x00ff'::bytea, id, 'reset_password', now() + interval '1 hour'
            FROM account
        )
        INSERT INTO staff_role (tenant_id, account_id, role) SELECT $1, id, 'admin' FROM account
        """,
        tenant_id,
        dialogs,
        TURNS,
        PASSWORD_HASH,
    )


async def owned_rows(pool: asyncpg.Pool, tenant_id: UUID) -> dict[str, int]:
    return {
        table: await pool.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = $1", tenant_id)
        for table in TENANT_OWNED
    }


def lines_of(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as export:
        return [json.loads(line) for line in export]


async def run_measured(*args: str, database_url: str, tmp_path: Path, name: str) -> Measured:
    done = await asyncio.to_thread(
        measured, *args, database_url=database_url, tmp_path=tmp_path, name=name
    )
    assert done.returncode == 0, done.stderr
    return done


async def test_a_tenant_of_100000_messages_is_exported_and_deleted_in_constant_memory(
    pool: asyncpg.Pool, new_tenant: NewTenant, database_url: str, tmp_path: Path
) -> None:
    large, small, neighbour = await new_tenant(), await new_tenant(), await new_tenant()
    await seed(pool, large.id, dialogs=2000)
    await seed(pool, small.id, dialogs=200)
    await seed(pool, neighbour.id, dialogs=20)
    neighbour_rows = await owned_rows(pool, neighbour.id)
    assert (await owned_rows(pool, large.id))["message"] == 100_000

    peaks: dict[str, dict[str, int]] = {}
    for tenant in (small, large):
        exported = await run_measured(
            "tenant", "export", tenant.slug, database_url=database_url, tmp_path=tmp_path,
            name=f"export-{tenant.slug}",
        )  # fmt: skip
        peaks.setdefault("export", {})[tenant.slug] = exported.peak_rss_kib
    export = exported.stdout  # the large tenant's, written to stdout
    text = export.read_text(encoding="utf-8")
    assert PASSWORD_HASH not in text and "password_hash" not in text
    assert "\\x00ff" not in text and "token_hash" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert Counter(line["type"] for line in lines) == {
        "tenant": 1,
        "account": 1,
        "staff_role": 1,
        "profile": 1,
        "dialog": 2000,
        "message": 100_000,
        "saved_item": 1,
    }
    assert exported.stderr == (
        f"exported tenant {large.slug}: tenant 1, account 1, staff_role 1, profile 1, "
        "dialog 2000, message 100000, saved_item 1, feedback 0\n"
    )
    assert lines[0] == {
        "type": "tenant",
        "id": str(large.id),
        "slug": large.slug,
        "name": large.name,
        "settings": large.settings,
        "created_at": large.created_at.isoformat(),
        "disabled_at": None,
    }
    [account] = [line for line in lines if line["type"] == "account"]
    assert set(account) == {
        "type", "id", "email", "email_confirmed_at", "password_changed_at", "created_at",
    }  # fmt: skip
    first_message = next(line for line in lines if line["type"] == "message")
    assert set(first_message) == {
        "type", "id", "dialog_id", "role", "content", "status", "finish_reason", "usage",
        "created_at", "updated_at",
    }  # fmt: skip
    # Every dialog's messages together and in order, after the dialogs.
    messages = [line for line in lines if line["type"] == "message"]
    assert [line["type"] for line in lines].index("message") > max(
        index for index, line in enumerate(lines) if line["type"] == "dialog"
    )
    keys = [(line["dialog_id"], line["created_at"], line["id"]) for line in messages]
    assert keys == sorted(keys)

    for tenant in (small, large):
        deleted = await run_measured(
            "tenant", "delete", tenant.slug, "--confirm", database_url=database_url,
            tmp_path=tmp_path, name=f"delete-{tenant.slug}",
        )  # fmt: skip
        peaks.setdefault("delete", {})[tenant.slug] = deleted.peak_rss_kib
    assert deleted.stdout.read_text() == (
        f"deleted tenant {large.slug} ({large.id}): saved_item 1, message 100000, "
        "dialog 2000, profile 1, account 1\n"
    )
    assert await owned_rows(pool, large.id) == dict.fromkeys(TENANT_OWNED, 0)
    assert await pool.fetchval("SELECT count(*) FROM tenant WHERE id = $1", large.id) == 0
    assert await owned_rows(pool, neighbour.id) == neighbour_rows

    for command, peak in peaks.items():
        ratio = peak[large.slug] / peak[small.slug]
        print(
            f"cip tenant {command}: peak RSS {peak[large.slug] / 1024:.1f} MiB for 100,000 "
            f"messages, {peak[small.slug] / 1024:.1f} MiB for 10,000 (x{ratio:.3f})"
        )
        assert ratio < MAX_PEAK_RATIO, (command, peak)


async def test_an_export_to_a_file_is_for_its_owner_alone(
    pool: asyncpg.Pool, new_tenant: NewTenant, database_url: str, tmp_path: Path
) -> None:
    tenant = await new_tenant()
    await seed(pool, tenant.id, dialogs=2)
    target = tmp_path / "export.jsonl"
    done = await asyncio.to_thread(
        cip, "tenant", "export", tenant.slug, "--output", str(target),
        database_url=database_url, tmp_path=tmp_path,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "")
    assert target.stat().st_mode & 0o777 == 0o600
    assert len(lines_of(target)) == 1 + 1 + 1 + 1 + 2 + 2 * TURNS + 1


# A visitor's own data.


async def visitors(data: CabinetData, tenant: TenantRow) -> dict[str, Any]:
    """A guest and an account with dialogs, saved items, ratings and profiles, and a
    bystander."""
    pool, tenant_id = data.pool, tenant.id
    account_id = await data.account(tenant_id, email="owner@example.com")
    await pool.execute(
        """INSERT INTO account_token (tenant_id, token_hash, account_id, purpose, expires_at)
           VALUES ($1, '\\x0102'::bytea, $2, 'confirm_email', now() + interval '1 day')""",
        tenant_id,
        account_id,
    )
    who: dict[str, Any] = {"account": str(account_id), "guest": "guest-leaving"}
    for user_id in (who["guest"], who["account"], "guest-staying"):
        dialog = await data.dialog(tenant_id, user_id, [("user", f"{user_id} asks")])
        answer = await data.message(tenant_id, dialog, "assistant", f"answer for {user_id}")
        await pool.execute(
            """INSERT INTO saved_item (tenant_id, user_id, type, reference_id, message_id)
               VALUES ($1, $2, 'message', $3::uuid::text, $3::uuid),
                      ($1, $2, 'content', 'page-7', NULL)""",
            tenant_id,
            user_id,
            answer,
        )
        await pool.execute(
            """INSERT INTO message_feedback (tenant_id, message_id, user_id, rating)
               VALUES ($1, $2, $3, 'up')""",
            tenant_id,
            answer,
            user_id,
        )
        await pool.execute(
            "INSERT INTO user_profile (tenant_id, user_id, contact) VALUES ($1, $2, $3)",
            tenant_id,
            user_id,
            f"{user_id}@example.com",
        )
    return who


async def test_a_visitors_export_holds_their_data_alone(
    data: CabinetData, new_tenant: NewTenant, database_url: str, tmp_path: Path
) -> None:
    tenant = await new_tenant()
    who = await visitors(data, tenant)
    for kind, user_id, registered in [
        ("guest", who["guest"], False),
        ("account", who["account"].upper(), True),  # an account id in any spelling
    ]:
        done = await asyncio.to_thread(
            cip, "visitor", "export", "--tenant", tenant.slug, "--user", user_id,
            database_url=database_url, tmp_path=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        owner = who[kind]
        assert lines[0] == {
            "type": "visitor",
            "tenant_id": str(tenant.id),
            "user_id": owner,
            "registered": registered,
        }
        assert Counter(line["type"] for line in lines) == {
            "visitor": 1,
            "profile": 1,
            "dialog": 1,
            "message": 2,
            "saved_item": 2,
            "feedback": 1,
            **({"account": 1} if registered else {}),
        }
        assert {line.get("user_id", owner) for line in lines} == {owner}
        assert "guest-staying" not in done.stdout and "not-a-real-hash" not in done.stdout
        assert [line["content"] for line in lines if line["type"] == "message"] == [
            f"{owner} asks",
            f"answer for {owner}",
        ]
        if registered:
            [account] = [line for line in lines if line["type"] == "account"]
            assert (account["id"], account["email"]) == (owner, "owner@example.com")
            assert "password_hash" not in account


async def test_a_visitors_deletion_leaves_everyone_else(
    data: CabinetData, new_tenant: NewTenant, database_url: str, tmp_path: Path
) -> None:
    tenant, other = await new_tenant(), await new_tenant()
    who = await visitors(data, tenant)
    await visitors(data, other)  # the same guest id in another tenant is another visitor
    others = {table: await data.rows(table, other.id) for table in ("dialog", "saved_item")}
    staying = {
        table: [
            row for row in await data.rows(table, tenant.id) if row["user_id"] == "guest-staying"
        ]
        for table in ("dialog", "saved_item", "user_profile")
    }

    for user_id, account in [(who["guest"], 0), (who["account"], 1)]:
        done = await asyncio.to_thread(
            cip, "visitor", "delete", "--tenant", tenant.slug, "--user", user_id,
            database_url=database_url, tmp_path=tmp_path,
        )  # fmt: skip
        assert (done.returncode, done.stdout) == (
            0,
            f"deleted visitor {user_id} of {tenant.slug}: saved_item 2, message 2, dialog 1, "
            f"profile 1, account {account}\n",
        )
    left = {
        table: await data.rows(table, tenant.id)
        for table in ("dialog", "saved_item", "user_profile")
    }
    assert left == staying
    assert await data.rows("account", tenant.id) == []
    assert await owned_rows(data.pool, tenant.id) == {
        "saved_item": 2, "message_feedback": 1, "message": 2, "dialog": 1, "user_profile": 1,
        "account": 0, "account_token": 0, "staff_role": 0,
    }  # fmt: skip
    assert {table: await data.rows(table, other.id) for table in others} == others


# Retention.


async def age(pool: asyncpg.Pool, tenant_id: UUID, dialog_id: UUID, days: int) -> None:
    """The dialog was last active `days` ago."""
    await pool.execute(
        "UPDATE dialog SET updated_at = now() - make_interval(days => $3)"
        " WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        dialog_id,
        days,
    )


async def test_housekeeping_purges_the_dialogs_past_each_tenants_retention(
    data: CabinetData, new_tenant: NewTenant, make_config: MakeConfig
) -> None:
    keeping = await new_tenant(retention_days=30)
    forever = await new_tenant()
    malformed = await new_tenant(retention_days="30")  # not from the config file: ignored
    dialogs: dict[tuple[UUID, int], UUID] = {}
    for tenant in (keeping, forever, malformed):
        for days in (31, 29):
            dialog = await data.dialog(tenant.id, "guest-1", [("user", "q"), ("assistant", "a")])
            [answer] = (await data.messages_of(tenant.id, dialog))[1:]
            await data.pool.execute(
                """INSERT INTO saved_item (tenant_id, user_id, type, reference_id, message_id)
                   VALUES ($1, 'guest-1', 'message', $2::uuid::text, $2::uuid)""",
                tenant.id,
                answer,
            )
            await age(data.pool, tenant.id, dialog, days)
            dialogs[tenant.id, days] = dialog
    before = {tenant.id: await owned_rows(data.pool, tenant.id) for tenant in (forever, malformed)}

    await housekeeping.purge_expired_dialogs(data.pool, make_config())

    assert [row["id"] for row in await data.rows("dialog", keeping.id)] == [dialogs[keeping.id, 29]]
    assert len(await data.rows("message", keeping.id)) == 2
    assert len(await data.rows("saved_item", keeping.id)) == 1
    after = {tenant.id: await owned_rows(data.pool, tenant.id) for tenant in (forever, malformed)}
    assert after == before


async def test_the_purge_goes_in_batches_until_nothing_is_left(
    data: CabinetData, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant()
    for _ in range(5):
        dialog = await data.dialog(tenant.id, "guest-1", [("user", "q"), ("assistant", "a")] * 2)
        await age(data.pool, tenant.id, dialog, 8)
    fresh = await data.dialog(tenant.id, "guest-1", [("user", "still here")])

    purged = await tenant_data.purge_expired(
        data.pool, tenant_id=tenant.id, retention_days=7, batch=3
    )

    assert purged == {"message": 20, "dialog": 5}
    assert [row["id"] for row in await data.rows("dialog", tenant.id)] == [fresh]
    assert len(await data.rows("message", tenant.id)) == 1


def test_retention_days_from_the_config_file_reach_the_tenant(make_config: MakeConfig) -> None:
    config: Config = make_config(tenants={"kept": {"retention_days": 90}, "other": {}})
    assert config.tenant_settings("kept") == {"retention_days": 90}
    assert config.tenant_settings("other") == {}
    # A stored value not from the config file keeps everything rather than delete by mistake.
    stored: list[dict[str, Any]] = [
        {"retention_days": 90}, {}, {"retention_days": 0}, {"retention_days": -3},
        {"retention_days": "90"}, {"retention_days": True},
    ]  # fmt: skip
    assert [settings_of(each, config).retention_days for each in stored] == [90, 0, 0, 0, 0, 0]
