"""What a chat stream says to the visitor (SPEC §6): `meta` first, `sources` when the answer
is given from the tenant's knowledge base, then the answer's text as
unnamed events, then `done` (or `error`) and the `[DONE]` sentinel.

Every text event carries an `id`: the number of characters of the answer up to the end of its
text. A visitor who reconnects with the last id it received (`Last-Event-ID`) is sent the
answer from that character on, whichever instance it reaches.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel

from cip import errors
from cip.chat import sse
from cip.chat.llm import LlmFailure, LlmFailureKind

DONE = b"data: [DONE]\n\n"

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


class SourceOut(BaseModel):
    """A knowledge-base chunk an answer was given from: its document, the headings above it
    (outermost first), and the start of its text."""

    document: str
    heading_path: list[str]
    excerpt: str


class ChatDoneOut(BaseModel):
    message_id: UUID
    finish_reason: str | None
    usage: dict[str, Any] | None


def meta(out: ChatMetaOut) -> bytes:
    return sse.encode(out, event="meta")


def sources(chunks: list[SourceOut]) -> bytes:
    """The chunks the answer is given from (sent after `meta`, before its text); nothing for
    an answer given without any."""
    if not chunks:
        return b""
    return sse.encode({"sources": [chunk.model_dump() for chunk in chunks]}, event="sources")


def text(content: str, end: int) -> bytes:
    """The answer's characters that end at character `end`."""
    return sse.encode({"content": content}, event_id=end)


def done(message_id: UUID, finish_reason: str | None, usage: dict[str, Any] | None) -> bytes:
    """The final events of an answer that ended as it should (or was stopped by its owner)."""
    out = ChatDoneOut(message_id=message_id, finish_reason=finish_reason, usage=usage)
    return sse.encode(out, event="done") + DONE


def error(detail: str, code: str) -> bytes:
    return sse.encode({"error": detail, "code": code}, event="error")


def interrupted() -> bytes:
    """The end of an answer cut short: nobody followed it for the grace, or its instance died."""
    return error(errors.ANSWER_INTERRUPTED, "interrupted")


def restarting() -> bytes:
    """The end of a stream whose instance shuts down."""
    return error(errors.SERVICE_RESTARTING, "service_restarting")


def failure(failure: LlmFailure) -> bytes:
    return error(FAILURE_TEXT[failure.kind], failure.kind.value)
