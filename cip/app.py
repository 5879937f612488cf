"""The application factory: `create_app(config)` is what `cip serve` runs and tests build."""

from __future__ import annotations

from aiohttp import web

from cip import db, keys
from cip.config import Config
from cip.housekeeping import housekeeping_context
from cip.identity import KnownGuests
from cip.llm import llm_context
from cip.mailer import mailer_context
from cip.passwords import hasher_context
from cip.prompts import prompts_context
from cip.routes import setup_routes
from cip.security import on_response_prepare, preflight_middleware
from cip.streams import abort_on_shutdown, streams_context
from cip.web import error_middleware, request_log_middleware


def create_app(config: Config) -> web.Application:
    app = web.Application(
        middlewares=[request_log_middleware, error_middleware, preflight_middleware],
        client_max_size=config.limits.body_max_bytes,
    )
    app[keys.CONFIG] = config
    app[keys.KNOWN_GUESTS] = KnownGuests()
    app.on_response_prepare.append(on_response_prepare)
    app.cleanup_ctx.append(prompts_context(config))
    app.cleanup_ctx.append(db.pool_context(config))
    app.cleanup_ctx.append(llm_context(config))
    app.cleanup_ctx.append(streams_context(config))
    app.cleanup_ctx.append(housekeeping_context())
    app.cleanup_ctx.append(hasher_context(config.auth.bcrypt_cost))
    app.cleanup_ctx.append(mailer_context(config.smtp))
    app.on_shutdown.append(abort_on_shutdown)
    setup_routes(app)
    return app
