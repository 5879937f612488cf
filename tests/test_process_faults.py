"""A real `cip serve` process killed mid-stream (`kill -9`) and stopped with SIGTERM: what the
visitor sees, what PostgreSQL holds, and how the service reports it after a restart."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

from support.fake_llm import FakeLlm, Script
from support.process_server import ProcessServer
from support.sse_events import parse_sse, read_until, without_pings

GUARD_SECONDS = 60  # against hangs only
RESTARTING = (
    "error",
    {
        "error": "The service is restarting. Please send your message again.",
        "code": "service_restarting",
    },
)


def guest() -> str:
    return f"guest-{uuid.uuid4().hex}"


async def messages_in(server: ProcessServer, dialog_id: str) -> list[tuple[str, str, str]]:
    rows = await server.fetch(
        "SELECT role, content, status FROM message WHERE dialog_id = $1 ORDER BY created_at, id",
        uuid.UUID(dialog_id),
    )
    return [(row["role"], row["content"], row["status"]) for row in rows]


async def dialog_view(
    session: aiohttp.ClientSession, server: ProcessServer, tenant_id: str, user: str, dialog_id: str
) -> dict[str, Any]:
    async with session.get(
        f"{server.url}/api/v1/tenants/{tenant_id}/me/dialogs/{dialog_id}",
        headers={"X-User-Id": user},
    ) as response:
        assert response.status == 200, await response.text()
        dialog: dict[str, Any] = await response.json()
        return dialog


async def test_kill_9_mid_stream_loses_no_question_and_reports_the_reply_interrupted(
    make_process_server: Callable[..., ProcessServer], fake_llm: FakeLlm
) -> None:
    server = make_process_server(
        llm={"total_timeout": 4.0, "sweep_interval": 0.5, "sweep_grace": 0.0}
    )
    await server.start()
    tenant_id = await server.tenant_id()
    user = guest()
    # A slow answer: a word every 0.2 s.
    fake_llm.script = Script(deltas=[f"word{index} " for index in range(15)], gap=0.2)
    async with asyncio.timeout(GUARD_SECONDS), aiohttp.ClientSession() as session:
        async with session.post(
            f"{server.url}/api/v1/tenants/{tenant_id}/chat",
            json={"user_id": user, "message": "Will you survive?"},
        ) as response:
            assert response.status == 200
            received = await read_until(response.content, b"word1 ")
            assert await server.kill() == -signal.SIGKILL
        meta = parse_sse(received.decode().split("\n\n")[0])[0][1]
        dialog_id = meta["dialog_id"]
        # The question was committed before the LLM was called; the reply's closing write
        # never happened.
        assert await messages_in(server, dialog_id) == [
            ("user", "Will you survive?", "complete"),
            ("assistant", "", "streaming"),
        ]

        await server.start()  # same config, same database
        while True:  # reported interrupted once total_timeout has passed since its last write
            dialog = await dialog_view(session, server, tenant_id, user, dialog_id)
            if dialog["messages"][1]["status"] != "streaming":
                break
            await asyncio.sleep(0.2)
        assert [(m["id"], m["role"], m["content"], m["status"]) for m in dialog["messages"]] == [
            (meta["user_message_id"], "user", "Will you survive?", "complete"),
            (meta["message_id"], "assistant", "", "interrupted"),
        ]
        while (await messages_in(server, dialog_id))[1][2] == "streaming":  # the sweep writes it
            await asyncio.sleep(0.2)
        assert await messages_in(server, dialog_id) == [
            ("user", "Will you survive?", "complete"),
            ("assistant", "", "interrupted"),
        ]
    assert "marked 1 stale streaming replies as interrupted" in server.log


async def refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def test_sigterm_ends_streams_as_restarting_refuses_connections_and_exits_0(
    make_process_server: Callable[..., ProcessServer], fake_llm: FakeLlm
) -> None:
    server = make_process_server(llm={"idle_timeout": 30.0, "first_token_timeout": 30.0})
    await server.start()
    tenant_id = await server.tenant_id()
    chat_url = f"{server.url}/api/v1/tenants/{tenant_id}/chat"
    user = guest()
    async with asyncio.timeout(GUARD_SECONDS), aiohttp.ClientSession() as session:
        # One stream in the middle of its answer...
        fake_llm.script = Script(deltas=["Before ", "the restart"], after="stall")
        streaming = await session.post(chat_url, json={"user_id": user, "message": "First"})
        assert streaming.status == 200
        received = await read_until(streaming.content, b"the restart")
        # ...and one still waiting for the LLM's response headers when SIGTERM arrives.
        headers_sent = asyncio.Event()
        fake_llm.script = Script(deltas=["Too late"], hold_headers=headers_sent)
        waiting = asyncio.create_task(
            session.post(chat_url, json={"user_id": user, "message": "Second"})
        )
        while len(fake_llm.requests) < 2:
            await asyncio.sleep(0.01)

        server.send(signal.SIGTERM)
        received += await streaming.content.read()
        first = without_pings(parse_sse(received.decode()))
        assert first[1:] == [
            ("message", {"content": "Before "}),
            ("message", {"content": "the restart"}),
            RESTARTING,
        ]
        await asyncio.wait_for(fake_llm.disconnected.wait(), GUARD_SECONDS)

        # The listening socket is closed while the process still finishes its last request.
        while not await refused(server.port):
            await asyncio.sleep(0.05)
        assert server.running and not waiting.done()

        headers_sent.set()  # the late upstream answer must not start a stream any more
        late = await waiting
        assert late.status == 200
        second = without_pings(parse_sse(await late.text()))
        assert [name for name, _ in second] == ["meta", "error"] and second[1] == RESTARTING
        assert await server.wait_exit() == 0

    for events, question, partial in (
        (first, "First", "Before the restart"),
        (second, "Second", ""),
    ):
        assert await messages_in(server, events[0][1]["dialog_id"]) == [
            ("user", question, "complete"),
            ("assistant", partial, "interrupted"),
        ]
    assert "Traceback" not in server.log
