"""Load (`make test-slow`): 200 concurrent visitors for 60 s against a real `cip serve` and
the fake DeepSeek answering at once. Each visitor loops: ask (in a new dialog or the last one),
read its dialog list, open the dialog. No answer may be a 5xx, and afterwards every question
the service accepted (every `meta` event) must be in the database exactly once, its reply
`complete`. `CIP_LOAD_VISITORS` and `CIP_LOAD_SECONDS` change the size for a trial run."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from support.fake_llm import FakeLlm, Script
from support.process_server import ProcessServer
from support.sse_events import parse_sse

VISITORS = int(os.environ.get("CIP_LOAD_VISITORS", "200"))
SECONDS = float(os.environ.get("CIP_LOAD_SECONDS", "60"))
REQUEST_GUARD_SECONDS = 120  # a request that takes this long counts as hung
ANSWER = ["Fast ", "answer"]
UNLIMITED = 1_000_000


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    hung: int = 0
    broken_streams: int = 0  # 200 streams that did not end with done
    # user_message_id -> (the reply's message_id, the question's text)
    accepted: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


async def request(
    session: aiohttp.ClientSession, tally: Tally, method: str, url: str, **kwargs: Any
) -> tuple[int, str]:
    tally.requests += 1
    try:
        async with asyncio.timeout(REQUEST_GUARD_SECONDS):
            async with session.request(method, url, **kwargs) as response:
                body = await response.text()
    except TimeoutError:
        tally.hung += 1
        return 0, ""
    tally.statuses[response.status] += 1
    return response.status, body


async def visitor(session: aiohttp.ClientSession, base: str, tally: Tally, deadline: float) -> None:
    user = f"load-{uuid.uuid4().hex}"
    loop = asyncio.get_running_loop()
    dialog_id: str | None = None
    turn = 0
    while loop.time() < deadline:
        turn += 1
        body: dict[str, str] = {"user_id": user, "message": f"Question {turn} from {user}"}
        if dialog_id is not None and random.random() < 0.7:
            body["dialog_id"] = dialog_id
        status, text = await request(session, tally, "POST", f"{base}/chat", json=body)
        if status != 200:
            continue
        events = parse_sse(text)
        if events and events[0][0] == "meta":
            meta = events[0][1]
            tally.accepted[meta["user_message_id"]] = (meta["message_id"], body["message"])
            dialog_id = meta["dialog_id"]
        if [name for name, _ in events[-2:]] != ["done", "message"]:
            tally.broken_streams += 1
        headers = {"X-User-Id": user}
        await request(session, tally, "GET", f"{base}/me/dialogs", headers=headers)
        if dialog_id is not None:
            await request(session, tally, "GET", f"{base}/me/dialogs/{dialog_id}", headers=headers)


async def rows_lost(server: ProcessServer, tally: Tally) -> int:
    """Accepted questions missing, stored other than once, or whose reply is not complete;
    plus stored questions that were never accepted."""
    rows = await server.fetch(
        "SELECT id::text AS id, role, content, status FROM message WHERE tenant_id = $1::uuid",
        await server.tenant_id(),
    )
    by_id = {row["id"]: row for row in rows}
    asked = Counter(row["content"] for row in rows if row["role"] == "user")
    lost = 0
    for question_id, (reply_id, question) in tally.accepted.items():
        stored, reply = by_id.get(question_id), by_id.get(reply_id)
        if (
            stored is None
            or stored["content"] != question
            or asked[question] != 1
            or reply is None
            or (reply["status"], reply["content"]) != ("complete", "".join(ANSWER))
        ):
            lost += 1
    return lost + sum(asked.values()) - len(tally.accepted)


@pytest.mark.slow
async def test_load_loses_no_message_and_never_fails(
    make_process_server: Callable[..., ProcessServer],
    fake_llm: FakeLlm,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = make_process_server(
        limits={
            "chat_per_user_per_minute": UNLIMITED,
            "chat_per_ip_per_minute": UNLIMITED,
            "register_per_ip_per_hour": UNLIMITED,
            "cabinet_reads_per_user_per_minute": UNLIMITED,
            "cabinet_reads_per_ip_per_minute": UNLIMITED,
            "cabinet_writes_per_user_per_minute": UNLIMITED,
            "cabinet_writes_per_ip_per_minute": UNLIMITED,
        }
    )
    await server.start()
    fake_llm.script = Script(deltas=ANSWER)
    base = f"{server.url}/api/v1/tenants/{await server.tenant_id()}"
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=0)  # every visitor its own connection
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = asyncio.get_running_loop().time() + SECONDS
        await asyncio.gather(*(visitor(session, base, tally, deadline) for _ in range(VISITORS)))
    lost = await rows_lost(server, tally)
    with capsys.disabled():
        print(
            f"\nload: {VISITORS} visitors for {SECONDS:.0f} s: {tally.requests} requests sent, "
            f"{len(tally.accepted)} messages accepted, {tally.server_errors} 5xx seen, "
            f"{tally.hung} hung, {lost} rows lost; statuses {dict(sorted(tally.statuses.items()))}"
        )
    assert tally.statuses.keys() == {200}, tally.statuses
    assert (tally.server_errors, tally.hung, tally.broken_streams, lost) == (0, 0, 0, 0)
    assert tally.accepted
