"""The DeepSeek client: OpenAI-compatible streaming chat completions over one long-lived
`aiohttp.ClientSession` (its connections are reused between requests).

`LlmClient.open` posts the request and returns once the upstream has answered 200; anything
before that (unreachable, an error status, no answer in time) is an `LlmFailure` the chat
service turns into a 502. A failure carries its kind; what a visitor is told of each kind is
the chat service's to say. `LlmStream.deltas` then yields the answer's text as it arrives,
read by read, and an empty list whenever `heartbeat` seconds pass without text, so the caller
can keep its client's connection alive. Timeouts, all from `[llm]`: `connect_timeout` for the
TCP/TLS connect, `first_token_timeout` from the request until the first data event (response
headers included), `idle_timeout` between data events after that, `total_timeout` for the
whole call. Upstream keep-alive comments reset none of them. An answer that grows past
`max_answer_chars` is cut there and ends with finish reason `max_answer_chars` (its upstream
is closed). `abort()` closes the upstream connection at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import aiohttp
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from cip import metrics
from cip.chat import sse
from cip.config import LlmConfig
from cip.http.jsonio import dumps
from cip.http.streaming import EVENT_STREAM

log = logging.getLogger(__name__)


class LlmFailureKind(StrEnum):
    """How an LLM call failed; the value is the stable code a client sees."""

    UNAVAILABLE = "llm_unavailable"  # unreachable: no connection, or it broke before a status
    ERROR_STATUS = "llm_error_status"  # answered with a status other than 200
    TIMEOUT = "llm_timeout"  # no first token, or too long a silence, or past the total time
    DISCONNECTED = "llm_disconnected"  # the connection dropped mid-answer
    BAD_RESPONSE = "llm_bad_response"  # a chunk that is not the protocol's
    REPORTED_ERROR = "llm_error"  # the upstream put an error into the stream


class LlmFailure(Exception):
    """The LLM call failed, in the way `kind` says."""

    def __init__(self, kind: LlmFailureKind) -> None:
        super().__init__(kind.value)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: list[dict[str, str]]
    model: str
    temperature: float


def without_nul(value: Any) -> Any:
    """`value` with U+0000 taken out of every string in it, keys included: PostgreSQL's text
    and jsonb cannot hold it, and one NUL from the model must not cost the whole answer.
    (pydantic's JSON parser bounds the nesting, so the recursion is bounded too.)"""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value


# What is stored of a chunk (the text, the finish reason, the usage) is read without NULs.
NulFree = AfterValidator(without_nul)


class _Upstream(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class DeltaIn(_Upstream):
    content: Annotated[str | None, NulFree] = None
    reasoning_content: str | None = None  # the model's reasoning: never part of the answer


class ChoiceIn(_Upstream):
    delta: DeltaIn = DeltaIn()
    finish_reason: Annotated[str | None, NulFree] = None


class ChunkIn(_Upstream):
    """One `chat.completion.chunk` of the upstream stream."""

    choices: list[ChoiceIn] = []
    usage: Annotated[dict[str, Any] | None, NulFree] = None
    error: dict[str, Any] | str | None = None


def parse_chunk(data: str) -> ChunkIn:
    """A data event's JSON as a chunk; `LlmFailure` for anything else, or for an error."""
    try:
        chunk = ChunkIn.model_validate_json(data)
    except ValidationError:
        raise LlmFailure(LlmFailureKind.BAD_RESPONSE) from None
    if chunk.error is not None:
        raise LlmFailure(LlmFailureKind.REPORTED_ERROR)
    return chunk


CUT_AT_MAX_CHARS = "max_answer_chars"  # the finish reason of an answer cut to its longest


class LlmStream:
    """An answer being streamed; the text, finish reason and usage accumulate here."""

    def __init__(
        self, response: aiohttp.ClientResponse, started: float, settings: LlmConfig
    ) -> None:
        self._response = response
        self._settings = settings
        self._decoder = sse.EventStreamDecoder()
        self.deadline = started + settings.total_timeout  # the whole answer's, loop time
        self._next_deadline = min(started + settings.first_token_timeout, self.deadline)
        self._room = settings.max_answer_chars  # characters the answer may still take
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.abort_reason: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def abort(self, reason: str) -> None:
        """Stop now: the upstream connection is closed (no more tokens are paid for)."""
        if self.abort_reason is None:
            self.abort_reason = reason
        self._response.close()

    def close(self) -> None:
        """Done with the response: a fully read one returns its connection to the pool
        (aiohttp closes the connection of one that is not)."""
        self._response.release()

    async def deltas(self, heartbeat: float) -> AsyncIterator[list[str]]:
        """The answer's text pieces, a list of those that arrived in one read (the caller
        writes them with one send); an empty list when `heartbeat` seconds passed without
        any. Ends at `[DONE]`, at the end of the body, or quietly after `abort()`."""
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while True:
            deadline = self._next_deadline
            try:
                async with asyncio.timeout_at(min(deadline, quiet_since + heartbeat)):
                    chunk = await self._response.content.readany()
            except TimeoutError:
                if self.abort_reason:
                    return
                if loop.time() >= deadline:
                    raise LlmFailure(LlmFailureKind.TIMEOUT) from None
                quiet_since = loop.time()
                yield []
                continue
            except (aiohttp.ClientError, OSError):
                if self.abort_reason:
                    return
                raise LlmFailure(LlmFailureKind.DISCONNECTED) from None
            if self.abort_reason:
                return
            try:
                events = self._decoder.feed(chunk) if chunk else self._decoder.close()
            except sse.LineTooLong:
                raise LlmFailure(LlmFailureKind.BAD_RESPONSE) from None
            texts, ended, failure = self._apply(events)
            if texts:
                quiet_since = loop.time()
                yield texts
            if failure is not None:
                raise failure
            if ended or not chunk:
                return

    def _apply(self, events: list[sse.Event]) -> tuple[list[str], bool, LlmFailure | None]:
        """The text of events read together, whether the answer ended among them, and the
        failure that ended it (the text before a failure is still relayed)."""
        texts: list[str] = []
        for event in events:
            if event.data.strip() == "[DONE]":
                return texts, True, None
            try:
                text = self._take(event)
            except LlmFailure as failure:
                return texts, True, failure
            if text:
                texts.append(text)
            if self._room == 0:
                self.finish_reason = CUT_AT_MAX_CHARS
                return texts, True, None
        return texts, False, None

    def _take(self, event: sse.Event) -> str:
        """Apply one data event; return its answer text ("" for reasoning, usage, role)."""
        if event.event == "error":
            raise LlmFailure(LlmFailureKind.REPORTED_ERROR)
        chunk = parse_chunk(event.data)
        now = asyncio.get_running_loop().time()
        self._next_deadline = min(now + self._settings.idle_timeout, self.deadline)
        if chunk.usage is not None:
            self.usage = chunk.usage
        text = ""
        for choice in chunk.choices[:1]:  # one completion is asked for (n = 1)
            text = (choice.delta.content or "")[: self._room]
            self.finish_reason = choice.finish_reason or self.finish_reason
        if text:
            self.parts.append(text)
            self._room -= len(text)
        return text


class LlmClient:
    """Streams chat completions over one `ClientSession`; `async with LlmClient.connect(...)`
    owns the session for a block."""

    def __init__(self, session: aiohttp.ClientSession, settings: LlmConfig) -> None:
        self._session = session
        self._settings = settings

    @classmethod
    @asynccontextmanager
    async def connect(cls, settings: LlmConfig) -> AsyncIterator[LlmClient]:
        if not settings.api_key:
            log.warning(
                "llm.api_key is not set (nor DEEPSEEK_API_KEY): chat answers 503 "
                "until it is configured"
            )
        timeout = aiohttp.ClientTimeout(
            total=None, connect=settings.connect_timeout, sock_connect=settings.connect_timeout
        )
        # No connection limit: every open stream holds one upstream connection for its
        # whole life, and the default cap of 100 would queue the 101st visitor.
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            yield cls(session, settings)

    @property
    def configured(self) -> bool:
        return bool(self._settings.api_key)

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": request.model,
            "messages": request.messages,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self._settings.max_tokens is not None:
            payload["max_tokens"] = self._settings.max_tokens
        return payload

    async def open(self, request: ChatRequest) -> LlmStream:
        """Send the request; return the stream once the upstream answered 200."""
        settings = self._settings
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + min(settings.first_token_timeout, settings.total_timeout)
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._session.post(
                    settings.api_url + "/chat/completions",
                    data=dumps(self.payload(request)),
                    headers={
                        "Authorization": f"Bearer {settings.api_key}",
                        "Content-Type": "application/json",
                        "Accept": EVENT_STREAM,
                    },
                )
        except aiohttp.ClientError as exc:
            metrics.LLM_RESPONSE_SECONDS.observe(loop.time() - started)
            log.warning("LLM unreachable: %s: %s", type(exc).__name__, exc)
            raise LlmFailure(LlmFailureKind.UNAVAILABLE) from None
        except TimeoutError:
            metrics.LLM_RESPONSE_SECONDS.observe(loop.time() - started)
            log.warning("LLM sent no response within %.1fs", settings.first_token_timeout)
            raise LlmFailure(LlmFailureKind.TIMEOUT) from None
        metrics.LLM_RESPONSE_SECONDS.observe(loop.time() - started)  # not when cancelled
        if response.status != 200:
            log.warning("LLM answered HTTP %d", response.status)
            response.close()
            raise LlmFailure(LlmFailureKind.ERROR_STATUS)
        return LlmStream(response, started, settings)
