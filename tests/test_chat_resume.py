"""An answer outlives its visitor's connection, and is followed again from where it was lost
(`GET …/chat/{message_id}/stream` with `Last-Event-ID`), on the instance writing it or on
another one (two apps on one database), to its end; a finished answer is replayed whole."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from support.chat_client import guest, post_chat, wait_for_row
from support.fake_llm import FakeLlm, Script
from support.fixtures import NewTenant, StartClient
from support.sse_events import parse_sse, read_until, texts_with_ids, without_pings

Client = TestClient[Any, Any]
GUARD = 10  # seconds, against hangs only
WORDS = [f"word{index} " for index in range(12)]
ANSWER = "".join(WORDS)


def resume_url(tenant_id: object, message_id: str) -> str:
    return f"/api/v1/tenants/{tenant_id}/chat/{message_id}/stream"


async def ask_and_leave(client: Client, tenant: Any, user: str, marker: bytes) -> tuple[Any, str]:
    """Ask, read until `marker` arrived, drop the connection: the meta and what was received."""
    response = await post_chat(client, tenant, user_id=user, message="Count for me")
    assert response.status == 200
    received = (await read_until(response.content, marker)).decode()
    response.close()  # the visitor reloads the page
    meta = parse_sse(received.split("\n\n")[0])[0][1]
    return meta, received[: received.rindex("\n\n") + 2]


async def resume(client: Client, tenant: Any, user: str, message_id: str, **how: Any) -> str:
    headers = {"X-User-Id": user, **how.pop("headers", {})}
    response = await client.get(
        resume_url(tenant.id, message_id), headers=headers, params=how or None
    )
    assert response.status == 200, await response.text()
    assert response.content_type == "text/event-stream"
    return await response.text()


async def reload_mid_answer(
    asked: Client, resumed: Client, tenant: Any, user: str, marker: bytes
) -> tuple[Any, str, str]:
    """Ask on `asked`, leave once `marker` arrived, resume on `resumed` from the last id
    received: the meta, the stream before and the stream after."""
    async with asyncio.timeout(GUARD):
        meta, before = await ask_and_leave(asked, tenant, user, marker)
        [*_, (last_id, _)] = texts_with_ids(before)
        after = await resume(
            resumed, tenant, user, meta["message_id"], headers={"Last-Event-ID": str(last_id)}
        )
    return meta, before, after


def text_of(raw: str) -> str:
    return "".join(content for _, content in texts_with_ids(raw))


async def test_every_text_event_carries_the_characters_so_far_as_its_id(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    fake_llm.script = Script(deltas=["Hé", "llo, ", "wörld"])
    response = await post_chat(chat_client, await new_tenant(), user_id=guest(), message="Hi")
    assert texts_with_ids(await response.text()) == [(2, "Hé"), (7, "llo, "), (12, "wörld")]


async def test_a_reload_on_the_same_instance_resumes_from_the_last_event_id(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    client = await start_client()
    tenant, user = await new_tenant(), guest()
    fake_llm.script = Script(deltas=WORDS, gap=0.05)
    meta, before, after = await reload_mid_answer(client, client, tenant, user, b"word2 ")
    events = without_pings(parse_sse(after))
    assert events[0] == ("meta", meta)
    assert text_of(before) + text_of(after) == ANSWER
    assert [event_id for event_id, _ in texts_with_ids(after)][-1] == len(ANSWER)
    (done, finished), sentinel = events[-2:]
    assert (done, finished["message_id"], finished["finish_reason"]) == (
        "done",
        meta["message_id"],
        "stop",
    )
    assert sentinel == ("message", "[DONE]")
    assert (await wait_for_row(pool, meta["message_id"], "complete"))["content"] == ANSWER


async def test_an_answer_nobody_follows_is_still_written_within_the_grace(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    client = await start_client(streams={"grace": 30})
    tenant, user = await new_tenant(), guest()
    fake_llm.script = Script(deltas=WORDS, gap=0.02)
    async with asyncio.timeout(GUARD):
        meta, _ = await ask_and_leave(client, tenant, user, b"word0 ")
        row = await wait_for_row(pool, meta["message_id"], "complete")
    assert row["content"] == ANSWER
    assert not fake_llm.disconnected.is_set()


@pytest.mark.parametrize("via", ["header", "query"])
async def test_a_finished_answer_is_replayed_from_any_character(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, via: str
) -> None:
    tenant, user = await new_tenant(), guest()
    fake_llm.script = Script(deltas=WORDS)
    response = await post_chat(chat_client, tenant, user_id=user, message="Count")
    meta = parse_sse(await response.text())[0][1]
    whole = await resume(chat_client, tenant, user, meta["message_id"])
    assert text_of(whole) == ANSWER
    assert texts_with_ids(whole) == [(len(ANSWER), ANSWER)]  # stored: one event
    how = {"headers": {"Last-Event-ID": "5"}} if via == "header" else {"last_event_id": "5"}
    rest = await resume(chat_client, tenant, user, meta["message_id"], **how)
    assert texts_with_ids(rest) == [(len(ANSWER), ANSWER[5:])]
    assert [name for name, _ in parse_sse(rest)] == ["meta", "message", "done", "message"]
    past_the_end = await resume(
        chat_client, tenant, user, meta["message_id"], headers={"Last-Event-ID": "10000"}
    )
    assert [name for name, _ in parse_sse(past_the_end)] == ["meta", "done", "message"]


async def test_a_reload_on_another_instance_follows_the_answer_to_its_end(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    # A short grace: only the follow announced from B keeps A writing the answer.
    settings = {"streams": {"grace": 0.3, "flush_interval": 0.05}}
    instance_a, instance_b = await start_client(**settings), await start_client(**settings)
    tenant, user = await new_tenant(), guest()
    fake_llm.script = Script(deltas=WORDS, gap=0.15)
    meta, before, after = await reload_mid_answer(instance_a, instance_b, tenant, user, b"word1 ")
    assert text_of(before) + text_of(after) == ANSWER
    ids = [event_id for event_id, _ in texts_with_ids(after)]
    assert ids == sorted(ids) and len(ids) > 1  # followed live, in steps, not replayed at the end
    assert without_pings(parse_sse(after))[-2][0] == "done"
    assert (await wait_for_row(pool, meta["message_id"], "complete"))["content"] == ANSWER


async def test_another_visitors_answer_is_404_and_a_bad_last_event_id_400(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    tenant, user = await new_tenant(), guest()
    fake_llm.script = Script(deltas=WORDS)
    response = await post_chat(chat_client, tenant, user_id=user, message="Count")
    message_id = parse_sse(await response.text())[0][1]["message_id"]
    url = resume_url(tenant.id, message_id)
    stranger = await chat_client.get(url, headers={"X-User-Id": guest()})
    assert (stranger.status, (await stranger.json())["code"]) == (404, "message_not_found")
    other_tenant = await chat_client.get(
        resume_url((await new_tenant()).id, message_id), headers={"X-User-Id": user}
    )
    assert other_tenant.status == 404
    for bad in ("abc", "-1", "1000000001"):
        refused = await chat_client.get(url, headers={"X-User-Id": user, "Last-Event-ID": bad})
        assert refused.status == 400, bad


async def test_a_follower_of_another_instance_s_answer_is_told_when_its_own_shuts_down(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    instance_a, instance_b = await start_client(), await start_client()
    tenant, user = await new_tenant(), guest()
    fake_llm.script = Script(deltas=WORDS, gap=0.2)
    async with asyncio.timeout(GUARD):
        meta, _ = await ask_and_leave(instance_a, tenant, user, b"word0 ")
        response = await instance_b.get(
            resume_url(tenant.id, meta["message_id"]), headers={"X-User-Id": user}
        )
        await read_until(response.content, b"event: meta")
        await instance_b.app.shutdown()  # SIGTERM's first step on B
        events = without_pings(parse_sse(await response.text()))
        assert events[-1] == (
            "error",
            {
                "error": "The service is restarting. Please send your message again.",
                "code": "service_restarting",
            },
        )
        # The answer itself goes on, on the instance writing it.
        assert (await wait_for_row(pool, meta["message_id"], "complete"))["content"] == ANSWER


@pytest.mark.parametrize(
    ("after", "status", "code"),
    [("drop", "error", "answer_failed"), ("stall", "interrupted", "interrupted")],
)
async def test_an_answer_cut_short_is_replayed_with_how_it_ended(
    start_client: StartClient,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
    after: Literal["drop", "stall"],
    status: str,
    code: str,
) -> None:
    # The upstream drops (stored `error`), or stalls with nobody following (grace 0: aborted
    # at once, stored `interrupted`).
    client = await start_client(streams={"grace": 0})
    tenant, user = await new_tenant(), guest()
    fake_llm.script = Script(deltas=["Half "], after=after)
    async with asyncio.timeout(GUARD):
        meta, _ = await ask_and_leave(client, tenant, user, b"Half ")
        await wait_for_row(pool, meta["message_id"], status)
        replayed = await resume(client, tenant, user, meta["message_id"])
    assert texts_with_ids(replayed) == [(5, "Half ")]
    name, data = without_pings(parse_sse(replayed))[-1]
    assert (name, data["code"]) == ("error", code)
