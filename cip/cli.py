"""Command line: `cip serve | migrate | tenant … | visitor … | usage | kb …` (also
`python -m cip`). The tenant, visitor and usage commands themselves are in
`cip.tenant_commands`, the knowledge base's in `cip.knowledge.commands`."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import date, datetime
from functools import partial
from typing import Annotated, NoReturn, TypeVar

import asyncpg
from aiohttp import web
from pydantic import Field, TypeAdapter, ValidationError

from cip import tenant_commands
from cip.accounts.identity import GUEST_ID
from cip.app import create_app
from cip.chat.prompts import PromptMissing, Prompts
from cip.config import Config, ConfigError, TenantName, WelcomeMessage, load_config
from cip.db.embedded import database_url
from cip.db.migrations import apply_migrations
from cip.db.pool import (
    check_connection_budget,
    init_connection,
    migrate_on_start,
    unapplied_migrations,
)
from cip.errors import CommandFailed
from cip.knowledge import commands as knowledge_commands
from cip.logs import configure_logging, show_process_ids
from cip.slugs import checked_slug
from cip.supervisor import Supervisor, as_worker, check_address_free
from cip.tenancy import sync_config_tenants

log = logging.getLogger("cip")
Command = Callable[[asyncpg.Connection], Awaitable[int]]
# What `cip tenant X`, `cip visitor X` and `cip usage` run, by (command, X).
COMMANDS: dict[tuple[str, str | None], tenant_commands.Handler] = {
    ("tenant", "create"): tenant_commands.tenant_create,
    ("tenant", "list"): tenant_commands.tenant_list,
    ("tenant", "disable"): tenant_commands.tenant_disable,
    ("tenant", "enable"): tenant_commands.tenant_enable,
    ("tenant", "export"): tenant_commands.tenant_export,
    ("tenant", "delete"): tenant_commands.tenant_delete,
    ("visitor", "export"): tenant_commands.visitor_export,
    ("visitor", "delete"): tenant_commands.visitor_delete,
    ("usage", None): tenant_commands.usage_report,
    ("kb", "add"): knowledge_commands.kb_add,
    ("kb", "list"): knowledge_commands.kb_list,
    ("kb", "remove"): knowledge_commands.kb_remove,
}
T = TypeVar("T")

NOT_MIGRATED = "the database is not migrated ({} migration(s) pending): run `cip migrate` first"
UNREACHABLE = "cannot connect to the database: {} (check DATABASE_URL or [database] url)"
# What `cip serve` says when it cannot listen, by the error of the bind.
CANNOT_LISTEN = "cannot listen on {}:{}: {}"
BIND_ERRORS = {
    errno.EADDRINUSE: "the address is already in use "
    "(stop what holds it, or set [server] port / APP_PORT)",
    errno.EADDRNOTAVAIL: "no interface of this machine has that address "
    "(set [server] host / APP_HOST)",
}


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Bad arguments: one line on stderr, naming the help to read, and exit code 2."""
        self.exit(2, f"{self.prog}: {message}; see `{self.prog} --help`\n")


