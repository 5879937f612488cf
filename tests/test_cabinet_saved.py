"""`/me/saved`: saving messages and content references, idempotence, ownership, deletion."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from support.cabinet_data import CabinetData, guest, iso
from support.fixtures import Client, NewTenant


def saved_url(tenant_id: UUID, suffix: str = "") -> str:
    return f"/api/v1/tenants/{tenant_id}/me/saved{suffix}"


async def saved_rows(pool: asyncpg.Pool, tenant_id: UUID) -> list[dict[str, Any]]:
    return [
        dict(record)
        for record in await pool.fetch(
            """SELECT id, user_id, type, reference_id, message_id, note, created_at
           FROM saved_item WHERE tenant_id = $1 ORDER BY created_at, id""",
            tenant_id,
        )
    ]


async def test_save_a_message_and_list_it(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    dialog_id = await data.dialog(tenant.id, "alice", [("user", "hi"), ("assistant", "**Hello**")])
    _, answer = await data.messages_of(tenant.id, dialog_id)
    response = await client.post(
        saved_url(tenant.id),
        headers=guest("alice"),
        json={"type": "message", "reference_id": str(answer).upper(), "note": "  keep this  "},
    )
    assert response.status == 201
    [row] = await saved_rows(pool, tenant.id)
    item = {
        "id": str(row["id"]),
        "type": "message",
        "reference_id": str(answer),
        "created_at": iso(row["created_at"]),
        "note": "keep this",
        "message": {
            "id": str(answer),
            "dialog_id": str(dialog_id),
            "role": "assistant",
            "content": "**Hello**",
            "html": "<p><strong>Hello</strong></p>\n",
        },
    }
    assert await response.json() == item
    assert (row["user_id"], row["message_id"]) == ("alice", answer)
    listed = await client.get(saved_url(tenant.id), headers=guest("alice"))
    assert listed.status == 200
    assert await listed.json() == {"total": 1, "items": [item]}


async def test_saving_the_same_reference_again_returns_the_existing_item(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    dialog_id = await data.dialog(tenant.id, "alice", [("user", "hi")])
    [message_id] = await data.messages_of(tenant.id, dialog_id)
    first = await client.post(
        saved_url(tenant.id),
        headers=guest("alice"),
        json={"type": "message", "reference_id": str(message_id), "note": "one"},
    )
    again = await client.post(
        saved_url(tenant.id),
        headers=guest("alice"),
        json={"type": "message", "reference_id": str(message_id), "note": "two"},
    )
    assert (first.status, again.status) == (201, 200)
    assert await again.json() == await first.json()  # the note of the stored item stays
    content = [
        await client.post(
            saved_url(tenant.id),
            headers=guest("alice"),
            json={"type": "content", "reference_id": "faq/shipping"},
        )
        for _ in range(2)
    ]
    assert [response.status for response in content] == [201, 200]
    bodies = [await response.json() for response in content]
    assert bodies[0] == bodies[1]
    assert (bodies[0]["message"], bodies[0]["note"]) == (None, None)
    rows = await saved_rows(pool, tenant.id)
    assert [(row["type"], row["reference_id"], row["note"]) for row in rows] == [
        ("message", str(message_id), "one"),
        ("content", "faq/shipping", None),
    ]


async def test_concurrent_saves_of_one_reference_make_one_item(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    dialog_id = await data.dialog(tenant.id, "alice", [("user", "hi")])
    [message_id] = await data.messages_of(tenant.id, dialog_id)
    responses = await asyncio.gather(
        *[
            client.post(
                saved_url(tenant.id),
                headers=guest("alice"),
                json={"type": "message", "reference_id": str(message_id)},
            )
            for _ in range(8)
        ]
    )
    assert sorted(response.status for response in responses) == [200] * 7 + [201]
    assert len({(await response.json())["id"] for response in responses}) == 1
    assert len(await saved_rows(pool, tenant.id)) == 1


async def test_a_message_reference_must_be_in_the_users_own_dialogs(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant, other_tenant = await new_tenant(), await new_tenant()
    bobs = await data.dialog(tenant.id, "bob", [("user", "bob's secret")])
    [bobs_message] = await data.messages_of(tenant.id, bobs)
    elsewhere = await data.dialog(other_tenant.id, "alice", [("user", "alice elsewhere")])
    [elsewhere_message] = await data.messages_of(other_tenant.id, elsewhere)
    for reference in (bobs_message, elsewhere_message, UUID(int=7)):
        response = await client.post(
            saved_url(tenant.id),
            headers=guest("alice"),
            json={"type": "message", "reference_id": str(reference)},
        )
        assert response.status == 404
        assert await response.json() == {
            "detail": "Message not found.",
            "code": "message_not_found",
        }
    assert await saved_rows(pool, tenant.id) == []
    assert await saved_rows(pool, other_tenant.id) == []


async def test_saved_list_pages_newest_first(client: Client, new_tenant: NewTenant) -> None:
    tenant = await new_tenant()
    ids = []
    for n in range(3):
        response = await client.post(
            saved_url(tenant.id),
            headers=guest("alice"),
            json={"type": "content", "reference_id": f"page-{n}"},
        )
        ids.append((await response.json())["id"])

    async def page(query: str) -> tuple[int, list[str]]:
        body = await (await client.get(saved_url(tenant.id, query), headers=guest("alice"))).json()
        return body["total"], [item["id"] for item in body["items"]]

    assert await page("") == (3, ids[::-1])
    assert await page("?limit=1") == (3, ids[2:])
    assert await page("?limit=100&offset=1") == (3, ids[1::-1])
    assert await page("?offset=3") == (3, [])


async def test_delete(client: Client, new_tenant: NewTenant, pool: asyncpg.Pool) -> None:
    tenant = await new_tenant()
    mine = await (
        await client.post(
            saved_url(tenant.id),
            headers=guest("alice"),
            json={"type": "content", "reference_id": "x"},
        )
    ).json()
    bobs = await (
        await client.post(
            saved_url(tenant.id),
            headers=guest("bob"),
            json={"type": "content", "reference_id": "x"},
        )
    ).json()
    not_mine = await client.delete(saved_url(tenant.id, f"/{bobs['id']}"), headers=guest("alice"))
    assert not_mine.status == 404
    assert await not_mine.json() == {
        "detail": "Saved item not found.",
        "code": "saved_item_not_found",
    }
    deleted = await client.delete(saved_url(tenant.id, f"/{mine['id']}"), headers=guest("alice"))
    assert (deleted.status, await deleted.read()) == (204, b"")
    again = await client.delete(saved_url(tenant.id, f"/{mine['id']}"), headers=guest("alice"))
    assert again.status == 404
    malformed = await client.delete(saved_url(tenant.id, "/nope"), headers=guest("alice"))
    assert (malformed.status, (await malformed.json())["code"]) == (400, "invalid_item_id")
    assert [str(row["id"]) for row in await saved_rows(pool, tenant.id)] == [bobs["id"]]


async def test_deleting_a_saved_message_dialog_removes_the_item(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    dialog_id = await data.dialog(tenant.id, "alice", [("user", "hi")])
    [message_id] = await data.messages_of(tenant.id, dialog_id)
    await client.post(
        saved_url(tenant.id),
        headers=guest("alice"),
        json={"type": "message", "reference_id": str(message_id)},
    )
    await pool.execute("DELETE FROM dialog WHERE tenant_id = $1 AND id = $2", tenant.id, dialog_id)
    body = await (await client.get(saved_url(tenant.id), headers=guest("alice"))).json()
    assert body == {"total": 0, "items": []}


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"type": "bookmark", "reference_id": "x"}, ["type"]),
        ({"reference_id": "x"}, ["type"]),
        ({"type": "content"}, ["reference_id"]),
        ({"type": "content", "reference_id": "   "}, ["reference_id"]),
        ({"type": "content", "reference_id": "r" * 257}, ["reference_id"]),
        ({"type": "content", "reference_id": "a\x00b"}, ["reference_id"]),
        ({"type": "content", "reference_id": 5}, ["reference_id"]),
        ({"type": "content", "reference_id": "x", "note": "n" * 1001}, ["note"]),
        ({"type": "content", "reference_id": "x", "note": "a\x00b"}, ["note"]),
        ({"type": "content", "reference_id": "x", "extra": 1}, ["extra"]),
        ({"type": "message", "reference_id": "not-a-uuid"}, ["reference_id"]),
    ],
)
async def test_invalid_saves_are_400_and_write_nothing(
    client: Client,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
    payload: dict[str, Any],
    loc: list[str],
) -> None:
    tenant = await new_tenant()
    response = await client.post(saved_url(tenant.id), headers=guest("alice"), json=payload)
    assert response.status == 400
    assert (await response.json())["errors"][0]["loc"] == loc
    assert await saved_rows(pool, tenant.id) == []


async def test_limits_are_inclusive(
    client: Client, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    response = await client.post(
        saved_url(tenant.id),
        headers=guest("alice"),
        json={"type": "content", "reference_id": "r" * 256, "note": "n" * 1000},
    )
    assert response.status == 201
    [row] = await saved_rows(pool, tenant.id)
    assert (row["reference_id"], row["note"]) == ("r" * 256, "n" * 1000)


async def test_body_must_be_a_json_object(client: Client, new_tenant: NewTenant) -> None:
    tenant = await new_tenant()
    for body in (b"[1]", b"{", b""):
        response = await client.post(
            saved_url(tenant.id),
            headers={**guest("alice"), "Content-Type": "application/json"},
            data=body,
        )
        assert response.status == 400
        assert (await response.json())["code"] == "invalid_json"
