"""Every `/me/*` route against every way of reaching someone else's data (SPEC §5, §6).

A world of two tenants holds a victim guest and a victim account, each with a dialog, a saved
message and a profile. Each intruder walks all routes; the status of each is the SPEC's, and
afterwards the victims' rows are exactly as before (an intruder's writes land on its own rows).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt
import pytest

from cip.accounts.identity import issue_token
from support.cabinet_data import CabinetData, guest
from support.fixtures import Client, NewTenant

TABLES = ("dialog", "message", "saved_item", "user_profile", "account")


@dataclass
class World:
    tenant_a: UUID
    tenant_b: UUID
    account_id: UUID  # registered victim in tenant A
    dialogs: list[UUID]  # the victims' dialogs in A (guest first, account second)
    messages: list[UUID]
    saved: list[UUID]
    secret: str


@pytest.fixture
async def world(client: Client, new_tenant: NewTenant, data: CabinetData) -> World:
    tenant_a, tenant_b = await new_tenant(), await new_tenant()
    account_id = await data.account(tenant_a.id, "victim@example.com")
    owners = [guest("alice"), data.bearer(tenant_a.id, account_id)]
    dialogs, messages, saved = [], [], []
    for user_id, headers in zip(["alice", str(account_id)], owners, strict=True):
        dialog_id = await data.dialog(
            tenant_a.id, user_id, [("user", "private question"), ("assistant", "private answer")]
        )
        [_, answer] = await data.messages_of(tenant_a.id, dialog_id)
        url = f"/api/v1/tenants/{tenant_a.id}/me"
        response = await client.post(
            f"{url}/saved", headers=headers, json={"type": "message", "reference_id": str(answer)}
        )
        assert response.status == 201
        patched = await client.patch(
            f"{url}/profile",
            headers=headers,
            json={"display_name": "Victim", "contact": "secret contact"},
        )
        assert patched.status == 200
        dialogs.append(dialog_id)
        messages.append(answer)
        saved.append(UUID((await response.json())["id"]))
    return World(tenant_a.id, tenant_b.id, account_id, dialogs, messages, saved, data.secret)


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _claims(world: World, **changes: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "sub": str(world.account_id),
        "tenant_id": str(world.tenant_a),
        "iat": now,
        "exp": int(now + 3600),
        **changes,
    }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tampered(world: World) -> dict[str, str]:
    """A real token whose payload was swapped for one naming tenant B: the signature no
    longer matches."""
    header, _, signature = jwt.encode(_claims(world), world.secret, algorithm="HS256").split(".")
    return _bearer(
        ".".join([header, _b64(_claims(world, tenant_id=str(world.tenant_b))), signature])
    )


def tampered_signature(world: World) -> dict[str, str]:
    token = jwt.encode(_claims(world), world.secret, algorithm="HS256")
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    return _bearer(flipped)


def alg_none(world: World) -> dict[str, str]:
    return _bearer(jwt.encode(_claims(world), "", algorithm="none"))  # "" stands for no key


def other_hmac(world: World) -> dict[str, str]:
    return _bearer(jwt.encode(_claims(world), world.secret, algorithm="HS512"))


def expired(world: World) -> dict[str, str]:
    now = time.time()
    return _bearer(
        jwt.encode(
            _claims(world, iat=now - 7200, exp=int(now - 60)), world.secret, algorithm="HS256"
        )
    )


# An intruder: how it calls (path tenant, headers), and what every route must answer.
# "own" means it acts as some other visitor: reads come back empty, writes touch only its rows.
Intruder = tuple[Callable[[World], UUID], Callable[[World], dict[str, str]], str]

INTRUDERS: dict[str, Intruder] = {
    "another user of the same tenant": (lambda w: w.tenant_a, lambda w: guest("mallory"), "own"),
    "the same guest id in another tenant": (lambda w: w.tenant_b, lambda w: guest("alice"), "own"),
    "the account id as a guest in another tenant": (
        lambda w: w.tenant_b,
        lambda w: guest(str(w.account_id)),
        "own",
    ),
    "a tenant A token on tenant B's path": (
        lambda w: w.tenant_b,
        lambda w: _bearer(issue(w, w.tenant_a)),
        "401",
    ),
    "a token naming tenant B for an account of A": (
        lambda w: w.tenant_b,
        lambda w: _bearer(issue(w, w.tenant_b)),
        "401",
    ),
    "a tampered token payload": (lambda w: w.tenant_a, tampered, "401"),
    "a tampered token signature": (lambda w: w.tenant_a, tampered_signature, "401"),
    "an alg none token": (lambda w: w.tenant_a, alg_none, "401"),
    "an HS512 token with the same secret": (lambda w: w.tenant_a, other_hmac, "401"),
    "an expired token": (lambda w: w.tenant_a, expired, "401"),
    "the account id as X-User-Id": (
        lambda w: w.tenant_a,
        lambda w: guest(str(w.account_id)),
        "401",
    ),
    "no identity": (lambda w: w.tenant_a, lambda w: {}, "400"),
    "a malformed X-User-Id": (lambda w: w.tenant_a, lambda w: guest("alice/../bob"), "400"),
    "an over-long X-User-Id": (lambda w: w.tenant_a, lambda w: guest("a" * 65), "400"),
}


def issue(world: World, tenant_id: UUID) -> str:
    return issue_token(
        world.secret, account_id=world.account_id, tenant_id=tenant_id, expire_minutes=60
    )


async def walk(
    client: Client, world: World, tenant_id: UUID, headers: dict[str, str]
) -> dict[str, tuple[int, Any]]:
    """Every cabinet route, aimed at the victims' ids; status and body of each."""
    url = f"/api/v1/tenants/{tenant_id}/me"
    calls = {
        "list dialogs": client.get(f"{url}/dialogs", headers=headers),
        "guest's dialog": client.get(f"{url}/dialogs/{world.dialogs[0]}", headers=headers),
        "account's dialog": client.get(f"{url}/dialogs/{world.dialogs[1]}", headers=headers),
        "list saved": client.get(f"{url}/saved", headers=headers),
        "save guest's message": client.post(
            f"{url}/saved",
            headers=headers,
            json={"type": "message", "reference_id": str(world.messages[0])},
        ),
        "save account's message": client.post(
            f"{url}/saved",
            headers=headers,
            json={"type": "message", "reference_id": str(world.messages[1])},
        ),
        "save content": client.post(
            f"{url}/saved", headers=headers, json={"type": "content", "reference_id": "pricing"}
        ),
        "delete guest's saved": client.delete(f"{url}/saved/{world.saved[0]}", headers=headers),
        "delete account's saved": client.delete(f"{url}/saved/{world.saved[1]}", headers=headers),
        "get profile": client.get(f"{url}/profile", headers=headers),
        "patch profile": client.patch(
            f"{url}/profile", headers=headers, json={"display_name": "Intruder", "contact": None}
        ),
    }
    results = {}
    for name, call in calls.items():
        response = await call
        results[name] = (response.status, await response.json() if response.status != 204 else None)
    return results


