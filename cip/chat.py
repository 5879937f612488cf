"""The rules of a chat turn that need no HTTP: a tenant's effective settings, the message
check, a new dialog's title and the conversation sent to the LLM.

Per-tenant settings are read from `tenant.settings` (the jsonb that `[tenants.<slug>]` is
synchronised into at start, or that `cip tenant create` wrote), so every instance sees the
same values and a tenant created without a config section works too; a key a tenant does not
set falls back to `[llm]` / `[limits]` (see `cip.limits`).
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cip import errors
from cip.config import Config, LimitsConfig
from cip.limits import effective_limits
from cip.store.messages import HistoryItem
from cip.store.tenants import TenantRow

TITLE_CHARS = 80
_SPACES = re.compile(r"\s+")


class TenantChatSettings(BaseModel):
    """The chat-related keys of `tenant.settings`."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    prompt_file: Path | None = None


class ChatSettings(BaseModel):
    model: str
    temperature: float
    prompt_file: Path | None
    limits: LimitsConfig

    @property
    def message_max_chars(self) -> int:
        return self.limits.message_max_chars


def settings_for(config: Config, tenant: TenantRow) -> ChatSettings:
    own = TenantChatSettings.model_validate(tenant.settings)
    return ChatSettings(
        model=own.model or config.llm.model,
        temperature=config.llm.temperature if own.temperature is None else own.temperature,
        prompt_file=own.prompt_file,
        limits=effective_limits(config, tenant),
    )


def checked_message(raw: str, max_chars: int) -> str:
    """The message without surrounding whitespace; 400 when blank or too long."""
    message = raw.strip()
    if not message:
        raise errors.ValidationFailed(errors.MESSAGE_BLANK, code="message_blank", errors=[
            {"loc": ["message"], "msg": errors.MESSAGE_BLANK, "type": "string_too_short"}])
    if len(message) > max_chars:
        detail = errors.MESSAGE_TOO_LONG.format(limit=max_chars)
        raise errors.ValidationFailed(detail, code="message_too_long", errors=[
            {"loc": ["message"], "msg": detail, "type": "string_too_long"}])
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
