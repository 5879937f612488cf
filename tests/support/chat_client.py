"""Chat test helpers: clients of the app wired to the fake DeepSeek, and readers of the SSE
stream and of the rows it leaves (a pytest plugin: its fixtures serve every test module)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpClient

from cip.app import create_app
from cip.config import Config
from cip.db.store.tenants import TenantRow
from support.clock import ManualClock
from support.database import ROOT
from support.fake_llm import FakeLlm, Script
from support.fixtures import Client
from support.sse_events import parse_sse

DEFAULT_PROMPT = (ROOT / "prompts/system_prompt.txt").read_text(encoding="utf-8").strip()
API_KEY = "sk-test-key"


@pytest.fixture
def chat_config(make_config: Callable[..., Config], fake_llm: FakeLlm) -> Callable[..., Config]:
    """A config pointing at the fake, with timeouts short enough for tests."""

    def make(llm: dict[str, Any] | None = None, **sections: Any) -> Config:
        return make_config(
            llm={
                "api_url": fake_llm.url,
                "api_key": API_KEY,
                "first_token_timeout": 2.0,
                "idle_timeout": 1.0,
                "total_timeout": 10.0,
                "heartbeat_interval": 0.1,
                **(llm or {}),
            },
            **sections,
        )

    return make


class ServeLikeServer(TestServer):
    """The app served as `cip serve` serves it: aiohttp's test server cancels the handler of a
    gone client, `web.run_app` does not, and the chat must notice a gone client itself."""

    async def _make_runner(self, handler_cancellation: bool = False, **kwargs: Any) -> Any:
        return await super()._make_runner(handler_cancellation=False, **kwargs)


@pytest.fixture
def start_client(
    aiohttp_client: AiohttpClient, chat_config: Callable[..., Config], clock: ManualClock
) -> Callable[..., Awaitable[Client]]:
    async def start(cancel_handlers: bool = False, **sections: Any) -> Client:
        app = create_app(chat_config(**sections), clock=clock)
        server = TestServer(app) if cancel_handlers else ServeLikeServer(app)
        # pytest-aiohttp cannot see the application behind a server: it is `app`.
        return cast(Client, await aiohttp_client(server))

    return start


@pytest.fixture
async def chat_client(start_client: Callable[..., Awaitable[Client]]) -> Client:
    return await start_client()


def guest() -> str:
    return f"guest-{uuid.uuid4().hex}"


async def post_chat(client: Client, tenant: TenantRow, **body: Any) -> Any:
    return await client.post(f"/api/v1/tenants/{tenant.id}/chat", json=body)


async def chat_ok(client: Client, tenant: TenantRow, **body: Any) -> list[tuple[str, Any]]:
    response = await post_chat(client, tenant, **body)
    assert response.status == 200, await response.text()
    return parse_sse(await response.text())


async def messages_of(pool: asyncpg.Pool, dialog_id: str | uuid.UUID) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, role, content, status, finish_reason, usage FROM message"
        " WHERE dialog_id = $1 ORDER BY created_at, id",
        uuid.UUID(str(dialog_id)),
    )
    return [dict(row) for row in rows]


async def dialogs_of(pool: asyncpg.Pool, tenant: TenantRow, user_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, title, created_at, updated_at FROM dialog"
        " WHERE tenant_id = $1 AND user_id = $2",
        tenant.id,
        user_id,
    )
    return [dict(row) for row in rows]


async def wait_for_row(pool: asyncpg.Pool, message_id: str, status: str) -> dict[str, Any]:
    for _ in range(100):
        found = await pool.fetchrow(
            "SELECT content, status FROM message WHERE id = $1", uuid.UUID(message_id)
        )
        assert found is not None
        row = dict(found)
        if row["status"] == status:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"message {message_id} never became {status}: {row}")


async def ask_while_headers_are_held(
    client: Client, fake_llm: FakeLlm, tenant: TenantRow, user_id: str, message: str
) -> asyncio.Task[Any]:
    """A visitor's chat whose LLM has the request but keeps its response headers back (until
    the test ends): the task of the visitor's request, once the LLM has it."""
    fake_llm.script = Script(hold_headers=asyncio.Event())
    asking = asyncio.create_task(post_chat(client, tenant, user_id=user_id, message=message))
    while not fake_llm.requests:
        await asyncio.sleep(0.01)
    return asking
