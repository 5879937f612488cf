"""The composition root: `create_app(config)` builds the whole service, and is what `cip serve`
runs and the tests build with their own config.

Resources are plain objects or async context managers; each is opened in a cleanup context
below, in dependency order (the database before what queries it, the LLM session and the
stream registry before the chat service), and closed in reverse. Then come the middlewares
and the route table.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from functools import partial

from aiohttp import web

from cip import keys, metrics, slugs
from cip.accounts.flows import Accounts
from cip.accounts.identity import Identities
from cip.accounts.mailer import Mailer
from cip.accounts.passwords import PasswordHasher
from cip.api import (
    auth,
    chat_stream,
    feedback,
    my_dialogs,
    my_exports,
    my_profile,
    my_saved,
    probes,
    scrape,
    tenant_info,
)
from cip.background import every
from cip.chat import replies
from cip.chat.admission import Admission
from cip.chat.llm import LlmClient
from cip.chat.parts import PartsWriter
from cip.chat.prompts import Prompts
from cip.chat.signals import Signals
from cip.chat.streams import CLIENT_CHECK_INTERVAL, OpenStreams
from cip.chat.turn import ChatService
from cip.config import Config
from cip.db import housekeeping, listener
from cip.db.pool import check_connection_budget, open_database
from cip.db.store import tenants
from cip.http import brand, openapi, pages
from cip.http.bodies import SlowBodies
from cip.http.context import body_deadline, tenant_context
from cip.http.middlewares import (
    cors_preflight,
    error_envelope,
    request_log,
    security_headers,
)
from cip.knowledge.retrieval import Shelves
from cip.limits import Clock, RateLimiter
from cip.tenancy import TenantCache, sync_config_tenants

API = f"/{slugs.API}/v1"
TENANT = API + "/tenants/{tenant_id}"
ME = TENANT + "/me"
# One of the visitor's dialogs. The id never takes the names of the routes beside it, so a PATCH
# of `…/dialogs/search` is a 405 like any method a route lacks, not a malformed dialog id.
DIALOG = ME + r"/dialogs/{dialog_id:(?!(?:search|export\.json)$)[^/]+}"


def create_app(config: Config, *, clock: Clock | None = None) -> web.Application:
    """The application; `clock` places rate-limit windows (tests pass one they can set)."""
    app = web.Application(
        middlewares=[
            request_log,
            error_envelope,
            cors_preflight,
            body_deadline,
            tenant_context,
        ],
        client_max_size=config.limits.body_max_bytes,
    )
    app[keys.CONFIG] = config
    app[keys.CLOCK] = clock or Clock()
    app[keys.SLOW_BODIES] = SlowBodies(config.server.slow_bodies_per_client)
    app.cleanup_ctx.extend(
        [prompts_ctx, database_ctx, llm_ctx, streams_ctx, accounts_ctx, metrics_ctx]
    )
    app.on_startup.append(services)
    app.on_startup.append(openapi.build_on_startup)
    app.on_shutdown.append(end_streams)
    app.on_response_prepare.append(security_headers)
    pages.setup_templates(app)
    setup_routes(app)
    return app


async def prompts_ctx(app: web.Application) -> AsyncIterator[None]:
    """First: the service refuses to start without its default system prompt."""
    prompts = Prompts(app[keys.CONFIG].prompts)
    prompts.require_default()
    app[keys.PROMPTS] = prompts
    yield


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """The database (embedded without a URL, migrated), its pool (checked against the
    server's max_connections), the config file's tenants, and what reads through the pool;
    tidied up every few minutes (the tenants' retention included)."""
    config = app[keys.CONFIG]
    async with open_database(config) as pool:
        if config.server.workers == 1:  # several: their supervisor checked once for them all
            await check_connection_budget(pool, config.database, processes=1)
        await sync_config_tenants(pool, config)
        app[keys.POOL] = pool
        app[keys.DATABASE_URL] = pool.url
        app[keys.TENANTS] = TenantCache(pool, config)
        clock = app[keys.CLOCK]
        app[keys.LIMITER] = RateLimiter(pool, clock)

        async def tidy() -> None:
            await housekeeping.prune(pool, at=clock.now())
            await housekeeping.purge_expired_dialogs(pool, config)

        async with every(housekeeping.INTERVAL_SECONDS, tidy, name="housekeeping"):
            yield


async def llm_ctx(app: web.Application) -> AsyncIterator[None]:
    async with LlmClient.connect(app[keys.CONFIG].llm) as llm:
        app[keys.LLM] = llm
        yield


async def streams_ctx(app: web.Application) -> AsyncIterator[None]:
    """The answers being written here: their registry and its watcher of followers, the
    appends that share them with every instance, the ear for what other instances announce
    (stops, followers, appends, tenants changed), and the sweep of replies whose process died
    (once now, then every `sweep_interval`). At the end, every answer is stored before the
    database closes."""
    config = app[keys.CONFIG]
    settings, pool = config.llm, app[keys.POOL]
    streams = app[keys.STREAMS] = OpenStreams(config.streams.grace, settings.heartbeat_interval)
    parts = app[keys.PARTS] = PartsWriter(pool, streams)
    signals = app[keys.SIGNALS] = Signals(streams)
    ear = listener.Listener(
        app[keys.DATABASE_URL],
        config.database.connect_timeout,
        {**signals.handlers(), tenants.CHANNEL: app[keys.TENANTS].heard},
    )
    sweep = partial(replies.sweep, pool, older_than=settings.total_timeout + settings.sweep_grace)
    await sweep()
    await ear.start()
    try:
        async with contextlib.AsyncExitStack() as jobs:
            await jobs.enter_async_context(
                every(CLIENT_CHECK_INTERVAL, streams.check, name="stream-watcher")
            )
            if config.streams.flush_interval:
                await jobs.enter_async_context(
                    every(config.streams.flush_interval, parts.append, name="answer-parts")
                )
            await jobs.enter_async_context(
                every(listener.CHECK_INTERVAL, ear.listen, name="listener")
            )
            await jobs.enter_async_context(every(settings.sweep_interval, sweep, name="sweep"))
            yield  # the answers were aborted at shutdown (`end_streams`)
            await streams.drain()
    finally:
        await ear.close()


async def accounts_ctx(app: web.Application) -> AsyncIterator[None]:
    """bcrypt's threads, and the mail queue with its sender (drained at the end)."""
    config = app[keys.CONFIG]
    mailer = app[keys.MAILER] = Mailer(config.smtp)
    async with PasswordHasher.running(config.auth.bcrypt_cost) as passwords, mailer.sending():
        app[keys.PASSWORDS] = passwords
        yield


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """Last, over what it reads: the gauges sampled every few seconds (`cip.metrics`); what
    tenants use counted per tenant when `[metrics] tenant_label` is on."""
    metrics.label_tenants(app[keys.CONFIG].metrics.tenant_label)
    scrape.sample(app)
    async with every(metrics.SAMPLE_INTERVAL, partial(scrape.sample, app), name="metrics"):
        yield


async def services(app: web.Application) -> None:
    """on_startup, once every resource is open: the services handlers call."""
    config, pool = app[keys.CONFIG], app[keys.POOL]
    identities = app[keys.IDENTITIES] = Identities(pool, config.auth.jwt_secret)
    app[keys.CHAT] = ChatService(
        pool=pool,
        llm=app[keys.LLM],
        prompts=app[keys.PROMPTS],
        streams=app[keys.STREAMS],
        parts=app[keys.PARTS],
        signals=app[keys.SIGNALS],
        limiter=app[keys.LIMITER],
        mailer=app[keys.MAILER],
        settings=config.llm,
        knowledge=config.knowledge,
        shelves=Shelves(config.server.tenant_cache_seconds),
        admission=Admission(pool, config.server.chat_admission_wait),
    )
    app[keys.ACCOUNTS] = Accounts(
        pool=pool,
        config=config,
        mailer=app[keys.MAILER],
        passwords=app[keys.PASSWORDS],
        limiter=app[keys.LIMITER],
        identities=identities,
    )


async def end_streams(app: web.Application) -> None:
    """on_shutdown (SIGTERM): end every stream now, stored `interrupted`, instead of waiting."""
    app[keys.STREAMS].abort_all()


def setup_routes(app: web.Application) -> None:
    """Every route of the service. Pages come last: `/{slug}/...` must not shadow the API, the
    static files or the probes, whose first path segments no tenant may take as its slug
    (`cip.slugs`)."""
    add_get, add_post = app.router.add_get, app.router.add_post
    add_get(f"/{slugs.HEALTHZ}", probes.healthz)
    add_get(f"/{slugs.READYZ}", probes.readyz)
    add_get(f"/{slugs.METRICS}", scrape.serve_metrics)
    add_get(API + "/openapi.json", openapi.serve_document)
    add_get(API + "/tenants/by-slug/{slug}", tenant_info.by_slug)
    add_get(API + "/tenants/by-slug/{slug}/confirm", auth.confirm_by_slug)
    add_post(TENANT + "/chat", chat_stream.post_chat)
    add_post(TENANT + "/chat/{message_id}/stop", chat_stream.stop_answer)
    add_get(TENANT + "/chat/{message_id}/stream", chat_stream.resume_answer)
    add_post(TENANT + "/chat/{message_id}/regenerate", chat_stream.regenerate_answer)
    add_post(TENANT + "/messages/{message_id}/feedback", feedback.rate_answer)
    app.router.add_delete(TENANT + "/messages/{message_id}/feedback", feedback.clear_rating)
    add_get(ME + "/dialogs", my_dialogs.list_dialogs)
    add_get(ME + "/dialogs/search", my_dialogs.search_dialogs)
    add_get(ME + "/dialogs/export.json", my_exports.export_json)
    add_get(DIALOG, my_dialogs.get_dialog)
    app.router.add_patch(DIALOG, my_dialogs.rename_dialog)
    app.router.add_delete(DIALOG, my_dialogs.delete_dialog)
    add_post(DIALOG + "/restore", my_dialogs.restore_dialog)
    add_get(DIALOG + "/export.md", my_exports.export_markdown)
    add_get(ME + "/saved", my_saved.list_saved)
    add_post(ME + "/saved", my_saved.save_item)
    app.router.add_delete(ME + "/saved/{item_id}", my_saved.delete_item)
    add_get(ME + "/profile", my_profile.get_profile)
    app.router.add_patch(ME + "/profile", my_profile.patch_profile)
    add_post(TENANT + "/register", auth.register)
    add_get(TENANT + "/confirm", auth.confirm_by_id)
    add_post(TENANT + "/resend-confirmation", auth.resend_confirmation)
    add_post(TENANT + "/login", auth.login)
    add_post(TENANT + "/password/forgot", auth.forgot_password)
    add_post(TENANT + "/password/reset", auth.reset_password)

    app.router.add_static(f"/{slugs.STATIC}/", pages.STATIC_DIR, name="static")
    add_get("/", pages.home)
    add_get(f"/{slugs.WIDGET}", brand.widget)
    add_get("/{slug}/brand.css", brand.stylesheet)
    add_get("/{slug}/brand/{name}", brand.asset)
    for path, handler in pages.page_routes():
        add_get(path, handler)
    add_get("/{slug}", pages.tenant_root)
    add_get("/{slug}/", pages.tenant_root)