async def snapshot(data: CabinetData, world: World) -> dict[str, list[dict[str, Any]]]:
    return {
        f"{table}@{tenant}": await data.rows(table, tenant)
        for table in TABLES
        for tenant in (world.tenant_a, world.tenant_b)
    }


def victims_rows(
    rows: dict[str, list[dict[str, Any]]], world: World
) -> dict[str, list[dict[str, Any]]]:
    victims = {"alice", str(world.account_id)}
    return {
        key: [
            row
            for row in table
            if row.get("user_id", "alice") in victims and key.endswith(str(world.tenant_a))
        ]
        for key, table in rows.items()
    }


@pytest.mark.parametrize("intruder", list(INTRUDERS))
async def test_no_intruder_reaches_the_victims(
    client: Client, data: CabinetData, world: World, intruder: str
) -> None:
    path_tenant, headers_of, expected = INTRUDERS[intruder]
    tenant_id, headers = path_tenant(world), headers_of(world)
    before = await snapshot(data, world)
    results = await walk(client, world, tenant_id, headers)
    after = await snapshot(data, world)
    if expected == "own":
        user_id = headers["X-User-Id"]
        assert {name: status for name, (status, _) in results.items()} == {
            "list dialogs": 200,
            "guest's dialog": 404,
            "account's dialog": 404,
            "list saved": 200,
            "save guest's message": 404,
            "save account's message": 404,
            "save content": 201,
            "delete guest's saved": 404,
            "delete account's saved": 404,
            "get profile": 200,
            "patch profile": 200,
        }
        assert results["list dialogs"][1] == {"total": 0, "items": []}
        assert results["list saved"][1] == {"total": 0, "items": []}
        assert results["get profile"][1] == {
            "user_id": user_id,
            "tenant_id": str(tenant_id),
            "display_name": None,
            "contact": None,
            "email": None,
            "updated_at": None,
        }
        assert results["patch profile"][1]["display_name"] == "Intruder"
        # The victims' rows are untouched; the only new rows are the intruder's own.
        assert victims_rows(after, world) == victims_rows(before, world)
        added = {
            key: [row for row in rows if row not in before[key]] for key, rows in after.items()
        }
        assert {
            key: [(row["user_id"], row.get("reference_id")) for row in rows]
            for key, rows in added.items()
            if rows
        } == {
            f"saved_item@{tenant_id}": [(user_id, "pricing")],
            f"user_profile@{tenant_id}": [(user_id, None)],
        }
    else:
        statuses = {status for status, _ in results.values()}
        assert statuses == {int(expected)}, results
        codes = {body["code"] for _, body in results.values()}
        assert codes <= {"invalid_token", "login_required", "identity_required", "invalid_user_id"}
        assert after == before
        bodies = json.dumps([body for _, body in results.values()])
        assert "private" not in bodies and "Victim" not in bodies and "victim@" not in bodies


