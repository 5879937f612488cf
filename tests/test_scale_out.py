"""Two `cip serve` instances on one database behind nginx (the repository's
`nginx.conf.template`), seen only through the proxy: an answer streamed by one is stopped by a
request nginx sends to the other; a reload that nginx sends to the other resumes the answer
from its last event and follows it to its end; one killed mid-answer leaves its question
stored and its answer `interrupted` (with the text it had appended) while the other serves
on; and the instances see each visitor's own address, not the proxy's.

Where a request lands is chosen with `Proxy.aim_at` and proven from the instances' logs
(`Proxy.answered_by`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import pytest

from support.chat_client import guest
from support.fake_llm import USAGE, FakeLlm, Script
from support.process_server import ProcessServer
from support.proxy import PROXY_ADDRESS, Proxy
from support.sse_events import parse_sse, read_until, without_pings

GUARD = 30  # seconds, against hangs only
BEGUN = "Begun on A"


@dataclass
class ScaleOut:
    first: ProcessServer
    second: ProcessServer
    proxy: Proxy
    tenant_id: str

    def api(self, path: str) -> str:
        return f"{self.proxy.url}/api/v1/tenants/{self.tenant_id}{path}"


@dataclass
class Answer:
    """A chat through the proxy whose answer is streaming: the open response, what it has
    sent so far (`meta` and the first delta) and the chat request's id."""

    response: aiohttp.ClientResponse
    received: bytes
    meta: dict[str, Any]
    request_id: str

    async def rest(self) -> list[tuple[str, Any]]:
        """The whole stream once it ends, without pings."""
        try:
            rest = await self.response.content.read()
        finally:
            self.response.close()
        return without_pings(parse_sse((self.received + rest).decode()))


@pytest.fixture
def start_scale_out(
    make_process_server: Callable[..., ProcessServer],
    start_proxy: Callable[..., Awaitable[Proxy]],
) -> Callable[..., Awaitable[ScaleOut]]:
    async def start(**sections: Any) -> ScaleOut:
        """Two instances on one database, trusting the proxy's address, and nginx in front;
        keyword sections override both instances' config."""
        server = {"trusted_proxies": [PROXY_ADDRESS], **sections.pop("server", {})}
        first = make_process_server(server=server, **sections)
        await first.start()
        second = make_process_server(same_database_as=first, server=server, **sections)
        await second.start()
        proxy = await start_proxy(first, second)
        return ScaleOut(first, second, proxy, await first.tenant_id())

    return start


def tagged(headers: dict[str, str] | None = None) -> dict[str, str]:
    """`headers` and a fresh `X-Request-Id`, to find the request in the logs."""
    return {"X-Request-Id": uuid.uuid4().hex, **(headers or {})}


async def begin_answer(
    session: aiohttp.ClientSession, scale_out: ScaleOut, user: str, *, on: ProcessServer
) -> Answer:
    """A chat sent through the proxy to the instance `on`, read up to its first delta (the
    fake LLM's script must begin with BEGUN)."""
    await scale_out.proxy.aim_at(on)
    headers = tagged()
    response = await session.post(
        scale_out.api("/chat"), json={"user_id": user, "message": "Hello"}, headers=headers
    )
    assert response.status == 200, await response.text()
    received = await read_until(response.content, BEGUN.encode())
    meta = parse_sse(received.decode())[0][1]
    return Answer(response, received, meta, headers["X-Request-Id"])


async def appended(server: ProcessServer, message_id: str) -> None:
    """Return once the instance writing answer `message_id` has appended some of its text to
    the database (where any instance reads it)."""
    connection = await asyncpg.connect(server.database_url)
    try:
        while not await connection.fetchval(
            "SELECT count(*) FROM answer_part WHERE message_id = $1", uuid.UUID(message_id)
        ):
            await asyncio.sleep(0.05)
    finally:
        await connection.close()


