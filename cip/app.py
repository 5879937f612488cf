"""The application factory: `create_app(config)` is what `cip serve` runs and tests build."""

from __future__ import annotations

from aiohttp import web

from cip import db, keys
from cip.config import Config
from cip.routes import setup_routes
from cip.security import on_response_prepare, preflight_middleware
from cip.web import error_middleware, request_log_middleware


def create_app(config: Config) -> web.Application:
    app = web.Application(
        middlewares=[request_log_middleware, error_middleware, preflight_middleware],
        client_max_size=config.limits.body_max_bytes,
    )
    app[keys.CONFIG] = config
    app.on_response_prepare.append(on_response_prepare)
    app.cleanup_ctx.append(db.pool_context(config))
    setup_routes(app)
    return app
