"""A visitor's changes to their dialogs: rename (`PATCH …/me/dialogs/{id}`), delete and restore
within the undo window (`DELETE`, `POST …/restore`), the purge after it, and what a deleted
dialog no longer shows up in; titles and previews as plain text cut at a word."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from cip.db import housekeeping
from cip.db.store.tenants import TenantRow
from support.cabinet_data import CabinetData, guest, iso, one_row
from support.fixtures import Client, MakeConfig, NewTenant, StartClient


def dialogs_url(tenant_id: UUID, suffix: str = "") -> str:
    return f"/api/v1/tenants/{tenant_id}/me/dialogs{suffix}"


async def summary_of(pool: asyncpg.Pool, tenant_id: UUID, dialog_id: UUID) -> dict[str, Any]:
    return await one_row(
        pool,
        "SELECT created_at, updated_at, title, title_set, deleted_at FROM dialog"
        " WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        dialog_id,
    )


async def listed(client: Client, tenant_id: UUID, user_id: str) -> list[str]:
    response = await client.get(dialogs_url(tenant_id), headers=guest(user_id))
    assert response.status == 200
    return [item["title"] for item in (await response.json())["items"]]


async def shipping_dialog(data: CabinetData, tenant: TenantRow, user_id: str = "alice") -> UUID:
    return await data.dialog(
        tenant.id,
        user_id,
        [("user", "How much is shipping?"), ("assistant", "Shipping is **free**.")],
        title="How much is shipping?",
    )


async def test_rename_answers_the_summary_and_the_title_sticks(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    dialog_id = await shipping_dialog(data, tenant)
    before = await summary_of(pool, tenant.id, dialog_id)
    response = await client.patch(
        dialogs_url(tenant.id, f"/{dialog_id}"),
        json={"title": "  Shipping **costs** <b>  "},
        headers=guest("alice"),
    )
    assert response.status == 200
    assert await response.json() == {
        "id": str(dialog_id),
        "title": "Shipping **costs** <b>",  # the visitor's own words, as written
        "preview": "Shipping is free.",
        "message_count": 2,
        "created_at": iso(before["created_at"]),
        "updated_at": iso(before["updated_at"]),  # a rename is no activity: the order stays
    }
    await data.message(tenant.id, dialog_id, "user", "And to Canada?")
    assert await listed(client, tenant.id, "alice") == ["Shipping **costs** <b>"]
    view = await (
        await client.get(dialogs_url(tenant.id, f"/{dialog_id}"), headers=guest("alice"))
    ).json()
    assert view["title"] == "Shipping **costs** <b>"
    assert (await summary_of(pool, tenant.id, dialog_id))["title_set"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"title": "two\nlines"},
        {"title": "tab\there"},
        {"title": "nul\u0000"},
        {"title": "bell\u0007"},
        {"title": "c1\u0085inside"},
        {"title": 5},
        {"title": None},
        {},
        {"title": "ok", "other": 1},
    ],
)
async def test_a_bad_title_is_400(
    client: Client,
    new_tenant: NewTenant,
    data: CabinetData,
    body: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    tenant = await new_tenant()
    dialog_id = await shipping_dialog(data, tenant)
    response = await client.patch(
        dialogs_url(tenant.id, f"/{dialog_id}"), json=body, headers=guest("alice")
    )
    assert response.status == 400
    assert (await summary_of(pool, tenant.id, dialog_id))["title_set"] is False


async def test_a_title_of_200_characters_is_kept_whole(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    dialog_id = await shipping_dialog(data, tenant)
    title = "Ж" * 200
    response = await client.patch(
        dialogs_url(tenant.id, f"/{dialog_id}"), json={"title": title}, headers=guest("alice")
    )
    assert (response.status, (await response.json())["title"]) == (200, title)


async def test_delete_hides_the_dialog_and_restore_brings_it_back(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    kept = await data.dialog(tenant.id, "alice", [("user", "Kept")])
    dialog_id = await shipping_dialog(data, tenant)
    [answer] = (await data.messages_of(tenant.id, dialog_id))[1:]
    saved = await client.post(
        f"/api/v1/tenants/{tenant.id}/me/saved",
        json={"type": "message", "reference_id": str(answer)},
        headers=guest("alice"),
    )
    assert saved.status == 201
    before = await summary_of(pool, tenant.id, dialog_id)

    response = await client.delete(dialogs_url(tenant.id, f"/{dialog_id}"), headers=guest("alice"))
    assert response.status == 204
    assert (await summary_of(pool, tenant.id, dialog_id))["deleted_at"] is not None
    assert await listed(client, tenant.id, "alice") == ["Kept"]
    total = (await (await client.get(dialogs_url(tenant.id), headers=guest("alice"))).json())[
        "total"
    ]
    assert total == 1
    view = await client.get(dialogs_url(tenant.id, f"/{dialog_id}"), headers=guest("alice"))
    assert (view.status, (await view.json())["code"]) == (404, "dialog_not_found")
    saved_list = await (
        await client.get(f"/api/v1/tenants/{tenant.id}/me/saved", headers=guest("alice"))
    ).json()
    assert saved_list == {"total": 0, "items": []}
    again = await client.delete(dialogs_url(tenant.id, f"/{dialog_id}"), headers=guest("alice"))
    assert again.status == 404
    rename = await client.patch(
        dialogs_url(tenant.id, f"/{dialog_id}"), json={"title": "x"}, headers=guest("alice")
    )
    assert rename.status == 404
    save_again = await client.post(
        f"/api/v1/tenants/{tenant.id}/me/saved",
        json={"type": "message", "reference_id": str(answer)},
        headers=guest("alice"),
    )
    assert save_again.status == 404

    restored = await client.post(
        dialogs_url(tenant.id, f"/{dialog_id}/restore"), headers=guest("alice")
    )
    assert restored.status == 200
    assert await restored.json() == {
        "id": str(dialog_id),
        "title": "How much is shipping?",
        "preview": "Shipping is free.",
        "message_count": 2,
        "created_at": iso(before["created_at"]),
        "updated_at": iso(before["updated_at"]),
    }
    assert await listed(client, tenant.id, "alice") == ["How much is shipping?", "Kept"]
    saved_list = await (
        await client.get(f"/api/v1/tenants/{tenant.id}/me/saved", headers=guest("alice"))
    ).json()
    assert saved_list["total"] == 1
    assert (await summary_of(pool, tenant.id, dialog_id))["deleted_at"] is None
    # Restoring a dialog that is not deleted changes nothing.
    twice = await client.post(
        dialogs_url(tenant.id, f"/{dialog_id}/restore"), headers=guest("alice")
    )
    assert (twice.status, await twice.json()) == (200, await restored.json())
    assert kept


async def age_deletion(pool: asyncpg.Pool, tenant_id: UUID, dialog_id: UUID, seconds: int) -> None:
    """As if the dialog had been deleted `seconds` ago."""
    await pool.execute(
        "UPDATE dialog SET deleted_at = now() - make_interval(secs => $3)"
        " WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        dialog_id,
        seconds,
    )


async def test_restore_works_within_the_window_and_not_after(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(limits={"dialog_undo_seconds": 60})
    inside = await shipping_dialog(data, tenant)
    outside = await shipping_dialog(data, tenant)
    for dialog_id, age in ((inside, 50), (outside, 70)):
        response = await client.delete(
            dialogs_url(tenant.id, f"/{dialog_id}"), headers=guest("alice")
        )
        assert response.status == 204
        await age_deletion(pool, tenant.id, dialog_id, age)
    late = await client.post(dialogs_url(tenant.id, f"/{outside}/restore"), headers=guest("alice"))
    assert (late.status, (await late.json())["code"]) == (404, "dialog_not_found")
    in_time = await client.post(
        dialogs_url(tenant.id, f"/{inside}/restore"), headers=guest("alice")
    )
    assert in_time.status == 200
    assert (await summary_of(pool, tenant.id, outside))["deleted_at"] is not None


async def test_housekeeping_purges_deleted_dialogs_past_their_window(
    new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool, make_config: MakeConfig
) -> None:
    config = make_config(limits={"dialog_undo_seconds": 60})
    tenant = await new_tenant()
    other_tenant = await new_tenant()
    past = await shipping_dialog(data, tenant)
    recent = await shipping_dialog(data, tenant)
    live = await shipping_dialog(data, tenant)
    elsewhere = await shipping_dialog(data, other_tenant)
    [answer] = (await data.messages_of(tenant.id, past))[1:]
    await pool.execute(
        "INSERT INTO saved_item (tenant_id, user_id, type, reference_id, message_id)"
        " VALUES ($1, 'alice', 'message', $2, $3)",
        tenant.id,
        str(answer),
        answer,
    )
    for owner, dialog_id, age in (
        (tenant, past, 61),
        (tenant, recent, 30),
        (other_tenant, elsewhere, 5),
    ):
        await age_deletion(pool, owner.id, dialog_id, age)
    await housekeeping.purge_expired_dialogs(pool, config)
    remaining = {
        row["id"]
        for row in await pool.fetch(
            "SELECT id FROM dialog WHERE tenant_id = ANY($1)", [tenant.id, other_tenant.id]
        )
    }
    assert remaining == {recent, live, elsewhere}
    assert await data.messages_of(tenant.id, past) == []
    assert len(await data.messages_of(tenant.id, recent)) == 2
    assert await data.rows("saved_item", tenant.id) == []


async def test_a_deleted_dialog_cannot_be_continued_in_the_chat(
    start_client: StartClient, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    client = await start_client()
    tenant = await new_tenant()
    dialog_id = await shipping_dialog(data, tenant)
    await client.delete(dialogs_url(tenant.id, f"/{dialog_id}"), headers=guest("alice"))
    response = await client.post(
        f"/api/v1/tenants/{tenant.id}/chat",
        json={"user_id": "alice", "message": "And to Canada?", "dialog_id": str(dialog_id)},
    )
    assert (response.status, (await response.json())["code"]) == (404, "dialog_not_found")
    assert len(await data.messages_of(tenant.id, dialog_id)) == 2
    [answer] = (await data.messages_of(tenant.id, dialog_id))[1:]
    again = await client.post(
        f"/api/v1/tenants/{tenant.id}/chat/{answer}/regenerate", headers=guest("alice")
    )
    assert again.status == 404


async def test_another_visitor_or_tenant_gets_404_and_changes_nothing(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant, other_tenant = await new_tenant(), await new_tenant()
    dialog_id = await shipping_dialog(data, tenant)
    before = await data.rows("dialog", tenant.id)
    attempts = [
        (tenant.id, "bob"),  # another visitor of the same tenant
        (other_tenant.id, "alice"),  # the same guest id in another tenant
    ]
    for tenant_id, user_id in attempts:
        for method, suffix, body in (
            ("PATCH", "", {"title": "mine now"}),
            ("DELETE", "", None),
            ("POST", "/restore", None),
            ("GET", "/export.md", None),
        ):
            response = await client.request(
                method,
                dialogs_url(tenant_id, f"/{dialog_id}{suffix}"),
                json=body,
                headers=guest(user_id),
            )
            assert (response.status, (await response.json())["code"]) == (404, "dialog_not_found")
    for suffix in ("", "/restore", "/export.md"):
        unknown = await client.request(
            "POST" if suffix == "/restore" else "GET",
            dialogs_url(tenant.id, f"/{uuid4()}{suffix}"),
            headers=guest("alice"),
        )
        assert unknown.status == 404
    assert await data.rows("dialog", tenant.id) == before


async def test_changes_need_an_identity_and_a_valid_id(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    dialog_id = await shipping_dialog(data, tenant)
    anonymous = await client.delete(dialogs_url(tenant.id, f"/{dialog_id}"))
    assert (anonymous.status, (await anonymous.json())["code"]) == (400, "identity_required")
    malformed = await client.delete(dialogs_url(tenant.id, "/not-a-uuid"), headers=guest("alice"))
    assert malformed.status == 400


async def test_deletes_are_cabinet_writes_rate_limited_per_visitor(
    start_client: StartClient, new_tenant: NewTenant, data: CabinetData
) -> None:
    client = await start_client(limits={"cabinet_writes_per_user_per_minute": 2})
    tenant = await new_tenant()
    dialog_id = await shipping_dialog(data, tenant)
    statuses = []
    for _ in range(3):
        response = await client.patch(
            dialogs_url(tenant.id, f"/{dialog_id}"), json={"title": "t"}, headers=guest("alice")
        )
        statuses.append(response.status)
    assert statuses == [200, 200, 429]
    assert "Retry-After" in response.headers


async def test_previews_are_plain_text_cut_at_a_word(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    long_answer = (
        "## Delivery\n\nWe ship **everywhere** in _Europe_, see [the rates](https://x.example/r)."
        " `Express` takes two days; standard delivery takes five working days and costs nothing"
        " above fifty euros."
    )
    question = "Do you   ship to\nEurope? *asking* for a friend " + "really " * 30
    await data.dialog(tenant.id, "alice", [("user", question), ("assistant", long_answer)])
    [item] = (await (await client.get(dialogs_url(tenant.id), headers=guest("alice"))).json())[
        "items"
    ]
    # The question as typed (its asterisks are the visitor's), on one line.
    assert item["title"] == (
        "Do you ship to Europe? *asking* for a friend really really really really really really"
        " really really really really…"
    )
    assert item["preview"] == (
        "Delivery We ship everywhere in Europe, see the rates. Express takes two days; standard"
        " delivery takes five working…"
    )
    assert len(item["preview"]) <= 120 and len(item["title"]) <= 120


async def test_the_routes_beside_a_dialog_are_not_taken_for_its_id(
    client: Client, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant()
    for name in ("search", "export.json"):
        for method in ("PATCH", "DELETE"):
            response = await client.request(
                method, dialogs_url(tenant.id, f"/{name}"), json={}, headers=guest("alice")
            )
            assert response.status == 405, (method, name)