async def dialog_view(
    session: aiohttp.ClientSession, scale_out: ScaleOut, user: str, dialog_id: str
) -> list[tuple[str, str, str]]:
    """The cabinet's view of a dialog, through the proxy: (role, content, status) each."""
    async with session.get(
        scale_out.api(f"/me/dialogs/{dialog_id}"), headers={"X-User-Id": user}
    ) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
    return [
        (message["role"], message["content"], message["status"]) for message in body["messages"]
    ]


async def settled_view(
    session: aiohttp.ClientSession, scale_out: ScaleOut, user: str, dialog_id: str
) -> list[tuple[str, str, str]]:
    """The dialog's view once its last message is no longer reported `streaming`."""
    while (view := await dialog_view(session, scale_out, user, dialog_id))[-1][2] == "streaming":
        await asyncio.sleep(0.1)
    return view


async def test_an_answer_streamed_by_one_instance_is_stopped_through_the_other(
    start_scale_out: Callable[..., Awaitable[ScaleOut]], fake_llm: FakeLlm
) -> None:
    scale_out = await start_scale_out()
    first, second, proxy = scale_out.first, scale_out.second, scale_out.proxy
    fake_llm.script = Script(deltas=[BEGUN], after="stall")
    user = guest()
    async with asyncio.timeout(GUARD), aiohttp.ClientSession() as session:
        answer = await begin_answer(session, scale_out, user, on=first)
        message_id = answer.meta["message_id"]
        await proxy.aim_at(second)
        stop_headers = tagged({"X-User-Id": user})
        async with session.post(
            scale_out.api(f"/chat/{message_id}/stop"), headers=stop_headers
        ) as stopped:
            assert (stopped.status, await stopped.json()) == (
                200,
                {"message_id": message_id, "status": "stopped"},
            )
        events = await answer.rest()
        assert await proxy.answered_by(answer.request_id) is first
        assert await proxy.answered_by(stop_headers["X-Request-Id"]) is second
        stored = await dialog_view(session, scale_out, user, answer.meta["dialog_id"])
    assert events == [
        ("meta", answer.meta),
        ("message", {"content": BEGUN}),
        ("done", {"message_id": message_id, "finish_reason": "stopped", "usage": None}),
        ("message", "[DONE]"),
    ]
    assert stored == [("user", "Hello", "complete"), ("assistant", BEGUN, "stopped")]


async def test_a_reload_sent_to_the_other_instance_resumes_the_answer(
    start_scale_out: Callable[..., Awaitable[ScaleOut]], fake_llm: FakeLlm
) -> None:
    scale_out = await start_scale_out()
    first, second, proxy = scale_out.first, scale_out.second, scale_out.proxy
    rest = [f" and {index}" for index in range(10)]
    fake_llm.script = Script(deltas=[BEGUN, *rest], gap=0.15)
    user = guest()
    async with asyncio.timeout(GUARD), aiohttp.ClientSession() as session:
        answer = await begin_answer(session, scale_out, user, on=first)
        answer.response.close()  # the visitor reloads the page
        await proxy.aim_at(second)
        headers = tagged({"X-User-Id": user, "Last-Event-ID": str(len(BEGUN))})
        async with session.get(
            scale_out.api(f"/chat/{answer.meta['message_id']}/stream"), headers=headers
        ) as resumed:
            assert resumed.status == 200, await resumed.text()
            events = without_pings(parse_sse(await resumed.text()))
        assert await proxy.answered_by(answer.request_id) is first
        assert await proxy.answered_by(headers["X-Request-Id"]) is second
        stored = await dialog_view(session, scale_out, user, answer.meta["dialog_id"])
    assert events[0] == ("meta", answer.meta)
    texts = [data["content"] for name, data in events[1:-2]]
    assert "".join(texts) == "".join(rest) and len(texts) > 1  # followed live, in steps
    assert [name for name, _ in events[-2:]] == ["done", "message"]
    assert stored == [
        ("user", "Hello", "complete"),
        ("assistant", BEGUN + "".join(rest), "complete"),
    ]


