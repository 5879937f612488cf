"""The chat turn as a service, without HTTP: `ChatService` over the real pool, the real LLM
client talking to the fake DeepSeek, and an outlet that records what a visitor would get."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import asyncpg
import pytest

from cip import errors
from cip.accounts.identity import Identity
from cip.accounts.mailer import Mailer
from cip.background import every
from cip.chat.admission import Admission
from cip.chat.events import FAILURE_TEXT
from cip.chat.llm import LlmClient, LlmFailureKind
from cip.chat.parts import PartsWriter
from cip.chat.prompts import Prompts
from cip.chat.signals import Signals
from cip.chat.streams import CLIENT_CHECK_INTERVAL, OpenStreams
from cip.chat.turn import ChatService
from cip.config import Config
from cip.limits import RateLimiter
from cip.tenancy import Tenant
from support.chat_client import guest, messages_of, wait_for_row
from support.clock import ManualClock
from support.fake_llm import FakeLlm, Script
from support.fixtures import MakeConfig, NewTenant
from support.sse_events import parse_sse


class RecordingOutlet:
    """What the visitor's response would carry; it breaks after `breaks_after` writes."""

    def __init__(self, breaks_after: int | None = None) -> None:
        self.written = b""
        self.writes = 0
        self.breaks_after = breaks_after
        self.abandoned = False

    async def write(self, data: bytes) -> None:
        if self.breaks_after is not None and self.writes >= self.breaks_after:
            raise ConnectionResetError("the visitor went away")
        self.writes += 1
        self.written += data

    def takes_at_once(self, size: int) -> bool:
        return True  # memory never makes a write wait

    def is_gone(self) -> bool:
        return False

    def abandon(self) -> None:
        self.abandoned = True

    def events(self) -> list[tuple[str, Any]]:
        return parse_sse(self.written.decode())


@pytest.fixture
def chat_config(make_config: MakeConfig, fake_llm: FakeLlm) -> Config:
    return make_config(
        llm={"api_url": fake_llm.url, "api_key": "sk-service", "heartbeat_interval": 5},
        limits={"chat_per_user_per_minute": 2},
        streams={"grace": 0},
    )


@pytest.fixture
async def service(
    chat_config: Config, pool: asyncpg.Pool, clock: ManualClock
) -> AsyncIterator[ChatService]:
    streams = OpenStreams(chat_config.streams.grace, chat_config.llm.heartbeat_interval)
    async with (
        LlmClient.connect(chat_config.llm) as llm,
        every(CLIENT_CHECK_INTERVAL, streams.check, name="stream-watcher"),
    ):
        yield ChatService(
            pool=pool,
            llm=llm,
            prompts=Prompts(chat_config.prompts),
            streams=streams,
            parts=PartsWriter(pool, streams),
            # Not listening: a follower on "another instance" reads the database every second.
            signals=Signals(streams),
            limiter=RateLimiter(pool, clock),
            mailer=Mailer(chat_config.smtp),
            settings=chat_config.llm,
            knowledge=chat_config.knowledge,
            admission=Admission(pool, chat_config.server.chat_admission_wait),
        )
        await streams.drain()


@pytest.fixture
async def tenant(new_tenant: NewTenant, chat_config: Config) -> Tenant:
    """A fresh tenant as the service sees it."""
    return Tenant.of(await new_tenant(locale="en"), chat_config)


async def test_an_answer_is_relayed_then_stored(
    service: ChatService,
    tenant: Tenant,
    pool: asyncpg.Pool,
    fake_llm: FakeLlm,
) -> None:
    fake_llm.script = Script(deltas=["Hel", "lo."])
    outlet = RecordingOutlet()
    await service.answer(
        tenant, Identity(guest()), "Hi?", dialog_id=None, ip="192.0.2.1", outlet=outlet
    )
    events = outlet.events()
    assert [name for name, _ in events] == ["meta", "message", "message", "done", "message"]
    meta = events[0][1]
    assert set(meta) == {"dialog_id", "user_message_id", "message_id"}
    assert [data["content"] for name, data in events[1:3]] == ["Hel", "lo."]
    assert events[-1] == ("message", "[DONE]")
    stored = await messages_of(pool, meta["dialog_id"])
    assert [str(m["id"]) for m in stored] == [meta["user_message_id"], meta["message_id"]]
    assert [(m["role"], m["content"], m["status"]) for m in stored] == [
        ("user", "Hi?", "complete"),
        ("assistant", "Hello.", "complete"),
    ]


async def test_a_visitor_gone_mid_answer_leaves_it_interrupted_once_nobody_follows(
    service: ChatService,
    tenant: Tenant,
    pool: asyncpg.Pool,
    fake_llm: FakeLlm,
) -> None:
    # The grace is 0: the answer is aborted as soon as the watcher sees nobody follows it.
    fake_llm.script = Script(deltas=["one ", "two "], after="stall")
    outlet = RecordingOutlet(breaks_after=2)  # the visitor goes after two writes
    await service.answer(
        tenant, Identity(guest()), "Count", dialog_id=None, ip="192.0.2.1", outlet=outlet
    )
    meta = outlet.events()[0][1]
    async with asyncio.timeout(5):  # a guard against hanging, not a time limit
        await fake_llm.disconnected.wait()  # the upstream answer was closed, not read to its end
    reply = await wait_for_row(pool, meta["message_id"], "interrupted")
    # Stored: everything that came from upstream ("two " was read, though never delivered).
    assert reply["content"] == "one two "


async def test_an_llm_failure_before_the_answer_keeps_only_the_question(
    service: ChatService,
    tenant: Tenant,
    pool: asyncpg.Pool,
    fake_llm: FakeLlm,
) -> None:
    fake_llm.script = Script(status=503)
    with pytest.raises(errors.BadGateway) as failed:
        await service.answer(
            tenant,
            Identity(guest()),
            "Anyone?",
            dialog_id=None,
            ip="192.0.2.1",
            outlet=RecordingOutlet(),
        )
    assert failed.value.code == "llm_error_status"
    assert failed.value.detail == FAILURE_TEXT[LlmFailureKind.ERROR_STATUS]
    dialog_id = failed.value.extra["dialog_id"]
    stored = await messages_of(pool, dialog_id)
    assert [(m["role"], m["content"]) for m in stored] == [("user", "Anyone?")]


async def test_past_the_rate_limit_nothing_is_written(
    service: ChatService,
    tenant: Tenant,
    pool: asyncpg.Pool,
    fake_llm: FakeLlm,
    clock: ManualClock,
) -> None:
    visitor = Identity(guest())
    fake_llm.script = Script(deltas=["ok"])
    ask = partial(service.answer, tenant, visitor, dialog_id=None, ip="192.0.2.1")
    for _ in range(2):
        await ask("Hi", outlet=RecordingOutlet())
    count = "SELECT count(*) FROM message WHERE tenant_id = $1"
    stored = await pool.fetchval(count, tenant.id)
    outlet = RecordingOutlet()
    with pytest.raises(errors.RateLimited) as refused:
        await ask("Hi", outlet=outlet)
    assert refused.value.headers == {"Retry-After": "59"}
    assert await pool.fetchval(count, tenant.id) == stored
    assert outlet.written == b""
    clock.advance(60)  # the next minute: a new window
    await ask("Hi again", outlet=RecordingOutlet())
    assert await pool.fetchval(count, tenant.id) == stored + 2


def test_every_kind_of_llm_failure_has_its_text() -> None:
    assert set(FAILURE_TEXT) == set(LlmFailureKind)
    assert all(text.endswith(".") for text in FAILURE_TEXT.values())
