"""Stop: the owner of an answer stops it from any instance; it ends with `done` carrying
`finish_reason: "stopped"` and is stored `stopped` with its text so far."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg

from support.cabinet_data import CabinetData
from support.chat_client import (
    ask_while_headers_are_held,
    guest,
    messages_of,
    post_chat,
    wait_for_row,
)
from support.fake_llm import FakeLlm, Script
from support.fixtures import Client, NewTenant, StartClient
from support.process_server import ProcessServer
from support.sse_events import parse_sse, without_pings

GUARD = 10  # seconds, against hangs only


def stop_url(tenant_id: object, message_id: object) -> str:
    return f"/api/v1/tenants/{tenant_id}/chat/{message_id}/stop"


async def stop(client: Client, tenant_id: object, message_id: object, user: str) -> Any:
    return await client.post(stop_url(tenant_id, message_id), headers={"X-User-Id": user})


async def read_until(response: Any, marker: bytes) -> bytes:
    received = b""
    while marker not in received:
        received += await response.content.readany()
    return received


async def test_the_owner_stops_an_answer_mid_stream(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    client = await start_client()
    tenant = await new_tenant()
    user = guest()
    fake_llm.script = Script(deltas=["Half ", "an answer"], after="stall")
    response = await post_chat(client, tenant, user_id=user, message="Tell me")
    async with asyncio.timeout(GUARD):
        received = await read_until(response, b"an answer")
        meta = parse_sse(received.decode())[0][1]
        message_id = meta["message_id"]
        assert (await stop(client, tenant.id, message_id, "someone-else")).status == 404
        stopped = await stop(client, tenant.id, message_id, user)
        assert (stopped.status, await stopped.json()) == (
            200,
            {"message_id": message_id, "status": "stopped"},
        )
        events = without_pings(parse_sse((received + await response.content.read()).decode()))
        await fake_llm.disconnected.wait()  # the upstream is closed
    assert events[1:] == [
        ("message", {"content": "Half "}),
        ("message", {"content": "an answer"}),
        ("done", {"message_id": message_id, "finish_reason": "stopped", "usage": None}),
        ("message", "[DONE]"),
    ]
    [_, reply] = await messages_of(pool, meta["dialog_id"])
    assert (reply["content"], reply["status"], reply["finish_reason"]) == (
        "Half an answer",
        "stopped",
        "stopped",
    )
    # Idempotent: a stopped answer stays stopped; a finished one keeps its own status.
    again = await stop(client, tenant.id, message_id, user)
    assert (again.status, (await again.json())["status"]) == (200, "stopped")


async def test_stopping_what_is_not_a_running_answer(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    client = await start_client()
    tenant = await new_tenant()
    user = guest()
    fake_llm.script = Script(deltas=["Done."])
    events = parse_sse(await (await post_chat(client, tenant, user_id=user, message="Hi")).text())
    meta = events[0][1]
    finished = await stop(client, tenant.id, meta["message_id"], user)
    assert (finished.status, (await finished.json())["status"]) == (200, "complete")
    question = await stop(client, tenant.id, meta["user_message_id"], user)
    assert question.status == 404
    other_tenant = await new_tenant()
    assert (await stop(client, other_tenant.id, meta["message_id"], user)).status == 404
    assert (await stop(client, tenant.id, uuid.uuid4(), user)).status == 404
    malformed = await stop(client, tenant.id, "not-a-uuid", user)
    assert malformed.status == 400


async def test_an_answer_no_instance_is_writing_is_reported_still_streaming(
    start_client: StartClient, new_tenant: NewTenant, data: CabinetData
) -> None:
    """Its writer died a moment ago: nobody stops it within the wait, and the route says so
    (202) instead of pretending; the sweep reports it `interrupted` later."""
    client = await start_client()
    tenant = await new_tenant()
    dialog_id = await data.dialog(tenant.id, "orphan", [("user", "Hello?")])
    answer = await data.message(tenant.id, dialog_id, "assistant", "", status="streaming")
    response = await stop(client, tenant.id, answer, "orphan")
    assert (response.status, await response.json()) == (
        202,
        {"message_id": str(answer), "status": "streaming"},
    )


async def test_an_answer_stopped_before_the_llm_answered_is_stored_empty(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    client = await start_client(llm={"first_token_timeout": 60})
    tenant = await new_tenant()
    user = guest()
    async with asyncio.timeout(GUARD):
        asking = await ask_while_headers_are_held(client, fake_llm, tenant, user, "Slow?")
        [row] = await pool.fetch(
            "SELECT id FROM message WHERE tenant_id = $1 AND role = 'assistant'", tenant.id
        )
        stopped = await stop(client, tenant.id, row["id"], user)
        assert (await stopped.json())["status"] == "stopped"
        response = await asking
        events = parse_sse(await response.text())
        await fake_llm.disconnected.wait()
    message_id = str(row["id"])
    assert [name for name, _ in events] == ["meta", "done", "message"]
    assert events[1][1] == {"message_id": message_id, "finish_reason": "stopped", "usage": None}
    assert await wait_for_row(pool, message_id, "stopped") == {"content": "", "status": "stopped"}


async def test_a_stop_reaching_another_instance_stops_the_answer(
    make_process_server: Callable[..., ProcessServer], fake_llm: FakeLlm
) -> None:
    first = make_process_server()
    await first.start()
    second = make_process_server(same_database_as=first)
    await second.start()
    tenant_id = await first.tenant_id()
    user = guest()
    fake_llm.script = Script(deltas=["Begun on A"], after="stall")
    async with asyncio.timeout(GUARD), aiohttp.ClientSession() as session:
        response = await session.post(
            f"{first.url}/api/v1/tenants/{tenant_id}/chat",
            json={"user_id": user, "message": "Hello A"},
        )
        received = await read_until(response, b"Begun on A")
        message_id = parse_sse(received.decode())[0][1]["message_id"]
        stopped = await session.post(
            f"{second.url}{stop_url(tenant_id, message_id)}", headers={"X-User-Id": user}
        )
        assert (stopped.status, (await stopped.json())["status"]) == (200, "stopped")
        events = without_pings(parse_sse((received + await response.content.read()).decode()))
    assert events[-2][1]["finish_reason"] == "stopped"
    rows = await first.fetch(
        "SELECT content, status FROM message WHERE id = $1", uuid.UUID(message_id)
    )
    assert [(row["content"], row["status"]) for row in rows] == [("Begun on A", "stopped")]
