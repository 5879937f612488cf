"""A tenant's knowledge base: its documents and their chunks, replaced or removed whole, and
the search of its chunks for a question."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pydantic import BaseModel

from cip.db.queries import Executor, queries
from cip.knowledge.documents import Document, DocumentRefused

Q = queries("knowledge")
TOO_MANY = "{name}: the tenant has {limit} documents already ([knowledge] max_documents_per_tenant)"


class DocumentRow(BaseModel):
    name: str
    format: str
    bytes: int
    chunks: int
    created_at: datetime


class FoundChunk(BaseModel):
    name: str  # the document's
    heading_path: list[str]
    content: str
    rank: float


async def replace_document(
    connection: asyncpg.Connection | PoolConnectionProxy,
    *,
    tenant_id: UUID,
    document: Document,
    max_documents: int,
) -> bool:
    """Store `document` with its chunks, in place of the tenant's document of that name if
    any (True then), in one transaction: a reader sees the old chunks or the new, never a mix
    or none. `DocumentRefused` (nothing changed) past `max_documents`."""
    chunks = [{"headings": list(c.headings), "content": c.content} for c in document.chunks]
    async with connection.transaction():
        removed = await Q.remove_document.fetchval(
            connection, tenant_id=tenant_id, name=document.name
        )
        added = await Q.add_document.fetchval(
            connection,
            tenant_id=tenant_id,
            name=document.name,
            format=document.format,
            bytes=document.size,
            chunks=chunks,
            max_documents=max_documents,
        )
        if added is None:
            raise DocumentRefused(TOO_MANY.format(name=document.name, limit=max_documents))
    return removed is not None


async def remove_document(db: Executor, *, tenant_id: UUID, name: str) -> bool:
    """Remove the tenant's document `name` with its chunks; False when there is none."""
    return await Q.remove_document.fetchval(db, tenant_id=tenant_id, name=name) is not None


async def list_documents(db: Executor, *, tenant_id: UUID) -> list[DocumentRow]:
    records = await Q.list_documents.fetch(db, tenant_id=tenant_id)
    return [DocumentRow.model_validate(dict(record)) for record in records]


async def has_documents(db: Executor, *, tenant_id: UUID) -> bool:
    found: bool = await Q.has_documents.fetchval(db, tenant_id=tenant_id)
    return found


async def search(db: Executor, *, tenant_id: UUID, question: str, limit: int) -> list[FoundChunk]:
    """The tenant's `limit` chunks that best match `question`, best first (one query; none at
    once for a tenant without documents)."""
    records = await Q.search.fetch(db, tenant_id=tenant_id, question=question, limit=limit)
    return [FoundChunk.model_validate(dict(record)) for record in records]
