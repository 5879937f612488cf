"""Chat against the fake DeepSeek: what the client sees (status, SSE events), what PostgreSQL
holds afterwards, and what reached the upstream."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from cip.app import create_app
from cip.chat.prompts import PromptMissing
from cip.db.store.tenants import TenantRow
from support.chat_client import (
    API_KEY,
    DEFAULT_PROMPT,
    chat_ok,
    dialogs_of,
    guest,
    messages_of,
    post_chat,
    wait_for_row,
)
from support.fake_llm import USAGE, FakeLlm, Script
from support.fixtures import Client, MakeConfig, NewTenant, StartClient
from support.sse_events import parse_sse, without_pings


async def test_answer_streams_and_is_stored(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    user = guest()
    fake_llm.script = Script(deltas=["Привет", ", ", "мир", " 🌍"])
    response = await post_chat(chat_client, tenant, user_id=user, message="  Кто вы?  ")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    raw = await response.text()
    assert "Привет" in raw and "\\u" not in raw  # real UTF-8 JSON

    [dialog] = await dialogs_of(pool, tenant, user)
    question, answer = await messages_of(pool, dialog["id"])
    assert parse_sse(raw) == [
        (
            "meta",
            {
                "dialog_id": str(dialog["id"]),
                "user_message_id": str(question["id"]),
                "message_id": str(answer["id"]),
            },
        ),
        ("message", {"content": "Привет"}),
        ("message", {"content": ", "}),
        ("message", {"content": "мир"}),
        ("message", {"content": " 🌍"}),
        ("done", {"message_id": str(answer["id"]), "finish_reason": "stop", "usage": USAGE}),
        ("message", "[DONE]"),
    ]
    assert dialog["title"] == "Кто вы?"
    assert question | {"id": None} == {
        "id": None,
        "role": "user",
        "content": "Кто вы?",
        "status": "complete",
        "finish_reason": None,
        "usage": None,
    }
    assert answer | {"id": None} == {
        "id": None,
        "role": "assistant",
        "content": "Привет, мир 🌍",
        "status": "complete",
        "finish_reason": "stop",
        "usage": USAGE,
    }
    # Its safe HTML is rendered once, by the closing write, for every later reader.
    html = await pool.fetchval("SELECT html FROM message WHERE id = $1", answer["id"])
    assert html == "<p>Привет, мир 🌍</p>\n"

    [sent] = fake_llm.requests
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.json == {
        "model": "deepseek-chat",
        "temperature": 0.7,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [
            {"role": "system", "content": DEFAULT_PROMPT},
            {"role": "user", "content": "Кто вы?"},
        ],
    }


async def test_continued_dialog_sends_earlier_turns(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    user = guest()
    fake_llm.script = Script(deltas=["First answer"])
    first = await chat_ok(chat_client, tenant, user_id=user, message="First question")
    dialog_id = first[0][1]["dialog_id"]
    [before] = await dialogs_of(pool, tenant, user)

    fake_llm.script = Script(deltas=["Second answer"])
    second = await chat_ok(
        chat_client, tenant, user_id=user, message="Second question", dialog_id=dialog_id
    )
    assert second[0][1]["dialog_id"] == dialog_id
    assert fake_llm.requests[1].json["messages"] == [
        {"role": "system", "content": DEFAULT_PROMPT},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Second question"},
    ]
    [after] = await dialogs_of(pool, tenant, user)
    assert after["title"] == "First question"
    assert after["updated_at"] > before["updated_at"]
    assert [(row["role"], row["content"]) for row in await messages_of(pool, dialog_id)] == [
        ("user", "First question"),
        ("assistant", "First answer"),
        ("user", "Second question"),
        ("assistant", "Second answer"),
    ]


async def test_history_keeps_the_newest_messages_within_the_budget(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    client = await start_client(llm={"history_budget_chars": 30})
    tenant = await new_tenant()
    user = guest()
    dialog_id = None
    for question, answer in [("q1-aaaaaaaa", "a1-aaaaaaaa"), ("q2-bbbbbbbb", "a2-bbbbbbbb")]:
        fake_llm.script = Script(deltas=[answer])
        body = {"user_id": user, "message": question}
        events = await chat_ok(
            client, tenant, **body, **({"dialog_id": dialog_id} if dialog_id else {})
        )
        dialog_id = events[0][1]["dialog_id"]
    fake_llm.script = Script(deltas=["a3"])
    await chat_ok(client, tenant, user_id=user, message="q3", dialog_id=dialog_id)
    # 11 characters each: only the two newest earlier messages fit in 30.
    assert fake_llm.requests[-1].json["messages"] == [
        {"role": "system", "content": DEFAULT_PROMPT},
        {"role": "user", "content": "q2-bbbbbbbb"},
        {"role": "assistant", "content": "a2-bbbbbbbb"},
        {"role": "user", "content": "q3"},
    ]


async def test_foreign_dialog_is_404_and_creates_nothing(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant, other_tenant = await new_tenant(), await new_tenant()
    owner, stranger = guest(), guest()
    events = await chat_ok(chat_client, tenant, user_id=owner, message="Mine")
    dialog_id = events[0][1]["dialog_id"]

    by_stranger = await post_chat(
        chat_client, tenant, user_id=stranger, message="Let me in", dialog_id=dialog_id
    )
    assert by_stranger.status == 404
    assert await by_stranger.json() == {"detail": "Dialog not found.", "code": "dialog_not_found"}
    in_other_tenant = await post_chat(
        chat_client, other_tenant, user_id=owner, message="Hi", dialog_id=dialog_id
    )
    assert in_other_tenant.status == 404
    unknown = await post_chat(
        chat_client, tenant, user_id=owner, message="Hi", dialog_id=str(uuid.uuid4())
    )
    assert unknown.status == 404

    assert await dialogs_of(pool, tenant, stranger) == []
    assert await dialogs_of(pool, other_tenant, owner) == []
    assert len(await messages_of(pool, dialog_id)) == 2
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"message": "   \n\t "}, "message_blank"),
        ({"message": "x" * 101}, "message_too_long"),
        ({"message": "Hi", "dialog_id": "not-a-uuid"}, "validation_error"),
        ({"message": 42}, "validation_error"),
        ({}, "validation_error"),
    ],
)
async def test_invalid_requests_are_400_and_write_nothing(
    start_client: StartClient,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
    body: dict[str, Any],
    code: str,
) -> None:
    client = await start_client(limits={"message_max_chars": 100})
    tenant = await new_tenant()
    user = guest()
    response = await post_chat(client, tenant, user_id=user, **body)
    assert response.status == 400
    answer = await response.json()
    assert answer["code"] == code and answer["errors"]
    assert await dialogs_of(pool, tenant, user) == []
    assert fake_llm.requests == []


async def test_message_length_limit_and_tenant_override(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    client = await start_client(limits={"message_max_chars": 10})
    strict = await new_tenant(limits={"message_max_chars": 5})
    response = await post_chat(client, strict, user_id=guest(), message="123456")
    assert response.status == 400
    assert await response.json() == {
        "detail": "The message is too long (at most 5 characters).",
        "code": "message_too_long",
        "errors": [
            {
                "loc": ["message"],
                "msg": "The message is too long (at most 5 characters).",
                "type": "string_too_long",
            }
        ],
    }
    relaxed = await new_tenant()
    await chat_ok(client, relaxed, user_id=guest(), message=" 1234567890 ")  # trimmed: 10


async def test_unknown_and_malformed_tenant(chat_client: Client) -> None:
    unknown = await chat_client.post(
        f"/api/v1/tenants/{uuid.uuid4()}/chat", json={"user_id": guest(), "message": "Hi"}
    )
    assert unknown.status == 404
    assert (await unknown.json())["code"] == "tenant_not_found"
    malformed = await chat_client.post(
        "/api/v1/tenants/nope/chat", json={"user_id": guest(), "message": "Hi"}
    )
    assert malformed.status == 400


async def test_no_identity_is_400(chat_client: Client, new_tenant: NewTenant) -> None:
    tenant = await new_tenant()
    response = await post_chat(chat_client, tenant, message="Hi")
    assert response.status == 400
    assert (await response.json())["code"] == "identity_required"


async def test_without_api_key_the_question_is_kept_and_chat_is_503(
    start_client: StartClient,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        client = await start_client(llm={"api_key": ""})
    assert "llm.api_key is not set (nor DEEPSEEK_API_KEY)" in caplog.text
    tenant = await new_tenant()
    user = guest()
    response = await post_chat(client, tenant, user_id=user, message="Anyone there?")
    assert response.status == 503
    body = await response.json()
    [dialog] = await dialogs_of(pool, tenant, user)
    [question] = await messages_of(pool, dialog["id"])
    assert body == {
        "detail": "The AI assistant is not configured: set llm.api_key in config.toml or the "
        "DEEPSEEK_API_KEY environment variable.",
        "code": "llm_not_configured",
        "dialog_id": str(dialog["id"]),
        "user_message_id": str(question["id"]),
    }
    assert (question["role"], question["content"], question["status"]) == (
        "user",
        "Anyone there?",
        "complete",
    )
    assert fake_llm.requests == []


async def assert_502_keeps_question(
    client: Client, tenant: TenantRow, pool: asyncpg.Pool, code: str
) -> None:
    user = guest()
    response = await post_chat(client, tenant, user_id=user, message="Hello?")
    assert response.status == 502
    body = await response.json()
    [dialog] = await dialogs_of(pool, tenant, user)
    [question] = await messages_of(pool, dialog["id"])  # no assistant row
    assert body["code"] == code
    assert body["dialog_id"] == str(dialog["id"])
    assert body["user_message_id"] == str(question["id"])
    assert (question["role"], question["content"]) == ("user", "Hello?")


@pytest.mark.parametrize("status", [401, 429, 500])
async def test_upstream_error_status_is_502(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool, status: int
) -> None:
    fake_llm.script = Script(status=status)
    await assert_502_keeps_question(chat_client, await new_tenant(), pool, "llm_error_status")
    assert len(fake_llm.requests) == 1


async def test_unreachable_upstream_is_502(
    start_client: StartClient, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    closed = FakeLlm()
    await closed.start()
    url = closed.url
    await closed.stop()  # nothing listens on that port any more
    client = await start_client(llm={"api_url": url})
    await assert_502_keeps_question(client, await new_tenant(), pool, "llm_unavailable")


async def test_no_response_in_time_is_502(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    client = await start_client(llm={"first_token_timeout": 0.3})
    fake_llm.script = Script(response_delay=5)
    await assert_502_keeps_question(client, await new_tenant(), pool, "llm_timeout")


async def test_heartbeats_while_waiting_for_the_first_token(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    fake_llm.script = Script(first_token_delay=0.5, deltas=["Late"])
    events = await chat_ok(chat_client, await new_tenant(), user_id=guest(), message="Hi")
    assert events[0][0] == "meta"
    first_content = events.index(("message", {"content": "Late"}))
    assert ("ping", None) in events[1:first_content]
    assert without_pings(events)[-2:] == [events[-2], ("message", "[DONE]")]


async def stream_failure(
    client: Client, tenant: TenantRow, pool: asyncpg.Pool, code: str
) -> list[dict[str, Any]]:
    """A stream that started and then failed: the error event ends it; returns the rows."""
    events = without_pings(await chat_ok(client, tenant, user_id=guest(), message="Go"))
    meta = events[0][1]
    assert events[-1][0] == "error"
    assert events[-1][1]["code"] == code and events[-1][1]["error"]
    assert ("done", None) not in [(name, None) for name, _ in events]
    return await messages_of(pool, meta["dialog_id"])


async def test_first_token_timeout_after_headers_is_an_error_event(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    client = await start_client(llm={"first_token_timeout": 0.4})
    fake_llm.script = Script(first_token_delay=5)
    _question, answer = await stream_failure(client, await new_tenant(), pool, "llm_timeout")
    assert (answer["content"], answer["status"]) == ("", "error")


async def test_stall_mid_stream_saves_the_partial_answer_as_error(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    client = await start_client(llm={"idle_timeout": 0.3})
    fake_llm.script = Script(deltas=["Part", "ial"], after="stall")
    _question, answer = await stream_failure(client, await new_tenant(), pool, "llm_timeout")
    assert (answer["content"], answer["status"]) == ("Partial", "error")


async def test_dropped_upstream_is_an_error_event(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    fake_llm.script = Script(deltas=["Cut ", "off"], after="drop")
    _question, answer = await stream_failure(
        chat_client, await new_tenant(), pool, "llm_disconnected"
    )
    assert (answer["content"], answer["status"]) == ("Cut off", "error")


async def test_malformed_chunk_is_an_error_event(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    fake_llm.script = Script(deltas=["Fine so far"], after="malformed")
    _question, answer = await stream_failure(
        chat_client, await new_tenant(), pool, "llm_bad_response"
    )
    assert (answer["content"], answer["status"]) == ("Fine so far", "error")


async def test_awkward_wire_format_is_read_exactly(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    """Keep-alives, CRLF, `data:` without the space, 5-byte pieces that split lines and
    multi-byte characters, reasoning deltas, usage in its own chunk and no [DONE]."""
    deltas = ["Жёлтый ", "🍋 ", "lemon", "\n\nЁ"]
    fake_llm.script = Script(
        deltas=deltas,
        keepalive=True,
        crlf=True,
        compact=True,
        piece_bytes=5,
        reasoning=["Let me think…"],
        usage_chunk=True,
        send_done=False,
        finish_reason="length",
    )
    events = without_pings(
        await chat_ok(chat_client, await new_tenant(), user_id=guest(), message="Colour?")
    )
    assert [data for name, data in events if name == "message" and data != "[DONE]"] == [
        {"content": text} for text in deltas
    ]
    assert events[-2] == (
        "done",
        {"message_id": events[0][1]["message_id"], "finish_reason": "length", "usage": USAGE},
    )
    _question, answer = await messages_of(pool, events[0][1]["dialog_id"])
    assert (answer["content"], answer["status"], answer["finish_reason"], answer["usage"]) == (
        "".join(deltas),
        "complete",
        "length",
        USAGE,
    )


async def test_nul_characters_from_the_llm_are_dropped_and_the_answer_is_kept(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    """PostgreSQL text and jsonb cannot hold U+0000: the model's NULs (in deltas, the finish
    reason and usage, keys included) are dropped as the chunks are read, so the answer is
    relayed, stored and reported `done` like any other."""
    fake_llm.script = Script(
        deltas=["Hel\x00lo", "\x00", " world\x00"],
        finish_reason="st\x00op",
        usage={**USAGE, "no\x00te": "a\x00b", "details": [{"cached\x00": "\x00"}]},
    )
    events = await chat_ok(chat_client, await new_tenant(), user_id=guest(), message="Hi")
    usage = {**USAGE, "note": "ab", "details": [{"cached": ""}]}
    message_id = events[0][1]["message_id"]
    assert events[1:] == [
        ("message", {"content": "Hello"}),
        ("message", {"content": " world"}),
        ("done", {"message_id": message_id, "finish_reason": "stop", "usage": usage}),
        ("message", "[DONE]"),
    ]
    _question, answer = await messages_of(pool, events[0][1]["dialog_id"])
    assert (answer["content"], answer["status"], answer["finish_reason"], answer["usage"]) == (
        "Hello world",
        "complete",
        "stop",
        usage,
    )


@pytest.mark.parametrize("cancel_handlers", [False, True])
async def test_an_answer_nobody_follows_past_the_grace_closes_upstream_and_keeps_partial(
    start_client: StartClient,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
    cancel_handlers: bool,
) -> None:
    # Heartbeats 15 s apart: no write to the gone client can reveal it; the watcher does.
    client = await start_client(
        cancel_handlers=cancel_handlers, llm={"heartbeat_interval": 15}, streams={"grace": 0.2}
    )
    fake_llm.script = Script(deltas=["Half ", "an answer"], after="stall")
    response = await post_chat(client, await new_tenant(), user_id=guest(), message="Hi")
    assert response.status == 200
    received = b""
    while b"an answer" not in received:
        received += await response.content.readany()
    meta = parse_sse(received.decode())[0][1]
    response.close()  # the visitor closes the tab
    await asyncio.wait_for(fake_llm.disconnected.wait(), timeout=1.0)
    assert await wait_for_row(pool, meta["message_id"], "interrupted") == {
        "content": "Half an answer",
        "status": "interrupted",
    }


async def test_tenant_model_temperature_and_prompt_file(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, tmp_path: Path
) -> None:
    prompt = tmp_path / "special.txt"
    prompt.write_text("Special prompt\n", encoding="utf-8")
    client = await start_client()
    tenant = await new_tenant(model="deepseek-reasoner", temperature=0.2, prompt_file=str(prompt))
    await chat_ok(client, tenant, user_id=guest(), message="Hi")
    sent = fake_llm.requests[0].json
    assert (sent["model"], sent["temperature"]) == ("deepseek-reasoner", 0.2)
    assert sent["messages"][0] == {"role": "system", "content": "Special prompt"}


async def test_slug_prompt_is_reread_when_it_changes(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, tmp_path: Path
) -> None:
    tenant = await new_tenant()
    client = await start_client(prompts={"directory": str(tmp_path)})
    await chat_ok(client, tenant, user_id=guest(), message="Hi")
    slug_file = tmp_path / f"{tenant.slug}.txt"
    slug_file.write_text("Version one", encoding="utf-8")
    await chat_ok(client, tenant, user_id=guest(), message="Hi")
    slug_file.write_text("Version two, longer", encoding="utf-8")
    await chat_ok(client, tenant, user_id=guest(), message="Hi")
    assert [request.json["messages"][0]["content"] for request in fake_llm.requests] == [
        DEFAULT_PROMPT,
        "Version one",
        "Version two, longer",
    ]


async def test_missing_default_prompt_stops_start(chat_config: MakeConfig, tmp_path: Path) -> None:
    config = chat_config(prompts={"default_file": str(tmp_path / "gone.txt")})
    runner = web.AppRunner(create_app(config))
    with pytest.raises(PromptMissing, match=r"prompts\.default_file"):
        await runner.setup()


def test_serve_refuses_to_start_without_the_default_prompt(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[prompts]\ndefault_file = '{tmp_path / 'gone.txt'}'\n")
    result = subprocess.run(
        [sys.executable, "-m", "cip", "--config", str(config), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CIP_CONFIG": "", "PROMPT_FILE": ""},
    )
    assert result.returncode == 2
    assert f"prompts.default_file: {tmp_path / 'gone.txt'} not found" in result.stderr


async def test_default_prompt_removed_later_is_500_before_anything(
    start_client: StartClient,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    default = tmp_path / "default.txt"
    default.write_text("Default", encoding="utf-8")
    client = await start_client(prompts={"default_file": str(default), "directory": str(tmp_path)})
    default.unlink()
    tenant = await new_tenant()
    user = guest()
    response = await post_chat(client, tenant, user_id=user, message="Hi")
    assert response.status == 500
    assert await response.json() == {
        "detail": "The assistant's instructions are missing on the server.",
        "code": "prompt_missing",
    }
    assert await dialogs_of(pool, tenant, user) == []
    assert fake_llm.requests == []


async def test_upstream_connection_is_reused(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant()
    await chat_ok(chat_client, tenant, user_id=guest(), message="One")
    await chat_ok(chat_client, tenant, user_id=guest(), message="Two")
    first, second = fake_llm.requests
    assert first.client_port == second.client_port


async def test_stale_streaming_rows_are_reported_interrupted_at_start(
    start_client: StartClient, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    dialog_id = await pool.fetchval(
        "INSERT INTO dialog (tenant_id, user_id) VALUES ($1, $2) RETURNING id", tenant.id, guest()
    )
    stale, fresh = [
        await pool.fetchval(
            "INSERT INTO message (tenant_id, dialog_id, role, content, status, updated_at)"
            " VALUES ($1, $2, 'assistant', 'partial', 'streaming',"
            " now() - make_interval(secs => $3))"
            " RETURNING id",
            tenant.id,
            dialog_id,
            age,
        )
        for age in (3600.0, 1.0)
    ]
    await start_client(llm={"total_timeout": 600.0})
    statuses = {row["id"]: row["status"] for row in await messages_of(pool, dialog_id)}
    assert statuses == {stale: "interrupted", fresh: "streaming"}


async def test_question_after_a_failed_answer_is_joined_upstream(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant()
    user = guest()
    fake_llm.script = Script(status=500)
    failed = await post_chat(chat_client, tenant, user_id=user, message="Hello?")
    dialog_id = (await failed.json())["dialog_id"]
    fake_llm.script = Script(deltas=["Sorry, I am here"])
    await chat_ok(chat_client, tenant, user_id=user, message="Anyone?", dialog_id=dialog_id)
    # Two user messages in a row would be refused by some models: they go up as one.
    assert fake_llm.requests[1].json["messages"][1:] == [
        {"role": "user", "content": "Hello?\n\nAnyone?"}
    ]


async def test_waiting_streams_hold_no_database_connection(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    client = await start_client(
        database={"pool_min_size": 1, "pool_max_size": 1, "acquire_timeout": 0.5}
    )
    tenant = await new_tenant()
    fake_llm.script = Script(first_token_delay=1.0, deltas=["Slow"])
    slow = asyncio.create_task(chat_ok(client, tenant, user_id=guest(), message="Slow one"))
    while not fake_llm.requests:
        await asyncio.sleep(0.01)
    fake_llm.script = Script(deltas=["Quick"])
    # The only pooled connection is free while the first stream waits on the LLM.
    quick = await chat_ok(client, tenant, user_id=guest(), message="Quick one")
    assert not slow.done()
    assert ("message", {"content": "Quick"}) in quick
    assert ("message", {"content": "Slow"}) in await slow


async def test_shutdown_ends_open_streams_as_interrupted(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    fake_llm.script = Script(deltas=["Before the restart"], after="stall")
    response = await post_chat(chat_client, await new_tenant(), user_id=guest(), message="Hi")
    received = b""
    while b"Before the restart" not in received:
        received += await response.content.readany()
    await chat_client.app.shutdown()  # what SIGTERM runs first
    events = without_pings(parse_sse((received + await response.content.read()).decode()))
    assert events[-1] == (
        "error",
        {
            "error": "The service is restarting. Please send your message again.",
            "code": "service_restarting",
        },
    )
    assert await wait_for_row(pool, events[0][1]["message_id"], "interrupted") == {
        "content": "Before the restart",
        "status": "interrupted",
    }
    await asyncio.wait_for(fake_llm.disconnected.wait(), timeout=1.0)


async def test_a_crowd_of_new_visitors_each_gets_a_dialog_of_their_own(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    """Thirty first questions at once, in two tenants: their dialogs are opened together
    (in one statement per tenant and batch), and each visitor finds their own question and its
    answer in a dialog of their own, in their own tenant."""
    client = await start_client()
    tenants = [await new_tenant(), await new_tenant()]
    fake_llm.script = Script(deltas=["Hello", "!"])
    asked = [(tenants[n % 2], guest(), f"Question {n}") for n in range(30)]
    answered = await asyncio.gather(
        *(chat_ok(client, tenant, user_id=user, message=text) for tenant, user, text in asked)
    )
    dialogs = set()
    for (tenant, user, text), events in zip(asked, answered, strict=True):
        dialog_id = uuid.UUID(events[0][1]["dialog_id"])
        dialogs.add(dialog_id)
        rows = await pool.fetch(
            "SELECT d.tenant_id, d.user_id, d.title, m.role, m.content, m.status FROM message m "
            "JOIN dialog d ON d.tenant_id = m.tenant_id AND d.id = m.dialog_id "
            "WHERE m.dialog_id = $1 ORDER BY m.created_at",
            dialog_id,
        )
        assert [tuple(row) for row in rows] == [
            (tenant.id, user, text, "user", text, "complete"),
            (tenant.id, user, text, "assistant", "Hello!", "complete"),
        ]
    assert len(dialogs) == 30
