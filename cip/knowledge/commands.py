"""`cip kb add | list | remove --tenant SLUG …`: a tenant's knowledge base from the command
line. `add` reads every file first (in a thread: a large PDF takes a while) and stores none
when any is refused; each document then replaces the one of its name in one transaction."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import asyncpg

from cip import errors
from cip.config import Config
from cip.db.store import knowledge
from cip.knowledge.documents import Document, DocumentRefused, check_size, read_document
from cip.tenant_commands import tenant_by_slug

CANNOT_READ = "cannot read {}: {}"


async def kb_add(connection: asyncpg.Connection, args: argparse.Namespace, config: Config) -> int:
    tenant = await tenant_by_slug(connection, args.tenant)
    documents = [await asyncio.to_thread(_read, Path(file), config) for file in args.files]
    for document in documents:
        try:
            replaced = await knowledge.replace_document(
                connection,
                tenant_id=tenant.id,
                document=document,
                max_documents=config.knowledge.max_documents_per_tenant,
            )
        except DocumentRefused as exc:
            raise errors.CommandFailed(str(exc)) from None
        action = "replaced" if replaced else "added"
        print(f"{action}\t{document.name}\t{document.format}\t{len(document.chunks)} chunks")
    return 0


async def kb_list(connection: asyncpg.Connection, args: argparse.Namespace, config: Config) -> int:
    tenant = await tenant_by_slug(connection, args.tenant)
    for row in await knowledge.list_documents(connection, tenant_id=tenant.id):
        created = row.created_at.isoformat(timespec="seconds")
        print(f"{row.name}\t{row.format}\t{row.bytes}\t{row.chunks}\t{created}")
    return 0


async def kb_remove(
    connection: asyncpg.Connection, args: argparse.Namespace, config: Config
) -> int:
    tenant = await tenant_by_slug(connection, args.tenant)
    missing = 0
    for name in args.names:
        if await knowledge.remove_document(connection, tenant_id=tenant.id, name=name):
            print(f"removed\t{name}")
        else:
            print(f"cip: no document {name!r} in tenant {tenant.slug}", file=sys.stderr)
            missing += 1
    return 1 if missing else 0


def _read(path: Path, config: Config) -> Document:
    """The file at `path` read into chunks, named by its file name (a `CommandFailed` when
    it is refused or cannot be read)."""
    limits = config.knowledge
    try:
        check_size(path.name, path.stat().st_size, limits.max_document_bytes)  # before reading
        data = path.read_bytes()
        return read_document(
            path.name, data, max_bytes=limits.max_document_bytes, chunk_chars=limits.chunk_chars
        )
    except DocumentRefused as exc:
        raise errors.CommandFailed(str(exc)) from None
    except OSError as exc:
        raise errors.CommandFailed(CANNOT_READ.format(path, exc.strerror)) from None
