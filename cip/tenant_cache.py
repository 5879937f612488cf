"""A short-lived in-process cache of tenant rows.

Every tenant-scoped request starts with a tenant lookup; the rows change rarely (config sync at
start, `cip tenant create`), so each process keeps them for `ttl` seconds. Unknown tenants are
not cached, so a tenant created a moment ago is found at once.
"""

from __future__ import annotations

import time
from uuid import UUID

import asyncpg

from cip.config import SLUG_PATTERN
from cip.store import tenants
from cip.store.tenants import TenantRow


class TenantCache:
    def __init__(self, pool: asyncpg.Pool, ttl: float = 10.0) -> None:
        self._pool = pool
        self._ttl = ttl
        self._by_id: dict[UUID, tuple[float, TenantRow]] = {}
        self._by_slug: dict[str, tuple[float, TenantRow]] = {}

    def _remember(self, tenant: TenantRow) -> TenantRow:
        expires = time.monotonic() + self._ttl
        self._by_id[tenant.id] = (expires, tenant)
        self._by_slug[tenant.slug] = (expires, tenant)
        return tenant

    async def by_id(self, tenant_id: UUID) -> TenantRow:
        cached = self._by_id.get(tenant_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        return self._remember(await tenants.by_id(self._pool, tenant_id))

    async def by_slug(self, slug: str) -> TenantRow:
        if not SLUG_PATTERN.match(slug):  # never a tenant; and a NUL must not reach SQL
            raise tenants.tenant_not_found()
        cached = self._by_slug.get(slug)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        return self._remember(await tenants.by_slug(self._pool, slug))
