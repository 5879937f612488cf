"""The knowledge base measured (`make bench`, suite `knowledge`): the quality of full-text
retrieval on the labelled set (recall@5 and MRR, by language; the chat's search, which takes
any of the question's words, beside `websearch_to_tsquery`, which needs all of them), and the
search's latency on tenants of 1,000, 10,000 and 100,000 chunks with its growth from the
smallest to the largest.

The large tenants' chunks are seeded with SQL: 60 words each, drawn from the labelled set's
own words (so the questions match many chunks, as in a real knowledge base) and from 5,000
made-up ones. Each size is measured right after it is seeded; the 1,000-chunk tenant is
measured again at the end, beside all of them (the GIN index serves every tenant).
"""

from __future__ import annotations

import re
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from suites import Row

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cip.db.pool import init_connection
from cip.db.store.knowledge import FoundChunk
from support.knowledge_set import (
    FOLDER,
    Question,
    Search,
    chat_search,
    load_documents,
    questions,
    scored,
)

SIZES = (1_000, 10_000, 100_000)
ROUNDS = 3  # every question this many times per size
CHUNK_WORDS = 60
MADE_UP_WORDS = 5_000
ALL_WORDS = """
SELECT document.name, chunk.heading_path, chunk.content,
       ts_rank(chunk.search, websearch_to_tsquery('russian', $2)) AS rank
FROM knowledge_chunk AS chunk
JOIN knowledge_document AS document
  ON document.tenant_id = chunk.tenant_id AND document.id = chunk.document_id
WHERE chunk.tenant_id = $1 AND chunk.search @@ websearch_to_tsquery('russian', $2)
ORDER BY rank DESC, document.name, chunk.position
LIMIT $3
"""
SEED_DOCUMENTS = """
INSERT INTO knowledge_document (tenant_id, name, format, bytes, chunks)
SELECT $1, 'doc-' || d, 'text', 0, 100 FROM generate_series(0, $2::integer / 100 - 1) AS d
"""
SEED_CHUNKS = """
INSERT INTO knowledge_chunk (tenant_id, document_id, position, heading_path, content, search)
SELECT $1, document.id, piece.position, ARRAY['Section ' || piece.position], text.content,
       to_tsvector('russian', text.content)
FROM knowledge_document AS document
CROSS JOIN generate_series(0, 99) AS piece (position)
CROSS JOIN LATERAL (
    SELECT string_agg(($2::text[])[1 + floor(random() * cardinality($2::text[]))::integer], ' ')
           AS content
    FROM generate_series(1, $3::integer)
    WHERE piece.position >= 0
) AS text
WHERE document.tenant_id = $1
"""


