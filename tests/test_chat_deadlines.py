"""A chat turn ends on time whatever its visitor does: one who leaves before the LLM answers
cancels the request, one who stops reading is dropped (per write, and at the answer's total
deadline), and an answer grows no longer than `max_answer_chars`."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import uuid

import asyncpg
import pytest

from support.chat_client import (
    ask_while_headers_are_held,
    guest,
    messages_of,
    post_chat,
    wait_for_row,
)
from support.fake_llm import FakeLlm, Script
from support.fixtures import NewTenant, StartClient
from support.sse_events import parse_sse

GUARD = 10  # seconds, against hangs only


async def test_a_visitor_who_leaves_before_the_llm_answers_cancels_the_request_after_the_grace(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    # The LLM would keep the request a minute before its headers.
    client = await start_client(llm={"first_token_timeout": 60}, streams={"grace": 0.2})
    tenant = await new_tenant()
    user = guest()
    async with asyncio.timeout(GUARD):
        asking = await ask_while_headers_are_held(client, fake_llm, tenant, user, "Anyone?")
        asking.cancel()  # the visitor closes the tab
        await fake_llm.disconnected.wait()
        while True:  # the reply's placeholder goes; the question stays
            [dialog_id] = await pool.fetch(
                "SELECT id FROM dialog WHERE tenant_id = $1 AND user_id = $2", tenant.id, user
            )
            stored = await messages_of(pool, dialog_id["id"])
            if len(stored) == 1:
                break
            await asyncio.sleep(0.05)
    assert [(m["role"], m["content"]) for m in stored] == [("user", "Anyone?")]


async def silent_reader(port: int, tenant_id: uuid.UUID) -> tuple[socket.socket, str]:
    """A visitor that asks, reads the answer's first event and then reads nothing more (its
    receive buffer kept small, so the server's writes soon have nowhere to go)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    body = json.dumps({"user_id": guest(), "message": "Tell me everything"}).encode()
    request = (
        f"POST /api/v1/tenants/{tenant_id}/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    await asyncio.get_running_loop().sock_sendall(sock, request)
    head = b""
    while b"event: meta" not in head or not head.endswith(b"\n\n"):
        head += await asyncio.get_running_loop().sock_recv(sock, 1)
    meta = parse_sse(head.split(b"\r\n\r\n", 1)[1].split(b"\r\n", 1)[1].decode())[0][1]
    return sock, meta["message_id"]


async def dropped(sock: socket.socket) -> None:
    """Return once the server has reset the connection (it abandons a client that stopped
    reading): the socket's pending error says so without reading a byte."""
    while sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != errno.ECONNRESET:
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    "deadlines",
    [
        pytest.param({"write_timeout": 0.5}, id="per-write"),
        pytest.param({"write_timeout": 600, "total_timeout": 2}, id="total"),
    ],
)
async def test_a_visitor_who_stops_reading_is_dropped_and_the_answer_stored_whole(
    start_client: StartClient,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
    deadlines: dict[str, float],
) -> None:
    client = await start_client(llm={"max_answer_chars": 100_000_000, **deadlines})
    tenant = await new_tenant()
    # Far more than any socket buffers hold.
    fake_llm.script = Script(deltas=["x" * 65536] * 100)
    sock, message_id = await silent_reader(client.server.port or 0, tenant.id)
    try:
        # The answer does not wait for its visitor: it is written to its end and stored.
        row = await wait_for_row(pool, message_id, "complete")
        assert len(row["content"]) == 100 * 65536
        async with asyncio.timeout(GUARD):
            await dropped(sock)
    finally:
        sock.close()


async def test_an_answer_is_cut_at_max_answer_chars(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    client = await start_client(llm={"max_answer_chars": 10})
    fake_llm.script = Script(deltas=["abcdef", "ghijkl", "mnop"], after="stall")
    response = await post_chat(client, await new_tenant(), user_id=guest(), message="Go on")
    async with asyncio.timeout(GUARD):
        events = parse_sse(await response.text())
        await fake_llm.disconnected.wait()  # nothing more is read, or paid for
    meta = events[0][1]
    assert events[1:] == [
        ("message", {"content": "abcdef"}),
        ("message", {"content": "ghij"}),
        (
            "done",
            {"message_id": meta["message_id"], "finish_reason": "max_answer_chars", "usage": None},
        ),
        ("message", "[DONE]"),
    ]
    [_, reply] = await messages_of(pool, meta["dialog_id"])
    assert (reply["content"], reply["status"], reply["finish_reason"]) == (
        "abcdefghij",
        "complete",
        "max_answer_chars",
    )
