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


# (origin a browser sends, admitted by `https://*.shop.example` and `http://partner.example:8080`)
WILDCARD_CASES = [
    ("https://eu.shop.example", True),
    ("https://a.b.shop.example", True),  # any depth, as in CSP
    ("https://EU.Shop.Example", True),  # hosts compare without case
    ("https://eu.shop.example:443", True),  # the default port, spelled out
    ("https://shop.example", False),  # `*.` needs a subdomain
    ("http://eu.shop.example", False),  # https was listed
    ("https://eu.shop.example:8443", False),  # no port listed: the default port only
    ("https://evilshop.example", False),
    ("https://eu.shop.example.evil.example", False),
    ("http://partner.example:8080", True),
    ("https://partner.example:8080", True),  # CSP lets an http source match https
    ("http://partner.example", False),
    ("http://x.partner.example:8080", False),
    ("null", False),
    ("https://*.shop.example", False),  # a pattern is not an origin
    ("https://.shop.example", False),
    ("https://eu.shop.example/", False),  # not an origin
]


async def test_cors_follows_the_same_rule_as_frame_ancestors(
    client: Client, new_tenant: NewTenant
) -> None:
    """An allowed origin with a wildcard admits the same sites to the API (CORS) as it lets
    embed the pages (`frame-ancestors`), by the CSP's matching rules."""
    tenant = await new_tenant(
        allowed_origins=["https://*.shop.example", "http://partner.example:8080"]
    )
    page = await client.get(f"/{tenant.slug}/chat")
    assert page.headers["Content-Security-Policy"].endswith(
        "frame-ancestors 'self' https://*.shop.example http://partner.example:8080"
    )
    path = f"/api/v1/tenants/{tenant.id}/me/profile"
    preflight = {"Access-Control-Request-Method": "PATCH"}
    admitted = {}
    for origin, _ in WILDCARD_CASES:
        answer = await client.get(path, headers={"Origin": origin, "X-User-Id": "visitor-1"})
        assert answer.status == 200
        check = await client.options(path, headers={"Origin": origin, **preflight})
        admitted[origin] = (
            answer.headers.get("Access-Control-Allow-Origin"),
            check.status,
            check.headers.get("Access-Control-Allow-Origin"),
        )
    assert admitted == {
        origin: (origin, 204, origin) if allowed else (None, 403, None)
        for origin, allowed in WILDCARD_CASES
    }
