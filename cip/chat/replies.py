"""A reply's life after its stream: the status and HTML a reader is shown, and the sweep of
replies whose writer died.

An answer's safe HTML is rendered once, by its closing write; an answer stored before that
(or whose HTML was cleared because the rendering changed) is rendered by its first reader,
who stores it for everyone after. A reader renders at most one page of answers.

A row stays `streaming` only while a process is writing it, and no stream outlives the LLM
total timeout. A `streaming` row untouched for longer than that was left by a process that
died: every reader (the cabinet, the chat history) reports it as `interrupted` at once, and a
sweep (at start, then every `[llm] sweep_interval` seconds, on every instance) writes
`interrupted` into rows older than `total_timeout + sweep_grace`. Several instances may sweep
at once: each only touches rows no live process can still own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID

from cip.chat.markdown import markdown_html
from cip.db.queries import Executor
from cip.db.store import dialogs, messages
from cip.db.store.dialogs import DialogRow
from cip.db.store.messages import MessageStatus, StoredMessage

log = logging.getLogger(__name__)
M = TypeVar("M", bound=StoredMessage)


def effective_status(
    status: MessageStatus, updated_at: datetime, now: datetime, stream_timeout: timedelta
) -> MessageStatus:
    """`status`, except a `streaming` row last written more than `stream_timeout` before
    `now` (both the database's clock) is `interrupted`."""
    if status == "streaming" and now - updated_at > stream_timeout:
        return "interrupted"
    return status


async def rendered(db: Executor, *, tenant_id: UUID, found: Sequence[M]) -> list[M]:
    """`found` with the HTML of every finished answer among them, rendering (and storing) the
    ones stored without it."""
    fresh = {
        message.id: markdown_html(message.content)
        for message in found
        if message.role == "assistant" and message.html is None and message.status != "streaming"
    }
    if fresh:
        await messages.store_html(db, tenant_id=tenant_id, html=fresh)
    return [
        message.model_copy(update={"html": fresh[message.id]}) if message.id in fresh else message
        for message in found
    ]


async def read_dialog(
    db: Executor,
    *,
    tenant_id: UUID,
    user_id: str,
    dialog_id: UUID,
    limit: int,
    before: UUID | None,
    stream_timeout: timedelta,
) -> DialogRow:
    """One dialog of this user with a page of its messages (oldest first), as a reader is
    shown them."""
    dialog = await dialogs.with_messages(
        db, tenant_id=tenant_id, user_id=user_id, dialog_id=dialog_id, limit=limit, before=before
    )
    shown = []
    for message in await rendered(db, tenant_id=tenant_id, found=dialog.messages):
        status = effective_status(
            message.status, message.updated_at, dialog.checked_at, stream_timeout
        )
        shown.append(
            message if status == message.status else message.model_copy(update={"status": status})
        )
    return dialog.model_copy(update={"messages": shown})


async def sweep(db: Executor, *, older_than: float) -> None:
    """Mark replies left `streaming` longer than `older_than` seconds `interrupted`."""
    try:
        swept = await messages.interrupt_stale(db, older_than=older_than)
    except Exception as exc:  # the database may be down; the next sweep retries
        log.warning("sweep of stale streaming replies failed: %s: %s", type(exc).__name__, exc)
        return
    if swept:
        log.info("marked %d stale streaming replies as interrupted", swept)