async def test_an_instance_killed_mid_answer_leaves_it_interrupted_while_the_other_serves(
    start_scale_out: Callable[..., Awaitable[ScaleOut]], fake_llm: FakeLlm
) -> None:
    # Readers report an answer still `streaming` after total_timeout as interrupted; the
    # second instance's sweep then stores it so, with the text the first had appended.
    scale_out = await start_scale_out(
        llm={"total_timeout": 2.0, "sweep_interval": 0.5, "sweep_grace": 0.0}
    )
    first, second, proxy = scale_out.first, scale_out.second, scale_out.proxy
    fake_llm.script = Script(deltas=[BEGUN], after="stall")
    user = guest()
    async with asyncio.timeout(GUARD), aiohttp.ClientSession() as session:
        answer = await begin_answer(session, scale_out, user, on=first)
        await appended(first, answer.meta["message_id"])
        await first.kill()
        # The stream breaks off without an ending: nginx closes it with its instance.
        with pytest.raises(aiohttp.ClientPayloadError):
            await answer.rest()
        # The rotation's next turn is the second instance, then the dead one's: nginx finds
        # it gone, marks it failed and passes the chat on to the second.
        assert await proxy.probe() is second
        fake_llm.script = Script(deltas=["Still here"])
        chat_headers = tagged()
        async with session.post(
            scale_out.api("/chat"),
            json={"user_id": user, "message": "Anyone?"},
            headers=chat_headers,
        ) as response:
            assert response.status == 200, await response.text()
            events = without_pings(parse_sse(await response.text()))
        assert await proxy.answered_by(chat_headers["X-Request-Id"]) is second
        reported = await settled_view(session, scale_out, user, answer.meta["dialog_id"])
        assert reported[1][2] == "interrupted"
        while (stored := await dialog_view(session, scale_out, user, answer.meta["dialog_id"]))[1][
            1
        ] != BEGUN:  # the second instance's sweep stores it
            await asyncio.sleep(0.1)
    assert events[1:] == [
        ("message", {"content": "Still here"}),
        (
            "done",
            {"message_id": events[0][1]["message_id"], "finish_reason": "stop", "usage": USAGE},
        ),
        ("message", "[DONE]"),
    ]
    # The text the killed instance had appended is what the sweep keeps.
    assert stored == [("user", "Hello", "complete"), ("assistant", BEGUN, "interrupted")]
    # nginx's own account: the stream cut off, the next connection refused, the instance
    # taken out of the rotation, and the chat passed on to the other.
    dead = f"{PROXY_ADDRESS}:{first.port}"
    assert proxy.errors_about(first) == [
        "upstream prematurely closed connection while reading upstream",
        "connect() failed (111: Connection refused) while connecting to upstream",
        "upstream server temporarily disabled while connecting to upstream",
    ]
    assert (
        f"upstream={dead}, {PROXY_ADDRESS}:{second.port} request_id={chat_headers['X-Request-Id']}"
        in proxy.access_log
    )


async def test_the_instances_see_each_visitor_s_address_not_the_proxy_s(
    start_scale_out: Callable[..., Awaitable[ScaleOut]], fake_llm: FakeLlm
) -> None:
    scale_out = await start_scale_out()
    fake_llm.script = Script(deltas=["Hi"])
    visitors = {"127.0.0.2": {}, "127.0.0.3": {"X-Forwarded-For": "203.0.113.66"}}
    async with asyncio.timeout(GUARD):
        for address, headers in visitors.items():
            connector = aiohttp.TCPConnector(local_addr=(address, 0))
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.post(
                    scale_out.api("/chat"),
                    json={"user_id": guest(), "message": "Hi"},
                    headers=headers,
                ) as response,
            ):
                assert response.status == 200, await response.text()
                await response.read()
    rows = await scale_out.first.fetch(
        "SELECT bucket FROM rate_counter WHERE bucket LIKE $1 ORDER BY bucket",
        f"chat:ip:{scale_out.tenant_id}:%",
    )
    # The address the client wrote itself (203.0.113.66) is not believed.
    assert [row["bucket"].rsplit(":", 1)[1] for row in rows] == ["127.0.0.2", "127.0.0.3"]
