"""`cip tenant …` and `cip visitor …`: the commands that act on tenants and on their visitors'
data. Each gets a connection to a migrated database, the parsed arguments and the config; it
prints what it did (an export's lines go to stdout or `--output`, its summary to stderr) and
returns the exit code. A failure it can explain is a `CommandFailed`: one line, exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import BinaryIO

import asyncpg

from cip import errors, tenant_data
from cip.accounts.identity import Identity
from cip.config import Config
from cip.db.store import tenants, usage
from cip.db.store.tenants import TenantRow
from cip.db.store.usage import UsageDayRow
from cip.tenancy import Tenant

UNKNOWN_TENANT = "no tenant with slug {!r} (`cip tenant list` lists them)"
DECLARED_IN_CONFIG = (
    "tenant {slug!r} is declared in the config file ([tenants.{slug}]): remove that section "
    "first, or the next `cip serve` or `cip migrate` creates the tenant again"
)
CANNOT_WRITE = "cannot write {}: {}"
EXPORT_FILE_MODE = 0o600  # an export holds visitors' conversations and emails
Handler = Callable[[asyncpg.Connection, argparse.Namespace, Config], Awaitable[int]]


async def tenant_create(
    connection: asyncpg.Connection, args: argparse.Namespace, config: Config
) -> int:
    settings = {"locale": args.locale}
    if args.welcome:
        settings["welcome_message"] = args.welcome
    try:
        tenant = await tenants.create(connection, slug=args.slug, name=args.name, settings=settings)
    except asyncpg.UniqueViolationError:
        print(f"cip: a tenant with slug {args.slug!r} already exists", file=sys.stderr)
        return 1
    print(f"{tenant.id}\t{tenant.slug}\t{tenant.name}")
    return 0


async def tenant_list(
    connection: asyncpg.Connection, args: argparse.Namespace, config: Config
) -> int:
    for row in await tenants.list_all(connection):
        tenant = Tenant.of(row, config)
        state = "\tdisabled" if tenant.disabled else ""
        print(f"{tenant.id}\t{tenant.slug}\t{tenant.name}\t{tenant.settings.locale}{state}")
    return 0


async def tenant_disable(
    connection: asyncpg.Connection, args: argparse.Namespace, config: Config
) -> int:
    return await _switch(connection, args.slug, disabled=True)


async def tenant_enable(
    connection: asyncpg.Connection, args: argparse.Namespace, config: Config
) -> int:
    return await _switch(connection, args.slug, disabled=False)


async def _switch(connection: asyncpg.Connection, slug: str, *, disabled: bool) -> int:
    try:
        row = await tenant_data.set_disabled(connection, slug=slug, disabled=disabled)
    except errors.NotFound:
        raise errors.CommandFailed(UNKNOWN_TENANT.format(slug)) from None
    print(f"{row.id}\t{row.slug}\t{'disabled' if disabled else 'enabled'}")
    return 0


async def tenant_export(
    connection: asyncpg.Connection, args: argparse.Namespace, config: Config
) -> int:
    tenant = await tenant_by_slug(connection, args.slug)
    export = partial(tenant_data.export_tenant, connection, tenant)
    return await _export(args.output, f"tenant {tenant.slug}", export)


async def tenant_delete(
    connection: asyncpg.Connection, args: argparse.Namespace, config: Config
) -> int:
    if args.slug in config.tenants:
        raise errors.CommandFailed(DECLARED_IN_CONFIG.format(slug=args.slug))
    tenant = await tenant_by_slug(connection, args.slug)
    deleted = await tenant_data.delete_tenant(connection, tenant)
    print(f"deleted tenant {tenant.slug} ({tenant.id}): {_counts(deleted)}")
    return 0


async def visitor_export(
    connection: asyncpg.Connection, args: argparse.Namespace, config: Config
) -> int:
    tenant, who = await _visitor(connection, args)
    export = partial(tenant_data.export_visitor, connection, tenant_id=tenant.id, who=who)
    return await _export(args.output, f"visitor {who.user_id} of {tenant.slug}", export)


async def visitor_delete(
    connection: asyncpg.Connection, args: argparse.Namespace, config: Config
) -> int:
    tenant, who = await _visitor(connection, args)
    deleted = await tenant_data.delete_visitor(connection, tenant_id=tenant.id, who=who)
    print(f"deleted visitor {who.user_id} of {tenant.slug}: {_counts(deleted)}")
    return 0


async def _visitor(
    connection: asyncpg.Connection, args: argparse.Namespace
) -> tuple[TenantRow, Identity]:
    """The tenant `--tenant` names, and who `--user` is in it."""
    tenant = await tenant_by_slug(connection, args.tenant)
    return tenant, await tenant_data.visitor(connection, tenant_id=tenant.id, user_id=args.user)


async def _export(
    path: str | None, what: str, export: Callable[..., Awaitable[Mapping[str, int]]]
) -> int:
    """Run `export(out=...)` into stdout or the file at `path`; its summary on stderr."""
    with _output(path) as out:
        written = await export(out=out)
    print(f"exported {what}: {_counts(written)}", file=sys.stderr)
    return 0


async def tenant_by_slug(connection: asyncpg.Connection, slug: str) -> TenantRow:
    try:
        return await tenants.by_slug(connection, slug=slug)
    except errors.NotFound:
        raise errors.CommandFailed(UNKNOWN_TENANT.format(slug)) from None


async def usage_report(
    connection: asyncpg.Connection, args: argparse.Namespace, config: Config
) -> int:
    """`cip usage`: the tenant's answers and tokens per day with any, then their totals."""
    if args.first > args.last:
        raise errors.CommandFailed(f"--from {args.first} is after --to {args.last}")
    tenant = await tenant_by_slug(connection, args.tenant)
    days = await usage.usage_days(connection, tenant_id=tenant.id, first=args.first, last=args.last)
    print("day\tanswers\tprompt_tokens\tcompletion_tokens\testimated_answers")
    for day in days:
        print(_usage_line(day.day.isoformat(), day))
    total = UsageDayRow(
        day=args.first,
        answers=sum(day.answers for day in days),
        prompt_tokens=sum(day.prompt_tokens for day in days),
        completion_tokens=sum(day.completion_tokens for day in days),
        estimated_answers=sum(day.estimated_answers for day in days),
    )
    print(_usage_line("total", total))
    return 0


def _usage_line(label: str, row: UsageDayRow) -> str:
    counts = (row.answers, row.prompt_tokens, row.completion_tokens, row.estimated_answers)
    return "\t".join([label, *map(str, counts)])


@contextmanager
def _output(path: str | None) -> Iterator[BinaryIO]:
    """stdout, or the file at `path`: created readable by its owner alone, and removed again
    when the export fails half way."""
    if path is None:
        yield sys.stdout.buffer
        return
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, EXPORT_FILE_MODE)
    except OSError as exc:
        raise errors.CommandFailed(CANNOT_WRITE.format(path, exc.strerror)) from None
    with os.fdopen(descriptor, "wb") as out:
        try:
            yield out
        except BaseException:
            os.unlink(path)
            raise


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in counts.items())
