"""Security headers on every answer; CORS only for a tenant's allowed origins."""

from __future__ import annotations

from support.fixtures import Client, NewTenant

ALLOWED = "https://shop.example"


async def test_api_answers_carry_security_headers(client: Client) -> None:
    for path in ("/api/v1/tenants/by-slug/demo", "/api/v1/tenants/by-slug/nope", "/healthz"):
        response = await client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


async def test_cors_for_allowed_origin_only(client: Client, new_tenant: NewTenant) -> None:
    tenant = await new_tenant(allowed_origins=[ALLOWED])
    path = f"/api/v1/tenants/by-slug/{tenant.slug}"

    allowed = await client.get(path, headers={"Origin": ALLOWED})
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert allowed.headers["Vary"] == "Origin"

    other = await client.get(path, headers={"Origin": "https://evil.example"})
    assert other.status == 200
    assert "Access-Control-Allow-Origin" not in other.headers

    demo = await client.get("/api/v1/tenants/by-slug/demo", headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Origin" not in demo.headers  # another tenant's list


async def test_preflight(client: Client, new_tenant: NewTenant) -> None:
    tenant = await new_tenant(allowed_origins=[ALLOWED])
    path = f"/api/v1/tenants/{tenant.id}/chat"
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }

    ok = await client.options(path, headers={"Origin": ALLOWED, **preflight})
    assert ok.status == 204
    assert ok.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in ok.headers["Access-Control-Allow-Headers"]

    refused = await client.options(path, headers={"Origin": "https://evil.example", **preflight})
    assert refused.status == 403
    assert await refused.json() == {
        "detail": "This origin may not call this tenant's API.",
        "code": "origin_not_allowed",
    }
    assert "Access-Control-Allow-Origin" not in refused.headers
