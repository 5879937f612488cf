"""A tenant as the service uses it, and the per-process cache every request reads it through.

A tenant's `settings` (jsonb) hold what `[tenants.<slug>]` in the config file sets (synchronised
at start) or what `cip tenant create` wrote, so every instance sees the same values. They are
read once per cache fill into one typed model, `TenantSettings`, with the config's `[llm]` and
`[limits]` filling every key a tenant does not set. Keys that end up in headers or pages
(`allowed_origins`, `locale`) are read leniently: a malformed stored entry is dropped, so
nothing stored can break out of a header.

The cache keeps tenants for `[server] tenant_cache_seconds`: a settings change takes up to that
long to reach every process. An unknown tenant is never cached, so a new one is found at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from cip.config import ORIGIN_PATTERN, Config, LimitsConfig, Locale
from cip.db.queries import Executor
from cip.db.store import tenants
from cip.db.store.tenants import TenantRow
from cip.slugs import SLUG_PATTERN


def _locale(value: object) -> Locale:
    return "en" if value == "en" else "ru"


def _origins(value: object) -> tuple[str, ...]:
    entries = value if isinstance(value, list) else []
    stripped = (origin.rstrip("/") for origin in entries if isinstance(origin, str))
    return tuple(dict.fromkeys(origin for origin in stripped if ORIGIN_PATTERN.match(origin)))


class TenantSettings(BaseModel):
    """Everything the service reads of a tenant's settings, with the defaults filled in."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    locale: Annotated[Locale, BeforeValidator(_locale)] = "ru"
    welcome_message: str | None = None
    # Origins that may embed the pages (CSP frame-ancestors) and call the API (CORS).
    allowed_origins: Annotated[tuple[str, ...], BeforeValidator(_origins)] = ()
    model: str
    temperature: float = Field(ge=0, le=2)
    prompt_file: Path | None = None
    limits: LimitsConfig


def settings_of(stored: Mapping[str, Any], config: Config) -> TenantSettings:
    """A tenant's stored settings over the config's defaults."""
    own_limits = stored.get("limits")
    temperature = stored.get("temperature")
    return TenantSettings.model_validate(
        {
            **stored,
            "model": stored.get("model") or config.llm.model,
            "temperature": config.llm.temperature if temperature is None else temperature,
            "limits": {**config.limits.model_dump(), **own_limits}
            if isinstance(own_limits, dict)
            else config.limits,
        }
    )


@dataclass(frozen=True, slots=True)
class Tenant:
    id: UUID
    slug: str
    name: str
    settings: TenantSettings

    @classmethod
    def of(cls, row: TenantRow, config: Config) -> Tenant:
        return cls(row.id, row.slug, row.name, settings_of(row.settings, config))


class TenantCache:
    def __init__(self, db: Executor, config: Config) -> None:
        self._db = db
        self._config = config
        self._ttl = config.server.tenant_cache_seconds
        self._by_id: dict[UUID, tuple[float, Tenant]] = {}
        self._by_slug: dict[str, tuple[float, Tenant]] = {}

    def _remember(self, row: TenantRow) -> Tenant:
        tenant = Tenant.of(row, self._config)
        expires = time.monotonic() + self._ttl
        self._by_id[tenant.id] = (expires, tenant)
        self._by_slug[tenant.slug] = (expires, tenant)
        return tenant

    async def by_id(self, tenant_id: UUID) -> Tenant:
        cached = self._by_id.get(tenant_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        return self._remember(await tenants.by_id(self._db, tenant_id=tenant_id))

    async def by_slug(self, slug: str) -> Tenant:
        if not SLUG_PATTERN.match(slug):  # never a tenant; and a NUL must not reach SQL
            raise tenants.tenant_not_found()
        cached = self._by_slug.get(slug)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        return self._remember(await tenants.by_slug(self._db, slug=slug))


async def sync_config_tenants(db: Executor, config: Config) -> None:
    """Create or update every tenant named in the config file."""
    for slug, section in config.tenants.items():
        await tenants.upsert(
            db, slug=slug, name=section.name, settings=config.tenant_settings(slug)
        )
