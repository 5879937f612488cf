"""The rules of a chat turn that need neither HTTP nor a database: the message check, a new
dialog's title, the conversation sent to the LLM, and the chat's rate-limit buckets."""

from __future__ import annotations

import re
from typing import Any, TypeGuard
from uuid import UUID

from cip import errors
from cip.config import LimitsConfig
from cip.db.store.messages import HistoryItem, TokenCount

TITLE_CHARS = 80
_SPACES = re.compile(r"\s+")


def checked_message(raw: str, max_chars: int) -> str:
    """The message without surrounding whitespace; 400 when blank or too long."""
    message = raw.strip()
    if not message:
        raise errors.ValidationFailed(
            errors.MESSAGE_BLANK,
            code="message_blank",
            errors=[{"loc": ["message"], "msg": errors.MESSAGE_BLANK, "type": "string_too_short"}],
        )
    if len(message) > max_chars:
        detail = errors.MESSAGE_TOO_LONG.format(limit=max_chars)
        raise errors.ValidationFailed(
            detail,
            code="message_too_long",
            errors=[{"loc": ["message"], "msg": detail, "type": "string_too_long"}],
        )
    return message


def title_of(message: str) -> str:
    """A new dialog's title: the start of its first message, on one line."""
    return _SPACES.sub(" ", message).strip()[:TITLE_CHARS]


def conversation(prompt: str, history: list[HistoryItem], message: str) -> list[dict[str, str]]:
    """System prompt, earlier turns (oldest first), the new message. Consecutive messages of
    one role (a question whose answer failed, then the next question) are joined: some
    models refuse two user messages in a row."""
    turns: list[dict[str, str]] = []
    for role, content in [*((item.role, item.content) for item in history), ("user", message)]:
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + content
        else:
            turns.append({"role": role, "content": content})
    return [{"role": "system", "content": prompt}, *turns]


def rate_limits(tenant_id: UUID, limits: LimitsConfig, *, user_id: str, ip: str) -> dict[str, int]:
    """The chat's rate-limit buckets of one request, each with the hits a minute allows: per
    visitor and per client address, in one tenant."""
    return {
        f"chat:user:{tenant_id}:{user_id}": limits.chat_per_user_per_minute,
        f"chat:ip:{tenant_id}:{ip}": limits.chat_per_ip_per_minute,
    }


CHARS_PER_TOKEN = 4  # the estimate for an answer whose upstream sent no usage


def token_count(
    usage: dict[str, Any] | None, *, prompt_chars: int, completion_chars: int
) -> TokenCount:
    """The tokens an answer is counted for: the upstream's `usage` when it sent whole numbers
    for both, else an estimate of a token per `CHARS_PER_TOKEN` characters of what was sent
    (the conversation) and of the answer."""
    prompt = (usage or {}).get("prompt_tokens")
    completion = (usage or {}).get("completion_tokens")
    if _count(prompt) and _count(completion):
        return TokenCount(prompt=prompt, completion=completion, estimated=False)
    return TokenCount(
        prompt=-(-prompt_chars // CHARS_PER_TOKEN),
        completion=-(-completion_chars // CHARS_PER_TOKEN),
        estimated=True,
    )


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31
