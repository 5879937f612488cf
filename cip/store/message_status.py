"""Message status as a reader should see it.

A row stays `streaming` only while a process is writing it, and no stream outlives the LLM
total timeout. A `streaming` row untouched for longer than that was left by a process that
died; every reader (the cabinet, the chat history) reports it as `interrupted`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

MessageStatus = Literal["complete", "streaming", "interrupted", "stopped", "error"]


def effective_status(status: MessageStatus, updated_at: datetime, now: datetime,
                     stream_timeout: timedelta) -> MessageStatus:
    """`status`, except a `streaming` row last written more than `stream_timeout` before
    `now` (both database times) is `interrupted`."""
    if status == "streaming" and now - updated_at > stream_timeout:
        return "interrupted"
    return status
