"""Typed keys of everything the application holds."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from cip.config import Config
from cip.llm import LlmClient
from cip.prompts import Prompts
from cip.streams import OpenStreams

CONFIG = web.AppKey("config", Config)
POOL = web.AppKey("pool", asyncpg.Pool)
LLM = web.AppKey("llm", LlmClient)
PROMPTS = web.AppKey("prompts", Prompts)
STREAMS = web.AppKey("streams", OpenStreams)
