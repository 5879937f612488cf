"""A tenant as the service uses it, and the per-process cache every request reads it through.

A tenant's `settings` (jsonb) hold what `[tenants.<slug>]` in the config file sets (synchronised
at start) or what `cip tenant create` wrote, so every instance sees the same values. They are
read once per cache fill into one typed model, `TenantSettings`, with the config's `[llm]` and
`[limits]` filling every key a tenant does not set. Keys that end up in headers or pages
(`allowed_origins`, `locale`, `brand`) are read leniently: a malformed stored entry is
dropped, so nothing stored can break out of a header. An allowed origin is one `OriginRule`
for both of its uses: the pages' `frame-ancestors` and the API's CORS.

The cache keeps tenants for `[server] tenant_cache_seconds`: a settings change takes up to that
long to reach every process. An unknown tenant is never cached, so a new one is found at once.
Switching a tenant off or on, and deleting it, is announced on PostgreSQL's channel
`cip_tenant` (`tenants.announce`); every instance hears it (`heard`) and drops its copy, so
that takes effect at once (within `tenant_cache_seconds` for an instance that was not
listening at that moment).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from cip.config import (
    MAX_QUOTA,
    MAX_RETENTION_DAYS,
    ORIGIN_PATTERN,
    BrandConfig,
    Config,
    LimitsConfig,
    Locale,
)
from cip.db.queries import Executor
from cip.db.store import tenants
from cip.db.store.tenants import TenantRow
from cip.slugs import SLUG_PATTERN

log = logging.getLogger(__name__)


def _locale(value: object) -> Locale:
    return "en" if value == "en" else "ru"


EMAIL_ADDRESS = re.compile(r"[^@\s<>,;\"']{1,64}@[A-Za-z0-9.-]{1,253}")
# An origin, lowercased: as a browser sends it (`Origin`), or allowed (then `*.` may lead).
_ORIGIN_PARTS = re.compile(
    r"^(?P<scheme>https?)://"
    r"(?P<host>(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*)"
    r"(?::(?P<port>[0-9]{1,5}))?$"
)
DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_parts(origin: str) -> tuple[str, str, int | None] | None:
    """Scheme, lowercase host and port (None when not written) of an ASCII origin."""
    parts = _ORIGIN_PARTS.match(origin.lower()) if origin.isascii() else None
    if parts is None:
        return None
    return parts["scheme"], parts["host"], int(parts["port"]) if parts["port"] else None


@dataclass(frozen=True, slots=True)
class OriginRule:
    """An allowed origin (`https://shop.example`, `https://*.shop.example`,
    `http://partner.example:8080`), read as the CSP reads a host source: it goes into the
    pages' `frame-ancestors` as written, and `admits` an `Origin` header to the API (CORS) by
    the CSP's own matching, so the sites that may embed the pages and those that may call the
    API are one set. As in CSP: `*.` covers subdomains at any depth but not the domain
    itself, hosts compare without case, no port means the scheme's default port, and an
    `http` source also admits `https` (the same site upgraded)."""

    source: str
    scheme: str
    host: str  # lowercase; a wildcard keeps its `*.`
    port: int | None  # as written; None when none is

    @classmethod
    def parse(cls, entry: str) -> OriginRule | None:
        source = entry.rstrip("/")
        parts = _origin_parts(source) if ORIGIN_PATTERN.match(source) else None
        return None if parts is None else cls(source, *parts)

    def admits(self, origin: str) -> bool:
        parts = _origin_parts(origin)
        if parts is None or parts[1].startswith("*"):
            return False
        scheme, host, port = parts
        if port == DEFAULT_PORTS[scheme]:
            port = None  # a URL keeps no default port
        if self.host.startswith("*."):
            host_matches = host.endswith(self.host[1:])
        else:
            host_matches = host == self.host
        return (
            (scheme == self.scheme or (self.scheme, scheme) == ("http", "https"))
            and host_matches
            and (port == self.port or (port is None and self.port == DEFAULT_PORTS[scheme]))
        )


def _retention_days(value: object) -> int:
    """Days a dialog is kept after its last activity; 0 (for ever) for anything but a whole
    number in range: a malformed stored value must never delete anything."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_RETENTION_DAYS:
        return value
    return 0


