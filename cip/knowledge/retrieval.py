"""What a question is given of its tenant's knowledge base: the best-ranked chunks (at most
`[knowledge] top_k`, their text at most `context_chars` in all), put into the system message
with their sources' names, and listed to the visitor as the answer's sources."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from uuid import UUID

from cip.chat.events import SourceOut
from cip.config import KnowledgeConfig
from cip.db.queries import Executor
from cip.db.store import knowledge
from cip.db.store.knowledge import FoundChunk

log = logging.getLogger(__name__)
EXCERPT_CHARS = 300
HEADING_SEPARATOR = " › "
# What the model is told of the sources, in the tenant's language.
INSTRUCTIONS = {
    "en": (
        "Answer from the sources below: passages of the company's own documents. When they "
        "do not cover the question, say so plainly and do not make facts up."
    ),
    "ru": (
        "Отвечай по источникам ниже: это фрагменты документов самой компании. Если они не "
        "отвечают на вопрос, прямо скажи об этом и не выдумывай факты."
    ),
}


@dataclass(frozen=True)
class Retrieved:
    """The chunks a question is given: for the system message and for the `sources` event."""

    chunks: list[FoundChunk]

    @property
    def sources(self) -> list[SourceOut]:
        return [
            SourceOut(
                document=chunk.name, heading_path=chunk.heading_path, excerpt=excerpt(chunk.content)
            )
            for chunk in self.chunks
        ]

    def prompt(self, prompt: str, locale: str) -> str:
        """The tenant's system prompt followed by the sources (unchanged without any)."""
        if not self.chunks:
            return prompt
        blocks = [
            f"[{number}] {chunk.name}"
            + (f" — {HEADING_SEPARATOR.join(chunk.heading_path)}" if chunk.heading_path else "")
            + f"\n{chunk.content}"
            for number, chunk in enumerate(self.chunks, 1)
        ]
        intro = INSTRUCTIONS.get(locale, INSTRUCTIONS["en"])
        return "\n\n".join([prompt, intro, *blocks])


NOTHING = Retrieved([])


class Shelves:
    """Whether each tenant has documents, as this process last read it, at most `ttl` seconds
    ago: the questions of a tenant without any cost no query (but one every `ttl`). A document
    added is searched within `ttl` ([server] tenant_cache_seconds, as the tenant itself)."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._read: dict[UUID, tuple[bool, float]] = {}

    async def stocked(self, db: Executor, tenant_id: UUID) -> bool:
        now = time.monotonic()
        known = self._read.get(tenant_id)
        if known is not None and now - known[1] < self._ttl:
            return known[0]
        stocked = await knowledge.has_documents(db, tenant_id=tenant_id)
        self._read[tenant_id] = (stocked, now)
        return stocked


async def retrieve(
    db: Executor,
    settings: KnowledgeConfig,
    *,
    tenant_id: UUID,
    question: str,
    shelves: Shelves | None = None,
) -> Retrieved:
    """The tenant's chunks for `question`: one indexed query (none for a tenant `shelves`
    knows to have no documents), best first, cut to the character budget. A failed search is
    logged and the question answered without sources."""
    if settings.context_chars == 0:
        return NOTHING
    try:
        if shelves is not None and not await shelves.stocked(db, tenant_id):
            return NOTHING
        found = await knowledge.search(
            db, tenant_id=tenant_id, question=question, limit=settings.top_k
        )
    except Exception:
        log.exception("knowledge search failed for tenant %s", tenant_id)
        return NOTHING
    return Retrieved(within_budget(found, settings.context_chars))


def within_budget(chunks: list[FoundChunk], budget: int) -> list[FoundChunk]:
    """The chunks in order while their text fits `budget` characters (the first is always
    taken, cut to the budget)."""
    kept: list[FoundChunk] = []
    used = 0
    for chunk in chunks:
        if not kept and len(chunk.content) > budget:
            return [chunk.model_copy(update={"content": chunk.content[:budget]})]
        if used + len(chunk.content) > budget:
            break
        kept.append(chunk)
        used += len(chunk.content)
    return kept


def excerpt(text: str) -> str:
    """The start of a chunk's text, at most `EXCERPT_CHARS` characters (an ellipsis when
    cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1].rstrip() + "…"
