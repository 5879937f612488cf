"""`/me/dialogs`: the dialog list (paging, order, title, preview, count) and one dialog a page
at a time (messages oldest first, walking back with `before`; safe html, rendered once; stale
`streaming` reported as `interrupted`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from pytest_aiohttp import AiohttpClient

from cip.app import create_app
from cip.chat.replies import effective_status
from support.cabinet_data import CabinetData, guest, iso, one_row
from support.fixtures import Client, MakeConfig, NewTenant
from support.markdown_fixtures import UNSAFE

# A message of a question answered once (nothing regenerated), neither saved nor rated, given
# without knowledge-base sources.
ANSWERED_ONCE = {
    "superseded": False,
    "answer_number": None,
    "answers": None,
    "saved_item_id": None,
    "feedback": None,
    "sources": None,
}


def dialogs_url(tenant_id: UUID, suffix: str = "") -> str:
    return f"/api/v1/tenants/{tenant_id}/me/dialogs{suffix}"


async def dialog_row(pool: asyncpg.Pool, tenant_id: UUID, dialog_id: UUID) -> dict[str, Any]:
    return await one_row(
        pool,
        "SELECT created_at, updated_at FROM dialog WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        dialog_id,
    )


async def list_ids(
    client: Client, tenant_id: UUID, user_id: str, query: str = ""
) -> tuple[int, list[str]]:
    response = await client.get(dialogs_url(tenant_id, query), headers=guest(user_id))
    assert response.status == 200
    body = await response.json()
    return body["total"], [item["id"] for item in body["items"]]


async def test_list_is_the_whole_summary_newest_first(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    first = await data.dialog(
        tenant.id,
        "alice",
        [("user", "How much is shipping?"), ("assistant", "Shipping is **free**.")],
    )
    second = await data.dialog(tenant.id, "alice", title="Returns")
    await data.dialog(tenant.id, "bob", [("user", "not alice's")])
    response = await client.get(dialogs_url(tenant.id), headers=guest("alice"))
    assert response.status == 200
    rows = {
        dialog_id: await dialog_row(pool, tenant.id, dialog_id) for dialog_id in (first, second)
    }
    assert await response.json() == {
        "total": 2,
        "items": [
            {
                "id": str(second),
                "title": "Returns",
                "preview": None,
                "message_count": 0,
                "created_at": iso(rows[second]["created_at"]),
                "updated_at": iso(rows[second]["updated_at"]),
            },
            {
                "id": str(first),
                "title": "How much is shipping?",
                "preview": "Shipping is free.",  # the answer's text, without its markdown
                "message_count": 2,
                "created_at": iso(rows[first]["created_at"]),
                "updated_at": iso(rows[first]["updated_at"]),
            },
        ],
    }
    assert iso(rows[first]["updated_at"]).endswith("Z")  # ISO 8601 with an offset


async def test_title_and_preview_are_the_start_of_first_user_and_last_message(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    await data.dialog(
        tenant.id,
        "alice",
        [("assistant", "Welcome!"), ("user", "Q" * 300), ("assistant", "A" * 300)],
    )
    response = await client.get(dialogs_url(tenant.id), headers=guest("alice"))
    [item] = (await response.json())["items"]
    # One word longer than the snippet: cut mid-word, the ellipsis within the 120 characters.
    assert item["title"] == "Q" * 119 + "…"
    assert item["preview"] == "A" * 119 + "…"
    assert item["message_count"] == 3


async def test_a_new_message_moves_its_dialog_to_the_top(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    older = await data.dialog(tenant.id, "alice", [("user", "first")])
    newer = await data.dialog(tenant.id, "alice", [("user", "second")])
    assert await list_ids(client, tenant.id, "alice") == (2, [str(newer), str(older)])
    await data.message(tenant.id, older, "assistant", "a fresh answer")
    assert await list_ids(client, tenant.id, "alice") == (2, [str(older), str(newer)])
    body = await (await client.get(dialogs_url(tenant.id), headers=guest("alice"))).json()
    assert (body["items"][0]["preview"], body["items"][0]["message_count"]) == ("a fresh answer", 2)


async def test_paging_edges(client: Client, new_tenant: NewTenant, data: CabinetData) -> None:
    tenant = await new_tenant()
    created = [await data.dialog(tenant.id, "alice", [("user", f"dialog {n}")]) for n in range(5)]
    newest_first = [str(dialog_id) for dialog_id in reversed(created)]
    assert await list_ids(client, tenant.id, "alice") == (5, newest_first)
    assert await list_ids(client, tenant.id, "alice", "?limit=1") == (5, newest_first[:1])
    assert await list_ids(client, tenant.id, "alice", "?limit=100") == (5, newest_first)
    assert await list_ids(client, tenant.id, "alice", "?limit=2&offset=2") == (5, newest_first[2:4])
    assert await list_ids(client, tenant.id, "alice", "?limit=2&offset=4") == (5, newest_first[4:])
    assert await list_ids(client, tenant.id, "alice", "?offset=5") == (5, [])
    assert await list_ids(client, tenant.id, "alice", "?offset=1000000") == (5, [])
    assert await list_ids(client, tenant.id, "nobody") == (0, [])


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=101",
        "?limit=-1",
        "?limit=abc",
        "?limit=",
        "?limit=1.5",
        "?offset=-1",
        "?offset=x",
        "?offset=2147483648",
        "?offset=99999999999999999999999",
    ],
)
async def test_invalid_paging_is_400(client: Client, new_tenant: NewTenant, query: str) -> None:
    tenant = await new_tenant()
    for path in (dialogs_url(tenant.id, query), f"/api/v1/tenants/{tenant.id}/me/saved{query}"):
        response = await client.get(path, headers=guest("alice"))
        assert response.status == 400
        body = await response.json()
        assert body["code"] == "validation_error"
        assert body["errors"][0]["loc"] == [query[1:].split("=")[0]]


async def test_one_dialog(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    dialog_id = await data.dialog(
        tenant.id,
        "alice",
        [("user", "Hi <b>there</b>"), ("assistant", "Hello, *visitor*.\n\n- one\n- two")],
    )
    user_message, answer = await data.messages_of(tenant.id, dialog_id)
    response = await client.get(dialogs_url(tenant.id, f"/{dialog_id}"), headers=guest("alice"))
    assert response.status == 200
    row = await dialog_row(pool, tenant.id, dialog_id)
    created = {
        record["id"]: record["created_at"]
        for record in await pool.fetch(
            "SELECT id, created_at FROM message WHERE tenant_id = $1", tenant.id
        )
    }
    assert await response.json() == {
        "id": str(dialog_id),
        "title": "Hi <b>there</b>",
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "messages": [
            {
                "id": str(user_message),
                "role": "user",
                "content": "Hi <b>there</b>",
                "html": None,
                "status": "complete",
                "created_at": iso(created[user_message]),
                **ANSWERED_ONCE,
            },
            {
                "id": str(answer),
                "role": "assistant",
                "content": "Hello, *visitor*.\n\n- one\n- two",
                "html": "<p>Hello, <em>visitor</em>.</p>\n"
                "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n",
                "status": "complete",
                "created_at": iso(created[answer]),
                **ANSWERED_ONCE,
            },
        ],
        "has_more": False,
    }


async def test_an_answer_stored_without_html_is_rendered_once_by_its_first_reader(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    dialog_id = await data.dialog(tenant.id, "alice", [("user", "q"), ("assistant", "*a*")])
    _, answer = await data.messages_of(tenant.id, dialog_id)
    html = "SELECT html FROM message WHERE tenant_id = $1 AND id = $2"
    assert await pool.fetchval(html, tenant.id, answer) is None
    url = dialogs_url(tenant.id, f"/{dialog_id}")
    first = await (await client.get(url, headers=guest("alice"))).json()
    assert first["messages"][1]["html"] == "<p><em>a</em></p>\n"
    assert await pool.fetchval(html, tenant.id, answer) == "<p><em>a</em></p>\n"
    # From now on readers get the stored HTML; nothing renders the text again.
    await pool.execute(
        "UPDATE message SET html = '<p>kept</p>' WHERE tenant_id = $1 AND id = $2",
        tenant.id,
        answer,
    )
    again = await (await client.get(url, headers=guest("alice"))).json()
    assert again["messages"][1]["html"] == "<p>kept</p>"


async def test_a_dialog_pages_back_from_its_newest_messages(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    turns = [("user" if n % 2 == 0 else "assistant", f"m{n}") for n in range(7)]
    dialog_id = await data.dialog(tenant.id, "alice", turns)
    ids = [str(message) for message in await data.messages_of(tenant.id, dialog_id)]

    async def page(query: str) -> tuple[list[str], bool]:
        url = dialogs_url(tenant.id, f"/{dialog_id}{query}")
        response = await client.get(url, headers=guest("alice"))
        assert response.status == 200
        body = await response.json()
        return [message["id"] for message in body["messages"]], body["has_more"]

    assert await page("") == (ids, False)
    assert await page("?limit=3") == (ids[4:], True)
    assert await page(f"?limit=3&before={ids[4]}") == (ids[1:4], True)
    assert await page(f"?limit=3&before={ids[1]}") == (ids[:1], False)
    assert await page(f"?limit=3&before={ids[0]}") == ([], False)
    assert await page("?limit=7") == (ids, False)
    assert await page("?limit=6") == (ids[1:], True)


@pytest.mark.parametrize("query", ["?limit=0", "?limit=101", "?limit=x", "?before=nope"])
async def test_invalid_message_paging_is_400(
    client: Client, new_tenant: NewTenant, data: CabinetData, query: str
) -> None:
    tenant = await new_tenant()
    dialog_id = await data.dialog(tenant.id, "alice", [("user", "q")])
    url = dialogs_url(tenant.id, f"/{dialog_id}{query}")
    response = await client.get(url, headers=guest("alice"))
    assert response.status == 400
    body = await response.json()
    assert body["code"] == "validation_error"
    assert body["errors"][0]["loc"] == [query[1:].split("=")[0]]


async def test_a_cursor_from_another_dialog_is_400_and_reveals_nothing(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    mine = await data.dialog(tenant.id, "alice", [("user", "mine")])
    other = await data.dialog(tenant.id, "alice", [("user", "other")])
    bobs = await data.dialog(tenant.id, "bob", [("user", "bob's")])
    for foreign in (other, bobs):
        (cursor,) = await data.messages_of(tenant.id, foreign)
        url = dialogs_url(tenant.id, f"/{mine}?before={cursor}")
        response = await client.get(url, headers=guest("alice"))
        assert response.status == 400
        assert await response.json() == {
            "detail": "`before` is not a message of this dialog.",
            "code": "invalid_cursor",
        }


async def test_dialog_without_messages_and_unknown_or_malformed_ids(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    empty = await data.dialog(tenant.id, "alice", title="Empty")
    body = await (
        await client.get(dialogs_url(tenant.id, f"/{empty}"), headers=guest("alice"))
    ).json()
    assert (body["title"], body["messages"]) == ("Empty", [])
    missing = await client.get(
        dialogs_url(tenant.id, "/00000000-0000-4000-8000-000000000000"), headers=guest("alice")
    )
    assert missing.status == 404
    assert await missing.json() == {"detail": "Dialog not found.", "code": "dialog_not_found"}
    malformed = await client.get(dialogs_url(tenant.id, "/not-a-uuid"), headers=guest("alice"))
    assert malformed.status == 400
    assert (await malformed.json())["code"] == "invalid_dialog_id"


async def test_a_stale_streaming_message_is_reported_interrupted(
    aiohttp_client: AiohttpClient,
    make_config: MakeConfig,
    new_tenant: NewTenant,
    data: CabinetData,
    pool: asyncpg.Pool,
) -> None:
    client = await aiohttp_client(create_app(make_config(llm={"total_timeout": 60})))
    tenant = await new_tenant()
    dialog_id = await data.dialog(tenant.id, "alice", [("user", "q1")])
    stale = await data.message(tenant.id, dialog_id, "assistant", "half an ans", status="streaming")
    live = await data.message(tenant.id, dialog_id, "assistant", "still going", status="streaming")
    stopped = await data.message(
        tenant.id, dialog_id, "assistant", "old but stopped", status="stopped"
    )
    await pool.execute(
        "UPDATE message SET updated_at = now() - interval '61 seconds'"
        " WHERE tenant_id = $1 AND id = ANY($2)",
        tenant.id,
        [stale, stopped],
    )
    body = await (
        await client.get(dialogs_url(tenant.id, f"/{dialog_id}"), headers=guest("alice"))
    ).json()
    statuses = {message["id"]: message["status"] for message in body["messages"]}
    assert statuses == {
        body["messages"][0]["id"]: "complete",
        str(stale): "interrupted",
        str(live): "streaming",
        str(stopped): "stopped",
    }
    # Reported, not rewritten: the row belongs to whoever writes the stream.
    assert (
        await pool.fetchval(
            "SELECT status FROM message WHERE tenant_id = $1 AND id = $2", tenant.id, stale
        )
        == "streaming"
    )


@pytest.mark.parametrize(("content", "html"), UNSAFE)
async def test_assistant_markdown_is_rendered_inert(
    client: Client, new_tenant: NewTenant, data: CabinetData, content: str, html: str
) -> None:
    tenant = await new_tenant()
    dialog_id = await data.dialog(tenant.id, "alice", [("user", content), ("assistant", content)])
    body = await (
        await client.get(dialogs_url(tenant.id, f"/{dialog_id}"), headers=guest("alice"))
    ).json()
    user_message, answer = body["messages"]
    assert (user_message["content"], user_message["html"]) == (content, None)
    assert (answer["content"], answer["html"]) == (content, html)


def test_effective_status_ages_only_streaming_rows() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    timeout = timedelta(seconds=600)
    assert effective_status("streaming", now - timeout, now, timeout) == "streaming"
    assert (
        effective_status("streaming", now - timeout - timedelta(microseconds=1), now, timeout)
        == "interrupted"
    )
    for status in ("complete", "stopped", "error", "interrupted"):
        assert effective_status(status, now - timedelta(days=1), now, timeout) == status
