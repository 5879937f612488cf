"""Logs never carry secrets or conversations (SPEC §6 Operations): a whole visitor journey —
chat as a guest, register, confirm, log in (merging the guest), chat, use the cabinet, reset the
password — and then no password, JWT, guest id, confirmation or reset token or link, question
or answer text may appear in the log. Mail goes to a loopback SMTP server, so the development
mail-to-log mode is off. Checked twice: the stderr of a real `cip serve` (as deployed, INFO, in
both `[logging] format`s), and every `cip` logger at DEBUG in the app served in a thread. And
hostile raw requests at a real `cip serve` leave one honest line each; in JSON every line is one
object, and a request's line carries its id, tenant, route, status and duration."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import re
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from cip.config import Config
from support.fake_llm import FakeLlm, Script
from support.live_server import serve_in_thread
from support.process_server import API_KEY, ProcessServer
from support.smtp_server import SmtpServer
from support.sse_events import parse_sse

GUARD_SECONDS = 60  # against hangs only
FORMATS = ["text", "json"]


@dataclass
class Journey:
    base: str  # the API root of the tenant
    secrets: dict[str, str] = field(default_factory=dict)  # what must never be logged

    def keep(self, name: str, value: str) -> str:
        self.secrets[name] = value
        return value


async def expect(response: aiohttp.ClientResponse, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json() if response.content_type == "application/json" else None


async def chat(
    session: aiohttp.ClientSession,
    journey: Journey,
    fake_llm: FakeLlm,
    label: str,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> dict[str, Any]:
    answer = [
        journey.keep(f"{label} answer part {index}", f"{label}-reply{index}-{uuid.uuid4().hex[:8]}")
        for index in range(2)
    ]
    fake_llm.script = Script(deltas=[answer[0], " ", answer[1]])
    question = journey.keep(f"{label} question", f"{label} question {uuid.uuid4().hex}?")
    async with session.post(
        f"{journey.base}/chat", json={"message": question, **body}, headers=headers
    ) as response:
        assert response.status == 200
        events = parse_sse(await response.text())
    assert events[-2][0] == "done"
    meta: dict[str, Any] = events[0][1]
    return meta


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


async def visitor_journey(
    session: aiohttp.ClientSession, url: str, slug: str, smtp_server: SmtpServer, fake_llm: FakeLlm
) -> Journey:
    async with session.get(f"{url}/api/v1/tenants/by-slug/{slug}") as response:
        tenant_id = (await expect(response, 200))["id"]
    journey = Journey(base=f"{url}/api/v1/tenants/{tenant_id}")
    guest = journey.keep("guest id", f"guest-{uuid.uuid4().hex}")
    await chat(session, journey, fake_llm, "guest", user_id=guest)

    email = f"visitor-{uuid.uuid4().hex[:8]}@example.com"
    password = journey.keep("first password", f"first-pass-{uuid.uuid4().hex}")
    await expect(
        await session.post(f"{journey.base}/register", json={"email": email, "password": password}),
        202,
    )
    [confirmation] = await smtp_server.wait_for(1)
    link = journey.keep("confirmation link", confirmation.links[0])
    token = journey.keep("confirmation token", token_of(link))
    await expect(
        await session.get(f"{url}/api/v1/tenants/by-slug/{slug}/confirm", params={"token": token}),
        200,
    )
    wrong = journey.keep("wrong password", f"wrong-pass-{uuid.uuid4().hex}")
    await expect(
        await session.post(f"{journey.base}/login", json={"email": email, "password": wrong}), 401
    )
    login = await expect(
        await session.post(
            f"{journey.base}/login",
            json={"email": email, "password": password, "guest_user_id": guest},
        ),
        200,
    )
    jwt = journey.keep("first JWT", login["access_token"])
    journey.keep("first JWT signature", jwt.rsplit(".", 1)[1])
    bearer = {"Authorization": f"Bearer {jwt}"}

    meta = await chat(session, journey, fake_llm, "account", headers=bearer)
    await expect(await session.get(f"{journey.base}/me/dialogs", headers=bearer), 200)
    await expect(
        await session.get(f"{journey.base}/me/dialogs/{meta['dialog_id']}", headers=bearer), 200
    )
    await expect(
        await session.post(
            f"{journey.base}/me/saved",
            headers=bearer,
            json={"type": "message", "reference_id": meta["message_id"]},
        ),
        201,
    )
    await expect(await session.get(f"{journey.base}/me/saved", headers=bearer), 200)
    await expect(
        await session.patch(
            f"{journey.base}/me/profile", headers=bearer, json={"display_name": "Ann"}
        ),
        200,
    )

    await expect(await session.post(f"{journey.base}/password/forgot", json={"email": email}), 202)
    reset_mail = (await smtp_server.wait_for(2))[1]
    reset_link = journey.keep("reset link", reset_mail.links[0])
    new_password = journey.keep("new password", f"second-pass-{uuid.uuid4().hex}")
    await expect(
        await session.post(
            f"{journey.base}/password/reset",
            json={
                "token": journey.keep("reset token", token_of(reset_link)),
                "password": new_password,
            },
        ),
        200,
    )
    login = await expect(
        await session.post(
            f"{journey.base}/login", json={"email": email, "password": new_password}
        ),
        200,
    )
    journey.keep("second JWT", login["access_token"])
    return journey


def leaks(log: str, journey: Journey) -> list[str]:
    return [name for name, secret in journey.secrets.items() if secret in log]


def messages(log: str, log_format: str) -> list[str]:
    """The log's lines as text: each line, or each JSON line's `message` (every line of a JSON
    log must be one JSON object)."""
    lines = log.splitlines()
    if log_format == "text":
        return lines
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(line, dict) for line in parsed), log
    return [line["message"] for line in parsed]


def assert_logged_requests(log: str, journey: Journey) -> None:
    """The log is the real one: it holds the journey's request lines (without queries)."""
    path = urlsplit(journey.base).path
    for line in (
        f"POST {path}/login 401",
        f"POST {path}/login 200",
        f"POST {path}/chat 200",
        f"POST {path}/password/reset 200",
    ):
        assert re.search(re.escape(line), log), f"{line!r} not in the log:\n{log}"


