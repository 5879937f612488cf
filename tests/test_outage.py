"""PostgreSQL outages: with the database stopped, calls answer 503 JSON at once, /readyz says
503, and the service recovers by itself when the database returns. A stream open when the
database goes away ends with an `error` event (its answer cannot be stored), and its reply is
reported `interrupted` once the database is back. The test owns an embedded PostgreSQL so it
can stop and start it."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pgserver._commands import create_command_function
from pytest_aiohttp import AiohttpClient

from cip import keys
from cip.app import create_app
from cip.db.embedded import EMBEDDED_DATABASE, start_embedded
from cip.db.migrations import apply_migrations
from cip.db.pool import init_connection
from cip.db.store import tenants
from support.fake_llm import FakeLlm, Script
from support.fixtures import MakeConfig, NewTenant
from support.sse_events import parse_sse, read_until, without_pings

NO_HANG_SECONDS = 5  # a guard against hanging, not a performance threshold


class OwnedPostgres:
    def __init__(self, folder: Path) -> None:
        self.server = start_embedded(folder)
        self.url = self.server.get_uri(database=EMBEDDED_DATABASE)

    def stop(self) -> None:
        pg_ctl = create_command_function("pg_ctl")
        pg_ctl(
            ["-w", "-m", "immediate", "stop"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
        )

    def start(self) -> None:
        self.server.ensure_postgres_running()


@pytest.fixture
def owned_postgres() -> Iterator[OwnedPostgres]:
    with tempfile.TemporaryDirectory(prefix="cip-outage-") as folder:
        postgres = OwnedPostgres(Path(folder))
        apply_migrations(postgres.url)
        try:
            yield postgres
        finally:
            postgres.start()
            postgres.server.cleanup()


async def call(client: Any, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with asyncio.timeout(NO_HANG_SECONDS):
        response = await client.request(method, path, **kwargs)
        return response.status, await response.json()


async def get(client: Any, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    return await call(client, "GET", path, **kwargs)


async def test_database_outage_fails_fast_and_recovers(
    aiohttp_client: AiohttpClient, make_config: MakeConfig, owned_postgres: OwnedPostgres
) -> None:
    config = make_config(database={"url": owned_postgres.url, "pool_min_size": 2})
    client = await aiohttp_client(create_app(config))
    assert await get(client, "/readyz") == (200, {"status": "ok", "database": "ok"})
    assert (await get(client, "/api/v1/tenants/by-slug/demo"))[0] == 200

    await asyncio.to_thread(owned_postgres.stop)
    for attempt in range(3):  # pooled connections that died, then fresh connection attempts
        status, body = await get(client, f"/api/v1/tenants/by-slug/not-cached-{attempt}")
        assert (status, body["code"]) == (503, "database_unavailable")
    assert await get(client, "/readyz") == (
        503,
        {"status": "unavailable", "database": "unavailable"},
    )
    assert (await get(client, "/healthz"))[0] == 200

    await asyncio.to_thread(owned_postgres.start)
    status, body = await get(client, "/api/v1/tenants/by-slug/demo")
    assert (status, body["slug"]) == (200, "demo")
    assert (await get(client, "/readyz"))[0] == 200


async def test_outage_everywhere_and_a_stream_caught_by_it(
    aiohttp_client: AiohttpClient,
    make_config: MakeConfig,
    owned_postgres: OwnedPostgres,
    fake_llm: FakeLlm,
) -> None:
    config = make_config(
        database={"url": owned_postgres.url, "pool_min_size": 2},
        llm={
            "api_url": fake_llm.url,
            "api_key": "sk-test",
            "heartbeat_interval": 0.5,
            "first_token_timeout": 8.0,
            "idle_timeout": 8.0,
            "total_timeout": 8.0,
            "sweep_interval": 0.2,
            "sweep_grace": 0.0,
        },
    )
    client = await aiohttp_client(create_app(config))
    connection = await asyncpg.connect(owned_postgres.url)
    try:
        await init_connection(connection)
        tenant = await tenants.create(
            connection, slug="outage", name="Outage", settings={"locale": "en"}
        )
    finally:
        await connection.close()
    base = f"/api/v1/tenants/{tenant.id}"
    user = f"guest-{uuid.uuid4().hex}"
    visitor = {"X-User-Id": user}

    fake_llm.script = Script(deltas=["First answer"])
    before = parse_sse(
        await (
            await client.post(
                f"{base}/chat", json={"user_id": user, "message": "Before the outage"}
            )
        ).text()
    )
    dialog_id = before[0][1]["dialog_id"]
    assert before[-2][0] == "done"

    ending = asyncio.Event()
    fake_llm.script = Script(deltas=["Caught ", "by the outage"], hold_ending=ending)
    stream = await client.post(
        f"{base}/chat",
        json={"user_id": user, "message": "During the outage", "dialog_id": dialog_id},
    )
    assert stream.status == 200
    received = await read_until(stream.content, b"by the outage")

    await asyncio.to_thread(owned_postgres.stop)
    unavailable = (503, "database_unavailable")
    account = {"email": "visitor@example.com", "password": "correct horse battery"}
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", f"{base}/chat", {"json": {"user_id": user, "message": "Anyone?"}}),
        (
            "POST",
            f"{base}/chat",
            {"json": {"user_id": user, "message": "Again?", "dialog_id": dialog_id}},
        ),
        ("GET", f"{base}/me/dialogs", {"headers": visitor}),
        ("GET", f"{base}/me/dialogs/{dialog_id}", {"headers": visitor}),
        ("GET", f"{base}/me/saved", {"headers": visitor}),
        (
            "POST",
            f"{base}/me/saved",
            {"headers": visitor, "json": {"type": "content", "reference_id": "page-1"}},
        ),
        ("GET", f"{base}/me/profile", {"headers": visitor}),
        ("PATCH", f"{base}/me/profile", {"headers": visitor, "json": {"display_name": "Ann"}}),
        ("POST", f"{base}/register", {"json": account}),
        ("POST", f"{base}/login", {"json": account}),
        ("POST", f"{base}/resend-confirmation", {"json": {"email": account["email"]}}),
        ("POST", f"{base}/password/forgot", {"json": {"email": account["email"]}}),
        (
            "POST",
            f"{base}/password/reset",
            {"json": {"token": "t" * 43, "password": "another long one"}},
        ),
        ("GET", f"{base}/confirm?token={'t' * 43}", {}),
        ("GET", "/api/v1/tenants/by-slug/outage/confirm?token=x", {}),
    ]
    for method, path, kwargs in calls:
        status, body = await call(client, method, path, **kwargs)
        assert (status, body.get("code")) == unavailable, (method, path, status, body)
    assert await get(client, "/readyz") == (
        503,
        {"status": "unavailable", "database": "unavailable"},
    )

    # The open stream's answer is complete upstream, but its closing write cannot happen.
    ending.set()
    async with asyncio.timeout(NO_HANG_SECONDS):
        received += await stream.content.read()
    events = without_pings(parse_sse(received.decode()))
    meta = events[0][1]
    assert events[1:] == [
        ("message", {"content": "Caught "}),
        ("message", {"content": "by the outage"}),
        (
            "error",
            {
                "error": "The answer could not be saved: the database is temporarily "
                "unavailable. Please send your message again shortly.",
                "code": "database_unavailable",
            },
        ),
    ]

    await asyncio.to_thread(owned_postgres.start)
    fake_llm.script = Script(deltas=["Back ", "again"])
    response = await client.post(
        f"{base}/chat",
        json={"user_id": user, "message": "After the outage", "dialog_id": dialog_id},
    )
    assert response.status == 200
    after = parse_sse(await response.text())
    assert [name for name, _ in after[-2:]] == ["done", "message"]
    assert after[-2][1]["message_id"] == after[0][1]["message_id"]
    assert (await get(client, "/readyz"))[0] == 200

    # The caught reply could not be written: the sweep reports it once total_timeout passed
    # (grace 0 here); until then the cabinet shows it as still streaming.
    async with asyncio.timeout(config.llm.total_timeout + 30):
        while True:
            status, dialog = await call(
                client, "GET", f"{base}/me/dialogs/{dialog_id}", headers=visitor
            )
            assert status == 200
            caught = next(m for m in dialog["messages"] if m["id"] == meta["message_id"])
            if caught["status"] != "streaming":
                break
            await asyncio.sleep(0.2)
    assert [(m["role"], m["content"], m["status"]) for m in dialog["messages"]] == [
        ("user", "Before the outage", "complete"),
        ("assistant", "First answer", "complete"),
        ("user", "During the outage", "complete"),
        ("assistant", "", "interrupted"),
        ("user", "After the outage", "complete"),
        ("assistant", "Back again", "complete"),
    ]
    assert [m["id"] for m in dialog["messages"]][2:4] == [
        meta["user_message_id"],
        meta["message_id"],
    ]


async def test_a_busy_pool_fails_fast_instead_of_queueing(
    aiohttp_client: AiohttpClient, make_config: MakeConfig, new_tenant: NewTenant
) -> None:
    config = make_config(database={"pool_min_size": 1, "pool_max_size": 1, "acquire_timeout": 0.3})
    client = await aiohttp_client(create_app(config))
    tenant = await new_tenant()
    path = f"/api/v1/tenants/{tenant.id}/me/dialogs"
    async with client.app[keys.POOL].acquire():  # the only connection is busy
        status, body = await get(client, path, headers={"X-User-Id": "visitor-1"})
        assert (status, body["code"]) == (503, "database_unavailable")
    status, body = await get(client, path, headers={"X-User-Id": "visitor-1"})
    assert (status, body) == (200, {"total": 0, "items": []})
