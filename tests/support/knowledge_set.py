"""The knowledge base's labelled quality set (tests/fixtures/knowledge): documents of a
fictional company in Russian and English, and questions each naming the chunk(s) that answer
it (document and innermost heading). Loaded into a tenant through the real reading and
storing code; scored as recall@k and MRR over the search the chat runs."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from cip.db.store import knowledge
from cip.db.store.knowledge import FoundChunk
from cip.knowledge.documents import read_document
from support.database import ROOT

FOLDER = ROOT / "tests/fixtures/knowledge"
Search = Callable[[UUID, str, int], Awaitable[list[FoundChunk]]]


@dataclass(frozen=True)
class Question:
    lang: str
    question: str
    answers: frozenset[tuple[str, str]]  # (document, innermost heading or "")


@dataclass(frozen=True)
class Quality:
    questions: int
    recall: float  # recall@k: the share of the answering chunks found in the top k
    mrr: float  # mean reciprocal rank of the first answering chunk (0 when none in the top k)


def questions() -> list[Question]:
    raw = json.loads((FOLDER / "questions.json").read_text(encoding="utf-8"))
    return [
        Question(
            lang=item["lang"],
            question=item["question"],
            answers=frozenset((a["document"], a["heading"]) for a in item["answers"]),
        )
        for item in raw
    ]


async def load_documents(pool: asyncpg.Pool, tenant_id: UUID, *, chunk_chars: int = 1200) -> int:
    """Every document of the set into the tenant's knowledge base; the chunks stored."""
    stored = 0
    async with pool.acquire() as connection:
        for path in sorted((FOLDER / "documents").iterdir()):
            document = read_document(
                path.name, path.read_bytes(), max_bytes=1 << 20, chunk_chars=chunk_chars
            )
            await knowledge.replace_document(
                connection, tenant_id=tenant_id, document=document, max_documents=100
            )
            stored += len(document.chunks)
    return stored


def label(chunk: FoundChunk) -> tuple[str, str]:
    return chunk.name, chunk.heading_path[-1] if chunk.heading_path else ""


async def scored(search: Search, tenant_id: UUID, asked: list[Question], *, k: int = 5) -> Quality:
    """recall@k and MRR of `search` over the `asked` questions."""
    recall = reciprocal = 0.0
    for question in asked:
        found = [label(chunk) for chunk in await search(tenant_id, question.question, k)]
        recall += len(question.answers & set(found)) / len(question.answers)
        ranks = [rank for rank, name in enumerate(found, 1) if name in question.answers]
        reciprocal += 1 / ranks[0] if ranks else 0.0
    return Quality(len(asked), recall / len(asked), reciprocal / len(asked))


def chat_search(pool: asyncpg.Pool) -> Search:
    """The search the chat runs (`cip.db.store.knowledge.search`)."""

    async def search(tenant_id: UUID, question: str, k: int) -> list[FoundChunk]:
        return await knowledge.search(pool, tenant_id=tenant_id, question=question, limit=k)

    return search