@pytest.mark.parametrize("log_format", FORMATS)
async def test_a_served_process_logs_no_secret_and_no_conversation(
    make_process_server: Callable[..., ProcessServer],
    smtp_server: SmtpServer,
    fake_llm: FakeLlm,
    log_format: str,
) -> None:
    server = make_process_server(
        smtp={"host": "127.0.0.1", "port": smtp_server.port}, logging={"format": log_format}
    )
    await server.start()
    async with aiohttp.ClientSession() as session:
        journey = await visitor_journey(session, server.url, "faults", smtp_server, fake_llm)
    server.send(signal.SIGTERM)
    assert await server.wait_exit() == 0
    log = server.log
    assert_logged_requests(log, journey)
    assert leaks(log, journey) == []
    assert len(messages(log, log_format)) == len(log.splitlines())


async def test_debug_logs_of_the_app_carry_no_secret_and_no_conversation(
    make_config: Callable[..., Config],
    smtp_server: SmtpServer,
    fake_llm: FakeLlm,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slug = f"logs-{uuid.uuid4().hex[:12]}"
    config = make_config(
        smtp={"host": "127.0.0.1", "port": smtp_server.port},
        llm={"api_url": fake_llm.url, "api_key": API_KEY},
        tenants={slug: {"name": "Logs", "locale": "en"}},
    )
    caplog.set_level(logging.DEBUG, logger="cip")
    with serve_in_thread(config) as url:
        async with aiohttp.ClientSession() as session:
            journey = await visitor_journey(session, url, slug, smtp_server, fake_llm)
    log = caplog.text
    assert_logged_requests(log, journey)
    assert leaks(log, journey) == []


async def raw_exchange(port: int, request: bytes) -> bytes:
    """Send `request` as it is over a fresh connection; the answer, read to the end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()  # closed before the test's loop is, not by the GC later


async def send_cut_body(port: int, request: bytes, sent: int) -> None:
    """Send the head and `sent` bytes of a longer body, then hang up."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request[: request.index(b"\r\n\r\n") + 4 + sent])
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def logged(server: ProcessServer, text: str) -> str:
    """The log once `text` is in it (the server logs after the client has gone)."""
    async with asyncio.timeout(GUARD_SECONDS):
        while text not in server.log:
            await asyncio.sleep(0.05)
    return server.log


def fake_jwt() -> str:
    def part() -> str:
        return base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")

    return f"eyJhbGciOiJIUzI1NiJ9.{part()}.{part()}"


@pytest.mark.parametrize("log_format", FORMATS)
async def test_hostile_requests_cannot_put_secrets_or_forged_lines_into_the_log(
    make_process_server: Callable[..., ProcessServer], log_format: str
) -> None:
    """Raw bytes at a real `cip serve`: malformed header lines carrying a token, a path whose
    `%0a` would start a line of its own, a body cut off mid-way, a body that is not the gzip it
    claims. The log names each request on one line, carries no token, blames no database for
    a client that hung up, and shows no traceback for a client's error."""
    server = make_process_server(logging={"format": log_format})
    await server.start()
    tenant_id = await server.tenant_id()
    tokens = [fake_jwt() for _ in range(4)]
    malformed = [
        f"Authorization Bearer {tokens[0]}",  # no colon
        f"Authorization: Bearer {tokens[1]}\x01",  # a control character in the value
        f"X Token: {tokens[2]}",  # a space in the name
        f"Authorization: Bearer {tokens[3]}\r",  # a lone CR
    ]
    for line in malformed:
        answer = await raw_exchange(
            server.port, f"GET /healthz HTTP/1.1\r\nHost: x\r\n{line}\r\n\r\n".encode("latin-1")
        )
        assert answer.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request"), answer

    forged = "2026-01-01 00:00:00,000 INFO cip.request forged GET /admin 200 0.1ms"
    target = "/api/v1/tenants/by-slug/demo%0a" + forged.replace(" ", "%20")
    answer = await raw_exchange(
        server.port,
        f"GET {target} HTTP/1.1\r\nHost: x\r\nX-Request-Id: newline-path\r\n"
        "Connection: close\r\n\r\n".encode(),
    )
    assert answer.split(b"\r\n", 1)[0].endswith(b" 404 Not Found"), answer

    body = json.dumps({"user_id": "guest-cut", "message": "x" * 2000}).encode()
    await send_cut_body(
        server.port,
        f"POST /api/v1/tenants/{tenant_id}/chat HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "X-Request-Id: cut-body\r\n\r\n".encode()
        + body,
        sent=100,
    )
    log = await logged(server, "cut-body ")
    answer = await raw_exchange(
        server.port,
        f"POST /api/v1/tenants/{tenant_id}/register HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n"
        "Connection: close\r\n\r\n{}".encode(),
    )
    assert answer.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request"), answer
    assert answer.endswith(b'"code":"body_unreadable"}'), answer
    server.send(signal.SIGTERM)
    assert await server.wait_exit() == 0
    log = server.log

    assert [token for token in tokens if token.rsplit(".", 1)[1] in log] == []
    assert "Bearer" not in log
    assert log.count("bad request from 127.0.0.1") == len(malformed), log
    assert not any(line.startswith(forged) for line in log.splitlines()), log
    lines = messages(log, log_format)
    [newline_line] = [line for line in lines if "newline-path" in line]
    assert "/by-slug/demo\\n" + forged + " 404 " in newline_line
    assert "database unavailable" not in log, log
    [cut_line] = [line for line in lines if "cut-body" in line]
    assert f"POST /api/v1/tenants/{tenant_id}/chat 400 " in cut_line
    assert "Traceback" not in log, log


async def test_json_request_lines_carry_request_tenant_route_status_and_duration(
    make_process_server: Callable[..., ProcessServer],
) -> None:
    server = make_process_server(logging={"format": "json"})
    await server.start()
    tenant_id = await server.tenant_id()
    asked = {
        "by-slug": ("/api/v1/tenants/by-slug/faults", 200),
        "cabinet": (f"/api/v1/tenants/{tenant_id}/me/dialogs", 400),  # no identity
        "page": ("/faults/chat", 200),
        "probe": ("/healthz", 200),
        "nowhere": ("/api/v1/nowhere", 404),
    }
    async with aiohttp.ClientSession() as session:
        for request_id, (path, status) in asked.items():
            headers = {"X-Request-Id": f"json-{request_id}"}
            async with session.get(f"{server.url}{path}", headers=headers) as response:
                assert response.status == status, path
    await logged(server, '"request_id":"json-nowhere"')
    server.send(signal.SIGTERM)
    assert await server.wait_exit() == 0

    lines = [json.loads(line) for line in server.log.splitlines()]
    requests = {line["request_id"]: line for line in lines if "request_id" in line}
    routes = {
        "by-slug": ("/api/v1/tenants/by-slug/{slug}", tenant_id),
        "cabinet": ("/api/v1/tenants/{tenant_id}/me/dialogs", tenant_id),
        "page": ("/{slug}/chat", tenant_id),
        "probe": ("/healthz", None),
        "nowhere": (None, None),
    }
    for name, (path, status) in asked.items():
        line = requests[f"json-{name}"]
        duration = line.pop("duration_ms")
        assert isinstance(duration, float) and duration >= 0
        assert set(line) == {
            "time", "level", "logger", "pid", "message", "request_id", "tenant_id", "route",
            "method", "path", "status",
        }  # fmt: skip
        route, tenant = routes[name]
        assert (line["route"], line["tenant_id"]) == (route, tenant), name
        assert (line["method"], line["path"], line["status"]) == ("GET", path, status)
        assert (line["level"], line["logger"], line["pid"]) == ("INFO", "cip.request", server.pid)
        assert line["message"].startswith(f"json-{name} GET {path} {status} ")
    assert all({"time", "level", "logger", "pid", "message"} <= set(line) for line in lines)
