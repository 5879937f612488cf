"""A real `cip serve` process killed mid-stream (`kill -9`) and stopped with SIGTERM (once, or
twice as a worker of `--workers` may be): what the visitor sees, what PostgreSQL holds, and how
the service reports it after a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

from support.fake_llm import FakeLlm, Script
from support.process_server import ProcessServer, refused
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
        assert [(m["id"], m["role"], m["status"]) for m in dialog["messages"]] == [
            (meta["user_message_id"], "user", "complete"),
            (meta["message_id"], "assistant", "interrupted"),
        ]
        sent = "".join(f"word{index} " for index in range(15))
        assert sent.startswith(dialog["messages"][1]["content"])
        while (await messages_in(server, dialog_id))[1][2] == "streaming":  # the sweep writes it
            await asyncio.sleep(0.2)
        question, (role, content, status) = await messages_in(server, dialog_id)
        assert question == ("user", "Will you survive?", "complete")
        # The sweep keeps the text the dead process had appended (its parts), words as sent.
        assert (role, status) == ("assistant", "interrupted")
        assert sent.startswith(content)
        assert content.endswith(" ") or content == ""
    assert "marked 1 stale streaming replies as interrupted" in server.log


async def test_sigterm_ends_every_chat_whatever_its_phase_and_exits_0(
    make_process_server: Callable[..., ProcessServer], fake_llm: FakeLlm
) -> None:
    # Longer than the guard: the process can only exit in time if it waits for no LLM.
    patient = 2 * GUARD_SECONDS
    server = make_process_server(
        server={"shutdown_timeout": patient},
        llm={"idle_timeout": patient, "first_token_timeout": patient},
    )
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
        # ...and one still waiting for the LLM's response headers (they never come).
        fake_llm.script = Script(deltas=["Too late"], hold_headers=asyncio.Event())
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
        # The waiting chat had not started: a 503 naming its stored question.
        late = await waiting
        assert late.status == 503
        second = await late.json()
        assert (second["code"], second["detail"]) == ("service_restarting", RESTARTING[1]["error"])
        assert await server.wait_exit() == 0
        assert await refused(server.port)

    assert await messages_in(server, first[0][1]["dialog_id"]) == [
        ("user", "First", "complete"),
        ("assistant", "Before the restart", "interrupted"),
    ]
    # The second reply never started: its question stays, no placeholder is left.
    assert await messages_in(server, second["dialog_id"]) == [("user", "Second", "complete")]
    assert "Traceback" not in server.log


async def test_a_worker_signalled_twice_still_ends_its_stream_cleanly(
    make_process_server: Callable[..., ProcessServer], fake_llm: FakeLlm
) -> None:
    """systemd's default stop signals every process of the service, and the supervisor of
    `--workers` forwards its own SIGTERM: a worker gets two, and the second must not cut its
    shutdown short."""
    patient = 2 * GUARD_SECONDS
    server = make_process_server(
        server={"workers": 2, "shutdown_timeout": patient},
        llm={"idle_timeout": patient, "first_token_timeout": patient},
    )
    await server.start()
    tenant_id = await server.tenant_id()
    async with asyncio.timeout(GUARD_SECONDS), aiohttp.ClientSession() as session:
        workers = await server.pids_answering(2)
        fake_llm.script = Script(deltas=["Before ", "the restart"], after="stall")
        streaming = await session.post(
            f"{server.url}/api/v1/tenants/{tenant_id}/chat",
            json={"user_id": guest(), "message": "First"},
        )
        assert streaming.status == 200
        received = await read_until(streaming.content, b"the restart")

        for pid in workers:
            os.kill(pid, signal.SIGTERM)
        server.send(signal.SIGTERM)
        received += await streaming.content.read()
        events = without_pings(parse_sse(received.decode()))
        assert events[1:] == [
            ("message", {"content": "Before "}),
            ("message", {"content": "the restart"}),
            RESTARTING,
        ]
        assert await server.wait_exit() == 0

    assert await messages_in(server, events[0][1]["dialog_id"]) == [
        ("user", "First", "complete"),
        ("assistant", "Before the restart", "interrupted"),
    ]
    assert "Traceback" not in server.log
