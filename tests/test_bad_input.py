"""Bad input at every door: a clear 4xx envelope, never a 500, and nothing half-written."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import pytest

from support.chat_client import guest
from support.fake_llm import FakeLlm, Script
from support.fixtures import Client, NewTenant, StartClient

TABLES = ("dialog", "message", "saved_item", "user_profile", "account", "account_token")

# (name, raw body, expected code)
BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("not json", b"message=hello", "invalid_json"),
    ("truncated json", b'{"message": "hel', "invalid_json"),
    ("invalid utf-8", b'{"message": "\xff\xfe"}', "invalid_json"),
    ("array", b'["message"]', "invalid_json"),
    ("string", b'"message"', "invalid_json"),
    ("number", b"42", "invalid_json"),
    ("null", b"null", "invalid_json"),
    ("empty", b"", "invalid_json"),
    ("infinite number", b'{"message": 1e999}', "invalid_json"),
    ("NaN", b'{"message": NaN}', "invalid_json"),
    (
        "nul character",
        b'{"message": "a\\u0000b", "email": "a\\u0000@x.io", "type": "content", '
        b'"reference_id": "r\\u0000", "display_name": "\\u0000"}',
        "invalid_text",
    ),
    (
        "wrong types",
        b'{"message": 12, "user_id": [], "dialog_id": 5, "email": {}, '
        b'"password": 7, "type": 1, "reference_id": 2, "display_name": 3}',
        "validation_error",
    ),
    (
        "huge integer",
        b'{"message": 123456789012345678901234567890, "email": 1e300, '
        b'"type": 1e308, "display_name": 99999999999999999999999}',
        "validation_error",
    ),
]


def routes(tenant_id: UUID) -> list[tuple[str, str]]:
    base = f"/api/v1/tenants/{tenant_id}"
    return [
        ("POST", f"{base}/chat"),
        ("POST", f"{base}/me/saved"),
        ("PATCH", f"{base}/me/profile"),
        ("POST", f"{base}/register"),
        ("POST", f"{base}/login"),
        ("POST", f"{base}/resend-confirmation"),
        ("POST", f"{base}/password/forgot"),
        ("POST", f"{base}/password/reset"),
    ]


async def snapshot(pool: asyncpg.Pool, tenant_id: UUID) -> dict[str, int]:
    return {
        table: await pool.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = $1", tenant_id)
        for table in TABLES
    }


async def send(
    client: Client, method: str, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    response = await client.request(
        method,
        path,
        data=body,
        headers={"Content-Type": "application/json", "X-User-Id": "visitor-1", **(headers or {})},
    )
    return response.status, await response.json()


@pytest.mark.parametrize(("name", "body", "code"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
async def test_bad_bodies_are_400_everywhere_and_write_nothing(
    chat_client: Client,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
    name: str,
    body: bytes,
    code: str,
) -> None:
    tenant = await new_tenant()
    before = await snapshot(pool, tenant.id)
    for method, path in routes(tenant.id):
        status, answer = await send(chat_client, method, path, body)
        assert (status, answer["code"]) == (400, code), (method, path, answer)
        assert answer["detail"]
        if code == "validation_error":
            assert answer["errors"], answer
    assert await snapshot(pool, tenant.id) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/octet-stream",
        "text/json",
        None,
    ],
)
async def test_a_body_that_is_not_declared_json_is_415_and_writes_nothing(
    chat_client: Client,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
    fake_llm: FakeLlm,
    content_type: str | None,
) -> None:
    """A form or text/plain POST is a "simple" request that browsers send cross-origin without
    a preflight: a JSON body is only read when it says it is JSON."""
    tenant = await new_tenant(allowed_origins=["https://shop.example"])
    body = (
        b'{"message": "hi", "user_id": "visitor-1", "email": "a@example.com", '
        b'"password": "long enough password", "type": "content", "reference_id": "r", '
        b'"token": "t", "display_name": "Ann"}'
    )
    headers = {"Origin": "https://evil.example", "X-User-Id": "visitor-1"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    for method, path in routes(tenant.id):
        response = await chat_client.request(
            method, path, data=body, headers=headers, skip_auto_headers=["Content-Type"]
        )
        assert response.status == 415, (method, path, await response.text())
        assert await response.json() == {
            "detail": "The request body must be JSON (Content-Type: application/json).",
            "code": "unsupported_media_type",
        }
        assert "Access-Control-Allow-Origin" not in response.headers
    assert await snapshot(pool, tenant.id) == dict.fromkeys(TABLES, 0)
    assert fake_llm.requests == []


async def test_json_with_parameters_or_capitals_is_accepted(
    chat_client: Client, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    path = f"/api/v1/tenants/{tenant.id}/me/profile"
    for content_type in ("application/json; charset=utf-8", "Application/JSON"):
        status, answer = await send(
            chat_client,
            "PATCH",
            path,
            b'{"display_name": "Ann"}',
            headers={"Content-Type": content_type},
        )
        assert (status, answer["display_name"]) == (200, "Ann"), answer


async def test_a_body_over_the_limit_is_413_and_writes_nothing(
    start_client: StartClient, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    client = await start_client(limits={"body_max_bytes": 4096})
    tenant = await new_tenant()
    body = b'{"message": "' + b"x" * 5000 + b'"}'
    for method, path in routes(tenant.id):
        status, answer = await send(client, method, path, body)
        assert (status, answer["code"]) == (413, "payload_too_large"), (method, path)
    assert await snapshot(pool, tenant.id) == dict.fromkeys(TABLES, 0)


async def test_message_length_and_blank_messages(
    start_client: StartClient, new_tenant: NewTenant, pool: asyncpg.Pool, fake_llm: FakeLlm
) -> None:
    client = await start_client(limits={"message_max_chars": 50})
    tenant = await new_tenant()
    path = f"/api/v1/tenants/{tenant.id}/chat"
    for message, code in [
        ("x" * 51, "message_too_long"),
        ("   \n\t ", "message_blank"),
        ("", "message_blank"),
    ]:
        response = await client.post(path, json={"user_id": guest(), "message": message})
        assert response.status == 400
        assert (await response.json())["code"] == code
    fake_llm.script = Script(deltas=["fits"])
    ok = await client.post(path, json={"user_id": guest(), "message": "y" * 50})
    assert ok.status == 200
    await ok.read()
    assert (await snapshot(pool, tenant.id))["message"] == 2


@pytest.mark.parametrize("path_tail", ["not-a-uuid/chat", "123/me/dialogs", "%00/me/profile"])
async def test_malformed_tenant_ids_are_400(chat_client: Client, path_tail: str) -> None:
    response = (
        await chat_client.get(f"/api/v1/tenants/{path_tail}")
        if "chat" not in path_tail
        else await chat_client.post(f"/api/v1/tenants/{path_tail}", json={"message": "hi"})
    )
    assert response.status == 400
    assert (await response.json())["code"] == "invalid_tenant_id"


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "offset=-1",
        "offset=99999999999999999999",
        "limit=1e3",
        "limit=",
    ],
)
async def test_bad_paging_is_400(chat_client: Client, new_tenant: NewTenant, query: str) -> None:
    tenant = await new_tenant()
    response = await chat_client.get(
        f"/api/v1/tenants/{tenant.id}/me/dialogs?{query}", headers={"X-User-Id": "visitor-1"}
    )
    assert response.status == 400
    assert (await response.json())["code"] == "validation_error"


async def test_oversized_headers_are_refused_without_a_500(
    chat_client: Client, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant()
    huge = "a" * 20_000
    response = await chat_client.get(
        f"/api/v1/tenants/{tenant.id}/me/dialogs", headers={"X-User-Id": huge}
    )
    assert response.status in (400, 431)
    guest_too_long = await chat_client.get(
        f"/api/v1/tenants/{tenant.id}/me/dialogs", headers={"X-User-Id": "g" * 65}
    )
    assert guest_too_long.status == 400
    assert (await guest_too_long.json())["code"] == "invalid_user_id"


async def test_deeply_nested_json_is_400_not_500(
    chat_client: Client, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant()
    for depth in (900, 1023, 5000):
        body = b'{"message": ' + b"[" * depth + b"]" * depth + b"}"
        status, answer = await send(chat_client, "POST", f"/api/v1/tenants/{tenant.id}/chat", body)
        assert status == 400, (depth, answer)


@pytest.mark.parametrize("slug", ["%00", "a%00b", "Not_A_Slug", "x" * 64])
async def test_impossible_slugs_are_404(chat_client: Client, slug: str) -> None:
    for path in (
        f"/api/v1/tenants/by-slug/{slug}",
        f"/api/v1/tenants/by-slug/{slug}/confirm?token=t",
    ):
        response = await chat_client.get(path)
        assert response.status == 404, path
        assert (await response.json())["code"] == "tenant_not_found"