def _quota(value: object) -> int:
    """A monthly quota; 0 (none) for anything but a whole number in range."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_QUOTA:
        return value
    return 0


def _percent(value: object) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100 else 0
    )


def _addresses(value: object) -> tuple[str, ...]:
    """Where the tenant's notices go: the entries that are one plain address each (a stored
    value becomes a mail header)."""
    entries = value if isinstance(value, list) else []
    return tuple(
        entry for entry in entries if isinstance(entry, str) and EMAIL_ADDRESS.fullmatch(entry)
    )


def _brand(value: object) -> BrandConfig:
    """The stored brand, checked as the config file's is; none at all for a malformed one (it
    ends up in a stylesheet and in pages)."""
    try:
        return BrandConfig.model_validate(value if isinstance(value, dict) else {})
    except ValidationError:
        log.warning("ignored a malformed stored brand")
        return BrandConfig()


def _origins(value: object) -> tuple[OriginRule, ...]:
    entries = value if isinstance(value, list) else []
    rules = (OriginRule.parse(entry) for entry in entries if isinstance(entry, str))
    return tuple(dict.fromkeys(rule for rule in rules if rule is not None))


class TenantSettings(BaseModel):
    """Everything the service reads of a tenant's settings, with the defaults filled in."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    locale: Annotated[Locale, BeforeValidator(_locale)] = "ru"
    welcome_message: str | None = None
    # Origins that may embed the pages (CSP frame-ancestors) and call the API (CORS).
    allowed_origins: Annotated[tuple[OriginRule, ...], BeforeValidator(_origins)] = ()
    model: str
    temperature: float = Field(ge=0, le=2)
    prompt_file: Path | None = None
    limits: LimitsConfig
    # Dialogs idle for longer are purged by housekeeping (`cip.tenant_data`); 0: kept for ever.
    retention_days: Annotated[int, BeforeValidator(_retention_days)] = 0
    # Per calendar month (UTC), 0: none; enforced before the upstream is called (`cip.chat.turn`).
    monthly_answer_quota: Annotated[int, BeforeValidator(_quota)] = 0
    monthly_token_quota: Annotated[int, BeforeValidator(_quota)] = 0
    quota_warning_percent: Annotated[int, BeforeValidator(_percent)] = 0
    notify: Annotated[tuple[str, ...], BeforeValidator(_addresses)] = ()
    brand: Annotated[BrandConfig, BeforeValidator(_brand)] = BrandConfig()

    def admits_origin(self, origin: str) -> bool:
        """Whether a site may call this tenant's API: exactly those that may embed its pages."""
        return any(rule.admits(origin) for rule in self.allowed_origins)


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
    disabled: bool = False  # switched off: its pages and API answer 410, its data stays

    @classmethod
    def of(cls, row: TenantRow, config: Config) -> Tenant:
        settings = settings_of(row.settings, config)
        return cls(row.id, row.slug, row.name, settings, row.disabled_at is not None)


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

    def forget(self, tenant_id: UUID) -> None:
        """Drop the cached copy: the next request reads the tenant again."""
        cached = self._by_id.pop(tenant_id, None)
        if cached is not None:
            self._by_slug.pop(cached[1].slug, None)

    def heard(self, payload: str) -> None:
        """A notification on `tenants.CHANNEL`: the tenant it names changed."""
        try:
            self.forget(UUID(payload))
        except ValueError:
            log.warning("ignored a malformed tenant notification")


async def sync_config_tenants(db: Executor, config: Config) -> None:
    """Create or update every tenant named in the config file."""
    for slug, section in config.tenants.items():
        await tenants.upsert(
            db, slug=slug, name=section.name, settings=config.tenant_settings(slug)
        )