async def rows(database_url: str) -> list[Row]:
    """The suite's rows; its tenants are deleted afterwards, so that every run (and every
    other suite) finds the index as it was."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2, init=init_connection)
    try:
        return await _quality(pool) + await _latency(pool)
    finally:
        await pool.execute("DELETE FROM tenant WHERE slug LIKE 'kb-bench-%'", timeout=600)
        await pool.execute("VACUUM ANALYZE knowledge_chunk", timeout=600)
        await pool.close()


async def _tenant(pool: asyncpg.Pool, name: str) -> uuid.UUID:
    slug = f"kb-bench-{name}-{uuid.uuid4().hex[:6]}"
    tenant_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO tenant (slug, name) VALUES ($1, $2) RETURNING id", slug, name
    )
    return tenant_id


def all_words(pool: asyncpg.Pool) -> Search:
    async def search(tenant_id: uuid.UUID, question: str, k: int) -> list[FoundChunk]:
        records = await pool.fetch(ALL_WORDS, tenant_id, question, k)
        return [FoundChunk.model_validate(dict(record)) for record in records]

    return search


async def _quality(pool: asyncpg.Pool) -> list[Row]:
    tenant_id = await _tenant(pool, "quality")
    chunks = await load_documents(pool, tenant_id)
    asked = questions()
    found: list[Row] = []
    for method, search in [
        ("any word (the chat's)", chat_search(pool)),
        ("websearch_to_tsquery (all words)", all_words(pool)),
    ]:
        for lang, subset in [("all", asked), *_by_language(asked)]:
            quality = await scored(search, tenant_id, subset)
            found.append(
                Row(
                    benchmark=f"knowledge quality, {method}, {lang}",
                    target="reported",
                    measured=f"recall@5 {quality.recall:.2f}, MRR {quality.mrr:.2f} "
                    f"({quality.questions} questions, {chunks} chunks)",
                    passed=None,
                )
            )
    return found


def _by_language(asked: list[Question]) -> list[tuple[str, list[Question]]]:
    return [(lang, [q for q in asked if q.lang == lang]) for lang in ("en", "ru")]


def _vocabulary() -> list[str]:
    words = {
        word.lower()
        for path in (FOLDER / "documents").iterdir()
        for word in re.findall(r"\w{3,}", path.read_text(encoding="utf-8"))
    }
    return sorted(words) + [f"w{n:04d}x" for n in range(MADE_UP_WORDS)]


async def _seeded(pool: asyncpg.Pool, chunks: int, vocabulary: list[str]) -> uuid.UUID:
    tenant_id = await _tenant(pool, f"{chunks}")
    await pool.execute(SEED_DOCUMENTS, tenant_id, chunks)
    await pool.execute(SEED_CHUNKS, tenant_id, vocabulary, CHUNK_WORDS, timeout=600)
    await pool.execute("ANALYZE knowledge_chunk, knowledge_document")
    return tenant_id


async def _timings(pool: asyncpg.Pool, tenant_id: uuid.UUID) -> list[float]:
    """Milliseconds of each search the chat would run (every question, `ROUNDS` times)."""
    search = chat_search(pool)
    asked = [question.question for question in questions()]
    await search(tenant_id, asked[0], 5)  # the statement prepared
    spent: list[float] = []
    for _ in range(ROUNDS):
        for question in asked:
            started = time.perf_counter()
            await search(tenant_id, question, 5)
            spent.append((time.perf_counter() - started) * 1000)
    return spent


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _latency_row(name: str, spent: list[float], **target: Any) -> Row:
    p50, p99 = statistics.median(spent), _percentile(spent, 0.99)
    limit = target.get("limit")
    return Row(
        benchmark=f"knowledge search, {name}",
        target=target.get("text", "reported"),
        measured=f"p50 {p50:.2f} ms, p99 {p99:.2f} ms ({len(spent)} searches)",
        passed=None if limit is None else p50 <= limit[0] and p99 <= limit[1],
        value=p50,
        unit=" ms",
        limit=None if limit is None else limit[0],
    )


async def _latency(pool: asyncpg.Pool) -> list[Row]:
    vocabulary = _vocabulary()
    found = [
        _latency_row("tenant without documents", await _timings(pool, await _tenant(pool, "none")))
    ]
    p50: dict[int, float] = {}
    first: uuid.UUID | None = None
    for size in SIZES:
        tenant_id = await _seeded(pool, size, vocabulary)
        first = first or tenant_id
        spent = await _timings(pool, tenant_id)
        p50[size] = statistics.median(spent)
        target = (
            {"text": "p50 ≤ 10 ms, p99 ≤ 30 ms", "limit": (10.0, 30.0)} if size == 10_000 else {}
        )
        found.append(_latency_row(f"{size:,} chunks", spent, **target))
    assert first is not None
    spent = await _timings(pool, first)
    found.append(_latency_row(f"{SIZES[0]:,} chunks, beside {sum(SIZES):,} in the table", spent))
    ratio = p50[SIZES[-1]] / p50[SIZES[0]]
    found.append(
        Row(
            benchmark=f"knowledge search growth, {SIZES[0]:,} → {SIZES[-1]:,} chunks",
            target=f"sub-linear: < {SIZES[-1] // SIZES[0]}×",
            measured=f"{ratio:.1f}× the p50 for {SIZES[-1] // SIZES[0]}× the chunks",
            passed=ratio < SIZES[-1] / SIZES[0],
            value=ratio,
            unit="×",
            limit=SIZES[-1] / SIZES[0],
        )
    )
    return found
