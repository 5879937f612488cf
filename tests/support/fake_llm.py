"""A fake DeepSeek: a real aiohttp server on loopback speaking the streaming chat-completions
protocol, with switchable behaviours and a configurable token schedule.

A test (or a benchmark) sets `fake.script` before its request: the deltas and their timing
(`response_delay` before the headers, `first_token_delay` before the first delta, `gap`
between deltas), and what happens after the deltas (`finish`, `stall`, `drop`,
`malformed`). A test that must act at a precise moment holds the answer on an event: before
the response headers (`hold_headers`) or after the deltas, before the ending (`hold_ending`).
The wire can carry keep-alive comments, CRLF line ends, `data:` without the
space, and be written in pieces of a few bytes (splitting lines and UTF-8 characters across
reads). Every request is recorded (headers, JSON, the client's port) so tests can assert what
was sent upstream; `disconnected` is set when a client closes its connection mid-answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from aiohttp import web

USAGE = {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}


@dataclass
class Script:
    deltas: list[str] = field(default_factory=lambda: ["Hello", ", ", "world", "!"])
    status: int = 200
    response_delay: float = 0.0
    first_token_delay: float = 0.0
    gap: float = 0.0
    reasoning: list[str] = field(default_factory=list)  # reasoning_content before the answer
    finish_reason: str | None = "stop"
    usage: dict[str, Any] | None = field(default_factory=lambda: dict(USAGE))
    usage_chunk: bool = False  # usage in a chunk of its own (`choices: []`), as OpenAI sends it
    send_done: bool = True
    after: Literal["finish", "stall", "drop", "malformed"] = "finish"
    keepalive: bool = False
    crlf: bool = False
    compact: bool = False  # "data:" without the space
    piece_bytes: int = 0  # > 0: write the stream in pieces of this many bytes
    hold_headers: asyncio.Event | None = None  # set by the test to let the headers go out
    hold_ending: asyncio.Event | None = None  # set by the test to let the ending go out


@dataclass
class Received:
    headers: dict[str, str]
    json: dict[str, Any]
    client_port: int


def chunk(
    delta: dict[str, Any],
    finish_reason: str | None = None,
    usage: dict[str, Any] | None = None,
    choices: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "fake-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "deepseek-chat",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        if choices
        else [],
    }
    if usage is not None:
        body["usage"] = usage
    return body


class FakeLlm:
    def __init__(self, record: bool = True) -> None:
        self.script = Script()
        self.record = record  # a long benchmark run keeps no history of its requests
        self.requests: list[Received] = []
        self.disconnected = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self, port: int = 0, backlog: int = 128) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        # Cancellation tells the fake when a client hung up, even while it is silent.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, backlog=backlog)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        script = self.script
        peer = request.transport.get_extra_info("peername") if request.transport else None
        body = await request.json()
        if self.record:
            self.requests.append(
                Received(
                    headers=dict(request.headers), json=body, client_port=peer[1] if peer else 0
                )
            )
        try:
            if script.hold_headers is not None:
                await script.hold_headers.wait()
            await asyncio.sleep(script.response_delay)
            if script.status != 200:
                return web.json_response(
                    {"error": {"message": "fake failure", "type": "fake_error"}},
                    status=script.status,
                )
            return await self._stream(request, script)
        except asyncio.CancelledError:
            self.disconnected.set()
            raise

    async def _stream(self, request: web.Request, script: Script) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
        )
        await response.prepare(request)
        await self._send(response, script, b": keep-alive\n\n" if script.keepalive else b"")
        await asyncio.sleep(script.first_token_delay)
        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": None, "reasoning_content": text}) for text in script.reasoning]
        for index, text in enumerate(script.deltas):
            if index:
                await asyncio.sleep(script.gap)
            await self._send(response, script, *self._events([*events, chunk({"content": text})]))
            events = []
        if script.hold_ending is not None:
            await script.hold_ending.wait()
        if script.after == "stall":
            await asyncio.sleep(3600)
        if script.after == "drop":
            assert request.transport is not None
            request.transport.close()  # mid-body: the chunked encoding never ends
            return response
        if script.after == "malformed":
            await self._send(response, script, self._line(b'data: {"choices": [oops'))
            return response
        ending = [
            *events,
            chunk(
                {"content": ""}, script.finish_reason, None if script.usage_chunk else script.usage
            ),
        ]
        if script.usage_chunk:
            ending.append(chunk({}, usage=script.usage, choices=False))
        await self._send(response, script, *self._events(ending))
        if script.send_done:
            await self._send(response, script, self._line(b"data: [DONE]"))
        await response.write_eof()
        return response

    def _line(self, data: bytes) -> bytes:
        return data + b"\n\n"

    def _events(self, chunks: list[dict[str, Any]]) -> list[bytes]:
        return [
            self._line(b"data: " + json.dumps(body, ensure_ascii=False).encode()) for body in chunks
        ]

    async def _send(self, response: web.StreamResponse, script: Script, *events: bytes) -> None:
        for event in events:
            if script.compact:
                event = event.replace(b"data: ", b"data:", 1)
            if script.crlf:
                event = event.replace(b"\n", b"\r\n")
            if script.keepalive:
                event = b": keep-alive\n\n" + event
            if not event:
                continue
            if script.piece_bytes <= 0:
                await response.write(event)
                continue
            for start in range(0, len(event), script.piece_bytes):
                await response.write(event[start : start + script.piece_bytes])
                await asyncio.sleep(0.001)  # separate reads on the other side


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLlm]:
    fake = FakeLlm()
    await fake.start()
    yield fake
    await fake.stop()
