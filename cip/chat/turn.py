"""The chat turn (SPEC §6 "Chat"): a visitor's question, the LLM's answer streamed back as
Server-Sent Events, and both stored; an answer followed again after a reconnect (`resume`),
stopped by its owner (`stop`).

`ChatService.answer` runs a turn. The rate limits are counted, the question is committed (in
the same statement that checks the dialog and places the reply's `streaming` row) and the
answer is written by a task of its own (`cip.chat.streams`), which the visitor who asked
follows: the answer does not end when its visitor leaves, but when it is complete, failed,
stopped, or nobody has followed it for `[streams] grace` seconds. A failure before the answer
starts is an API error to its visitor (the question stays; the reply's placeholder goes): 502
for the LLM, 503 `service_restarting` for a shutdown. The answer is stored once, before the
final event reaches anyone, so a visitor who reloads the dialog after `done` finds it stored.
No database connection is held while the LLM is awaited. When the closing write fails (the
database went away mid-stream) a finished answer ends with an `error` event instead of
`done`. Every write to a visitor has a deadline (`[llm] write_timeout`, and never past the
answer's total deadline): a visitor who stops reading is dropped.

A visitor who reconnects (`resume`) follows the answer from the last character it received:
from memory on the instance writing it, from the database (`cip.chat.parts`) on any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

import asyncpg

from cip import errors, metrics, quotas
from cip.accounts.identity import Identity
from cip.accounts.mailer import Mailer
from cip.chat import events, relay, replies, rules, sse
from cip.chat.admission import Admission
from cip.chat.events import FAILURE_TEXT, ChatMetaOut, SourceOut
from cip.chat.llm import ChatRequest, LlmClient, LlmFailure, LlmStream
from cip.chat.markdown import markdown_html
from cip.chat.parts import PartsWriter
from cip.chat.prompts import Prompts
from cip.chat.relay import Sender
from cip.chat.signals import Signals
from cip.chat.streams import (
    FOLLOW_RENEW,
    SHUTDOWN,
    STOPPED,
    LiveAnswer,
    OpenStreams,
    Outlet,
    TurnAborted,
    ping_after,
)
from cip.config import KnowledgeConfig, LlmConfig
from cip.db.store import messages
from cip.db.store.messages import (
    AnswerSinceRow,
    MessageStatus,
    NewDialogTurn,
    ReplyStatus,
    TurnRow,
)
from cip.knowledge.retrieval import Shelves, retrieve
from cip.limits import MINUTE, RateLimiter
from cip.tenancy import Tenant

log = logging.getLogger(__name__)
STOP_WAIT = 2.0  # seconds a stop request waits for the answer to be stored `stopped`
STOP_POLL_INTERVAL = 0.05
FOLLOW_POLL_INTERVAL = 1.0  # a follower on another instance reads again, woken or not


class ChatService:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        llm: LlmClient,
        prompts: Prompts,
        streams: OpenStreams,
        parts: PartsWriter,
        signals: Signals,
        limiter: RateLimiter,
        mailer: Mailer,
        settings: LlmConfig,
        knowledge: KnowledgeConfig,
        shelves: Shelves | None = None,
        admission: Admission,
    ) -> None:
        self._pool = pool
        self._admission = admission
        self._llm = llm
        self._prompts = prompts
        self._streams = streams
        self._parts = parts
        self._signals = signals
        self._limiter = limiter
        self._mailer = mailer
        self._settings = settings
        self._knowledge = knowledge
        self._shelves = shelves

    async def answer(
        self,
        tenant: Tenant,
        caller: Identity,
        question: str,
        *,
        dialog_id: UUID | None,
        ip: str,
        outlet: Outlet,
    ) -> None:
        """Answer a checked question into `outlet`. Before anything is written to it: 404 (a
        dialog that is not the caller's), 429, 500 (no prompt) with nothing stored, or
        499/502/503 naming the stored question."""
        async with self._admission.entered() as left:
            prompt = await self._admitted(tenant, caller, ip, within=left())
            async with self._reserved(tenant, self._llm.configured):
                turn = await self._opened(tenant, caller, question, dialog_id, within=left())
        if turn.message_id is None:
            raise errors.ServiceUnavailable(
                errors.LLM_NOT_CONFIGURED, code="llm_not_configured", extra=_saved(turn)
            )
        await self._answer_turn(tenant, caller, turn, prompt, question, outlet)

    async def regenerate(
        self, tenant: Tenant, caller: Identity, message_id: UUID, *, ip: str, outlet: Outlet
    ) -> None:
        """Answer the question answer `message_id` of the caller's answers again, into
        `outlet`, as a new answer in the same dialog; the earlier one is kept, superseded.
        Before anything is written: 404 (anyone else's message), 409 (not the dialog's latest
        answer, or one still being written), 429, 500, or 499/502/503 as for a question."""
        async with self._admission.entered() as left:
            prompt = await self._admitted(tenant, caller, ip, within=left())
            if not self._llm.configured:
                raise errors.ServiceUnavailable(
                    errors.LLM_NOT_CONFIGURED, code="llm_not_configured"
                )
            async with self._reserved(tenant, True):
                target = await messages.regeneration_of(
                    self._pool,
                    tenant_id=tenant.id,
                    user_id=caller.user_id,
                    message_id=message_id,
                    history_budget=self._settings.history_budget_chars,
                )
                new_id = await messages.start_regeneration(
                    self._pool, tenant_id=tenant.id, target=target, message_id=message_id
                )
        turn = TurnRow(
            dialog_id=target.dialog_id,
            user_message_id=target.user_message_id,
            message_id=new_id,
            history=target.history,
        )
        await self._answer_turn(tenant, caller, turn, prompt, target.question, outlet)

    async def _admitted(self, tenant: Tenant, caller: Identity, ip: str, *, within: float) -> str:
        """The tenant's system prompt, once the chat rate limits let the caller in (429
        otherwise; 500 when the prompt file is gone); their hit queues at most `within`
        seconds."""
        settings = tenant.settings
        buckets = rules.rate_limits(tenant.id, settings.limits, user_id=caller.user_id, ip=ip)
        await self._limiter.check(buckets, MINUTE, errors.CHAT_RATE_LIMITED, within=within)
        return self._prompts.for_tenant(tenant.slug, settings.prompt_file)

    async def _opened(
        self,
        tenant: Tenant,
        caller: Identity,
        question: str,
        dialog_id: UUID | None,
        *,
        within: float,
    ) -> TurnRow:
        """The turn's opening write: with other new dialogs queued at most `within` seconds
        beside it, or, continuing a dialog, on its own (404 for one not the caller's)."""
        if dialog_id is None:
            turn = NewDialogTurn(
                user_id=caller.user_id,
                content=question,
                title=rules.title_of(question),
                with_reply=self._llm.configured,
            )
            return await self._admission.open_dialog(tenant.id, turn, within=within)
        return await messages.start_turn(
            self._pool,
            tenant_id=tenant.id,
            user_id=caller.user_id,
            dialog_id=dialog_id,
            content=question,
            title=rules.title_of(question),
            with_reply=self._llm.configured,
            history_budget=self._settings.history_budget_chars,
        )

    @contextlib.asynccontextmanager
    async def _reserved(self, tenant: Tenant, answering: bool) -> AsyncIterator[None]:
        """An answer of the tenant's month reserved (429 `quota_exceeded` past a quota) for
        the opening write in the block, given back when that write is refused (no answer is
        reserved when none will be written, nor for a tenant without quotas)."""
        if not answering or not quotas.limited(tenant):
            yield
            return
        await quotas.reserve_answer(self._pool, self._mailer, tenant)
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):  # the database is gone: the month keeps it
                await quotas.release_answer(self._pool, tenant)
            raise

    async def _answer_turn(
        self,
        tenant: Tenant,
        caller: Identity,
        turn: TurnRow,
        prompt: str,
        question: str,
        outlet: Outlet,
    ) -> None:
        """Write the answer of a stored turn in a task of its own, followed by `outlet`: the
        question is given the tenant's knowledge-base chunks that match it (one query, after
        the opening write) in the system message."""
        assert turn.message_id is not None
        found = await retrieve(
            self._pool,
            self._knowledge,
            tenant_id=tenant.id,
            question=question,
            shelves=self._shelves,
        )
        system = found.prompt(prompt, tenant.settings.locale)
        request = ChatRequest(
            messages=rules.conversation(system, turn.history, question),
            model=tenant.settings.model,
            temperature=tenant.settings.temperature,
        )
        meta = ChatMetaOut(
            dialog_id=turn.dialog_id,
            user_message_id=turn.user_message_id,
            message_id=turn.message_id,
        )
        loop = asyncio.get_running_loop()
        answer = LiveAnswer(
            tenant_id=tenant.id,
            user_id=caller.user_id,
            meta=meta,
            deadline=loop.time() + self._settings.total_timeout,
            sources=found.sources,
        )
        self._streams.start(answer, partial(self._write, answer, turn, request))
        sender = Sender(outlet, self._settings.write_timeout, answer.deadline)
        await self._follow(answer, sender, after=0)
        if not sender.told:  # the visitor left before the answer began (it goes on)
            raise errors.ClientClosedRequest()

    async def resume(
        self, tenant: Tenant, caller: Identity, message_id: UUID, *, after: int, outlet: Outlet
    ) -> None:
        """Send answer `message_id` of the caller's into `outlet` from character `after` to
        its end: `meta`, the text, the final events (404 for anything else). An answer being
        written is followed live: from memory when this instance writes it, else from the
        database, woken by the instance writing it."""
        answer = self._streams.get(message_id)
        if answer is not None and (answer.tenant_id, answer.user_id) == (
            tenant.id,
            caller.user_id,
        ):
            sender = Sender(outlet, self._settings.write_timeout, answer.deadline)
            with contextlib.suppress(ConnectionError):
                await sender.send(events.meta(answer.meta) + events.sources(answer.sources))
                sender.told = True
                await self._follow(answer, sender, after=after)
            return
        await self._follow_stored(tenant.id, caller.user_id, message_id, after, outlet)

    async def stop(self, tenant: Tenant, caller: Identity, message_id: UUID) -> MessageStatus:
        """Stop answer `message_id` of the caller's, on whichever instance writes it; its status
        once stopped, or at once for an answer already finished. An answer whose writer has not
        stored it within `STOP_WAIT` seconds is reported `streaming`. 404 for anything else."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_WAIT
        published = False
        while True:
            reply = await messages.reply_of(
                self._pool, tenant_id=tenant.id, user_id=caller.user_id, message_id=message_id
            )
            status = self._status(reply.status, reply.updated_at, reply.checked_at)
            if status != "streaming" or loop.time() >= deadline:
                return status
            if not published:
                await messages.publish_stop(self._pool, message_id=message_id)
                published = True
            await asyncio.sleep(STOP_POLL_INTERVAL)

    def _status(
        self, status: MessageStatus, updated_at: datetime, checked_at: datetime
    ) -> MessageStatus:
        return replies.effective_status(
            status, updated_at, checked_at, timedelta(seconds=self._settings.total_timeout)
        )

    async def _follow(self, answer: LiveAnswer, sender: Sender, *, after: int) -> None:
        """`relay.follow`, ending quietly when the visitor goes (the answer goes on)."""
        with contextlib.suppress(ConnectionError):
            await relay.follow(
                answer, sender, after=after, heartbeat=self._settings.heartbeat_interval
            )

    async def _follow_stored(
        self, tenant_id: UUID, user_id: str, message_id: UUID, after: int, outlet: Outlet
    ) -> None:
        """Follow an answer another instance writes (or that is stored) through the database:
        read its text from `after` on, woken by the writer's appends, reading again every
        `FOLLOW_POLL_INTERVAL` anyway; announce the follow every `FOLLOW_RENEW` seconds so the
        writer keeps the answer going."""
        read = partial(
            messages.answer_since,
            self._pool,
            tenant_id=tenant_id,
            user_id=user_id,
            message_id=message_id,
        )
        loop = asyncio.get_running_loop()
        quiet = ping_after(self._settings.heartbeat_interval, FOLLOW_POLL_INTERVAL)
        with self._signals.news_of(message_id) as news:
            row = await read(after=after)  # 404 before anything is written
            sender = Sender(outlet, self._settings.write_timeout, math.inf)
            announced = -math.inf
            meta = ChatMetaOut(
                dialog_id=row.dialog_id, user_message_id=row.user_message_id, message_id=message_id
            )
            try:
                data = events.meta(meta) + events.sources(_sources(row))
                while True:
                    if row.text:
                        after += len(row.text)
                        data += events.text(row.text, after)
                    status = self._status(row.status, row.updated_at, row.checked_at)
                    if status != "streaming":
                        await sender.send(data + _ending(message_id, status, row))
                        return
                    if self._streams.closing:  # this instance stops; the answer goes on
                        await sender.send(data + events.restarting())
                        return
                    if data or loop.time() - sender.last_write >= quiet:
                        await sender.send(data or sse.PING)
                    if loop.time() - announced >= FOLLOW_RENEW:
                        await messages.publish_follow(self._pool, message_id=message_id)
                        announced = loop.time()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(news.wait(), FOLLOW_POLL_INTERVAL)
                    news.clear()
                    sender.check()
                    data = b""
                    row = await read(after=after)
            except ConnectionError:
                return
            except errors.DatabaseUnavailable:
                with contextlib.suppress(ConnectionError):
                    await sender.send(
                        events.error(errors.DATABASE_UNAVAILABLE, "database_unavailable")
                    )

    async def _write(self, answer: LiveAnswer, turn: TurnRow, request: ChatRequest) -> None:
        """The answer's own task: open the LLM's stream, relay it into `answer`, store it."""
        tenant_id, message_id = answer.tenant_id, answer.message_id
        discard = partial(
            messages.discard_reply, self._pool, tenant_id=tenant_id, message_id=message_id
        )
        asked = time.monotonic()
        try:
            stream = await answer.open(partial(self._llm.open, request))
        except LlmFailure as failure:
            metrics.LLM_FAILURES.labels(failure.kind.value).inc()
            await discard()
            bad_gateway = errors.BadGateway(
                FAILURE_TEXT[failure.kind], code=failure.kind.value, extra=_saved(turn)
            )
            answer.refuse(bad_gateway, events.failure(failure))
            return
        except TurnAborted as aborted:
            if aborted.reason == STOPPED:
                await self._stopped_before_start(answer, _chars(request))
                return
            await discard()
            if aborted.reason == SHUTDOWN:
                refusal = errors.ServiceUnavailable(
                    errors.SERVICE_RESTARTING, code="service_restarting", extra=_saved(turn)
                )
                answer.refuse(refusal, events.restarting())
            else:
                answer.refuse(errors.ClientClosedRequest(), events.interrupted())
            return
        answer.begin()
        await self._relay(answer, stream, asked=asked, prompt_chars=_chars(request))

    async def _stopped_before_start(self, answer: LiveAnswer, prompt_chars: int) -> None:
        """An answer stopped before the LLM sent anything: stored empty as `stopped` (and
        counted, its prompt estimated: the upstream may have read it)."""
        await messages.finish_reply(
            self._pool,
            tenant_id=answer.tenant_id,
            message_id=answer.message_id,
            content="",
            html="",
            status="stopped",
            finish_reason=STOPPED,
            usage=None,
            tokens=rules.token_count(None, prompt_chars=prompt_chars, completion_chars=0),
            sources=_stored(answer.sources),
        )
        answer.finish(events.done(answer.message_id, STOPPED, None))

    async def _relay(
        self, answer: LiveAnswer, stream: LlmStream, *, asked: float, prompt_chars: int
    ) -> None:
        """Take the answer's text into `answer`, then store it with its final status, then let
        its followers have the final events. `asked`: when the LLM was asked (monotonic);
        `prompt_chars`: what was sent, for an estimate of the tokens when the upstream gives
        none."""
        try:
            status, ending = await self._pump(answer, stream, asked)
        finally:
            stream.close()
        answer.closing = True
        await self._parts.settled()
        stored = await self._store(answer, stream, status, prompt_chars)
        if not stored and status == "complete":
            # Nobody may be told `done` for an answer they will not find again; the row stays
            # `streaming` and is reported `interrupted` once total_timeout has passed.
            ending = events.error(errors.REPLY_NOT_SAVED, "database_unavailable")
        answer.finish(ending)
        if answer.followed_elsewhere(asyncio.get_running_loop().time()):
            with contextlib.suppress(Exception):  # its followers read again within a second
                await messages.publish_parts(self._pool, message_id=answer.message_id)

    async def _pump(
        self, answer: LiveAnswer, stream: LlmStream, asked: float
    ) -> tuple[ReplyStatus, bytes]:
        """Take the text in (the first of it times the LLM's first token); return the
        answer's status and the final events to send once it is stored."""
        first = True
        try:
            async for texts in stream.deltas(self._settings.heartbeat_interval):
                if texts:
                    if first:
                        metrics.first_text(asked)
                        first = False
                    answer.append(texts)
        except LlmFailure as failure:
            metrics.LLM_FAILURES.labels(failure.kind.value).inc()
            return "error", events.failure(failure)
        except Exception:  # the response has started: no error envelope can follow
            log.exception("chat stream %s failed", answer.message_id)
            return "error", events.error(errors.INTERNAL_ERROR, "internal_error")
        if stream.abort_reason == SHUTDOWN:
            return "interrupted", events.restarting()
        if stream.abort_reason == STOPPED:
            stream.finish_reason = STOPPED
            return "stopped", events.done(answer.message_id, STOPPED, stream.usage)
        if stream.abort_reason:
            return "interrupted", events.interrupted()
        return "complete", events.done(answer.message_id, stream.finish_reason, stream.usage)

    async def _store(
        self, answer: LiveAnswer, stream: LlmStream, status: ReplyStatus, prompt_chars: int
    ) -> bool:
        """The closing write, counting the answer's tokens (the upstream's usage, else
        estimated from the `prompt_chars` sent and the text); False when it failed (the
        database is gone)."""
        try:
            await messages.finish_reply(
                self._pool,
                tenant_id=answer.tenant_id,
                message_id=answer.message_id,
                content=stream.text,
                html=markdown_html(stream.text),
                status=status,
                finish_reason=stream.finish_reason,
                usage=stream.usage,
                tokens=rules.token_count(
                    stream.usage, prompt_chars=prompt_chars, completion_chars=len(stream.text)
                ),
                sources=_stored(answer.sources),
            )
        except Exception:  # the row stays `streaming`; the sweep reports it later
            log.exception("could not store reply %s", answer.message_id)
            return False
        return True


def _ending(message_id: UUID, status: MessageStatus, row: AnswerSinceRow) -> bytes:
    """The final events of a stored answer, for a visitor who follows it from the database."""
    if status in ("complete", "stopped"):
        return events.done(message_id, row.finish_reason, row.usage)
    if status == "interrupted":
        return events.interrupted()
    return events.error(errors.ANSWER_FAILED, "answer_failed")


def _stored(sources: list[SourceOut]) -> list[dict[str, Any]] | None:
    """An answer's sources as its row keeps them (NULL for none)."""
    return [source.model_dump() for source in sources] or None


def _sources(row: AnswerSinceRow) -> list[SourceOut]:
    """A stored answer's sources (known once it is stored)."""
    return [SourceOut.model_validate(source) for source in row.sources or ()]


def _chars(request: ChatRequest) -> int:
    """The characters of the conversation sent upstream (for an estimate of its tokens)."""
    return sum(len(message["content"]) for message in request.messages)


def _saved(turn: TurnRow) -> dict[str, str]:
    """What an API error after the opening write names: the stored question."""
    return {"dialog_id": str(turn.dialog_id), "user_message_id": str(turn.user_message_id)}