async def test_the_owners_themselves_get_their_data(
    client: Client, data: CabinetData, world: World
) -> None:
    """The control for the walk above: the same routes answer the victims with their data."""
    owners = [guest("alice"), data.bearer(world.tenant_a, world.account_id)]
    for index, headers in enumerate(owners):
        url = f"/api/v1/tenants/{world.tenant_a}/me"
        listed = await (await client.get(f"{url}/dialogs", headers=headers)).json()
        assert [item["id"] for item in listed["items"]] == [str(world.dialogs[index])]
        dialog = await (
            await client.get(f"{url}/dialogs/{world.dialogs[index]}", headers=headers)
        ).json()
        assert [message["content"] for message in dialog["messages"]] == [
            "private question",
            "private answer",
        ]
        saved = await (await client.get(f"{url}/saved", headers=headers)).json()
        assert [item["id"] for item in saved["items"]] == [str(world.saved[index])]
        profile = await (await client.get(f"{url}/profile", headers=headers)).json()
        assert (profile["display_name"], profile["contact"]) == ("Victim", "secret contact")
        assert profile["email"] == (None, "victim@example.com")[index]
        other = world.saved[1 - index]
        assert (await client.delete(f"{url}/saved/{other}", headers=headers)).status == 404
        assert (
            await client.delete(f"{url}/saved/{world.saved[index]}", headers=headers)
        ).status == 204


async def test_a_token_issued_before_the_password_change_stops_working(
    client: Client, data: CabinetData, world: World
) -> None:
    old_headers = data.bearer(world.tenant_a, world.account_id)
    await data.change_password(world.tenant_a, world.account_id)
    before = await snapshot(data, world)
    results = await walk(client, world, world.tenant_a, old_headers)
    assert {status for status, _ in results.values()} == {401}
    assert {body["code"] for _, body in results.values()} == {"invalid_token"}
    assert await snapshot(data, world) == before
    fresh = await client.get(
        f"/api/v1/tenants/{world.tenant_a}/me/profile",
        headers=data.bearer(world.tenant_a, world.account_id),
    )
    assert fresh.status == 200
