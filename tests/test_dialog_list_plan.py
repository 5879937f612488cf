"""The dialog-list statement is served by indexes: dialog_by_user for the user's dialogs and
message_by_dialog for preview and count, never a sequential scan of dialog or message.

The quick test loads a few thousand rows into the session database; the slow one loads a
tenant of 1,000,000 messages (a visitor with 10,000 dialogs among 100,000) into a database of
its own and prints the plans it saw. Both check the plan PostgreSQL picks for the given
values and the generic plan a prepared statement may switch to after a few executions.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from cip.db.migrations import apply_migrations
from cip.db.queries import Executor, queries
from cip.db.store.dialogs import SOURCE_CHARS
from support.database import DatabaseServer
from support.fixtures import NewTenant
from support.plans import HEAVY_USER, load, nodes

LIST_PAGE = queries("dialogs").list_page
PARAMETER_TYPES = {
    "tenant_id": "uuid",
    "user_id": "text",
    "limit": "bigint",
    "offset": "bigint",
    "source_chars": "integer",
}


async def plans(
    connection: Executor, tenant_id: UUID, offset: int, analyze: bool = False
) -> dict[str, tuple[dict[str, Any], str]]:
    """The custom and the generic plan of one page: (JSON plan, text plan) each."""
    values = {
        "tenant_id": f"'{tenant_id}'",
        "user_id": f"'{HEAVY_USER}'",
        "limit": "20",
        "offset": str(offset),
        "source_chars": str(SOURCE_CHARS),
    }
    arguments = ", ".join(values[name] for name in LIST_PAGE.params)
    types = ", ".join(PARAMETER_TYPES[name] for name in LIST_PAGE.params)
    options = "ANALYZE, BUFFERS, " if analyze else ""
    found = {}
    await connection.execute(f"PREPARE list_page_plan ({types}) AS {LIST_PAGE.sql}")
    try:
        for mode in ("force_custom_plan", "force_generic_plan"):
            await connection.execute(f"SET plan_cache_mode = {mode}")
            explain = f"EXPLAIN (%s) EXECUTE list_page_plan ({arguments})"
            as_json = await connection.fetchval(explain % f"{options}FORMAT JSON")
            as_text = await connection.fetch(explain % f"{options}COSTS OFF")
            found[mode] = (
                json.loads(as_json)[0]["Plan"] if isinstance(as_json, str) else as_json[0]["Plan"],
                "\n".join(row[0] for row in as_text),
            )
    finally:
        await connection.execute("DEALLOCATE list_page_plan")
        await connection.execute("RESET plan_cache_mode")
    return found


def assert_served_by_indexes(plan: dict[str, Any], text: str) -> None:
    scans = [
        (node["Node Type"], node.get("Relation Name"), node.get("Index Name"))
        for node in nodes(plan)
    ]
    assert not [scan for scan in scans if scan[0] == "Seq Scan"], text
    used = {(index, kind) for kind, _, index in scans if index}
    assert ("dialog_by_user", "Index Only Scan") in used, text  # the total
    assert {("dialog_by_user", "Index Scan"), ("dialog_by_user", "Bitmap Index Scan")} & used, text
    assert ("message_by_dialog", "Index Scan") in used, text  # the preview (backward)
    assert ("message_by_dialog", "Index Only Scan") in used, text  # the count


async def test_the_list_statement_uses_the_indexes(
    pool: asyncpg.Pool, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant()
    async with pool.acquire() as connection:
        await load(
            connection, tenant.id, heavy_dialogs=200, other_dialogs=10_000, messages_per_dialog=2
        )
        for offset in (0, 180):
            for plan, text in (await plans(connection, tenant.id, offset)).values():
                assert_served_by_indexes(plan, text)


@pytest.mark.slow
async def test_a_tenant_of_a_million_messages(database_server: DatabaseServer) -> None:
    url = database_server.create_database("cip_plan")
    apply_migrations(url)
    connection = await asyncpg.connect(url)
    try:
        tenant_id = await connection.fetchval(
            "INSERT INTO tenant (slug, name) VALUES ('load', 'Load') RETURNING id"
        )
        await load(
            connection,
            tenant_id,
            heavy_dialogs=10_000,
            other_dialogs=90_000,
            messages_per_dialog=10,
        )
        assert await connection.fetchval("SELECT count(*) FROM message") == 1_000_000
        for offset in (0, 9_980):
            for mode, (plan, text) in (
                await plans(connection, tenant_id, offset, analyze=True)
            ).items():
                print(f"\n--- offset {offset}, {mode}\n{text}")
                assert_served_by_indexes(plan, text)
    finally:
        await connection.close()