def slug_argument(value: str) -> str:
    try:
        return checked_slug(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def user_id_argument(value: str) -> str:
    if not GUEST_ID.fullmatch(value):
        raise argparse.ArgumentTypeError("1 to 64 letters, digits or '._:-'")
    return value


def date_argument(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise argparse.ArgumentTypeError("a date like 2026-01-31") from None


def validated(kind: TypeAdapter[T], rule: str) -> Callable[[str], T]:
    """An argument type checked as the config file checks the same value; `rule` says what
    a valid one is."""

    def parse(value: str) -> T:
        try:
            return kind.validate_python(value)
        except ValidationError:
            raise argparse.ArgumentTypeError(rule) from None

    return parse


def parser() -> argparse.ArgumentParser:
    root = Parser(prog="cip", description="Conversational website backend.")
    root.add_argument(
        "--config", help="path to config.toml (default: $CIP_CONFIG or ./config.toml)"
    )
    commands = root.add_subparsers(dest="command", required=True)
    serve_command = commands.add_parser("serve", help="run the HTTP service")
    serve_command.add_argument(
        "--workers",
        type=validated(TypeAdapter(Annotated[int, Field(ge=1)]), "a whole number, 1 or more"),
        help="processes serving the port (default: [server] workers, 1)",
    )
    commands.add_parser("migrate", help="apply database migrations and config-file tenants")
    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(
        dest="tenant_command", required=True
    )
    create = tenant.add_parser("create", help="create a tenant")
    create.add_argument("--slug", required=True, type=slug_argument)
    name = validated(TypeAdapter(TenantName), "1 to 200 characters, not only spaces")
    create.add_argument("--name", required=True, type=name)
    create.add_argument("--locale", choices=["ru", "en"], default="ru")
    create.add_argument(
        "--welcome",
        default=None,
        type=validated(TypeAdapter(WelcomeMessage), "at most 2000 characters"),
        help="welcome message shown in the chat",
    )
    tenant.add_parser("list", help="list tenants (a disabled one says so)")
    for action, what in [
        ("disable", "switch a tenant off: its pages and API answer 410, its data stays"),
        ("enable", "switch a disabled tenant on again"),
        ("export", "write all of a tenant's data as JSON Lines"),
        ("delete", "delete a tenant and all of its data"),
    ]:
        command = tenant.add_parser(action, help=what)
        command.add_argument("slug", type=slug_argument)
        if action == "export":
            command.add_argument("--output", metavar="FILE", help="write here, not to stdout")
        if action == "delete":
            command.add_argument(
                "--confirm", action="store_true", required=True, help="yes: there is no undo"
            )
    visitor = commands.add_parser("visitor", help="a visitor's own data").add_subparsers(
        dest="visitor_command", required=True
    )
    for action, what in [
        (
            "export",
            "write a visitor's data (dialogs, messages, saved items, profile, account) "
            "as JSON Lines",
        ),
        ("delete", "delete a visitor's data and account"),
    ]:
        command = visitor.add_parser(action, help=what)
        command.add_argument("--tenant", required=True, type=slug_argument, metavar="SLUG")
        command.add_argument(
            "--user",
            required=True,
            type=user_id_argument,
            metavar="USER_ID",
            help="the guest id, or the account id of a registered visitor",
        )
        if action == "export":
            command.add_argument("--output", metavar="FILE", help="write here, not to stdout")
    usage = commands.add_parser("usage", help="a tenant's answers and tokens per day (UTC)")
    usage.add_argument("--tenant", required=True, type=slug_argument, metavar="SLUG")
    usage.add_argument(
        "--from", dest="first", required=True, type=date_argument, metavar="YYYY-MM-DD"
    )
    usage.add_argument("--to", dest="last", required=True, type=date_argument, metavar="YYYY-MM-DD")
    kb = commands.add_parser("kb", help="a tenant's knowledge base").add_subparsers(
        dest="kb_command", required=True
    )
    for action, what, files in [
        (
            "add",
            "add documents (.md, .txt, .html, .pdf), replacing those of the same name",
            "files",
        ),
        ("list", "list the tenant's documents", None),
        ("remove", "remove documents by name", "names"),
    ]:
        command = kb.add_parser(action, help=what)
        command.add_argument("--tenant", required=True, type=slug_argument, metavar="SLUG")
        if files:
            command.add_argument(files, nargs="+", metavar="FILE" if files == "files" else "NAME")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return reporting_failures(lambda: run(args, load_config(args.config)))


def reporting_failures(command: Callable[[], int]) -> int:
    """The command's exit code; a failure it can explain is one line on stderr and 2."""
    try:
        return command()
    except (ConfigError, CommandFailed) as exc:
        print(f"cip: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, config: Config) -> int:
    configure_logging(config.logging.format)
    if args.command == "serve":
        if args.workers is not None:
            server = config.server.model_copy(update={"workers": args.workers})
            config = config.model_copy(update={"server": server})
        return serve(config)
    if args.command == "migrate":
        return asyncio.run(migrate(config))
    action = getattr(args, f"{args.command}_command", None)
    handler = COMMANDS[args.command, action]
    return asyncio.run(
        on_migrated_database(config, lambda connection: handler(connection, args, config))
    )


def event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (not on Windows): its transports cut the cost of every
    streamed write and read; otherwise asyncio's own loop."""
    try:
        import uvloop  # an optional dependency: no uvloop on Windows
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def freeze_startup_heap(app: web.Application) -> None:
    """on_startup, last: everything built so far (modules, schemas, the app) lives as long as
    the process, so it moves out of the garbage collector's sight. A full collection then
    walks only what requests create: with 1,000 open streams its pauses, which stall every
    stream at once, fell from up to 90 ms to a few."""
    gc.collect()
    gc.freeze()


def local_url(config: Config) -> str:
    """The address a browser on this machine reaches the service at, from the configured
    host and port (a wildcard host is reached on loopback)."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(
        config.server.host, config.server.host
    )
    return f"http://{f'[{host}]' if ':' in host else host}:{config.server.port}"


def show_chat_url(config: Config) -> None:
    """One line saying where to chat: the demo tenant's page (migration 0002 creates it),
    or the first tenant of the config file when that has no demo."""
    slug = "demo" if "demo" in config.tenants or not config.tenants else next(iter(config.tenants))
    url = local_url(config)
    listed = "" if config.is_production else f"; every tenant's chat page: {url}/"
    log.info("chat at %s/%s/chat%s", url, slug, listed)


def serve(config: Config) -> int:
    show_chat_url(config)
    if config.server.workers == 1:
        return serve_here(config)
    return asyncio.run(serve_workers(config))


@contextmanager
def start_failures(config: Config) -> Iterator[None]:
    """What stops `cip serve` at start, as a `CommandFailed`: no default prompt, an address
    it cannot listen on."""
    try:
        yield
    except PromptMissing as exc:
        raise CommandFailed(str(exc)) from None
    except OSError as exc:
        if exc.errno not in BIND_ERRORS:
            raise
        host, port = config.server.host, config.server.port
        raise CommandFailed(CANNOT_LISTEN.format(host, port, BIND_ERRORS[exc.errno])) from None


def serve_here(config: Config, *, worker: bool = False) -> int:
    """Serve in this process: the whole service, or one of `serve_workers`' workers (which
    share the port through SO_REUSEPORT)."""
    app = create_app(config)
    if worker:
        as_worker(app)
    app.on_startup.append(freeze_startup_heap)
    with start_failures(config):
        web.run_app(
            app,
            host=config.server.host,
            port=config.server.port,
            access_log=None,
            shutdown_timeout=config.server.shutdown_timeout,
            backlog=config.server.backlog,
            reuse_port=worker,
            print=lambda message: log.info("%s", " ".join(message.split())),
            loop=event_loop(),
        )
    return 0


async def serve_workers(config: Config) -> int:
    """`cip serve` with several workers (`cip.supervisor`). What must happen once happens here,
    before any worker starts: the checks that stop the start (the address, the default
    prompt, the database reachable), the embedded PostgreSQL (its URL handed to the
    workers, which neither start it nor migrate), the migrations, and the check of the pools
    against `max_connections`. Each worker then syncs the config file's tenants, as several
    instances of the service do (one upsert per tenant: safe at the same time)."""
    show_process_ids()
    supervisor = Supervisor(config.server.workers, run_worker)
    with supervisor.taking_signals():
        with start_failures(config):
            check_address_free(config.server.host, config.server.port)
            Prompts(config.prompts).require_default()
        async with database_url(config) as url:
            async with connected(url, config) as connection:
                await migrate_on_start(url, config.database)
                await check_connection_budget(
                    connection, config.database, processes=config.server.workers
                )
            database = config.database.model_copy(update={"url": url, "auto_migrate": False})
            log.info("starting %d workers", config.server.workers)
            return await supervisor.run(config.model_copy(update={"database": database}))


def run_worker(config: Config) -> NoReturn:
    """A worker process of `serve_workers`, in a fresh interpreter."""
    configure_logging(config.logging.format)
    show_process_ids()
    sys.exit(reporting_failures(partial(serve_here, config, worker=True)))


@asynccontextmanager
async def connected(url: str, config: Config) -> AsyncIterator[asyncpg.Connection]:
    try:
        connection = await asyncpg.connect(url, timeout=config.database.connect_timeout)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = str(exc) or "no answer within database.connect_timeout"
        raise CommandFailed(UNREACHABLE.format(reason)) from None
    try:
        await init_connection(connection)
        yield connection
    finally:
        await connection.close()


async def migrate(config: Config) -> int:
    """Apply the migrations, then create or update the config file's tenants."""
    async with database_url(config) as url, connected(url, config) as connection:
        applied = await asyncio.to_thread(apply_migrations, url)
        listed = f": {', '.join(applied)}" if applied else ""
        print(f"applied {len(applied)} migration(s){listed}")
        await sync_config_tenants(connection, config)
    return 0


async def on_migrated_database(config: Config, command: Command) -> int:
    """Run a command on the database, once it is known to be migrated."""
    async with database_url(config) as url, connected(url, config) as connection:
        pending = await unapplied_migrations(connection)
        if pending:
            raise CommandFailed(NOT_MIGRATED.format(len(pending)))
        return await command(connection)
