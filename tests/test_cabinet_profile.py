"""`/me/profile`: nulls until written, partial PATCH (absent stays, null clears), account email."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import pytest

from support.cabinet_data import CabinetData, guest, iso, parse_iso
from support.fixtures import Client, NewTenant


def profile_url(tenant_id: UUID) -> str:
    return f"/api/v1/tenants/{tenant_id}/me/profile"


async def stored(pool: asyncpg.Pool, tenant_id: UUID) -> list[tuple[Any, ...]]:
    return [
        tuple(record)
        for record in await pool.fetch(
            "SELECT user_id, display_name, contact FROM user_profile WHERE tenant_id = $1"
            " ORDER BY user_id",
            tenant_id,
        )
    ]


async def updated_at(pool: asyncpg.Pool, tenant_id: UUID, user_id: str) -> str:
    value = await pool.fetchval(
        "SELECT updated_at FROM user_profile WHERE tenant_id = $1 AND user_id = $2",
        tenant_id,
        user_id,
    )
    return iso(value)


async def test_a_profile_never_written_is_all_nulls(
    client: Client, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    response = await client.get(profile_url(tenant.id), headers=guest("alice"))
    assert response.status == 200
    assert await response.json() == {
        "user_id": "alice",
        "tenant_id": str(tenant.id),
        "display_name": None,
        "contact": None,
        "email": None,
        "updated_at": None,
    }
    assert await stored(pool, tenant.id) == []  # reading writes nothing


async def test_patch_sets_keeps_and_clears(
    client: Client, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()

    async def patch(body: dict[str, Any]) -> dict[str, Any]:
        response = await client.patch(profile_url(tenant.id), headers=guest("alice"), json=body)
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
        return answer

    body = await patch({"display_name": "  Alice  "})
    assert body == {
        "user_id": "alice",
        "tenant_id": str(tenant.id),
        "display_name": "Alice",
        "contact": None,
        "email": None,
        "updated_at": await updated_at(pool, tenant.id, "alice"),
    }
    body = await patch({"contact": "+1 555 0100"})
    assert (body["display_name"], body["contact"]) == ("Alice", "+1 555 0100")  # absent stays
    body = await patch({"display_name": None})
    assert (body["display_name"], body["contact"]) == (None, "+1 555 0100")  # null clears
    body = await patch({"contact": "   "})
    assert (body["display_name"], body["contact"]) == (None, None)  # blank clears too
    body = await patch({"display_name": "Ann", "contact": "ann@example.com"})
    assert await stored(pool, tenant.id) == [("alice", "Ann", "ann@example.com")]
    got = await client.get(profile_url(tenant.id), headers=guest("alice"))
    assert await got.json() == body


async def test_patch_bumps_updated_at(
    client: Client, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    first = await (
        await client.patch(
            profile_url(tenant.id), headers=guest("alice"), json={"display_name": "A"}
        )
    ).json()
    second = await (
        await client.patch(
            profile_url(tenant.id), headers=guest("alice"), json={"display_name": "A"}
        )
    ).json()
    assert parse_iso(second["updated_at"]) > parse_iso(first["updated_at"])


async def test_an_account_sees_its_email(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    account_id = await data.account(tenant.id, "visitor@example.com")
    headers = data.bearer(tenant.id, account_id)
    body = await (await client.get(profile_url(tenant.id), headers=headers)).json()
    assert (body["user_id"], body["email"], body["updated_at"]) == (
        str(account_id),
        "visitor@example.com",
        None,
    )
    body = await (
        await client.patch(profile_url(tenant.id), headers=headers, json={"contact": "@visitor"})
    ).json()
    assert (body["user_id"], body["email"], body["contact"]) == (
        str(account_id),
        "visitor@example.com",
        "@visitor",
    )


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({}, []),
        ({"display_name": "d" * 257}, ["display_name"]),
        ({"contact": "c" * 257}, ["contact"]),
        ({"contact": 12}, ["contact"]),
        ({"display_name": "a\x00"}, ["display_name"]),
        ({"email": "x@example.com"}, ["email"]),
    ],
)
async def test_invalid_patches_are_400_and_write_nothing(
    client: Client,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
    payload: dict[str, Any],
    loc: list[str],
) -> None:
    tenant = await new_tenant()
    response = await client.patch(profile_url(tenant.id), headers=guest("alice"), json=payload)
    assert response.status == 400
    assert (await response.json())["errors"][0]["loc"] == loc
    assert await stored(pool, tenant.id) == []


async def test_limits_count_characters_after_trimming(
    client: Client, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    response = await client.patch(
        profile_url(tenant.id),
        headers=guest("alice"),
        json={"display_name": " " + "я" * 256 + " ", "contact": "c" * 256},
    )
    assert response.status == 200
    assert await stored(pool, tenant.id) == [("alice", "я" * 256, "c" * 256)]
