"""The OpenAPI document covers every API route and matches what the server answers."""

from __future__ import annotations

from cip.http.openapi import declared
from support.fixtures import Client


async def test_document_covers_every_api_route(client: Client) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"].startswith("3.")
    undeclared = [
        f"{route.method} {route.resource.canonical}"
        for route in client.app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        and route.resource.canonical.startswith(("/api/", "/healthz", "/readyz"))
        and not route.resource.canonical.endswith("/openapi.json")
        and declared(route.handler) is None
    ]
    assert undeclared == []
    by_slug = document["paths"]["/api/v1/tenants/by-slug/{slug}"]["get"]
    assert set(by_slug["responses"]) == {"200", "404", "410", "500", "503"}
    schema_name = by_slug["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_name == "#/components/schemas/TenantOut"
    assert set(document["components"]["schemas"]["TenantOut"]["properties"]) == {
        "id",
        "slug",
        "name",
        "welcome_message",
        "locale",
        "brand",
    }


async def test_chat_is_documented_as_it_behaves(client: Client) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    chat = document["paths"]["/api/v1/tenants/{tenant_id}/chat"]["post"]
    assert [p["name"] for p in chat["parameters"]] == ["tenant_id"]  # the guest id is in the body
    assert "user_id" in document["components"]["schemas"]["ChatIn"]["properties"]
    for status in ("502", "503"):
        schema = chat["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ChatFailureOut"}
    assert {"dialog_id", "user_message_id"} <= set(
        document["components"]["schemas"]["ChatFailureOut"]["properties"]
    )
    assert "text/event-stream" in chat["responses"]["200"]["content"]


async def test_every_route_with_a_body_documents_413_and_415(client: Client) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    with_body = {
        f"{method.upper()} {path}": operation["responses"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }
    assert len(with_body) == 10
    for route, responses in with_body.items():
        assert responses["413"]["description"] == "Body too large", route
        assert responses["415"]["description"] == "Body is not application/json", route
        assert responses["415"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorOut"
        }, route
    without_body = document["paths"]["/api/v1/tenants/{tenant_id}/me/dialogs"]["get"]
    assert "415" not in without_body["responses"]


async def test_every_route_of_a_tenant_documents_410(client: Client) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    answers = {
        path: {method: set(operation["responses"]) for method, operation in operations.items()}
        for path, operations in document["paths"].items()
    }
    of_tenant = [path for path in answers if "{tenant_id}" in path or "{slug}" in path]
    assert {"/api/v1/tenants/by-slug/{slug}", "/api/v1/tenants/{tenant_id}/me/saved"} <= set(
        of_tenant
    )
    for path in of_tenant:
        for method, statuses in answers[path].items():
            assert "410" in statuses, f"{method} {path}"
    gone = document["paths"]["/api/v1/tenants/{tenant_id}/chat"]["post"]["responses"]["410"]
    assert gone["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }
    assert "410" not in answers["/healthz"]["get"]
