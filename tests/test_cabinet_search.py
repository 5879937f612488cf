"""`GET …/me/dialogs/search`: PostgreSQL full-text search over the visitor's own dialogs, in
Russian and English, grouped per dialog with marked snippets; bound to the tenant and the
visitor, deleted dialogs left out; and the plan: the GIN index message_search serves it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote
from uuid import UUID

import asyncpg
import pytest

from cip.db.migrations import apply_migrations
from cip.db.queries import Executor, queries
from cip.db.store.dialogs import HEADLINE_OPTIONS, LESS_THAN, MARK_END, MARK_START, SOURCE_CHARS
from support.cabinet_data import CabinetData, guest, iso, one_row
from support.database import DatabaseServer
from support.fixtures import Client, NewTenant
from support.plans import HEAVY_USER, load, nodes

SEARCH = queries("dialogs").search


def marked(text: str) -> str:
    """A snippet with its marks written as [..] for reading."""
    return text.replace(MARK_START, "[").replace(MARK_END, "]")


async def search(client: Client, tenant_id: UUID, user_id: str, q: str, extra: str = "") -> Any:
    response = await client.get(
        f"/api/v1/tenants/{tenant_id}/me/dialogs/search?q={quote(q)}{extra}", headers=guest(user_id)
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def updated_at(pool: asyncpg.Pool, tenant_id: UUID, dialog_id: UUID) -> str:
    row = await one_row(
        pool, "SELECT updated_at FROM dialog WHERE tenant_id = $1 AND id = $2", tenant_id, dialog_id
    )
    return iso(row["updated_at"])


async def test_results_are_grouped_per_dialog_with_marked_snippets(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    refunds = await data.dialog(
        tenant.id,
        "alice",
        [
            ("user", "Can I get a refund?"),
            ("assistant", "Yes: **refunds** are paid within five days."),
            ("user", "Thanks, and shipping?"),
        ],
    )
    await data.dialog(tenant.id, "alice", [("user", "Nothing to see here")])
    returns = await data.dialog(
        tenant.id,
        "alice",
        [("user", "Как оформить возврат заказа?"), ("assistant", "Возвраты принимаем 14 дней.")],
    )
    messages = {
        dialog_id: await data.messages_of(tenant.id, dialog_id) for dialog_id in (refunds, returns)
    }

    body = await search(client, tenant.id, "alice", "refunded")  # another form of the word
    assert len(body["items"]) == 1
    [found] = body["items"]
    snippets = [(match["role"], marked(match["snippet"])) for match in found["messages"]]
    assert snippets == [
        ("assistant", "Yes: [refunds] are paid within five days."),  # its text, no markdown
        ("user", "Can I get a [refund]?"),
    ]
    assert {key: found[key] for key in ("id", "title", "matches", "updated_at")} == {
        "id": str(refunds),
        "title": "Can I get a refund?",
        "matches": 2,
        "updated_at": await updated_at(pool, tenant.id, refunds),
    }
    assert [match["message_id"] for match in found["messages"]] == [
        str(messages[refunds][1]),
        str(messages[refunds][0]),
    ]

    russian = await search(client, tenant.id, "alice", "возвраты")
    assert [item["id"] for item in russian["items"]] == [str(returns)]
    assert [marked(match["snippet"]) for match in russian["items"][0]["messages"]] == [
        "[Возвраты] принимаем 14 дней.",
        "Как оформить [возврат] заказа?",
    ]
    # Web search syntax: a word left out of the messages that match.
    [without] = (await search(client, tenant.id, "alice", "refund -paid"))["items"]
    assert (without["matches"], without["messages"]) == (1, found["messages"][1:])
    assert (await search(client, tenant.id, "alice", "unrelated"))["items"] == []
    assert (await search(client, tenant.id, "alice", "the and"))["items"] == []  # stop words


async def test_dialogs_come_latest_activity_first_and_limit_counts_dialogs(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    created = [
        await data.dialog(tenant.id, "alice", [("user", f"Invoice number {n}")] * 5)
        for n in range(4)
    ]
    body = await search(client, tenant.id, "alice", "invoice", "&limit=3")
    assert [item["id"] for item in body["items"]] == [str(d) for d in reversed(created)][:3]
    assert [(item["matches"], len(item["messages"])) for item in body["items"]] == [(5, 3)] * 3


async def test_only_the_visitors_own_dialogs_that_are_not_deleted(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant, other_tenant = await new_tenant(), await new_tenant()
    mine = await data.dialog(tenant.id, "alice", [("user", "My parcel is lost")])
    deleted = await data.dialog(tenant.id, "alice", [("user", "Another parcel question")])
    await data.dialog(tenant.id, "bob", [("user", "Bob's parcel")])
    await data.dialog(other_tenant.id, "alice", [("user", "Alice's parcel elsewhere")])
    response = await client.delete(
        f"/api/v1/tenants/{tenant.id}/me/dialogs/{deleted}", headers=guest("alice")
    )
    assert response.status == 204
    assert [
        item["id"] for item in (await search(client, tenant.id, "alice", "parcel"))["items"]
    ] == [str(mine)]
    assert len((await search(client, tenant.id, "bob", "parcel"))["items"]) == 1
    assert (await search(client, tenant.id, "carol", "parcel"))["items"] == []
    elsewhere = (await search(client, other_tenant.id, "alice", "parcel"))["items"]
    assert [item["title"] for item in elsewhere] == ["Alice's parcel elsewhere"]


async def test_markup_in_a_message_comes_back_as_text_and_marks_cannot_be_forged(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    await data.dialog(
        tenant.id,
        "alice",
        [
            ("user", f"<script>alert(1)</script> payload {MARK_START}fake{MARK_END} <b>bold</b>"),
        ],
    )
    [found] = (await search(client, tenant.id, "alice", "payload"))["items"]
    [match] = found["messages"]
    # The markup is text for the page to escape; the only marks are the search's own.
    assert match["snippet"] == (
        f"<script>alert(1)</script> {MARK_START}payload{MARK_END} fake <b>bold</b>"
    )


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?q=",
        "?q=%20%20",
        "?q=" + "x" * 201,
        "?q=a%0Ab",
        "?q=a%00b",
        "?q=ok&limit=0",
        "?q=ok&limit=51",
        "?q=ok&limit=x",
    ],
)
async def test_a_bad_search_is_400(client: Client, new_tenant: NewTenant, query: str) -> None:
    tenant = await new_tenant()
    response = await client.get(
        f"/api/v1/tenants/{tenant.id}/me/dialogs/search{query}", headers=guest("alice")
    )
    assert response.status == 400


async def test_a_query_of_200_characters_and_odd_syntax_is_answered(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    await data.dialog(tenant.id, "alice", [("user", "or and not")])
    for q in ("x" * 200, '"unclosed', "-", "&|!:*()'", "a <-> b", "OR OR -"):
        assert (await search(client, tenant.id, "alice", q))["items"] == []


async def search_plans(
    connection: Executor, tenant_id: UUID, *, analyze: bool = False
) -> dict[str, tuple[dict[str, Any], str]]:
    """The search's plan (JSON, text) for a word in one dialog of HEAVY_USER (`refund`) and for
    one in every message (`message`), planned for its values as the search runs it."""
    values = {
        "tenant_id": f"'{tenant_id}'::uuid",
        "user_id": f"'{HEAVY_USER}'",
        "limit": "20",
        "per_dialog": "3",
        "hidden": f"'{MARK_START}{MARK_END}{LESS_THAN}'",
        "less_than": f"'{LESS_THAN}'",
        "options": "'" + HEADLINE_OPTIONS.replace("'", "''") + "'",
        "source_chars": str(SOURCE_CHARS),
    }
    types = {"tenant_id": "uuid", "user_id": "text", "query": "text", "limit": "bigint"}
    types |= {"per_dialog": "bigint", "hidden": "text", "less_than": "text", "options": "text"}
    types |= {"source_chars": "integer"}
    await connection.execute(
        "UPDATE message SET content = content || ' refund' WHERE tenant_id = $1"
        " AND dialog_id = (SELECT id FROM dialog WHERE tenant_id = $1 AND user_id = $2"
        " ORDER BY updated_at DESC LIMIT 1)",
        tenant_id,
        HEAVY_USER,
    )
    await connection.execute("ANALYZE message")
    await connection.execute(
        f"PREPARE search_plan ({', '.join(types[name] for name in SEARCH.params)}) AS {SEARCH.sql}"
    )
    await connection.execute("SET plan_cache_mode = force_custom_plan")
    options = "ANALYZE, BUFFERS, " if analyze else ""
    found = {}
    try:
        for word in ("refund", "message"):
            arguments = ", ".join(
                f"'{word}'" if name == "query" else values[name] for name in SEARCH.params
            )
            explain = f"EXPLAIN (%s) EXECUTE search_plan ({arguments})"
            raw = await connection.fetchval(explain % f"{options}FORMAT JSON")
            text = await connection.fetch(explain % f"{options}COSTS OFF")
            found[word] = (
                (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"],
                "\n".join(row[0] for row in text),
            )
    finally:
        await connection.execute("DEALLOCATE search_plan")
        await connection.execute("RESET plan_cache_mode")
    return found


def assert_served_by_the_gin_index(plan: dict[str, Any], text: str) -> None:
    scans = [(node["Node Type"], node.get("Index Name")) for node in nodes(plan)]
    assert ("Bitmap Index Scan", "message_search") in scans, text
    assert not [scan for scan in scans if scan[0] == "Seq Scan"], text


async def test_the_search_uses_the_gin_index_for_a_visitor_with_many_messages(
    pool: asyncpg.Pool, new_tenant: NewTenant
) -> None:
    """The plans of a rare and of a common word: the match is a bitmap scan of message_search,
    never a sequential scan, whatever the visitor's number of messages. Custom plans, as the
    search runs them (`cip.db.store.dialogs.search`): a generic plan, blind to the words,
    walks every message of the visitor instead."""
    tenant = await new_tenant()
    async with pool.acquire() as connection:
        await load(
            connection, tenant.id, heavy_dialogs=500, other_dialogs=5_000, messages_per_dialog=4
        )
        for plan, text in (await search_plans(connection, tenant.id)).values():
            assert_served_by_the_gin_index(plan, text)


@pytest.mark.slow
async def test_the_search_in_a_tenant_of_a_million_messages(
    database_server: DatabaseServer,
) -> None:
    """A visitor with 100,000 messages among 1,000,000: the plans, with their timings."""
    url = database_server.create_database("cip_search_plan")
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
        for word, (plan, text) in (await search_plans(connection, tenant_id, analyze=True)).items():
            print(f"\n--- {word}\n{text}")
            assert_served_by_the_gin_index(plan, text)
    finally:
        await connection.close()
