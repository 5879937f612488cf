"""Exports of the visitor's dialogs: one as Markdown (`…/me/dialogs/{id}/export.md`), all as
JSON (`…/me/dialogs/export.json`, streamed), compared whole; other visitors' and deleted
dialogs are never in them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from support.cabinet_data import CabinetData, guest, iso
from support.fixtures import Client, NewTenant


def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


async def rows_of(pool: asyncpg.Pool, tenant_id: UUID, dialog_id: UUID) -> list[dict[str, Any]]:
    return [
        dict(record)
        for record in await pool.fetch(
            "SELECT id, role, content, status, superseded, created_at FROM message"
            " WHERE tenant_id = $1 AND dialog_id = $2 ORDER BY created_at, id",
            tenant_id,
            dialog_id,
        )
    ]


async def created(pool: asyncpg.Pool, tenant_id: UUID, dialog_id: UUID) -> dict[str, Any]:
    record = await pool.fetchrow(
        "SELECT created_at, updated_at FROM dialog WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        dialog_id,
    )
    assert record is not None
    return dict(record)


async def test_one_dialog_as_markdown(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(locale="en")
    dialog_id = await data.dialog(
        tenant.id,
        "alice",
        [("user", "How much is shipping?"), ("assistant", "Shipping is **free**.\n\n- EU\n- UK\n")],
    )
    await data.message(tenant.id, dialog_id, "user", "And <b>returns</b>?")
    await data.message(tenant.id, dialog_id, "assistant", "Thirty days", status="stopped")
    await data.message(tenant.id, dialog_id, "assistant", "", status="streaming")
    response = await client.get(
        f"/api/v1/tenants/{tenant.id}/me/dialogs/{dialog_id}/export.md", headers=guest("alice")
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="dialog-{dialog_id}.md"'
    )
    messages = await rows_of(pool, tenant.id, dialog_id)
    started = (await created(pool, tenant.id, dialog_id))["created_at"]
    assert await response.text() == (
        "# How much is shipping?\n\n"
        f"Started: {when(started)}\n\n"
        f"## You · {when(messages[0]['created_at'])}\n\nHow much is shipping?\n\n"
        f"## Assistant · {when(messages[1]['created_at'])}\n\n"
        "Shipping is **free**.\n\n- EU\n- UK\n\n"
        f"## You · {when(messages[2]['created_at'])}\n\nAnd <b>returns</b>?\n\n"
        f"## Assistant · {when(messages[3]['created_at'])} · answer stopped\n\nThirty days\n\n"
    )


async def test_markdown_speaks_the_tenants_language_and_names_a_renamed_dialog(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(locale="ru")
    dialog_id = await data.dialog(tenant.id, "alice", [("user", "Привет")])
    renamed = await client.patch(
        f"/api/v1/tenants/{tenant.id}/me/dialogs/{dialog_id}",
        json={"title": "Мой диалог"},
        headers=guest("alice"),
    )
    assert renamed.status == 200
    response = await client.get(
        f"/api/v1/tenants/{tenant.id}/me/dialogs/{dialog_id}/export.md", headers=guest("alice")
    )
    [message] = await rows_of(pool, tenant.id, dialog_id)
    started = (await created(pool, tenant.id, dialog_id))["created_at"]
    assert await response.text() == (
        f"# Мой диалог\n\nНачат: {when(started)}\n\n"
        f"## Вы · {when(message['created_at'])}\n\nПривет\n\n"
    )


async def test_every_dialog_as_json(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    first = await data.dialog(
        tenant.id, "alice", [("user", "Где мой заказ?"), ("assistant", "В пути, **завтра**.")]
    )
    empty = await data.dialog(tenant.id, "alice", title="Пустой")
    deleted = await data.dialog(tenant.id, "alice", [("user", "Удалю")])
    await data.dialog(tenant.id, "bob", [("user", "not alice's")])
    response = await client.delete(
        f"/api/v1/tenants/{tenant.id}/me/dialogs/{deleted}", headers=guest("alice")
    )
    assert response.status == 204
    response = await client.get(
        f"/api/v1/tenants/{tenant.id}/me/dialogs/export.json", headers=guest("alice")
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="dialogs.json"'

    def dialog(dialog_id: UUID, title: str, times: dict[str, Any], messages: list[Any]) -> Any:
        return {
            "id": str(dialog_id),
            "title": title,
            "created_at": iso(times["created_at"]),
            "updated_at": iso(times["updated_at"]),
            "messages": [
                {**message, "id": str(message["id"]), "created_at": iso(message["created_at"])}
                for message in messages
            ],
        }

    assert json.loads(await response.read()) == {
        "dialogs": [
            dialog(
                first,
                "Где мой заказ?",
                await created(pool, tenant.id, first),
                await rows_of(pool, tenant.id, first),
            ),
            dialog(empty, "Пустой", await created(pool, tenant.id, empty), []),
        ]
    }
    nobody = await client.get(
        f"/api/v1/tenants/{tenant.id}/me/dialogs/export.json", headers=guest("carol")
    )
    assert (nobody.status, await nobody.json()) == (200, {"dialogs": []})


async def test_a_json_export_of_many_dialogs_is_whole_and_in_order(
    client: Client, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    """More rows than a cursor batch: 300 dialogs of 4 messages, in one stream."""
    tenant = await new_tenant()
    await pool.execute(
        """
        WITH dialogs AS (
            INSERT INTO dialog (tenant_id, user_id, title, created_at)
            SELECT $1, 'alice', 'dialog ' || n, now() - (1000 - n) * interval '1 minute'
            FROM generate_series(1, 300) AS n
            RETURNING id, title, created_at
        )
        INSERT INTO message (tenant_id, dialog_id, role, content, created_at)
        SELECT $1, dialogs.id, CASE WHEN k % 2 = 1 THEN 'user' ELSE 'assistant' END,
               dialogs.title || ' message ' || k, dialogs.created_at + k * interval '1 second'
        FROM dialogs CROSS JOIN generate_series(1, 4) AS k
        """,
        tenant.id,
    )
    response = await client.get(
        f"/api/v1/tenants/{tenant.id}/me/dialogs/export.json", headers=guest("alice")
    )
    assert response.status == 200
    body = json.loads(await response.read())
    assert [dialog["title"] for dialog in body["dialogs"]] == [
        f"dialog {n} message 1" for n in range(1, 301)
    ]
    assert [
        [message["content"] for message in dialog["messages"]] for dialog in body["dialogs"]
    ] == [[f"dialog {n} message {k}" for k in range(1, 5)] for n in range(1, 301)]
