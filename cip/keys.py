"""Typed keys of everything the application holds."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from cip.config import Config
from cip.mailer import Mailer
from cip.passwords import PasswordHasher

CONFIG = web.AppKey("config", Config)
POOL = web.AppKey("pool", asyncpg.Pool)
MAILER = web.AppKey("mailer", Mailer)
PASSWORDS = web.AppKey("passwords", PasswordHasher)
