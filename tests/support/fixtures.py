"""The types of the shared fixtures, for the annotations of the tests that take them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import TestClient

from cip.config import Config
from cip.db.store.tenants import TenantRow
from support.browser import LiveServer

Client = TestClient[web.Request, web.Application]
MakeConfig = Callable[..., Config]  # keyword sections override the test config
NewTenant = Callable[..., Awaitable[TenantRow]]  # (locale, **settings) -> a fresh tenant
StartClient = Callable[..., Awaitable[Client]]  # (**sections) -> a client of a new app
StartServer = Callable[..., Awaitable[LiveServer]]  # (**sections) -> an app on a real port
