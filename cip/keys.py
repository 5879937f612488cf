"""Typed keys of everything the application holds."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from cip.config import Config
from cip.identity import KnownGuests
from cip.llm import LlmClient
from cip.mailer import Mailer
from cip.passwords import PasswordHasher
from cip.prompts import Prompts
from cip.streams import OpenStreams
from cip.tenant_cache import TenantCache

CONFIG = web.AppKey("config", Config)
POOL = web.AppKey("pool", asyncpg.Pool)
OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)
TENANTS = web.AppKey("tenants", TenantCache)
MAILER = web.AppKey("mailer", Mailer)
PASSWORDS = web.AppKey("passwords", PasswordHasher)
LLM = web.AppKey("llm", LlmClient)
PROMPTS = web.AppKey("prompts", Prompts)
STREAMS = web.AppKey("streams", OpenStreams)
KNOWN_GUESTS = web.AppKey("known_guests", KnownGuests)
