"""The app shell: tenant by slug, error envelope, health and readiness, request log."""

from __future__ import annotations

import logging
import uuid

import asyncpg
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from cip import keys
from cip.app import create_app
from cip.config import Config
from cip.db.store import tenants
from support.fixtures import Client, MakeConfig, NewTenant
from support.live_server import free_port


async def test_tenant_by_slug(client: Client, new_tenant: NewTenant) -> None:
    tenant = await new_tenant(locale="en", welcome_message="Hello!")
    response = await client.get(f"/api/v1/tenants/by-slug/{tenant.slug}")
    assert response.status == 200
    assert await response.json() == {
        "id": str(tenant.id),
        "slug": tenant.slug,
        "name": tenant.name,
        "welcome_message": "Hello!",
        "locale": "en",
        "brand": {
            "accent": None,
            "accent_text": None,
            "bot_name": None,
            "logo_url": None,
            "avatar_url": None,
            "quick_replies": [],
            "theme": "light",
        },
    }


async def test_demo_tenant_exists(client: Client) -> None:
    response = await client.get("/api/v1/tenants/by-slug/demo")
    assert response.status == 200
    body = await response.json()
    assert body["slug"] == "demo" and body["locale"] == "ru"
    assert "Здравствуйте" in await response.text()  # real UTF-8, not \u escapes


async def test_unknown_slug_is_404_envelope(client: Client) -> None:
    response = await client.get("/api/v1/tenants/by-slug/no-such-tenant")
    assert response.status == 404
    assert await response.json() == {"detail": "Tenant not found.", "code": "tenant_not_found"}


async def test_unknown_route_and_method_use_the_envelope(client: Client) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status == 404
    assert (await missing.json())["code"] == "not_found"
    wrong = await client.post("/api/v1/tenants/by-slug/demo")
    assert wrong.status == 405
    assert (await wrong.json())["code"] == "method_not_allowed"


async def test_unexpected_exception_is_a_500_without_internals(
    aiohttp_client: AiohttpClient, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(request: web.Request) -> web.Response:
        raise RuntimeError("secret internal detail")

    app = create_app(config)
    app.router.add_get("/explode", explode)
    client = await aiohttp_client(app)
    with caplog.at_level(logging.ERROR):
        response = await client.get("/explode")
    assert response.status == 500
    text = await response.text()
    assert await response.json() == {"detail": "Internal server error.", "code": "internal_error"}
    assert "secret internal detail" not in text and "Traceback" not in text
    assert "secret internal detail" in caplog.text  # the operator still sees it


async def test_health_and_readiness(client: Client) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "ok", "database": "ok"}


async def test_readyz_is_503_when_the_database_is_unreachable(
    aiohttp_client: AiohttpClient, make_config: MakeConfig
) -> None:
    config = make_config(
        database={
            "url": f"postgresql://postgres@127.0.0.1:{free_port()}/none",
            "pool_min_size": 0,
            "connect_timeout": 0.5,
            "acquire_timeout": 1.0,
        }
    )
    client = await aiohttp_client(create_app(config))
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["database"] == "unavailable"
    by_slug = await client.get("/api/v1/tenants/by-slug/demo")
    assert by_slug.status == 503
    assert (await by_slug.json())["code"] == "database_unavailable"


async def test_each_request_is_logged_once_with_an_id(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="cip.request"):
        response = await client.get(
            "/api/v1/tenants/by-slug/demo?token=sensitive", headers={"X-Request-Id": "req-123"}
        )
    assert response.headers["X-Request-Id"] == "req-123"
    lines = [record.getMessage() for record in caplog.records if record.name == "cip.request"]
    assert len(lines) == 1
    assert lines[0].startswith("req-123 GET /api/v1/tenants/by-slug/demo 200 ")
    assert "sensitive" not in caplog.text


async def test_a_new_tenant_is_found_at_once_after_a_miss(
    client: Client, pool: asyncpg.Pool
) -> None:
    slug = f"late-{uuid.uuid4().hex[:12]}"
    assert (await client.get(f"/api/v1/tenants/by-slug/{slug}")).status == 404
    created = await tenants.create(pool, slug=slug, name="Late", settings={"locale": "en"})
    response = await client.get(f"/api/v1/tenants/by-slug/{slug}")
    assert response.status == 200
    assert (await response.json())["id"] == str(created.id)


async def test_a_database_data_error_is_logged_without_the_value(
    aiohttp_client: AiohttpClient, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    async def bad_value(request: web.Request) -> web.Response:
        await request.app[keys.POOL].fetchval("SELECT $1::integer", request.headers["X-Value"])
        return web.Response()

    app = create_app(config)
    app.router.add_get("/bad-value", bad_value)
    client = await aiohttp_client(app)
    with caplog.at_level(logging.ERROR):
        response = await client.get("/bad-value", headers={"X-Value": "private words"})
    assert response.status == 500
    assert "DataError" in caplog.text and "bad_value" in caplog.text
    assert "private words" not in caplog.text
