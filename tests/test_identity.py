"""Identity resolution (SPEC §5): guest ids, tenant-bound HS256 tokens, account ids never
accepted as guest ids. Exercised through `/me/profile` and directly through `resolve`."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import jwt
import pytest

from cip import errors
from cip.accounts.identity import Identities, Identity, KnownGuests, decode_token
from support.cabinet_data import CabinetData, guest
from support.fixtures import Client, NewTenant


def profile_url(tenant_id: UUID) -> str:
    return f"/api/v1/tenants/{tenant_id}/me/profile"


async def status_and_code(
    client: Client, tenant_id: UUID, headers: dict[str, str]
) -> tuple[int, str | None]:
    response = await client.get(profile_url(tenant_id), headers=headers)
    body = await response.json()
    return response.status, body.get("code") if response.status != 200 else body["user_id"]


def claims(account_id: UUID, tenant_id: UUID, /, **changes: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "sub": str(account_id),
        "tenant_id": str(tenant_id),
        "iat": now,
        "exp": int(now + 600),
        **changes,
    }


async def test_a_guest_is_who_the_header_names(client: Client, new_tenant: NewTenant) -> None:
    tenant = await new_tenant()
    for user_id in ("alice", "a" * 64, "A.b_c:d-9", "3f1c2a9e-8d7b-4c6a-9e5f-0a1b2c3d4e5f"):
        assert await status_and_code(client, tenant.id, guest(user_id)) == (200, user_id)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "identity_required"),
        ({"X-User-Id": ""}, "identity_required"),
        ({"X-User-Id": "a" * 65}, "invalid_user_id"),
        ({"X-User-Id": "a b"}, "invalid_user_id"),
        ({"X-User-Id": "a/b"}, "invalid_user_id"),
        ({"X-User-Id": "a@b"}, "invalid_user_id"),
    ],
)
async def test_missing_or_malformed_guest_ids_are_400(
    client: Client, new_tenant: NewTenant, headers: dict[str, str], code: str
) -> None:
    tenant = await new_tenant()
    response = await client.get(profile_url(tenant.id), headers=headers)
    assert response.status == 400
    body = await response.json()
    assert body["code"] == code and body["detail"]


async def test_an_account_is_who_its_token_names(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    account_id = await data.account(tenant.id)
    headers = data.bearer(tenant.id, account_id)
    assert await status_and_code(client, tenant.id, headers) == (200, str(account_id))
    lower = {"Authorization": headers["Authorization"].replace("Bearer", "bearer")}
    assert await status_and_code(client, tenant.id, lower) == (200, str(account_id))
    same_id = {**headers, **guest(str(account_id))}
    assert await status_and_code(client, tenant.id, same_id) == (200, str(account_id))
    empty_id = {**headers, **guest("")}
    assert await status_and_code(client, tenant.id, empty_id) == (200, str(account_id))


async def test_a_token_with_another_guest_id_is_403(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    account_id = await data.account(tenant.id)
    headers = {**data.bearer(tenant.id, account_id), **guest("alice")}
    assert await status_and_code(client, tenant.id, headers) == (403, "user_id_mismatch")


async def test_a_bad_token_never_falls_back_to_the_guest_id(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    account_id = await data.account(tenant.id)
    expired = data.token(tenant.id, account_id, expire_minutes=-1)
    headers = {"Authorization": f"Bearer {expired}", **guest("alice")}
    assert await status_and_code(client, tenant.id, headers) == (401, "invalid_token")


@pytest.mark.parametrize(
    "authorization", ["Basic YTpi", "Bearer", "Bearer   ", "Token abc", "Bearer not.a.jwt"]
)
async def test_malformed_authorization_is_401(
    client: Client, new_tenant: NewTenant, authorization: str
) -> None:
    tenant = await new_tenant()
    headers = {"Authorization": authorization, **guest("alice")}
    assert await status_and_code(client, tenant.id, headers) == (401, "invalid_token")


async def test_an_account_id_is_never_a_guest_id(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant, other = await new_tenant(), await new_tenant()
    account_id = await data.account(tenant.id)
    for spelling in (
        str(account_id),
        str(account_id).upper(),
        account_id.hex,
        f"urn:uuid:{account_id}",
    ):
        assert await status_and_code(client, tenant.id, guest(spelling)) == (401, "login_required")
    # In a tenant where no such account exists the id is just another guest id.
    assert await status_and_code(client, other.id, guest(str(account_id))) == (200, str(account_id))


async def test_a_token_of_a_deleted_account_is_401(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    account_id = await data.account(tenant.id)
    headers = data.bearer(tenant.id, account_id)
    await pool.execute(
        "DELETE FROM account WHERE tenant_id = $1 AND id = $2", tenant.id, account_id
    )
    assert await status_and_code(client, tenant.id, headers) == (401, "invalid_token")


async def test_a_password_change_retires_earlier_tokens_only(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    account_id = await data.account(tenant.id)
    earlier = data.bearer(tenant.id, account_id)
    await data.change_password(tenant.id, account_id)
    later = data.bearer(tenant.id, account_id)
    assert await status_and_code(client, tenant.id, earlier) == (401, "invalid_token")
    assert await status_and_code(client, tenant.id, later) == (200, str(account_id))


async def test_tenant_is_checked_before_identity(client: Client, new_tenant: NewTenant) -> None:
    unknown = await client.get(profile_url(uuid4()))
    assert (unknown.status, (await unknown.json())["code"]) == (404, "tenant_not_found")
    malformed = await client.get("/api/v1/tenants/not-a-uuid/me/profile", headers=guest("alice"))
    assert (malformed.status, (await malformed.json())["code"]) == (400, "invalid_tenant_id")


SECRET = "s" * 40


@pytest.mark.parametrize("missing", ["sub", "tenant_id", "iat", "exp"])
def test_every_claim_is_required(missing: str) -> None:
    account_id, tenant_id = uuid4(), uuid4()
    payload = claims(account_id, tenant_id)
    del payload[missing]
    with pytest.raises(errors.Unauthorized):
        decode_token(SECRET, jwt.encode(payload, SECRET, algorithm="HS256"), tenant_id)


@pytest.mark.parametrize(
    "changes",
    [
        {"sub": "not-a-uuid"},
        {"sub": 12},
        {"tenant_id": "nope"},
        {"iat": "yesterday"},
        {"iat": time.time() + 3600},  # issued in the future
        {"exp": int(time.time()) - 1},
    ],
)
def test_malformed_claims_are_401(changes: dict[str, Any]) -> None:
    account_id, tenant_id = uuid4(), uuid4()
    token = jwt.encode(claims(account_id, tenant_id, **changes), SECRET, algorithm="HS256")
    with pytest.raises(errors.Unauthorized):
        decode_token(SECRET, token, tenant_id)


def test_a_valid_token_decodes_to_account_and_issue_time() -> None:
    account_id, tenant_id = uuid4(), uuid4()
    payload = claims(account_id, tenant_id)
    token = jwt.encode(payload, SECRET, algorithm="HS256")
    assert decode_token(SECRET, token, tenant_id) == (account_id, payload["iat"])
    with pytest.raises(errors.Unauthorized):
        decode_token("t" * 40, token, tenant_id)
    with pytest.raises(errors.Unauthorized):
        decode_token(SECRET, token, uuid4())


@pytest.mark.parametrize("claimed", ["alice\n", "alice\r\n", "\nalice", "al\x00ice"])
async def test_a_claimed_body_id_with_control_characters_is_400(
    pool: asyncpg.Pool, new_tenant: NewTenant, claimed: str
) -> None:
    tenant = await new_tenant()
    with pytest.raises(errors.ValidationFailed) as raised:
        await Identities(pool, SECRET).resolve(
            tenant_id=tenant.id, authorization=None, guest_id=claimed
        )
    assert raised.value.code == "invalid_user_id"


async def test_resolve_with_a_token_and_the_matching_body_id(
    pool: asyncpg.Pool, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    account_id = await data.account(tenant.id)
    identities = Identities(pool, data.secret)
    authorization = data.bearer(tenant.id, account_id)["Authorization"]
    for claimed in (None, "", str(account_id)):
        assert await identities.resolve(
            tenant_id=tenant.id, authorization=authorization, guest_id=claimed
        ) == Identity(str(account_id), account_id)
    with pytest.raises(errors.Forbidden):
        await identities.resolve(tenant_id=tenant.id, authorization=authorization, guest_id="bob")


async def test_known_guests_skip_the_lookup_but_an_account_id_stays_refused(
    pool: asyncpg.Pool, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    account_id = await data.account(tenant.id)
    known = KnownGuests()
    identities = Identities(pool, data.secret, known)
    guest_id = str(uuid4())
    for _ in range(2):
        assert await identities.resolve(
            tenant_id=tenant.id, authorization=None, guest_id=guest_id
        ) == Identity(guest_id)
        with pytest.raises(errors.Unauthorized) as raised:
            await identities.resolve(
                tenant_id=tenant.id, authorization=None, guest_id=str(account_id)
            )
        assert raised.value.code == "login_required"
    assert (tenant.id, guest_id) in known
    assert (tenant.id, str(account_id)) not in known


def test_known_guests_forget_the_oldest_first() -> None:
    tenant_id = uuid4()
    known = KnownGuests(size=2)
    for guest_id in ("a", "b", "c"):
        known.add((tenant_id, guest_id))
    assert [(tenant_id, name) in known for name in "abc"] == [False, True, True]


async def test_unknown_guest_ids_checked_together_get_each_their_own_answer(
    pool: asyncpg.Pool, new_tenant: NewTenant, data: CabinetData
) -> None:
    """Concurrent first visits of two tenants, looked up together: an account's id is refused
    in its own tenant only, every other id is a guest."""
    tenant, other = await new_tenant(), await new_tenant()
    account_id = await data.account(tenant.id)
    identities = Identities(pool, data.secret)
    asked = [(tenant.id, str(uuid4())) for _ in range(20)]
    asked += [(tenant.id, str(account_id)), (other.id, str(account_id))]

    async def outcome(tenant_id: UUID, guest_id: str) -> str:
        try:
            found = await identities.resolve(
                tenant_id=tenant_id, authorization=None, guest_id=guest_id
            )
        except errors.Unauthorized as refused:
            return refused.code
        return "guest" if found == Identity(guest_id) else "?"

    outcomes = await asyncio.gather(*(outcome(*pair) for pair in asked))
    assert outcomes == ["guest"] * 20 + ["login_required", "guest"]
