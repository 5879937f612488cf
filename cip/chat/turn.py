"""The chat turn (SPEC §6 "Chat"): a visitor's question, the LLM's answer streamed back as
Server-Sent Events, and both stored.

`ChatService.answer` runs a turn. The rate limits are counted, the question is committed (in
the same statement that checks the dialog and places the reply's `streaming` row) and the LLM
is asked; from the moment the question is stored the turn is watched (`cip.chat.streams`), so
a visitor who leaves, or a shutdown, ends it in every phase. A failure before the answer
starts is an API error (the question stays; the reply's placeholder goes): 502 for the LLM,
503 `service_restarting` for a shutdown. The answer then streams to an `Outlet` and is stored
once, before the final event reaches the client, so a client that reloads the dialog after
`done` finds the answer stored. No database connection is held while the LLM is awaited.
When the closing write fails (the database went away mid-stream) a finished answer ends with
an `error` event instead of `done`. Every write to the visitor has a deadline (`[llm]
write_timeout`, and never past the answer's total deadline): a client that stops reading is
dropped and its answer stored `interrupted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from cip import errors
from cip.accounts.identity import Identity
from cip.chat import replies, rules, sse
from cip.chat.llm import ChatRequest, LlmClient, LlmFailure, LlmFailureKind, LlmStream
from cip.chat.markdown import markdown_html
from cip.chat.prompts import Prompts
from cip.chat.streams import (
    CLIENT_GONE,
    SHUTDOWN,
    STOPPED,
    OpenStreams,
    Outlet,
    TurnAborted,
    Watch,
)
from cip.config import LlmConfig
from cip.db.store import messages
from cip.db.store.messages import MessageStatus, ReplyStatus, TurnRow
from cip.limits import MINUTE, RateLimiter
from cip.tenancy import Tenant

log = logging.getLogger(__name__)
DONE = b"data: [DONE]\n\n"
STOP_WAIT = 2.0  # seconds a stop request waits for the answer to be stored `stopped`
STOP_POLL_INTERVAL = 0.05

# What a visitor is told of each way the LLM can fail.
FAILURE_TEXT: dict[LlmFailureKind, str] = {
    LlmFailureKind.UNAVAILABLE: errors.LLM_UNREACHABLE,
    LlmFailureKind.ERROR_STATUS: errors.LLM_ERROR_STATUS,
    LlmFailureKind.TIMEOUT: errors.LLM_TIMEOUT,
    LlmFailureKind.DISCONNECTED: errors.LLM_DROPPED,
    LlmFailureKind.BAD_RESPONSE: errors.LLM_BAD_RESPONSE,
    LlmFailureKind.REPORTED_ERROR: errors.LLM_REPORTED_ERROR,
}


class ChatMetaOut(BaseModel):
    dialog_id: UUID
    user_message_id: UUID
    message_id: UUID


class ChatDoneOut(BaseModel):
    message_id: UUID
    finish_reason: str | None
    usage: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Answer:
    """A turn whose answer the LLM has begun to send."""

    tenant_id: UUID
    meta: ChatMetaOut
    stream: LlmStream


def error_event(detail: str, code: str) -> bytes:
    return sse.encode({"error": detail, "code": code}, event="error")


def _failure_event(failure: LlmFailure) -> bytes:
    return error_event(FAILURE_TEXT[failure.kind], failure.kind.value)


class ChatService:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        llm: LlmClient,
        prompts: Prompts,
        streams: OpenStreams,
        limiter: RateLimiter,
        settings: LlmConfig,
    ) -> None:
        self._pool = pool
        self._llm = llm
        self._prompts = prompts
        self._streams = streams
        self._limiter = limiter
        self._settings = settings

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
        settings = tenant.settings
        buckets = rules.rate_limits(tenant.id, settings.limits, user_id=caller.user_id, ip=ip)
        await self._limiter.check(buckets, MINUTE, errors.CHAT_RATE_LIMITED)
        prompt = self._prompts.for_tenant(tenant.slug, settings.prompt_file)
        turn = await messages.start_turn(
            self._pool,
            tenant_id=tenant.id,
            user_id=caller.user_id,
            dialog_id=dialog_id,
            content=question,
            title=rules.title_of(question),
            with_reply=self._llm.configured,
            history_budget=self._settings.history_budget_chars,
        )
        if turn.message_id is None:
            raise errors.ServiceUnavailable(
                errors.LLM_NOT_CONFIGURED, code="llm_not_configured", extra=_saved(turn)
            )
        request = ChatRequest(
            messages=rules.conversation(prompt, turn.history, question),
            model=settings.model,
            temperature=settings.temperature,
        )
        meta = ChatMetaOut(
            dialog_id=turn.dialog_id,
            user_message_id=turn.user_message_id,
            message_id=turn.message_id,
        )
        with self._streams.track(outlet, turn.message_id) as watch:
            stream = await self._open(tenant.id, turn, turn.message_id, request, watch)
            if stream is None:
                await self._stopped_before_start(tenant.id, meta, outlet)
            else:
                await self._relay(Answer(tenant.id, meta, stream), outlet)

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
            status = replies.effective_status(
                reply.status,
                reply.updated_at,
                reply.checked_at,
                timedelta(seconds=self._settings.total_timeout),
            )
            if status != "streaming" or loop.time() >= deadline:
                return status
            if not published:
                await messages.publish_stop(self._pool, message_id=message_id)
                published = True
            await asyncio.sleep(STOP_POLL_INTERVAL)

    async def _open(
        self, tenant_id: UUID, turn: TurnRow, reply_id: UUID, request: ChatRequest, watch: Watch
    ) -> LlmStream | None:
        """The LLM's stream, or None when its owner stopped the turn first; when it fails or
        is aborted otherwise, the reply's placeholder goes and the API error names the stored
        question."""
        discard = partial(
            messages.discard_reply, self._pool, tenant_id=tenant_id, message_id=reply_id
        )
        try:
            return await watch.open(partial(self._llm.open, request))
        except LlmFailure as failure:
            await discard()
            raise errors.BadGateway(
                FAILURE_TEXT[failure.kind], code=failure.kind.value, extra=_saved(turn)
            ) from None
        except TurnAborted as aborted:
            if aborted.reason == STOPPED:
                return None
            await discard()
            if aborted.reason == SHUTDOWN:
                raise errors.ServiceUnavailable(
                    errors.SERVICE_RESTARTING, code="service_restarting", extra=_saved(turn)
                ) from None
            raise errors.ClientClosedRequest() from None
        except asyncio.CancelledError:
            await asyncio.shield(discard())
            raise

    async def _stopped_before_start(
        self, tenant_id: UUID, meta: ChatMetaOut, outlet: Outlet
    ) -> None:
        """An answer stopped before the LLM sent anything: stored empty as `stopped`, and
        the stream opened only to say so."""
        await messages.finish_reply(
            self._pool,
            tenant_id=tenant_id,
            message_id=meta.message_id,
            content="",
            html="",
            status="stopped",
            finish_reason=STOPPED,
            usage=None,
        )
        done = ChatDoneOut(message_id=meta.message_id, finish_reason=STOPPED, usage=None)
        deadline = asyncio.get_running_loop().time() + self._settings.write_timeout
        with contextlib.suppress(ConnectionError):
            await self._send(
                outlet,
                sse.encode(meta, event="meta") + sse.encode(done, event="done") + DONE,
                deadline,
            )

    async def _relay(self, answer: Answer, outlet: Outlet) -> None:
        """Stream the answer to `outlet`, then store it with its final status, then send the
        final event."""
        stream = answer.stream
        try:
            status, ending = await self._pump(answer, outlet)
        except asyncio.CancelledError:
            # A server that cancels handlers of gone clients (not aiohttp's default).
            stream.abort(CLIENT_GONE)
            await asyncio.shield(self._store(answer, "interrupted"))
            raise
        finally:
            stream.close()
        if not await self._store(answer, status) and status == "complete":
            # The client must not be told `done` for an answer it will not find again; the row
            # stays `streaming` and is reported `interrupted` once total_timeout has passed.
            ending = error_event(errors.REPLY_NOT_SAVED, "database_unavailable")
        if ending:
            with contextlib.suppress(ConnectionError):
                await self._send(outlet, ending, stream.deadline)

    async def _pump(self, answer: Answer, outlet: Outlet) -> tuple[ReplyStatus, bytes]:
        """Relay deltas and heartbeats; return the reply's status and the final events to send
        once it is stored."""
        stream = answer.stream
        try:
            await self._send(outlet, sse.encode(answer.meta, event="meta"), stream.deadline)
            async for texts in stream.deltas(self._settings.heartbeat_interval):
                # Pieces that arrived together leave in one send: under load that is most.
                data = b"".join(map(_delta_event, texts)) if texts else sse.PING
                await self._send(outlet, data, stream.deadline)
        except LlmFailure as failure:
            return "error", _failure_event(failure)
        except ConnectionError:
            stream.abort(CLIENT_GONE)
            return "interrupted", b""
        except Exception:  # the response has started: no error envelope can follow
            log.exception("chat stream %s failed", answer.meta.message_id)
            return "error", error_event(errors.INTERNAL_ERROR, "internal_error")
        if stream.abort_reason == SHUTDOWN:
            return "interrupted", error_event(errors.SERVICE_RESTARTING, "service_restarting")
        if stream.abort_reason == STOPPED:
            stream.finish_reason = STOPPED
            return "stopped", self._done(answer, stream)
        if stream.abort_reason:
            return "interrupted", b""
        return "complete", self._done(answer, stream)

    def _done(self, answer: Answer, stream: LlmStream) -> bytes:
        """The final events of an answer that ended as it should."""
        done = ChatDoneOut(
            message_id=answer.meta.message_id,
            finish_reason=stream.finish_reason,
            usage=stream.usage,
        )
        return sse.encode(done, event="done") + DONE

    async def _send(self, outlet: Outlet, data: bytes, deadline: float) -> None:
        """One write, within `write_timeout` and `deadline` (the answer's, loop time); past
        them the client is dropped (`ConnectionResetError`)."""
        own = asyncio.get_running_loop().time() + self._settings.write_timeout
        try:
            async with asyncio.timeout_at(min(own, deadline)):
                await outlet.write(data)
        except TimeoutError:
            outlet.abandon()
            raise ConnectionResetError("the client stopped reading") from None

    async def _store(self, answer: Answer, status: ReplyStatus) -> bool:
        """The closing write; False when it failed (the database is gone)."""
        stream = answer.stream
        try:
            await messages.finish_reply(
                self._pool,
                tenant_id=answer.tenant_id,
                message_id=answer.meta.message_id,
                content=stream.text,
                html=markdown_html(stream.text),
                status=status,
                finish_reason=stream.finish_reason,
                usage=stream.usage,
            )
        except Exception:  # the row stays `streaming`; the sweep reports it later
            log.exception("could not store reply %s", answer.meta.message_id)
            return False
        return True


def _saved(turn: TurnRow) -> dict[str, str]:
    """What an API error after the opening write names: the stored question."""
    return {"dialog_id": str(turn.dialog_id), "user_message_id": str(turn.user_message_id)}


def _delta_event(text: str) -> bytes:
    return sse.encode({"content": text})
