"""Typed keys of everything the application holds (`app[...]`) and of what a request carries
(`request[...]`). Only `cip.app` puts resources in; handlers and middlewares read them."""

from __future__ import annotations

from aiohttp import web

from cip.accounts.flows import Accounts
from cip.accounts.identity import Identities, Identity
from cip.accounts.mailer import Mailer
from cip.accounts.passwords import PasswordHasher
from cip.chat.llm import LlmClient
from cip.chat.parts import PartsWriter
from cip.chat.prompts import Prompts
from cip.chat.signals import Signals
from cip.chat.streams import OpenStreams
from cip.chat.turn import ChatService
from cip.config import Config
from cip.db.pool import BoundedPool
from cip.http.bodies import SlowBodies
from cip.limits import Clock, RateLimiter
from cip.tenancy import Tenant, TenantCache

# Resources, in the order `create_app` builds them.
CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
SLOW_BODIES = web.AppKey("slow_bodies", SlowBodies)
PROMPTS = web.AppKey("prompts", Prompts)
POOL = web.AppKey("pool", BoundedPool)
DATABASE_URL = web.AppKey("database_url", str)
TENANTS = web.AppKey("tenants", TenantCache)
LIMITER = web.AppKey("limiter", RateLimiter)
LLM = web.AppKey("llm", LlmClient)
STREAMS = web.AppKey("streams", OpenStreams)
PARTS = web.AppKey("parts", PartsWriter)
SIGNALS = web.AppKey("signals", Signals)
PASSWORDS = web.AppKey("passwords", PasswordHasher)
MAILER = web.AppKey("mailer", Mailer)
# Services over them.
IDENTITIES = web.AppKey("identities", Identities)
CHAT = web.AppKey("chat", ChatService)
ACCOUNTS = web.AppKey("accounts", Accounts)
OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)

# Per request.
REQUEST_ID = web.RequestKey("request_id", str)
TENANT = web.RequestKey("tenant", Tenant)
CALLER = web.RequestKey("caller", Identity)
