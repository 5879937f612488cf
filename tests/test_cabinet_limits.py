"""The cabinet's own limits: reads and writes rate-limited per visitor and per address (apart
from each other and from chat), a bounded number of saved items, and one page of a dialog at a
time whatever its length."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from support.cabinet_data import CabinetData, guest
from support.fixtures import NewTenant, StartClient

CABINET_LIMITED = {
    "detail": "Too many requests to your cabinet. Please wait a moment.",
    "code": "rate_limited",
}


def cabinet_url(tenant_id: UUID, suffix: str) -> str:
    return f"/api/v1/tenants/{tenant_id}/me/{suffix}"


async def test_reads_are_limited_per_visitor_then_per_address(
    start_client: StartClient, new_tenant: NewTenant
) -> None:
    client = await start_client(
        limits={"cabinet_reads_per_user_per_minute": 2, "cabinet_reads_per_ip_per_minute": 4}
    )
    tenant = await new_tenant()
    url = cabinet_url(tenant.id, "dialogs")
    for _ in range(2):
        assert (await client.get(url, headers=guest("alice"))).status == 200
    refused = await client.get(url, headers=guest("alice"))
    assert refused.status == 429
    assert await refused.json() == CABINET_LIMITED
    assert refused.headers["Retry-After"] == "59"
    # The refusal counted for the address too: another visitor has its last read.
    assert (await client.get(cabinet_url(tenant.id, "saved"), headers=guest("bob"))).status == 200
    assert (await client.get(url, headers=guest("carol"))).status == 429
    # Writes are counted apart from reads.
    saved = await client.post(
        cabinet_url(tenant.id, "saved"),
        headers=guest("alice"),
        json={"type": "content", "reference_id": "faq"},
    )
    assert saved.status == 201


async def test_writes_are_limited_per_visitor_then_per_address(
    start_client: StartClient, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    client = await start_client(
        limits={"cabinet_writes_per_user_per_minute": 2, "cabinet_writes_per_ip_per_minute": 5}
    )
    tenant = await new_tenant()
    profile = cabinet_url(tenant.id, "profile")
    for name in ("A", "B"):
        assert (
            await client.patch(profile, headers=guest("alice"), json={"display_name": name})
        ).status == 200
    refused = await client.patch(profile, headers=guest("alice"), json={"display_name": "C"})
    assert refused.status == 429
    assert await refused.json() == CABINET_LIMITED
    stored = "SELECT display_name FROM user_profile WHERE tenant_id = $1 AND user_id = $2"
    assert await pool.fetchval(stored, tenant.id, "alice") == "B"
    # Fresh guest ids from one address run into the address's limit (refusals count too).
    for user_id, expected in (("g1", 201), ("g2", 201), ("g3", 429)):
        response = await client.post(
            cabinet_url(tenant.id, "saved"),
            headers=guest(user_id),
            json={"type": "content", "reference_id": "faq"},
        )
        assert response.status == expected
    assert (
        await pool.fetchval("SELECT count(*) FROM saved_item WHERE tenant_id = $1", tenant.id) == 2
    )
    # Reads still work.
    assert (await client.get(profile, headers=guest("alice"))).status == 200


async def test_saved_items_are_capped_per_visitor(
    start_client: StartClient, new_tenant: NewTenant, data: CabinetData
) -> None:
    client = await start_client(limits={"saved_items_per_visitor": 2})
    tenant = await new_tenant()
    url = cabinet_url(tenant.id, "saved")

    async def save(user_id: str, reference: str) -> tuple[int, dict[str, object]]:
        response = await client.post(
            url, headers=guest(user_id), json={"type": "content", "reference_id": reference}
        )
        body: dict[str, object] = await response.json()
        return response.status, body

    assert (await save("alice", "a"))[0] == 201
    assert (await save("alice", "b"))[0] == 201
    assert await save("alice", "c") == (
        409,
        {
            "detail": "You have saved 2 items, the most you can keep. Delete some first.",
            "code": "saved_items_full",
        },
    )
    assert (await save("alice", "a"))[0] == 200  # saving again what is saved is no new item
    assert (await save("bob", "c"))[0] == 201  # the cap is per visitor
    first_id = (await save("alice", "a"))[1]["id"]
    assert (await client.delete(f"{url}/{first_id}", headers=guest("alice"))).status == 204
    assert (await save("alice", "c"))[0] == 201
    # A message that is not the visitor's is still a 404, full or not.
    dialog_id = await data.dialog(tenant.id, "bob", [("user", "q"), ("assistant", "a")])
    _, answer = await data.messages_of(tenant.id, dialog_id)
    response = await client.post(
        url, headers=guest("alice"), json={"type": "message", "reference_id": str(answer)}
    )
    assert response.status == 404


async def test_a_long_dialog_is_read_one_bounded_page_at_a_time(
    start_client: StartClient, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    client = await start_client()
    tenant = await new_tenant()
    dialog_id = await data.dialog(tenant.id, "alice")
    await pool.execute(
        """INSERT INTO message (tenant_id, dialog_id, role, content, created_at)
           SELECT $1, $2, CASE WHEN n % 2 = 0 THEN 'user' ELSE 'assistant' END,
                  repeat('*word* ', 2000), now() + n * interval '1 millisecond'
           FROM generate_series(1, 5000) AS n""",
        tenant.id,
        dialog_id,
    )
    url = cabinet_url(tenant.id, f"dialogs/{dialog_id}")
    body = await (await client.get(url, headers=guest("alice"))).json()
    assert (len(body["messages"]), body["has_more"]) == (50, True)
    most = await (await client.get(f"{url}?limit=100", headers=guest("alice"))).json()
    assert (len(most["messages"]), most["has_more"]) == (100, True)
    # Only the answers shown were rendered (and kept).
    rendered = await pool.fetchval(
        "SELECT count(*) FROM message WHERE tenant_id = $1 AND html IS NOT NULL", tenant.id
    )
    assert rendered == 50
